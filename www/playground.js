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

import { Playground, presets, embedNames } from './pkg/dpo_playground.js';
import { h, select } from './dom.js';
import { loadEngine, memoryBytes, presetText, presetIdOf } from './engine.js';
import { FieldError } from './runs.js';
import { Knobs, followNames } from './knobs.js';
import { modelFromEngine, scenarioText, runsText, cloneModel } from './state.js';
import { Transport } from './transport.js';
import { Backend } from './backend.js';
import { Figures } from './figures.js';
import { Tables } from './tables.js';
import { Files, initialScenario } from './files.js';
import { ErrorDisplay, errorParts } from './errors.js';

/** The engine's names for the embedding options and exercises (`embedNames`): `panels` (what
 * `show` and `hide` name; a hidden part is not in the page at all for assistive technology),
 * `hiddenUntilReveal` and `lockable`. Read once the module has loaded. */
let names = null;
function embeddingNames() {
  names ??= embedNames();
  return names;
}

/** `embeddingNames()` for a page that has not mounted a playground yet (loads the engine). */
export async function loadEmbeddingNames() {
  await loadEngine();
  return embeddingNames();
}

/** What the compact layout leaves out (until "Edit the data and runs" for the editors): the charts
 * that matter, the transport and the run cards stay; the host article says what the scenario is
 * (or `show` brings the description back). */
const COMPACT_HIDDEN = ['preset', 'about', 'meta', 'predicted', 'claims', 'metrics', 'rewards', 'truth', 'policy', 'margins', 'editors', 'file', 'sweep'];

/** What a `lock` option may name besides a run field (`loss`, `beta`, `gamma`, `margin`, ...):
 * `preset` (the preset menu), `data` (outputs, prompts, reference, pairs, reward and file import)
 * and `runs` (every run setting, adding and removing runs). */
const DATA_PATHS = /^(outputs|prompts|reference|pairs|reward|generate)\b/;

/** The least time between two `dpo-step` events. */
const STEP_EVENT_MS = 250;

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
 * `preset` (a preset id to start from; an unknown one is an error), `scenario` (scenario text to
 * start from), `autoplay`, `collapsed` (editors start closed), `backend` (`auto`, `cpu`,
 * `webgpu`), and for embeds: `layout` (`full` or `compact`), `show` and `hide` (lists of
 * the engine's `embedNames().panels`), `lock` (run fields, `preset`, `data` or `runs` shown but not editable), `stopAt`
 * (steps after which playing stops, or starts over with `loop`), `theme` (`light`, `dark`,
 * `auto`) and `eventTarget` (where the `dpo-step` events go; the element by default).
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
  let view;
  try {
    // The scenario to start from first: reading a share link is asynchronous (decompression).
    const initial = await initialScenario(options, presets());
    // The editors' module, unless the layout keeps them closed at first (compact: they load
    // when opened).
    const later = options.layout === 'compact' && !(options.show ?? []).includes('editors');
    const editors = later ? null : await import('./editors.js');
    view = new PlaygroundView(element, options, initial, editors);
  } catch (error) {
    element.replaceChildren(h('p', { class: 'dpo-error', role: 'alert' }, `The playground could not start: ${error.message}.`));
    throw error;
  }
  element.dpoPlayground = view.handle();
  return element.dpoPlayground;
}

/** The editors of a playground whose layout opens them later: nothing to render until
 * `load` brings the editors' module and puts the real editors in its place. */
class DeferredEditors {
  constructor(view, box) {
    this.view = view;
    this.box = box;
  }

  renderAll() {}

  render() {}

  syncRunNames() {}

  update() {}

  /** The real editors, built and rendered in the same box; the view holds them from now on. */
  async load() {
    const { Editors } = await import('./editors.js');
    if (this.view.editors !== this) return this.view.editors;
    const editors = new Editors(this.view, this.box);
    if (this.view.options.collapsed) for (const details of this.box.querySelectorAll('details')) details.open = false;
    this.view.editors = editors;
    editors.renderAll();
    return editors;
  }
}

class PlaygroundView {
  constructor(root, options, { text, message }, editorsModule = null) {
    this.editorsModule = editorsModule;
    this.root = root;
    this.options = options;
    this.presets = presets();
    // Runs whose name the user typed: the others are named from their settings (knobs.js).
    this.namedByUser = new Set();

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
    this.applyPanels();
    this.watchLocks();
    this.watchVisibility();
    this.transport.schedule();
    this.backend.start(options.backend ?? 'auto');
    if (options.autoplay) this.transport.play();
  }

  // ---- Embedding: panels, locks, visibility, events ----

  /** Whether the part `name` shows: in `show` when it is given, else not hidden by `hide` or by the
   * compact layout (the editors show there once "Edit the data and runs" opens them). */
  panelShown(name) {
    // An exercise keeps the measured parts out until its reveal, and may hide more throughout.
    if (this.exerciseHolds(name)) return false;
    if ((this.model.exercise?.hide ?? []).includes(name)) return false;
    const { show, hide = [], layout } = this.options;
    if (show) return show.includes(name);
    if (hide.includes(name)) return false;
    if (layout === 'compact' && COMPACT_HIDDEN.includes(name)) return this.editorsOpen && (name === 'editors' || name === 'file');
    return true;
  }

  applyPanels() {
    this.placeholders ??= new Map();
    for (const [name, element] of Object.entries(this.panels)) {
      // What an exercise holds back is not in the page at all until the reveal (not merely
      // hidden: a student's tools would still read it); a comment keeps its place.
      const held = this.exerciseHolds(name);
      const placeholder = this.placeholders.get(name);
      if (held && !placeholder) {
        const mark = document.createComment(`${name}: after the exercise's reveal`);
        element.replaceWith(mark);
        this.placeholders.set(name, mark);
      } else if (!held && placeholder) {
        placeholder.replaceWith(element);
        this.placeholders.delete(name);
      }
      // The truth chart also waits for a ground-truth reward (figures.js).
      if (name === 'truth') element.hidden ||= !this.panelShown(name);
      else element.hidden = !this.panelShown(name);
    }
    const canOpen = this.options.layout === 'compact' && !this.options.show && !(this.options.hide ?? []).includes('editors');
    this.openEditorsButton.hidden = !canOpen;
    this.openEditorsButton.setAttribute('aria-expanded', String(Boolean(this.editorsOpen)));
    this.openEditorsButton.textContent = this.editorsOpen ? 'Hide the data and run editors' : 'Edit the data and runs';
  }

  /** Whether the scenario's exercise keeps part `name` out of the page (until its reveal). */
  exerciseHolds(name) {
    // The engine's list, and the transport, so that nothing trains before the prediction.
    const held = name === 'transport' || embeddingNames().hiddenUntilReveal.includes(name);
    return Boolean(this.model.exercise) && !this.exerciseRevealed && held;
  }

  /** Follows the scenario's exercise: a new one starts unrevealed at once (its parts held back
   * now), and its panel comes from exercise.js, loaded the first time a scenario has one. */
  followExercise() {
    const key = this.model.exercise ? JSON.stringify(this.model.exercise) : null;
    if (key !== this.exerciseKey) {
      this.exerciseKey = key;
      this.exerciseRevealed = false;
    }
    if (!key && !this.exercise) return;
    this.exerciseModule ??= import('./exercise.js');
    this.exerciseModule.then(({ Exercise }) => {
      this.exercise ??= new Exercise(this, this.exerciseBox);
      this.exercise.render();
    });
  }

  /** Opens the Share / embed dialog (share.js, loaded the first time). */
  async openShare() {
    const { ShareDialog } = await import('./share.js');
    this.share ??= new ShareDialog(this);
    this.share.open();
  }

  /** Whether the control for field `path` is locked by the `lock` option. */
  locked(path) {
    const lock = [...(this.options.lock ?? []), ...(this.model.exercise?.lock ?? [])];
    if (!lock.length || !path) return false;
    if (lock.includes('data') && DATA_PATHS.test(path)) return true;
    // A whole scenario in (the JSON editor, a file) would change locked fields too.
    if (path === 'scenario') return lock.includes('data') || lock.includes('runs');
    if (path === 'runs') return lock.includes('runs');
    const run = /^runs\[\d+\]\.([a-z_]+)/.exec(path);
    return Boolean(run && (lock.includes('runs') || lock.includes(run[1])));
  }

  /** Disables every locked control, now and whenever a part is rebuilt, with the reason. */
  watchLocks() {
    const apply = () => {
      const lock = [...(this.options.lock ?? []), ...(this.model.exercise?.lock ?? [])];
      if (!lock.length) return;
      for (const control of this.root.querySelectorAll('[data-path], [data-lock-path]')) {
        if (!control.matches('input, select, textarea, button') || control.disabled) continue;
        if (this.locked(control.dataset.lockPath ?? control.dataset.path)) {
          control.disabled = true;
          control.title = 'Locked by this page';
        }
      }
      if (lock.includes('preset')) this.presetSelect.disabled = true;
    };
    apply();
    let queued = false;
    this.lockObserver = new MutationObserver(() => {
      if (queued) return;
      queued = true;
      queueMicrotask(() => {
        queued = false;
        apply();
      });
    }).observe(this.root, { childList: true, subtree: true });
  }

  /** Training pauses while the playground is off screen (it resumes where it was when it comes
   * back): a page with several embeds trains only what the reader sees. */
  watchVisibility() {
    this.onScreen = true;
    if (typeof IntersectionObserver !== 'function') return;
    this.visibilityObserver = new IntersectionObserver((entries) => {
      const onScreen = entries[entries.length - 1].isIntersecting;
      if (onScreen === this.onScreen) return;
      this.onScreen = onScreen;
      if (onScreen) this.transport.schedule();
    }).observe(this.root);
  }

  /** Sends `type` (a `CustomEvent` that bubbles out of a shadow root) to the embedding page. */
  emit(type, detail) {
    (this.options.eventTarget ?? this.root).dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  /** After a frame's snapshot: a `dpo-step` event, at most every STEP_EVENT_MS while training. */
  stepped(step, snapshot) {
    const now = performance.now();
    if (step === this.lastEventStep || now - (this.lastEventTime ?? -Infinity) < STEP_EVENT_MS) return;
    this.lastEventStep = step;
    this.lastEventTime = now;
    this.emit('dpo-step', { step, runs: snapshot.runs.map(({ name, step: runStep, metrics }) => ({ name, step: runStep, metrics })) });
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
      // Stops training for good, lets an in-flight WebGPU step land, lets go of the observers and
      // listeners and frees the engine's runs: what `<dpo-playground>` does before it rebuilds
      // itself for a changed attribute.
      destroy: () => view.destroy(),
    };
  }

  async destroy() {
    if (this.destroyed) return;
    // From here nothing new starts (frames, backend choices, exercise slices); what is under way
    // (a WebGPU step, a backend choice) is let finish before the runs are freed.
    this.destroyed = true;
    this.transport.pause();
    this.sweep?.stop('');
    await this.transport.settled();
    await this.backend.choosing?.catch(() => {});
    if (this.transport.raf) cancelAnimationFrame(this.transport.raf);
    this.transport.raf = 0;
    for (const observer of [this.lockObserver, this.visibilityObserver, this.figures.intersections, this.figures.resizes]) observer?.disconnect();
    this.files.unfollowHash();
    this.pg.free();
    this.pg = null;
  }

  presetIdFor(text) {
    return presetIdOf(text);
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
    this.presetSelect.addEventListener('change', async () => {
      const id = this.presetSelect.value;
      if (!this.presets.some((p) => p.id === id)) return;
      let text;
      try {
        text = await presetText(id);
      } catch (error) {
        // (Offline, say): the scenario stays as it was, and the menu says so again.
        this.presetSelect.value = this.presetId;
        this.note(`Could not load the preset: ${error.message}.`);
        return;
      }
      // Another choice made meanwhile wins.
      if (this.presetSelect.value === id && this.pg) this.files.load(text, { presetId: id });
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
    this.exerciseBox = h('section', { class: 'dpo-exercise', 'aria-label': 'Exercise', hidden: true });
    const meta = h(
      'div',
      { class: 'dpo-meta' },
      this.backend.element,
      h('button', { type: 'button', class: 'small', 'aria-haspopup': 'dialog', onclick: () => this.openShare() }, 'Share / embed'),
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
    const editorsBox = h('div', { class: 'dpo-editors' });
    const fileBox = h('div', { class: 'dpo-file' });
    const side = h('div', { class: 'dpo-side' }, editorsBox, fileBox);
    this.editors = this.editorsModule ? new this.editorsModule.Editors(this, editorsBox) : new DeferredEditors(this, editorsBox);
    this.files = new Files(this, fileBox);
    if (collapsed) for (const details of side.querySelectorAll('details')) details.open = false;
    this.openEditorsButton = h('button', { type: 'button', class: 'small open-editors', 'aria-expanded': 'false', onclick: async () => {
      this.editorsOpen = !this.editorsOpen;
      // The editors' module comes with the first opening.
      if (this.editorsOpen) await this.editors.load?.();
      this.applyPanels();
    } }, 'Edit the data and runs');

    const primary = h('div', { class: 'dpo-primary' }, curves.element, tables.element);
    const metricsTable = h('div', { class: 'plot' }, this.tables.metrics);
    // The Sweep panel's code loads the first time it is opened.
    const sweepBox = h('details', { class: 'dpo-sweep plot' }, h('summary', {}, h('h2', { class: 'sweep-title' }, 'Sweep: many seeds and settings')));
    sweepBox.addEventListener('toggle', async () => {
      if (!sweepBox.open || this.sweep) return;
      const { SweepPanel } = await import('./sweep.js');
      this.sweep ??= new SweepPanel(this, sweepBox);
    });
    const secondary = h('div', { class: 'dpo-secondary' }, metricsTable, rewards.element, truth.element, policy.element, margins.element, sweepBox);
    const presetBox = bar.querySelector('.bar-preset');
    const intro = h('div', { class: 'dpo-intro' }, this.aboutBox, this.aboutMore);
    this.panels = {
      preset: presetBox,
      transport: this.transport.element,
      about: intro,
      status: this.status,
      meta,
      curves: curves.element,
      tables: tables.element,
      predicted: this.tables.predicted,
      claims: this.tables.claims,
      metrics: metricsTable,
      rewards: rewards.element,
      truth: truth.element,
      policy: policy.element,
      margins: margins.element,
      knobs,
      editors: editorsBox,
      file: fileBox,
      sweep: sweepBox,
    };
    if (this.options.layout) this.root.dataset.layout = this.options.layout;
    if (this.options.theme) this.root.dataset.theme = this.options.theme;
    // The compact layout's way to the editors sits at the end of the controls bar.
    bar.append(this.openEditorsButton);
    this.root.replaceChildren(
      h('button', { type: 'button', class: 'skip-link', onclick: () => this.transport.playButton.focus() }, 'Skip to the controls'),
      bar,
      intro,
      meta,
      this.status,
      this.exerciseBox,
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
    this.followExercise();
    if (this.panels) this.applyPanels();
    this.transport.invalidate();
  }

  refreshAbout() {
    this.aboutTitle.textContent = this.model.title || 'Your scenario';
    this.aboutText.textContent = this.model.description || (this.options.urlState ? 'Edit the data and the runs below; the link in the address bar reproduces this scenario.' : 'Change the runs below while they train.');
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
