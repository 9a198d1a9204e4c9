// The playground component: `mountPlayground(element, options)` builds one playground inside
// `element` and returns its handle. Everything an instance owns hangs off that element (no
// globals, no element IDs), so several can live on one page; only the compiled wasm module is
// shared (engine.js), because compiling it once per page is all that is needed.
//
// `PlaygroundView` holds an instance's state (the engine, the model, the preset), lays out its
// parts and applies edits. Each part is a module handed the view: the transport and its loop
// (transport.js), the backend (backend.js), the charts (figures.js), the tables (tables.js),
// whole scenarios in and out (files.js), errors beside their fields (errors.js), the run cards
// (knobs.js) and the editors (editors.js). The editors are rebuilt only when the scenario's shape
// changes, never per frame.

import { Playground, presets } from './pkg/dpo_playground.js';
import { h, select } from './dom.js';
import { loadEngine, memoryBytes } from './engine.js';
import { Editors, FieldError } from './editors.js';
import { Knobs, followNames } from './knobs.js';
import { modelFromEngine, scenarioText, runsText, cloneModel } from './state.js';
import { Transport } from './transport.js';
import { Backend } from './backend.js';
import { Figures } from './figures.js';
import { Tables } from './tables.js';
import { Files, initialScenario } from './files.js';
import { ErrorDisplay, errorParts } from './errors.js';

/** The run settings whose change restarts a run (the engine's `Run::restart_reason`), in words. */
const SETTING_WORDS = {
  init: 'initial policy',
  optimizer: 'optimiser',
  seed: 'seed',
  regularizer: 'regulariser',
  length_normalize: 'length normalisation',
};

/**
 * Mounts a playground into `element` and resolves to its handle
 * `{element, play(), pause(), stepOnce(), reset(), load(text), scenario(), stats}` (also stored
 * as `element.dpoPlayground`). Options: `urlState` (this instance reads and writes the URL hash),
 * `preset` (a preset id to start from), `scenario` (scenario text to start from), `autoplay`,
 * `collapsed` (editors start closed, for embeds).
 */
export async function mountPlayground(element, options = {}) {
  element.classList.add('dpo');
  // A click anywhere in the playground focuses it, so that its keyboard shortcuts apply there.
  if (!element.hasAttribute('tabindex')) element.setAttribute('tabindex', '-1');
  element.replaceChildren(h('p', { class: 'dpo-loading' }, 'Loading the playground…'));
  try {
    await loadEngine();
  } catch (error) {
    element.replaceChildren(h('p', { class: 'dpo-error' }, `The playground could not start: ${error.message}. It needs a browser with WebAssembly.`));
    throw error;
  }
  const view = new PlaygroundView(element, options);
  element.dpoPlayground = view.handle();
  return element.dpoPlayground;
}

class PlaygroundView {
  constructor(root, options) {
    this.root = root;
    this.options = options;
    this.presets = presets();
    // Runs whose name the user typed: the others are named from their settings (knobs.js).
    this.namedByUser = new Set();

    const { text, message } = initialScenario(options, this.presets);
    this.pg = new Playground(text);
    this.model = modelFromEngine(this.pg);
    this.presetId = this.presetIdFor(text);

    this.build();
    this.editors.renderAll();
    this.knobs.render();
    this.rebuildStructures();
    this.refreshAbout();
    if (message) this.note(message, 'error');
    if (options.urlState) this.files.followHash();
    this.transport.schedule();
    this.backend.start(options.backend ?? 'auto');
    if (options.autoplay) this.transport.play();
  }

  handle() {
    const view = this;
    const { transport } = this;
    return {
      element: this.root,
      play: () => transport.play(),
      pause: () => transport.pause(),
      stepOnce: () => transport.stepOnce(),
      // Resolves once no WebGPU step is in flight (a step launched before a pause still lands).
      settled: () => transport.settled(),
      reset: () => transport.reset(),
      // Resolves to null, or to the error text when the scenario was refused.
      load: (text) => this.files.loadText(text),
      scenario: () => scenarioText(this.model, true),
      stats: transport.stats,
      // Bytes of the wasm module's memory (shared by every playground on the page): what the
      // soak benchmark watches for growth.
      memoryBytes,
      get playground() {
        return view.pg;
      },
    };
  }

  presetIdFor(text) {
    return this.presets.find((p) => p.json === text)?.id ?? '';
  }

  // ---- Building the page ----

  build() {
    const collapsed = Boolean(this.options.collapsed);
    this.errors = new ErrorDisplay(this);
    this.presetSelect = select([['', 'Your scenario'], ...this.presets.map((p) => [p.id, p.title || p.id])], this.presetId, {
      'aria-label': 'Preset',
      'aria-description': 'Loads a scenario that illustrates one claim; its explanation appears below.',
      class: 'preset-select',
    });
    this.presetSelect.addEventListener('change', () => {
      const preset = this.presets.find((p) => p.id === this.presetSelect.value);
      if (preset) this.files.load(preset.json, { presetId: preset.id });
    });
    this.transport = new Transport(this);
    const bar = h(
      'div',
      { class: 'dpo-bar', role: 'group', 'aria-label': 'Playground controls' },
      h('div', { class: 'bar-preset' }, this.presetSelect),
      this.transport.element,
    );

    this.aboutTitle = h('strong', {});
    this.aboutText = h('span', {});
    this.aboutBox = h('p', { class: 'dpo-about clamped' }, this.aboutTitle, ' ', this.aboutText);
    this.aboutMore = h('button', { type: 'button', class: 'small link', 'aria-expanded': 'false', onclick: () => this.toggleAbout() }, 'Read more');
    this.status = h('p', { class: 'dpo-status', role: 'status', 'aria-live': 'polite' });
    this.backend = new Backend(this);
    const meta = h(
      'div',
      { class: 'dpo-meta' },
      this.backend.element,
      h('label', { class: 'check help-toggle' }, this.helpToggle(), 'Show all help'),
      h('span', { class: 'keys help' }, 'Keys: Space play/pause, . step, r reset'),
    );

    // The experiment first (curves and learning tables), the rest after the knobs.
    this.figures = new Figures(this);
    this.tables = new Tables(this);
    const { curves, tables, rewards, truth, policy, margins } = this.figures.byName;
    tables.element.append(this.tables.predicted, this.tables.claims);

    // The knobs, then the editors and the scenario file.
    const knobsBox = h('div', { class: 'knobs' });
    this.knobs = new Knobs(this, knobsBox);
    const knobs = h(
      'section',
      { class: 'dpo-knobs', 'aria-label': 'Each run’s loss, β, γ and margin' },
      h('h2', { class: 'knobs-title' }, 'Runs: loss, β, γ, margin'),
      knobsBox,
    );
    const side = h('div', { class: 'dpo-side' });
    this.editors = new Editors(this, side);
    this.files = new Files(this, side);
    if (collapsed) for (const details of side.querySelectorAll('details')) details.open = false;

    const primary = h('div', { class: 'dpo-primary' }, curves.element, tables.element);
    const secondary = h('div', { class: 'dpo-secondary' }, h('div', { class: 'plot' }, this.tables.metrics), rewards.element, truth.element, policy.element, margins.element);
    this.root.replaceChildren(
      h('button', { type: 'button', class: 'skip-link', onclick: () => this.transport.playButton.focus() }, 'Skip to the controls'),
      bar,
      h('div', { class: 'dpo-intro' }, this.aboutBox, this.aboutMore),
      meta,
      this.status,
      h('div', { class: 'dpo-main' }, h('div', { class: 'dpo-stage' }, primary, secondary), h('div', { class: 'dpo-aside' }, knobs, side)),
    );
  }

  /** Shows the whole scenario description or two lines of it. */
  toggleAbout() {
    const open = this.aboutBox.classList.toggle('clamped') === false;
    this.aboutMore.textContent = open ? 'Show less' : 'Read more';
    this.aboutMore.setAttribute('aria-expanded', String(open));
  }

  /** A checkbox that shows every control's inline help at once (otherwise it shows on focus). */
  helpToggle() {
    const box = h('input', { type: 'checkbox' });
    box.addEventListener('change', () => this.root.classList.toggle('show-help', box.checked));
    return box;
  }

  /** Structures that follow the number of runs and prompts: margin charts, tables. */
  rebuildStructures() {
    this.figures.rebuild(this.model);
    this.tables.rebuild(this.model);
    this.transport.invalidate();
  }

  refreshAbout() {
    this.aboutTitle.textContent = this.model.title || 'Your scenario';
    this.aboutText.textContent = this.model.description || 'Edit the data and the runs below; the link in the address bar reproduces this scenario.';
    this.presetSelect.value = this.presetId;
    // "Read more" only when the clamped description hides something.
    this.aboutBox.classList.add('clamped');
    this.aboutMore.textContent = 'Read more';
    this.aboutMore.setAttribute('aria-expanded', 'false');
    requestAnimationFrame(() => {
      this.aboutMore.hidden = this.aboutBox.scrollHeight <= this.aboutBox.clientHeight + 1;
    });
  }

  // ---- Edits ----

  /**
   * Applies an edit: `mutate(next)` changes a copy of the model, the engine validates and applies
   * it at once. On success the model is replaced, resets are reported and the editors named in
   * `rebuild` are rebuilt; on failure nothing changes and the error stands next to the field its
   * path names (the control keeps what the user typed). Returns whether it was applied.
   */
  apply(mutate, options = {}) {
    // The engine is busy with a GPU step: apply once it lands (the edit reads its controls then).
    const { pending } = this.transport;
    if (pending) {
      pending.then(() => this.apply(mutate, options));
      return true;
    }
    const { scope = null, rebuild = [], after = null, resetAll = false, runsOnly = false } = options;
    // An edit of the runs alone sends the engine only the runs: its cost does not grow with the data.
    const next = cloneModel(this.model, runsOnly);
    try {
      mutate(next);
      followNames(this.model, next, this.namedByUser);
    } catch (error) {
      if (!(error instanceof FieldError)) throw error;
      this.errors.show(error.path, error.message, scope);
      return false;
    }
    let result;
    try {
      result = runsOnly ? this.pg.setRuns(runsText(next)) : this.pg.setScenario(scenarioText(next));
    } catch (error) {
      const { path, message } = errorParts(error);
      this.errors.show(path, message, scope);
      return false;
    }
    const previous = this.model;
    this.model = next;
    this.errors.clear(scope);
    if (resetAll) this.pg.reset();
    this.reportApplied(next, result, resetAll);
    if (this.presetId) {
      this.presetId = '';
      this.presetSelect.value = '';
    }
    for (const name of rebuild) this.editors.render(name);
    if (previous.runs.length !== next.runs.length) this.knobs.render();
    this.knobs.sync();
    this.editors.syncRunNames();
    if (previous.runs.length !== next.runs.length || previous.prompts.length !== next.prompts.length || Boolean(previous.reward) !== Boolean(next.reward)) this.rebuildStructures();
    after?.();
    this.files.refreshScenarioText();
    this.files.saveHash();
    this.transport.invalidate();
    return true;
  }

  /** Says in the status line what an applied edit did to the runs (the engine's `applied`:
   * which runs restarted and why, whether the data changed). */
  reportApplied(next, result, resetAll) {
    if (resetAll) return;
    const { restarted, new_data: newData } = result.applied;
    const changed = restarted
      .filter(([, reason]) => reason.kind === 'setting')
      .map(([i, reason]) => `“${next.runs[i].name}” restarted (new ${SETTING_WORDS[reason.setting] ?? reason.setting})`);
    if (result.reshaped) this.note('The outputs or prompts changed, so every run restarted from step 0.');
    else if (changed.length)
      this.note(`${changed.join('; ')} from step 0: a run's state does not carry over to another initial policy, optimiser, seed, regulariser or length normalisation.`);
    else if (newData) this.note('The data changed: every run keeps training from where it is; the charts start over.');
    else this.note('');
  }

  /** Says something in the status line (`kind` "error" for problems). */
  note(message, kind = '') {
    this.status.textContent = message;
    this.status.className = `dpo-status ${kind}`.trim();
  }
}
