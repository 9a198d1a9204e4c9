// The data and run editors of one playground. They are built from the model when its shape
// changes (an output, prompt, pair or run added or removed, a scenario loaded) and are otherwise
// left alone: a value edit changes the model through `view.apply`, never rebuilds the controls
// (that would steal focus and cost time on every frame).
//
// Each edit handler reads every control of its row or card, not just the one that changed, so
// that a value the engine refused (and that the control still shows, with the error beside it)
// is not silently dropped by the next edit in the same row.

import { h, field, select, numberInput } from './dom.js';
import { runFromCanonical } from './state.js';
import { FieldError, choices, divergedText, runOptionTable } from './runs.js';

/** The number in an input, or a FieldError naming the input's path. */
function readNumber(input, { integer = false, optional = false } = {}) {
  const text = input.value.trim();
  if (text === '' && optional) return null;
  const value = Number(text);
  if (text === '' || !Number.isFinite(value)) throw new FieldError(input.dataset.path, 'enter a number');
  if (integer && !Number.isInteger(value)) throw new FieldError(input.dataset.path, 'enter a whole number');
  return value;
}

/** The value of kind `name` of `menu` with its default parameters, as an object with `kind`. */
function defaultsOf(menu, name) {
  const value = runOptionTable()[menu].find((kind) => kind.name === name)?.value;
  return typeof value === 'object' && value !== null ? { ...value } : { kind: name };
}

/** The engine's default run (SPEC section 8), named `name`, used by "Add run". */
export function defaultRun(name) {
  return runFromCanonical({ ...runOptionTable().defaultRun, name });
}

/** A label not yet used: A, B, ... Z, then "output 27", ... */
function freshLabel(used, prefix) {
  if (!prefix) {
    for (let c = 65; c <= 90; c += 1) {
      const label = String.fromCharCode(c);
      if (!used.includes(label)) return label;
    }
    prefix = 'output ';
  }
  for (let i = used.length; ; i += 1) if (!used.includes(`${prefix}${i}`)) return `${prefix}${i}`;
}

/** Rows an editor shows at once (50); past this it pages (a scenario may hold thousands of outputs
 * or pairs, and a control per row for all of them would freeze the tab). */
export const PAGE_ROWS = 50;
/** Prompts whose reference (or reward) rows show at once. */
const PAGE_PROMPTS = 8;
/** Past this many outputs (or prompts) a pair names them in a text field, not a dropdown that
 * lists them all in every row; so does a page whose dropdowns would hold more than
 * DROPDOWN_OPTIONS options in all. */
const DROPDOWN_LIMIT = 64;
const DROPDOWN_OPTIONS = 2500;

/** The editors of one playground. `view` is the mounted component (see playground.js). */
export class Editors {
  constructor(view, container) {
    this.view = view;
    this.sections = {
      outputs: h('div', { class: 'editor-body' }),
      reference: h('div', { class: 'editor-body' }),
      pairs: h('div', { class: 'editor-body' }),
      runs: h('div', { class: 'editor-body runs' }),
    };
    // Updated from each snapshot without rebuilding anything.
    this.referenceBars = [];
    this.runSwatches = [];
    this.runStatuses = [];
    this.runNames = [];
    this.generatedList = null;
    // The page each paged list shows (see `pager`), and the first run the Runs editor shows.
    this.pages = {};
    this.runOffset = 0;
    container.append(
      section('Outputs and prompts', 'The answers a policy chooses between (the same set for every prompt), and the prompts.', this.sections.outputs),
      section('Reference π0', 'The reference model per prompt. Drag a bar or type a weight; weights are normalised, the bars show the probabilities.', this.sections.reference),
      section('Preference pairs', 'Each pair says: on this prompt, the chosen output is preferred to the rejected one. A weight counts the pair that many times.', this.sections.pairs),
      section('Runs', 'Each run trains its own policy on the same data with its own loss and settings; its colour is the same in every plot.', this.sections.runs),
    );
  }

  /** Rebuilds every editor from the model. */
  renderAll() {
    for (const name of Object.keys(this.sections)) this.render(name);
  }

  /** Rebuilds one editor (`outputs`, `reference`, `pairs` or `runs`) from the model. */
  render(name) {
    const body = this.sections[name];
    this.view.errors.forget(body);
    // (A list that fits on one page has no pager: its place is null, and must not become text.)
    body.replaceChildren(...this[`build_${name}`]().filter((child) => child !== null && child !== undefined));
    if (name === 'reference') this.updateReference();
  }

  /**
   * The rows of list `key` (of `total`) the editor shows now, `[start, end)`, and the control that
   * pages through them (null when everything fits); paging rebuilds the editor `section`.
   */
  pager(key, total, section, size = PAGE_ROWS, noun = 'rows') {
    const pages = Math.max(1, Math.ceil(total / size));
    const page = Math.min(this.pages[key] ?? 0, pages - 1);
    const start = page * size;
    const end = Math.min(total, start + size);
    if (pages === 1) return { start, end, element: null };
    const go = (to) => {
      this.pages[key] = to;
      this.render(section);
    };
    const element = h(
      'div',
      { class: 'pager', role: 'group', 'aria-label': `Pages of ${noun}` },
      h('button', { type: 'button', class: 'small', disabled: page === 0, onclick: () => go(page - 1) }, '‹ Previous'),
      h('span', { class: 'pager-text' }, `${noun} ${(start + 1).toLocaleString('en')}–${end.toLocaleString('en')} of ${total.toLocaleString('en')}`),
      h('button', { type: 'button', class: 'small', disabled: page === pages - 1, onclick: () => go(page + 1) }, 'Next ›'),
    );
    return { start, end, element };
  }

  /** Shows each run's current name (names follow the settings, see knobs.js) unless typing it. */
  syncRunNames() {
    this.runNames.forEach((input, i) => {
      const name = this.view.model.runs[i + this.runOffset]?.name;
      if (name !== undefined && input !== input.ownerDocument.activeElement && input.value !== name) input.value = name;
    });
  }

  /** Live parts: run colours, divergence, and the list of generated pairs. */
  update(snapshot) {
    snapshot.runs.forEach((run, i) => {
      const swatch = this.runSwatches[i - this.runOffset];
      if (swatch && swatch.dataset.color !== run.color) {
        swatch.dataset.color = run.color;
        swatch.style.background = run.color;
      }
      const status = this.runStatuses[i - this.runOffset];
      if (status) {
        const text = run.metrics.diverged ? divergedText(run.metrics) : '';
        if (status.textContent !== text) {
          status.textContent = text;
          status.hidden = !text;
        }
      }
    });
    if (this.generatedList) {
      // The snapshot lists the first generated pairs and counts them all.
      const { generated, generatedCount: count } = snapshot;
      const key = `${count}|${generated.map((p) => `${p.label}×${p.weight}`).join('|')}`;
      if (this.generatedList.dataset.key !== key) {
        this.generatedList.dataset.key = key;
        const shown = generated.map((p) => p.label + (p.weight !== 1 ? ` (×${p.weight})` : ''));
        this.generatedList.textContent = count
          ? `${count} generated pair${count === 1 ? '' : 's'}: ${shown.join(', ')}${count > shown.length ? ', …' : ''}`
          : 'No pairs generated (count is 0).';
      }
    }
  }

  // ---- Outputs and prompts ----

  build_outputs() {
    const { model } = this.view;
    const outputPage = this.pager('outputs', model.outputs.length, 'outputs', PAGE_ROWS, 'outputs');
    const promptPage = this.pager('prompts', model.prompts.length, 'outputs', PAGE_ROWS, 'prompts');
    const outputRows = model.outputs.slice(outputPage.start, outputPage.end).map((output, offset) => {
      const y = outputPage.start + offset;
      const label = h('input', { type: 'text', value: output.label, 'aria-label': `Output ${y + 1} label`, 'data-path': `outputs[${y}]`, autocomplete: 'off', spellcheck: 'false' });
      const length = numberInput(output.length, { min: 1, 'aria-label': `Output ${y + 1} length`, 'data-path': `outputs[${y}].length` });
      label.setAttribute('aria-description', 'A unique name for this answer; pairs and plots use it.');
      length.setAttribute('aria-description', 'Its length in tokens (at least 1): only length normalisation (SimPO) uses it.');
      const row = h(
        'div',
        { class: 'row output-row' },
        label,
        length,
        h('button', { type: 'button', class: 'icon', 'aria-label': `Remove output ${output.label}`, 'data-lock-path': 'outputs', disabled: model.outputs.length <= 2, onclick: () => this.removeOutput(y) }, '×'),
      );
      const edit = () =>
        this.view.apply(
          (next) => {
            next.outputs[y] = { label: label.value, length: readNumber(length) };
          },
          { scope: row, rebuild: ['reference', 'pairs'], keepFocus: true },
        );
      label.addEventListener('input', edit);
      length.addEventListener('input', edit);
      return row;
    });
    const promptRows = model.prompts.slice(promptPage.start, promptPage.end).map((prompt, offset) => {
      const x = promptPage.start + offset;
      const label = h('input', { type: 'text', value: prompt, 'aria-label': `Prompt ${x + 1} label`, 'data-path': `prompts[${x}]`, autocomplete: 'off', spellcheck: 'false' });
      label.setAttribute('aria-description', 'A unique name for this prompt.');
      const row = h(
        'div',
        { class: 'row prompt-row' },
        label,
        h('button', { type: 'button', class: 'icon', 'aria-label': `Remove prompt ${prompt}`, 'data-lock-path': 'prompts', disabled: model.prompts.length <= 1, onclick: () => this.removePrompt(x) }, '×'),
      );
      label.addEventListener('input', () =>
        this.view.apply(
          (next) => {
            next.prompts[x] = label.value;
          },
          { scope: row, rebuild: ['reference', 'pairs'] },
        ),
      );
      return row;
    });
    return [
      h('div', { class: 'row output-row row-head', 'aria-hidden': 'true' }, h('span', {}, 'Label'), h('span', {}, 'Length'), h('span', {})),
      outputPage.element,
      ...outputRows,
      h('button', { type: 'button', 'data-lock-path': 'outputs', onclick: () => this.addOutput(), 'aria-description': 'Adds an answer; its reference weight starts at the average.' }, '+ Add output'),
      h('h3', {}, 'Prompts'),
      h('p', { class: 'help' }, 'Several prompts share the outputs; each has its own reference and pairs.'),
      promptPage.element,
      ...promptRows,
      h('button', { type: 'button', 'data-lock-path': 'prompts', onclick: () => this.addPrompt(), 'aria-description': 'Adds a prompt with a copy of the first prompt’s reference.' }, '+ Add prompt'),
    ];
  }

  addOutput() {
    this.view.apply(
      (next) => {
        const label = freshLabel(next.outputs.map((o) => o.label));
        next.outputs.push({ label, length: 1 });
        for (const row of next.reference) row.push(Number((row.reduce((a, b) => a + b, 0) / row.length).toPrecision(4)));
        if (next.reward) for (const row of next.reward) row.push(0);
      },
      { rebuild: ['outputs', 'reference', 'pairs'] },
    );
  }

  removeOutput(y) {
    const { model } = this.view;
    const dropped = model.pairs.filter((p) => p.chosen === y || p.rejected === y).length;
    const ok = this.view.apply(
      (next) => {
        next.outputs.splice(y, 1);
        for (const row of next.reference) row.splice(y, 1);
        if (next.reward) for (const row of next.reward) row.splice(y, 1);
        const shift = (i) => (i > y ? i - 1 : i);
        next.pairs = next.pairs.filter((p) => p.chosen !== y && p.rejected !== y).map((p) => ({ ...p, chosen: shift(p.chosen), rejected: shift(p.rejected) }));
      },
      { rebuild: ['outputs', 'reference', 'pairs'] },
    );
    if (ok && dropped) this.view.note(`Removed output ${model.outputs[y].label} and the ${dropped} pair${dropped === 1 ? '' : 's'} that used it.`);
  }

  addPrompt() {
    this.view.apply(
      (next) => {
        next.prompts.push(freshLabel(next.prompts, 'x'));
        next.reference.push([...next.reference[0]]);
        if (next.reward) next.reward.push([...next.reward[0]]);
      },
      { rebuild: ['outputs', 'reference', 'pairs'] },
    );
  }

  removePrompt(x) {
    this.view.apply(
      (next) => {
        next.prompts.splice(x, 1);
        next.reference.splice(x, 1);
        if (next.reward) next.reward.splice(x, 1);
        next.pairs = next.pairs.filter((p) => p.prompt !== x).map((p) => ({ ...p, prompt: p.prompt > x ? p.prompt - 1 : p.prompt }));
      },
      { rebuild: ['outputs', 'reference', 'pairs'] },
    );
  }

  // ---- Reference ----

  build_reference() {
    const { model } = this.view;
    this.referenceBars = [];
    const prompts = this.pager('referencePrompts', model.prompts.length, 'reference', PAGE_PROMPTS, 'prompts');
    const outputs = this.pager('reference', model.outputs.length, 'reference', PAGE_ROWS, 'outputs');
    const blocks = model.prompts.slice(prompts.start, prompts.end).map((prompt, promptOffset) => {
      const x = prompts.start + promptOffset;
      const bars = model.outputs.slice(outputs.start, outputs.end).map((output, outputOffset) => {
        const y = outputs.start + outputOffset;
        const where = model.prompts.length > 1 ? ` on prompt ${prompt}` : '';
        const fill = h('div', { class: 'ref-fill' });
        const track = h(
          'div',
          {
            class: 'ref-track',
            role: 'slider',
            tabindex: '0',
            'aria-label': `Reference probability of ${output.label}${where}`,
            'aria-valuemin': '0',
            'aria-valuemax': '100',
            'aria-description': 'Drag, or use the arrow keys (Page Up/Down for bigger steps); the other outputs share the rest in proportion.',
          },
          fill,
        );
        const percent = h('span', { class: 'ref-percent' });
        const weight = numberInput('', { min: 0, 'aria-label': `Reference weight of ${output.label}${where}`, 'data-path': `reference[${x}][${y}]` });
        weight.setAttribute('aria-description', 'A positive weight; the row is normalised to probabilities.');
        weight.addEventListener('input', () =>
          this.view.apply(
            (next) => {
              next.reference[x][y] = readNumber(weight);
            },
            { scope: weight.parentElement, after: () => this.updateReference() },
          ),
        );
        this.bindSlider(track, x, y);
        const column = h('div', { class: 'ref-column' }, track, percent, weight, h('span', { class: 'ref-label' }, output.label));
        this.referenceBars.push({ x, y, track, fill, percent, weight });
        return column;
      });
      return h(
        'div',
        { class: 'ref-prompt' },
        model.prompts.length > 1 ? h('h3', {}, `Prompt ${prompt}`) : null,
        h('div', { class: 'ref-bars', tabindex: '-1', style: `--outputs: ${outputs.end - outputs.start}` }, bars),
      );
    });
    return [prompts.element, outputs.element, ...blocks];
  }

  /** Sets reference[x][y] to probability `p`, the other outputs sharing `1 - p` in proportion. */
  setProbability(x, y, p) {
    p = Math.min(0.995, Math.max(0.005, p));
    this.view.apply(
      (next) => {
        const row = next.reference[x];
        const others = row.reduce((sum, w, j) => (j === y ? sum : sum + w), 0);
        next.reference[x] = row.map((w, j) => {
          const value = j === y ? p : (w / others) * (1 - p);
          // Four significant digits keep links short; a floor keeps every weight positive.
          return Math.max(1e-4, Number(value.toPrecision(4)));
        });
      },
      { after: () => this.updateReference() },
    );
  }

  bindSlider(track, x, y) {
    const probability = () => {
      const row = this.view.model.reference[x];
      return row[y] / row.reduce((a, b) => a + b, 0);
    };
    const fromPointer = (event) => {
      const rect = track.getBoundingClientRect();
      this.setProbability(x, y, 1 - (event.clientY - rect.top) / rect.height);
    };
    track.addEventListener('pointerdown', (event) => {
      track.setPointerCapture(event.pointerId);
      track.focus();
      fromPointer(event);
      event.preventDefault();
    });
    track.addEventListener('pointermove', (event) => {
      if (track.hasPointerCapture(event.pointerId)) fromPointer(event);
    });
    track.addEventListener('keydown', (event) => {
      const steps = { ArrowUp: 0.01, ArrowRight: 0.01, ArrowDown: -0.01, ArrowLeft: -0.01, PageUp: 0.1, PageDown: -0.1 };
      if (event.key in steps) {
        this.setProbability(x, y, probability() + steps[event.key]);
        event.preventDefault();
      } else if (event.key === 'Home' || event.key === 'End') {
        this.setProbability(x, y, event.key === 'Home' ? 0 : 1);
        event.preventDefault();
      }
    });
  }

  /** Brings the bars and weights in line with the model (skipping the weight being typed). */
  updateReference() {
    const { model } = this.view;
    for (const bar of this.referenceBars) {
      const row = model.reference[bar.x];
      if (!row || bar.y >= row.length) continue;
      const total = row.reduce((a, b) => a + b, 0);
      const p = row[bar.y] / total;
      const percent = Number.isFinite(p) ? p * 100 : 0;
      bar.fill.style.height = `${Math.max(0, Math.min(100, percent))}%`;
      bar.percent.textContent = `${percent.toFixed(1)}%`;
      bar.track.setAttribute('aria-valuenow', percent.toFixed(1));
      bar.track.setAttribute('aria-valuetext', `${percent.toFixed(1)}%`);
      if (document.activeElement !== bar.weight) bar.weight.value = String(row[bar.y]);
    }
  }

  // ---- Pairs and the ground-truth reward ----

  build_pairs() {
    const { model } = this.view;
    const manyPrompts = model.prompts.length > 1;
    const page = this.pager('pairs', model.pairs.length, 'pairs', PAGE_ROWS, 'pairs');
    // A dropdown per row while the lists are short; past DROPDOWN_LIMIT a text field that takes
    // a label (checked when the edit is applied), so that a row costs the same at any size.
    const shown = page.end - page.start;
    const chooser = (labels, value, props) => {
      if (labels.length <= DROPDOWN_LIMIT && 2 * shown * labels.length <= DROPDOWN_OPTIONS) return select(labels.map((label, j) => [String(j), label]), value, props);
      const input = h('input', { type: 'text', value: labels[value] ?? '', autocomplete: 'off', spellcheck: 'false', ...props });
      input.setAttribute('aria-description', `${props['aria-description']} Type its label.`);
      input.dataset.labels = 'text';
      return input;
    };
    const index = (control, labels, what) => {
      if (control.tagName === 'SELECT') return Number(control.value);
      const at = labels.indexOf(control.value);
      if (at < 0) throw new FieldError(control.dataset.path, `no ${what} is labelled “${control.value}”`);
      return at;
    };
    const outputLabels = model.outputs.map((o) => o.label);
    // The pairs held out of training, by `validation` or by their marks (the explicit ones come
    // first among all pairs). A `validation` block chooses them itself: the marks give way to it.
    const heldOut = new Set(this.view.pg.heldOutPairs());
    const byBlock = Boolean(model.validation);
    const heldExplicit = [...heldOut].filter((i) => i < model.pairs.length).length;
    const rows = model.pairs.slice(page.start, page.end).map((pair, offset) => {
      const i = page.start + offset;
      const n = i + 1;
      const held = heldOut.has(i);
      const prompt = manyPrompts ? chooser(model.prompts, pair.prompt, { 'aria-label': `Pair ${n} prompt`, 'data-path': `pairs[${i}].prompt`, 'aria-description': 'The prompt this preference is about.' }) : null;
      const chosen = chooser(outputLabels, pair.chosen, { 'aria-label': `Pair ${n} chosen output`, 'data-path': `pairs[${i}].chosen`, 'aria-description': held ? 'The preferred answer (y+). This pair is held out of training (validation).' : 'The preferred answer (y+).' });
      const rejected = chooser(outputLabels, pair.rejected, { 'aria-label': `Pair ${n} rejected output`, 'data-path': `pairs[${i}].rejected`, 'aria-description': 'The dispreferred answer (y−).' });
      const weight = numberInput(pair.weight, { min: 0, 'aria-label': `Pair ${n} weight`, 'data-path': `pairs[${i}].weight`, 'aria-description': 'How many times this pair counts (positive).' });
      const hold = h('input', {
        type: 'checkbox',
        class: 'hold',
        checked: held,
        disabled: byBlock,
        'aria-label': `Hold pair ${n} out of training`,
        'data-path': `pairs[${i}].split`,
        'data-lock-path': 'pairs',
        'aria-description': byBlock ? 'The scenario’s “validation” block chooses the held-out pairs; remove it in the Sweep panel to choose them here.' : 'Held out: the runs never train on it; the Sweep panel scores it (validation).',
        title: byBlock ? 'Chosen by the “validation” block' : null,
      });
      const row = h(
        'div',
        { class: `row pair-row${manyPrompts ? ' with-prompt' : ''}${held ? ' held-out' : ''}`, 'data-path': `pairs[${i}]`, title: held ? 'Held out of training (validation)' : null },
        prompt,
        chosen,
        h('span', { class: 'prefers', 'aria-hidden': 'true' }, '≻'),
        rejected,
        weight,
        hold,
        h('button', { type: 'button', class: 'icon', 'aria-label': `Remove pair ${n}`, 'data-lock-path': 'pairs', onclick: () => this.removePair(i) }, '×'),
      );
      const edit = () =>
        this.view.apply(
          (next) => {
            next.pairs[i] = {
              prompt: prompt ? index(prompt, model.prompts, 'prompt') : 0,
              chosen: index(chosen, outputLabels, 'output'),
              rejected: index(rejected, outputLabels, 'output'),
              weight: readNumber(weight),
            };
            if (pair.split === 'validation') next.pairs[i].split = 'validation';
          },
          { scope: row },
        );
      for (const control of [prompt, chosen, rejected]) control?.addEventListener('change', edit);
      // Holding a pair out changes which rows are dashed and the note: the list is drawn again,
      // and the keyboard stays on the box.
      hold.addEventListener('change', () => {
        const path = hold.dataset.path;
        const applied = this.view.apply(
          (next) => {
            if (hold.checked) next.pairs[i].split = 'validation';
            else delete next.pairs[i].split;
          },
          { scope: row, rebuild: ['pairs'], after: () => this.sections.pairs.querySelector(`[data-path="${path}"]`)?.focus() },
        );
        // Refused (every pair held out): the box shows the pair as it still is.
        if (!applied) hold.checked = !hold.checked;
      });
      weight.addEventListener('input', edit);
      return row;
    });
    const head = h(
      'div',
      { class: `row pair-row row-head${manyPrompts ? ' with-prompt' : ''}`, 'aria-hidden': 'true' },
      manyPrompts ? h('span', {}, 'Prompt') : null,
      h('span', {}, 'Chosen'),
      h('span', {}),
      h('span', {}, 'Rejected'),
      h('span', {}, 'Weight'),
      h('span', {}, 'Held out'),
      h('span', {}),
    );
    return [
      page.element,
      heldOut.size && byBlock
        ? h('p', { class: 'help held-out-note' }, `Held out of training by “validation”: ${heldExplicit} of these ${model.pairs.length} pairs (a dashed line on their left)${heldOut.size > heldExplicit ? ` and ${heldOut.size - heldExplicit} of the generated ones` : ''}. The runs never train on them; the Sweep panel scores them.`)
        : heldOut.size
        ? h('p', { class: 'help held-out-note' }, `Held out of training by hand: ${heldOut.size} of these ${model.pairs.length} pairs (ticked, with a dashed line on their left). The runs never train on them; the Sweep panel scores them.`)
        : model.validation?.fresh
          ? h('p', { class: 'help held-out-note' }, `Held out by “validation”: ${model.validation.fresh} pairs per prompt drawn fresh from the reward (as “generate” draws); every pair here trains. The Sweep panel scores the held-out ones.`)
          : null,
      h('div', { class: 'pairs', 'data-path': 'pairs' }, model.pairs.length ? head : h('p', { class: 'help' }, 'No explicit pairs.'), rows),
      h('button', { type: 'button', 'data-lock-path': 'pairs', onclick: () => this.addPair(), 'aria-description': 'Adds a pair preferring the first output to the last.' }, '+ Add pair'),
      this.buildReward(),
    ];
  }

  addPair() {
    this.view.apply(
      (next) => {
        next.pairs.push({ prompt: 0, chosen: 0, rejected: next.outputs.length - 1, weight: 1 });
      },
      { rebuild: ['pairs'] },
    );
  }

  removePair(i) {
    this.view.apply(
      (next) => {
        next.pairs.splice(i, 1);
      },
      { rebuild: ['pairs'] },
    );
  }

  buildReward() {
    const { model } = this.view;
    const hasReward = Boolean(model.reward);
    const rewardToggle = h('input', { type: 'checkbox', checked: hasReward, 'data-path': 'reward' });
    const body = [];
    this.generatedList = null;
    if (hasReward) {
      const prompts = this.pager('rewardPrompts', model.prompts.length, 'pairs', PAGE_PROMPTS, 'prompts');
      const outputs = this.pager('reward', model.outputs.length, 'pairs', PAGE_ROWS, 'outputs');
      body.push(prompts.element, outputs.element);
      model.prompts.slice(prompts.start, prompts.end).forEach((prompt, promptOffset) => {
        const x = prompts.start + promptOffset;
        const inputs = model.outputs.slice(outputs.start, outputs.end).map((output, outputOffset) => {
          const y = outputs.start + outputOffset;
          const input = numberInput(model.reward[x][y], { 'aria-label': `True reward of ${output.label}${model.prompts.length > 1 ? ` on prompt ${prompt}` : ''}`, 'data-path': `reward[${x}][${y}]` });
          input.addEventListener('input', () =>
            this.view.apply(
              (next) => {
                next.reward[x][y] = readNumber(input);
              },
              { scope: input.parentElement },
            ),
          );
          return h('label', { class: 'reward-cell' }, h('span', {}, output.label), input);
        });
        body.push(h('div', { class: 'reward-row' }, model.prompts.length > 1 ? h('span', { class: 'reward-prompt' }, prompt) : null, inputs));
      });
      const generate = model.generate;
      const generateToggle = h('input', { type: 'checkbox', checked: Boolean(generate), 'data-path': 'generate' });
      generateToggle.addEventListener('change', () =>
        this.view.apply(
          (next) => {
            next.generate = generateToggle.checked ? { count: 16, tau: 1, seed: 0, sampling: 'uniform' } : null;
          },
          { rebuild: ['pairs'] },
        ),
      );
      body.push(h('label', { class: 'check' }, generateToggle, ' Also draw pairs from it (Bradley–Terry)'));
      if (generate) {
        const count = numberInput(generate.count, { min: 0, step: 1 });
        const tau = numberInput(generate.tau, { min: 0 });
        const seed = numberInput(generate.seed, { min: 0, step: 1 });
        const sampling = select([['uniform', 'uniformly'], ['reference', 'from the reference']], generate.sampling);
        const group = h(
          'div',
          { class: 'grid2' },
          field('Count', count, 'Pairs drawn per prompt.', 'generate.count'),
          field('Noise τ', tau, 'Label y ≻ y′ with probability sigmoid((r*(y) − r*(y′)) / τ); 0 is noiseless.', 'generate.tau'),
          field('Seed', seed, 'The same seed draws the same pairs.', 'generate.seed'),
          field('Draw outputs', sampling, 'Which outputs get compared: uniformly, or as often as the reference would say them.', 'generate.sampling'),
        );
        const edit = () =>
          this.view.apply(
            (next) => {
              next.generate = { count: readNumber(count, { integer: true }), tau: readNumber(tau), seed: readNumber(seed, { integer: true }), sampling: sampling.value };
            },
            { scope: group },
          );
        for (const input of [count, tau, seed]) input.addEventListener('input', edit);
        sampling.addEventListener('change', edit);
        this.generatedList = h('p', { class: 'generated help', 'aria-live': 'off' });
        body.push(group, this.generatedList);
      }
    }
    rewardToggle.addEventListener('change', () =>
      this.view.apply(
        (next) => {
          next.reward = rewardToggle.checked ? next.prompts.map(() => next.outputs.map((_, y) => next.outputs.length - 1 - y)) : null;
          if (!next.reward) next.generate = null;
        },
        { rebuild: ['pairs'] },
      ),
    );
    return h(
      'fieldset',
      { class: 'reward' },
      h('legend', {}, h('label', { class: 'check' }, rewardToggle, ' Ground-truth reward r*')),
      h('p', { class: 'help' }, 'Optional: a true reward per output. The metrics then show the expected true reward and how often the policy ranks outputs as r* does; pairs can be drawn from it.'),
      body,
    );
  }

  // ---- Runs ----

  build_runs() {
    const { model } = this.view;
    this.runSwatches = [];
    this.runStatuses = [];
    this.runNames = [];
    const page = this.pager('runs', model.runs.length, 'runs', 24, 'runs');
    this.runOffset = page.start;
    const cards = model.runs.slice(page.start, page.end).map((run, offset) => this.buildRunCard(run, page.start + offset));
    return [
      page.element,
      ...cards,
      h('button', { type: 'button', 'data-lock-path': 'runs', onclick: () => this.addRun(), 'aria-description': 'Adds a DPO run (logistic loss, gamma = beta) at the end.' }, '+ Add run'),
    ];
  }

  buildRunCard(run, i) {
    const path = (name) => `runs[${i}].${name}`;
    const name = h('input', { type: 'text', value: run.name, autocomplete: 'off', spellcheck: 'false' });
    const loss = select(choices('loss'), run.loss);
    const beta = numberInput(run.beta, { min: 0 });
    const gamma = numberInput(run.gamma, { min: 0 });
    const margin = numberInput(run.margin);
    const alpha = numberInput(run.alpha, { min: 0 });
    const alphaSlider = h('input', { type: 'range', min: 0, max: 4, step: 0.05, value: Math.min(4, run.alpha), 'aria-label': `Alpha slider for ${run.name}`, 'data-lock-path': path('alpha') });
    const lengthNormalize = h('input', { type: 'checkbox', checked: run.length_normalize });
    const init = select(choices('init'), run.init.kind);
    const scale = numberInput(run.init.scale ?? defaultsOf('init', 'random').scale, { min: 0 });
    const optimizer = select(choices('optimizer'), run.optimizer.kind);
    const lr = numberInput(run.optimizer.lr, { min: 0 });
    const momentum = numberInput(run.optimizer.momentum ?? 0, { min: 0, max: 1 });
    const batch = numberInput(run.batch_size ?? '', { min: 1, step: 1, placeholder: 'full' });
    const seed = numberInput(run.seed, { min: 0, step: 1 });
    const regularizer = select(choices('regularizer'), run.regularizer.kind);
    const strength = numberInput(run.regularizer.lambda ?? run.regularizer.p ?? defaultsOf('regularizer', 'l2').lambda, { min: 0 });
    const swatch = h('span', { class: 'swatch', 'aria-hidden': 'true' });
    this.runSwatches.push(swatch);
    this.runNames.push(name);
    // Says when the run diverged (filled by `update`); hidden otherwise.
    const status = h('p', { class: 'run-status error', role: 'status', hidden: true });
    this.runStatuses.push(status);

    const scaleField = field('Scale', scale, 'Standard deviation of the random logits.', path('init.scale'));
    const momentumField = field('Momentum', momentum, 'SGD momentum, 0 to 1.', path('optimizer.momentum'));
    const strengthField = field('Strength', strength, 'Weight of the penalty.', path('regularizer.lambda'));
    const showConditional = () => {
      scaleField.hidden = init.value !== 'random';
      momentumField.hidden = optimizer.value !== 'sgd';
      strengthField.hidden = regularizer.value === 'none';
      const mixout = regularizer.value === 'mixout';
      strength.dataset.path = path(mixout ? 'regularizer.p' : 'regularizer.lambda');
      strengthField.querySelector('.field-label').textContent = mixout ? 'Drop p' : 'Lambda λ';
      const help = mixout
        ? 'Mixout probability p (0 to 1): at each step the loss is evaluated at logits where each one is swapped for its reference value with probability p (and the mix rescaled); the logits themselves are never reset.'
        : 'Weight λ of the penalty toward the reference.';
      strengthField.querySelector('.help').textContent = help;
      strength.setAttribute('aria-description', help);
    };
    showConditional();

    const card = h(
      'fieldset',
      { class: 'run-card' },
      h('legend', {}, swatch, h('span', { class: 'run-title' }, `Run ${i + 1}`)),
      status,
      h(
        'div',
        { class: 'grid2' },
        field('Name', name, 'Shown in the legends and tables.', path('name'), 'wide'),
        field('Loss φ(u)', loss, 'logistic log(1+e^−u) is DPO; hinge max(0, −u) learns only while u < 0; IPO squares h_π − (γ/β)h_0 − 1/(2β).', path('loss'), 'wide'),
        field('β (beta)', beta, 'Weight of the policy log-ratio h_π in u; positive.', path('beta')),
        field('γ (gamma)', gamma, 'Weight of the reference log-ratio h_0; DPO uses γ = β, reference-free γ = 0.', path('gamma')),
        field('Margin m', margin, 'A constant subtracted from u (SimPO, SLiC use m > 0).', path('margin')),
        field('α (alpha)', alpha, 'Sharpens the reference: π0^α (0 uniform, 1 as given, >1 sharper).', path('alpha')),
        h('div', { class: 'field wide' }, alphaSlider),
        h('div', { class: 'field wide' }, h('label', { class: 'check' }, lengthNormalize, ' Length normalisation'), h('small', { class: 'help' }, 'Divide each log-probability by the output’s length (SimPO).')),
        field('Initial policy', init, 'Where θ starts: usually at the reference.', path('init'), 'wide'),
        scaleField,
        field('Optimiser', optimizer, 'Adam (β1 0.9, β2 0.999) or plain SGD.', path('optimizer.kind')),
        field('Learning rate', lr, 'Step size; positive.', path('optimizer.lr')),
        momentumField,
        field('Batch size', batch, 'Pairs per step, drawn with the seed; empty for the full batch.', path('batch_size')),
        field('Seed', seed, 'Seeds minibatches, random init and mixout: the same seed gives the same run.', path('seed')),
        field('Regulariser', regularizer, 'An explicit pull toward the reference.', path('regularizer.kind')),
        strengthField,
      ),
      h(
        'div',
        { class: 'row buttons' },
        h('button', { type: 'button', 'data-lock-path': 'runs', onclick: () => this.duplicateRun(i), 'aria-label': `Duplicate run ${run.name}` }, 'Duplicate'),
        h('button', { type: 'button', 'data-lock-path': 'runs', onclick: () => this.removeRun(i), disabled: this.view.model.runs.length <= 1, 'aria-label': `Remove run ${run.name}` }, 'Remove'),
      ),
    );
    alphaSlider.dataset.path = path('alpha');

    const edit = () => {
      showConditional();
      this.view.apply(
        (next) => {
          const old = next.runs[i];
          const optimizerKind = optimizer.value;
          const regularizerKind = regularizer.value;
          next.runs[i] = {
            ...old,
            name: name.value,
            loss: loss.value,
            beta: readNumber(beta),
            gamma: readNumber(gamma),
            margin: readNumber(margin),
            alpha: readNumber(alpha),
            length_normalize: lengthNormalize.checked,
            init: init.value === 'random' ? { kind: 'random', scale: readNumber(scale) } : { kind: init.value },
            // Another kind starts from its defaults; the same kind keeps what the form does not show.
            optimizer: {
              ...(old.optimizer.kind === optimizerKind ? old.optimizer : defaultsOf('optimizer', optimizerKind)),
              lr: readNumber(lr),
              ...(optimizerKind === 'sgd' ? { momentum: readNumber(momentum) } : {}),
            },
            batch_size: readNumber(batch, { integer: true, optional: true }),
            seed: readNumber(seed, { integer: true }),
            regularizer:
              regularizerKind === 'none'
                ? { kind: 'none' }
                : regularizerKind === 'mixout'
                  ? { kind: 'mixout', p: readNumber(strength) }
                  : { kind: regularizerKind, lambda: readNumber(strength) },
          };
        },
        { scope: card, runsOnly: true },
      );
    };
    alphaSlider.addEventListener('input', () => {
      alpha.value = alphaSlider.value;
      edit();
    });
    alpha.addEventListener('input', () => {
      if (Number.isFinite(Number(alpha.value))) alphaSlider.value = alpha.value;
    });
    name.addEventListener('input', () => this.view.namedByUser.add(i));
    for (const control of [name, beta, gamma, margin, alpha, scale, lr, momentum, batch, seed, strength]) control.addEventListener('input', edit);
    for (const control of [loss, lengthNormalize, init, optimizer, regularizer]) control.addEventListener('change', edit);
    return card;
  }

  addRun() {
    this.view.apply(
      (next) => {
        next.runs.push(defaultRun(freshLabel(next.runs.map((r) => r.name), 'run ')));
      },
      { rebuild: ['runs'], runsOnly: true },
    );
  }

  duplicateRun(i) {
    // The copy goes at the end: the engine matches runs by index, so inserting in the middle
    // would hand the following runs each other's training state.
    this.view.apply(
      (next) => {
        const copy = structuredClone(next.runs[i]);
        copy.name = `${copy.name} (copy)`;
        next.runs.push(copy);
      },
      { rebuild: ['runs'], runsOnly: true },
    );
  }

  removeRun(i) {
    const last = i === this.view.model.runs.length - 1;
    // The runs after it move up: so do their "named by the user" marks.
    const typed = this.view.namedByUser;
    const shifted = [...typed].filter((j) => j !== i).map((j) => (j > i ? j - 1 : j));
    const ok = this.view.apply(
      (next) => {
        next.runs.splice(i, 1);
      },
      { rebuild: ['runs'], resetAll: !last, runsOnly: true },
    );
    if (ok) {
      typed.clear();
      for (const j of shifted) typed.add(j);
    }
    // Runs after the removed one move up an index; restarting them all keeps each run's state its own.
    if (ok && !last) this.view.note('Removed a run; the runs restarted so that each keeps its own state.');
  }
}

function section(title, help, body) {
  return h('details', { class: 'editor', open: true }, h('summary', {}, title), h('p', { class: 'help' }, help), body);
}

