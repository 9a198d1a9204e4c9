// The "Share / embed" dialog of one playground (loaded when first opened): the author picks the layout, what to show, hide
// and lock, autoplay and the theme, and gets the share link, the <dpo-playground> snippet and the
// iframe snippet for the scenario as it is now, each with a copy button, and a live preview (the
// iframe route with the same options). Everything it writes is text (textarea values).
//
// A teacher can make the scenario an exercise here: a question, the runs students predict, an
// optional comparison and an explanation. The answer is not typed: the dialog trains a copy of the
// scenario to its `steps` in the engine and takes what it measures (the cells that learn, the run
// that ends higher), as the page will mark the students against it. The exercise travels in the
// link and the snippets; the Hide and Lock choices become the exercise's own.

import { h, select } from './dom.js';
import { errorParts } from './errors.js';
import { Playground } from './pkg/dpo_playground.js';
import { hashFor, scenarioText } from './state.js';

/** Where the site's files are, whatever page this module runs in: its own folder's parent. */
const SITE = new URL('../', import.meta.url);

/** Panels an embed commonly hides, in the dialog's order (the others stay as the layout has them). */
const HIDEABLE = [
  ['about', 'description'],
  ['claims', 'claims'],
  ['predicted', 'predicted tables'],
  ['metrics', 'metrics table'],
  ['policy', 'policy chart'],
  ['margins', 'margin charts'],
  ['editors', 'editors'],
  ['file', 'scenario file'],
];
/** What an embed can lock. */
const LOCKABLE = [
  ['loss', 'loss'],
  ['beta', 'β'],
  ['gamma', 'γ'],
  ['margin', 'margin'],
  ['runs', 'all run settings'],
  ['data', 'the data'],
  ['preset', 'preset menu'],
];

/** Escapes text for an HTML attribute value or element content written into a snippet. */
function html(text) {
  return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A scenario written inside <script type="application/json">: script text is not HTML (no
 * entities), so `<` is written as the JSON escape \u003c, which no `</script>` can come out of. */
function inlineJson(text) {
  return JSON.stringify(JSON.parse(text), null, 2).replace(/</g, '\\u003c').replace(/^/gm, '    ');
}

export class ShareDialog {
  constructor(view) {
    this.view = view;
  }

  build() {
    const checkboxes = (items) => items.map(([name, label]) => {
      const box = h('input', { type: 'checkbox', value: name });
      box.addEventListener('change', () => this.update());
      return { name, box, element: h('label', { class: 'check' }, box, label) };
    });
    this.layout = select([['compact', 'compact (for an article)'], ['full', 'full']], 'compact', { 'aria-label': 'Layout' });
    this.theme = select([['light', 'light'], ['dark', 'dark'], ['auto', 'the reader’s setting']], 'light', { 'aria-label': 'Theme' });
    this.hide = checkboxes(HIDEABLE);
    this.lock = checkboxes(LOCKABLE);
    this.autoplay = h('input', { type: 'checkbox' });
    this.loop = h('input', { type: 'checkbox' });
    for (const control of [this.layout, this.theme, this.autoplay, this.loop]) control.addEventListener('change', () => this.update());
    const output = (label) => {
      const area = h('textarea', { readonly: true, rows: 3, spellcheck: 'false', 'aria-label': label });
      const copy = h('button', { type: 'button', class: 'small', onclick: () => this.copy(area, label) }, 'Copy');
      return { area, element: h('div', { class: 'share-output' }, h('div', { class: 'share-output-head' }, h('strong', {}, label), copy), area) };
    };
    this.link = output('Link');
    this.elementSnippet = output('Element snippet');
    this.frameSnippet = output('Iframe snippet');
    this.buildExercise();
    this.preview = h('iframe', { title: 'Preview of the embed', class: 'share-preview', loading: 'lazy' });
    this.said = h('p', { class: 'help', role: 'status' });
    this.dialog = h(
      'dialog',
      { class: 'share-dialog', 'aria-label': 'Share or embed this scenario' },
      h('div', { class: 'share-head' }, h('h2', { class: 'share-title' }, 'Share or embed this scenario'), h('button', { type: 'button', class: 'small', onclick: () => this.dialog.close() }, 'Close')),
      h('p', { class: 'help shown' }, 'The link opens the full page on this scenario. The snippets put it in a page of your own: the element in any page that can load a script, the iframe where no script is allowed. docs/embedding.md explains every option.'),
      h(
        'div',
        { class: 'share-options' },
        h('label', { class: 'field' }, h('span', { class: 'field-label' }, 'Layout'), this.layout),
        h('label', { class: 'field' }, h('span', { class: 'field-label' }, 'Theme'), this.theme),
        h('fieldset', { class: 'share-set' }, h('legend', {}, 'Hide'), ...this.hide.map((c) => c.element)),
        h('fieldset', { class: 'share-set' }, h('legend', {}, 'Lock'), ...this.lock.map((c) => c.element)),
        h('div', { class: 'share-set' }, h('label', { class: 'check' }, this.autoplay, 'Autoplay when seen'), h('label', { class: 'check' }, this.loop, 'Loop')),
      ),
      this.exercise.element,
      this.link.element,
      this.elementSnippet.element,
      this.frameSnippet.element,
      this.said,
      h('details', { class: 'share-preview-box' }, h('summary', {}, 'Preview'), this.preview),
    );
    this.dialog.querySelector('details').addEventListener('toggle', () => this.update());
    this.view.root.append(this.dialog);
  }

  open() {
    if (!this.dialog) this.build();
    this.fillExercise();
    this.dialog.showModal();
    this.update();
  }

  // ---- Exercise authoring ----

  buildExercise() {
    const on = h('input', { type: 'checkbox', class: 'exercise-on' });
    const question = h('textarea', { rows: 2, class: 'exercise-question-input', 'aria-label': 'Question' });
    const explanation = h('textarea', { rows: 3, class: 'exercise-explanation-input', 'aria-label': 'Explanation shown after the reveal' });
    const compare = select([['', 'no comparison'], ['accuracy', 'the higher accuracy'], ['kl', 'the higher KL to the reference'], ['loss', 'the higher loss']], '', { 'aria-label': 'Also ask which run ends with' });
    const runs = h('div', { class: 'share-set exercise-runs-choice', role: 'group', 'aria-label': 'Runs the students predict' });
    const answer = h('p', { class: 'help shown exercise-answer', role: 'status' });
    const fields = h(
      'div',
      { class: 'exercise-fields' },
      h('label', { class: 'field' }, h('span', { class: 'field-label' }, 'Question'), question),
      h('div', { class: 'field' }, h('span', { class: 'field-label' }, 'Runs the students predict (which cells of each one’s learning table learn)'), runs),
      h('label', { class: 'field' }, h('span', { class: 'field-label' }, 'Also ask which run ends with'), compare),
      h('label', { class: 'field' }, h('span', { class: 'field-label' }, 'Explanation (shown after the reveal)'), explanation),
      h('p', { class: 'help shown' }, 'The Hide and Lock choices above become the exercise’s own: they travel in the link and the snippets. The answer is not typed: it is what a copy of the scenario measures when trained to its steps, as the students’ page will mark it.'),
      answer,
    );
    fields.hidden = true;
    on.addEventListener('change', () => {
      fields.hidden = !on.checked;
      this.update();
    });
    let typing = 0;
    for (const control of [question, explanation]) {
      control.addEventListener('input', () => {
        clearTimeout(typing);
        typing = setTimeout(() => this.update(), 300);
      });
    }
    compare.addEventListener('change', () => this.update());
    this.exercise = {
      on,
      question,
      explanation,
      compare,
      runs,
      runBoxes: [],
      answer,
      fields,
      element: h(
        'fieldset',
        { class: 'share-exercise' },
        h('legend', {}, 'Exercise'),
        h('label', { class: 'check' }, on, 'Make it an exercise: students predict which cells learn, then train and are marked'),
        fields,
      ),
    };
  }

  /** The exercise fields from the scenario as it is (its own exercise, if it has one). */
  fillExercise() {
    const { view, exercise } = this;
    const block = view.model.exercise;
    const names = view.model.runs.map((run, i) => run.name || `run ${i + 1}`);
    const asked = new Set((block?.predict ?? []).map(({ run }) => (typeof run === 'number' ? run : view.model.runs.findIndex((r) => r.name === run))));
    exercise.runBoxes = names.map((name, i) => {
      const box = h('input', { type: 'checkbox', value: String(i) });
      box.checked = block ? asked.has(i) : true;
      box.addEventListener('change', () => this.update());
      return box;
    });
    exercise.runs.replaceChildren(...exercise.runBoxes.map((box, i) => h('label', { class: 'check' }, box, names[i])));
    exercise.on.checked = Boolean(block);
    exercise.fields.hidden = !block;
    exercise.question.value = block?.question ?? `Which cells of each run’s learning table will carry learning signal over ${view.model.steps} steps?`;
    exercise.explanation.value = block?.explanation ?? '';
    exercise.compare.value = block?.compare?.metric ?? '';
    if (block) {
      for (const c of this.hide) c.box.checked = (block.hide ?? []).includes(c.name);
      for (const c of this.lock) c.box.checked = (block.lock ?? []).includes(c.name);
    }
  }

  /** The scenario text the link and snippets carry: as it is, or with the exercise the fields
   * describe, its answer measured by training a copy. Null while that cannot be (said in the
   * dialog). */
  async sharedText() {
    const { view, exercise } = this;
    const text = scenarioText(view.model);
    if (!exercise.on.checked) {
      // Unticking the box shares the scenario without an exercise.
      if (!view.model.exercise) return text;
      const scenario = JSON.parse(text);
      delete scenario.exercise;
      return JSON.stringify(scenario);
    }
    const runs = exercise.runBoxes.filter((box) => box.checked).map((box) => Number(box.value));
    const question = exercise.question.value.trim();
    if (!question) return this.sayExercise('Write the question first.');
    if (!runs.length) return this.sayExercise('Choose at least one run for the students to predict.');
    const metric = exercise.compare.value;
    if (metric && runs.length < 2) return this.sayExercise('A comparison needs at least two predicted runs.');
    const scenario = JSON.parse(text);
    const block = { question, predict: runs.map((run) => ({ run, learns: [] })) };
    if (metric) block.compare = { metric, higher: runs[0] };
    const explanation = exercise.explanation.value.trim();
    if (explanation) block.explanation = explanation;
    block.hide = this.hide.filter((c) => c.box.checked).map((c) => c.name);
    block.lock = this.lock.filter((c) => c.box.checked).map((c) => c.name);
    scenario.exercise = block;
    const key = JSON.stringify(scenario);
    if (this.answered?.key === key) return this.answered.text;
    const generation = (this.generation ?? 0) + 1;
    this.generation = generation;
    exercise.answer.textContent = `Measuring the answer: training a copy for ${scenario.steps ?? view.model.steps} steps…`;
    let marking;
    let copy;
    try {
      copy = new Playground(key);
      const steps = scenario.steps ?? view.model.steps;
      for (let done = 0; done < steps; ) {
        const slice = Math.min(200, steps - done);
        copy.step(slice);
        done += slice;
        // Stay responsive on a long scenario; give up if the fields changed meanwhile.
        await new Promise((resolve) => setTimeout(resolve, 0));
        if (generation !== this.generation) return null;
      }
      copy.record();
      marking = copy.markExercise(JSON.stringify({ runs: block.predict }));
    } catch (error) {
      const { path, message } = errorParts(error);
      return this.sayExercise(`The exercise cannot be made: ${path ? `${path}: ` : ''}${message}`);
    } finally {
      copy?.free();
    }
    if (!marking.available) return this.sayExercise(`The answer cannot be measured: ${marking.reason}`);
    block.predict = marking.runs.map(({ run, cells }) => ({ run, learns: cells.filter((cell) => cell.measured).map((cell) => cell.cell) }));
    const said = marking.runs.map(({ name, cells }) => {
      const learning = cells.filter((cell) => cell.measured).map((cell) => cell.cell);
      return `“${name}”: ${learning.length ? learning.join(', ') : 'no cell'} learn${learning.length === 1 ? 's' : ''}`;
    });
    if (metric) {
      const higher = marking.compare?.measured;
      if (higher === null || higher === undefined) {
        delete block.compare;
        said.push(`no run ends with a clearly higher ${metric} (a tie), so the comparison is left out`);
      } else {
        block.compare.higher = higher;
        said.push(`higher ${metric}: “${marking.runs.find((r) => r.run === higher)?.name ?? `run ${higher}`}”`);
      }
    }
    exercise.answer.textContent = `The answer, measured over ${marking.runs[0]?.step ?? ''} steps (what students are marked against): ${said.join('; ')}.`;
    const shared = JSON.stringify(scenario);
    this.answered = { key, text: shared };
    return shared;
  }

  sayExercise(message) {
    this.exercise.answer.textContent = message;
    return null;
  }

  /** The options chosen, as the element's attributes (name → value, '' for a bare attribute). An
   * exercise carries the Hide and Lock choices itself. */
  attributes() {
    const attributes = [];
    if (this.layout.value !== 'full') attributes.push(['layout', this.layout.value]);
    const exercise = this.exercise.on.checked;
    const hide = exercise ? [] : this.hide.filter((c) => c.box.checked).map((c) => c.name);
    if (hide.length) attributes.push(['hide', hide.join(' ')]);
    const lock = exercise ? [] : this.lock.filter((c) => c.box.checked).map((c) => c.name);
    if (lock.length) attributes.push(['lock', lock.join(' ')]);
    if (this.autoplay.checked) attributes.push(['autoplay', '']);
    if (this.loop.checked) attributes.push(['loop', '']);
    if (this.theme.value !== 'light') attributes.push(['theme', this.theme.value]);
    return attributes;
  }

  async update() {
    const { view } = this;
    // Updates overlap (measuring an exercise's answer takes a while): the latest one writes.
    const ticket = (this.updates ?? 0) + 1;
    this.updates = ticket;
    const text = await this.sharedText();
    if (ticket !== this.updates) return;
    if (text === null) {
      for (const output of [this.link, this.elementSnippet, this.frameSnippet]) output.area.value = '';
      return;
    }
    // A preset stays a preset only as shipped (an exercise added or removed makes it another).
    const presetId = text === scenarioText(view.model) ? view.presetId : '';
    const hash = await hashFor(text, presetId, view.presets);
    if (ticket !== this.updates) return;
    const page = new URL(SITE);
    page.hash = hash;
    this.link.area.value = page.href;

    const attributes = this.attributes();
    const preset = presetId ? [['preset', presetId]] : [];
    const written = [...preset, ...attributes].map(([name, value]) => (value === '' ? ` ${name}` : ` ${name}="${html(value)}"`)).join('');
    const script = `<script type="module" src="${html(new URL('www/dpo-playground.js', SITE).href)}"></script>`;
    this.elementSnippet.area.value = presetId
      ? `${script}\n<dpo-playground${written}></dpo-playground>`
      : `${script}\n<dpo-playground${written}>\n  <script type="application/json">\n${inlineJson(text)}\n  </script>\n</dpo-playground>`;

    const frame = new URL('embed.html', SITE);
    for (const [name, value] of [...preset, ...attributes]) frame.searchParams.set(name, value);
    // A scenario of one's own travels in the frame's hash, as in a share link.
    if (!presetId) frame.hash = hash;
    const frameSource = frame.href.replace(/=(?=&|#|$)/g, '');
    this.frameSnippet.area.value = `<iframe src="${html(frameSource)}" title="DPO playground" style="width: 100%; height: 900px; border: 0" loading="lazy"></iframe>`;
    // The preview is the iframe route itself; it loads only while "Preview" is open.
    if (this.dialog.querySelector('details').open && this.preview.src !== frameSource) this.preview.src = frameSource;
  }

  async copy(area, label) {
    try {
      await navigator.clipboard.writeText(area.value);
      this.said.textContent = `Copied the ${label.toLowerCase()}.`;
    } catch {
      area.select();
      this.said.textContent = `Select and copy the ${label.toLowerCase()} (the browser did not allow copying).`;
    }
  }
}
