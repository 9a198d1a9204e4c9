// The playground component: `mountPlayground(element, options)` builds one playground inside
// `element` and returns its handle. Everything an instance owns hangs off that element (no
// globals, no element IDs), so several can live on one page; only the compiled wasm module is
// shared, because compiling it once per page is all that is needed.
//
// The loop follows TensorFlow Playground's Player: while playing, each animation frame trains
// `speed` steps in Rust, records the metrics once, and redraws what is visible and stale. The
// editors are rebuilt only when the scenario's shape changes, never per frame.

import init, { Playground, ScenarioParts, presets, validateScenario, defaultScenario } from './pkg/dpo_playground.js';
import { h, field, select, formatNumber, download } from './dom.js';
import { Editors, FieldError, divergedText } from './editors.js';
import { Knobs, followNames } from './knobs.js';
import { modelFromEngine, scenarioText, runsText, approximateLength, cloneModel, hashFor, readHash } from './state.js';

let engineReady = null;
/** The module's linear memory, once instantiated (its size is reported in `stats`). */
let engineMemory = null;

/** Loads and instantiates the wasm module once per page; every instance awaits the same promise.
 * The module's URL is given explicitly: the generated glue may be built without a default path. */
function loadEngine() {
  engineReady ??= init({ module_or_path: new URL('./pkg/dpo_playground_bg.wasm', import.meta.url) }).then((exports) => {
    engineMemory = exports.memory;
    return exports;
  });
  return engineReady;
}

let adapterProbe = null;

/** Whether the browser gives WebGPU an adapter. Chromium may expose `navigator.gpu` and still
 * have none (no flags, no GPU), so asking is the only test; asked once per page. */
function probeAdapter() {
  adapterProbe ??= (async () => {
    if (!('gpu' in navigator)) return false;
    try {
      return Boolean(await navigator.gpu.requestAdapter());
    } catch {
      return false;
    }
  })();
  return adapterProbe;
}

/** Why WebGPU cannot be tried for `pg`, or null when it can. */
async function gpuUnavailable(pg) {
  if (!(await probeAdapter())) return 'WebGPU is not available in this browser';
  if (typeof pg.useGpu !== 'function') return 'this build of the engine has no WebGPU backend';
  return null;
}

/** Splits the engine's `"path: message"` error text. */
function splitError(text) {
  const message = String(text ?? 'unknown error');
  const at = message.indexOf(': ');
  return at > 0 ? { path: message.slice(0, at), message: message.slice(at + 2) } : { path: '', message };
}

/** The columns of the metrics table: [key in snapshot metrics, header text]. */
const METRIC_COLUMNS = [
  ['step', 'step'],
  ['loss', 'loss'],
  ['accuracy', 'accuracy'],
  ['reference_accuracy', 'reference accuracy'],
  ['kl', 'KL'],
  ['entropy', 'entropy'],
  ['chosen_reward', 'chosen reward'],
  ['rejected_reward', 'rejected reward'],
  ['reward_margin', 'reward margin'],
];
const TRUTH_COLUMNS = [
  ['true_reward', 'true reward'],
  ['ranking_agreement', 'ranking agreement'],
];
const CELLS = [
  ['reference_right_policy_right', 'reference right', 'policy right'],
  ['reference_right_policy_wrong', 'reference right', 'policy wrong'],
  ['reference_wrong_policy_right', 'reference wrong', 'policy right'],
  ['reference_wrong_policy_wrong', 'reference wrong', 'policy wrong'],
];
const SPEED_DEFAULT = 10;
const VERDICTS = { holds: 'holds', holds_in_the_limit: 'holds in the limit', does_not_hold: 'does not hold here', too_early: 'too early to say' };
/** A WebGPU frame's fixed cost, in ms: submitting the steps and awaiting the state read back
 * (about 1 to 3 ms in Chromium on a discrete GPU, more on an emulated one). Where a frame of CPU
 * training takes less, the CPU is faster, whatever the GPU's arithmetic speed. */
const GPU_ROUND_TRIP_MS = 3;
/** How much slower the wasm engine is than the native build `estimateStepMs` is calibrated on. */
const WASM_SLOWDOWN = 2;
/** Time a frame may spend on canvases before the rest wait for the next frame. */
const DRAW_BUDGET_MS = 8;

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
    this.playing = false;
    this.speed = SPEED_DEFAULT;
    this.raf = 0;
    this.dirty = true;
    this.pending = null;
    this.asyncStep = false;
    this.errors = new Map();
    // Runs whose divergence the status line has announced (once each, until they train again).
    this.divergedNoted = new Set();
    // Runs whose name the user typed: the others are named from their settings (knobs.js).
    this.namedByUser = new Set();
    this.lastHash = '';
    this.stats = { frames: 0, playFrames: 0, skippedFrames: 0, firstTrainedFrame: null, drawMs: 0 };
    this.frame = this.frame.bind(this);

    const { text, message } = this.initialScenario();
    this.pg = new Playground(text);
    this.model = modelFromEngine(this.pg);
    this.presetId = this.presetIdFor(text);

    this.build();
    this.editors.renderAll();
    this.knobs.render();
    this.rebuildStructures();
    this.refreshAbout();
    if (message) this.note(message, 'error');
    if (options.urlState) {
      this.saveHash(true);
      window.addEventListener('hashchange', () => this.onHashChange());
    }
    this.observe();
    this.schedule();
    this.backendMode = options.backend ?? 'auto';
    if (!['auto', 'cpu', 'webgpu'].includes(this.backendMode)) {
      this.note(`The backend “${this.backendMode}” is not auto, cpu or webgpu; choosing automatically.`, 'error');
      this.backendMode = 'auto';
    }
    this.chooseBackend(this.backendMode);
    if (options.autoplay) this.play();
  }

  handle() {
    const view = this;
    return {
      element: this.root,
      play: () => this.play(),
      pause: () => this.pause(),
      stepOnce: () => this.stepOnce(),
      // Resolves once no WebGPU step is in flight (a step launched before a pause still lands).
      settled: async () => {
        while (this.pending) await this.pending.catch(() => {});
      },
      reset: () => this.reset(),
      // Resolves to null, or to the error text when the scenario was refused.
      load: (text) => this.loadText(text),
      scenario: () => scenarioText(this.model, true),
      stats: this.stats,
      // Bytes of the wasm module's memory (shared by every playground on the page): what the
      // soak benchmark watches for growth.
      memoryBytes: () => engineMemory?.buffer.byteLength ?? 0,
      get playground() {
        return view.pg;
      },
    };
  }

  /** The scenario to start from, and a message when the URL's scenario could not be used. */
  initialScenario() {
    const fallback = () => {
      const preset = this.presets.find((p) => p.id === this.options.preset);
      return this.options.scenario ?? preset?.json ?? defaultScenario();
    };
    if (this.options.urlState) {
      const fromHash = readHash(location.hash);
      if (fromHash) {
        const problem = fromHash.error ?? this.problemWith(fromHash.text);
        if (!problem) return { text: fromHash.text };
        return { text: defaultScenario(), message: `The scenario in this link could not be used (${problem}), so the default scenario is shown instead.` };
      }
    }
    const text = fallback();
    const problem = this.problemWith(text);
    if (problem) return { text: defaultScenario(), message: `The given scenario is invalid (${problem}); showing the default scenario.` };
    return { text };
  }

  /** `null` when `text` is a valid scenario, else a sentence naming the bad field. */
  problemWith(text) {
    const error = validateScenario(text);
    return error ? `${error.path ? `${error.path}: ` : ''}${error.message}` : null;
  }

  presetIdFor(text) {
    return this.presets.find((p) => p.json === text)?.id ?? '';
  }

  // ---- Building the page ----

  build() {
    const collapsed = Boolean(this.options.collapsed);
    this.presetSelect = select([['', 'Your scenario'], ...this.presets.map((p) => [p.id, p.title || p.id])], this.presetId, {
      'aria-label': 'Preset',
      'aria-description': 'Loads a scenario that illustrates one claim; its explanation appears below.',
      class: 'preset-select',
    });
    this.presetSelect.addEventListener('change', () => {
      const preset = this.presets.find((p) => p.id === this.presetSelect.value);
      if (preset) this.load(preset.json, { presetId: preset.id });
    });

    this.playButton = h('button', { type: 'button', class: 'primary play', 'aria-keyshortcuts': 'Space', onclick: () => (this.playing ? this.pause() : this.play()) });
    this.setPlayLabel();
    this.speedInput = h('input', { type: 'range', min: 1, max: 100, step: 1, value: this.speed, 'aria-label': 'Speed' });
    this.speedOutput = h('output', { class: 'speed-value' }, String(this.speed));
    this.speedInput.addEventListener('input', () => {
      this.speed = Number(this.speedInput.value);
      this.speedOutput.textContent = String(this.speed);
    });
    this.stepOutput = h('output', { class: 'step-count', 'aria-live': 'off' }, 'step 0');
    this.backendElement = h('span', { class: 'backend', 'data-backend': 'cpu' }, 'CPU');
    this.backendButton = h('button', { type: 'button', class: 'small', onclick: () => this.switchBackend() }, 'Use WebGPU');

    const bar = h(
      'div',
      { class: 'dpo-bar', role: 'group', 'aria-label': 'Playground controls' },
      h('div', { class: 'bar-preset' }, this.presetSelect),
      h(
        'div',
        { class: 'transport' },
        this.playButton,
        h('button', { type: 'button', onclick: () => this.stepOnce(), 'aria-keyshortcuts': '.', 'aria-description': 'Trains every run one step (key: period).' }, 'Step'),
        h('button', { type: 'button', onclick: () => this.reset(), 'aria-keyshortcuts': 'r', 'aria-description': 'Every run back to step 0 (key: r).' }, 'Reset'),
        h('label', { class: 'speed' }, h('span', { class: 'speed-word' }, 'Speed'), this.speedInput, this.speedOutput, h('span', { class: 'unit' }, 'steps/frame')),
        this.stepOutput,
      ),
    );
    this.speedInput.setAttribute('aria-description', 'Training steps per animation frame (about 60 frames a second).');

    this.aboutTitle = h('strong', {});
    this.aboutText = h('span', {});
    this.aboutBox = h('p', { class: 'dpo-about clamped' }, this.aboutTitle, ' ', this.aboutText);
    this.aboutMore = h('button', { type: 'button', class: 'small link', 'aria-expanded': 'false', onclick: () => this.toggleAbout() }, 'Read more');
    this.status = h('p', { class: 'dpo-status', role: 'status', 'aria-live': 'polite' });
    const meta = h(
      'div',
      { class: 'dpo-meta' },
      h('div', { class: 'backend-box' }, this.backendElement, this.backendButton),
      h('label', { class: 'check help-toggle' }, this.helpToggle(), 'Show all help'),
      h('span', { class: 'keys help' }, 'Keys: Space play/pause, . step, r reset'),
    );

    // Plots: the experiment first (curves and learning tables), the rest after the knobs.
    this.plots = [];
    this.figures = {};
    const curves = this.figure('Loss, accuracy and KL', 'Over training steps, a line per run. Accuracy: weighted share of pairs the policy ranks right (h_π > 0). KL(π ‖ π0), averaged over prompts.', 'curves');
    for (const metric of ['loss', 'accuracy', 'kl']) this.addPlot(curves, { draw: (c) => this.pg.drawCurves(c, [metric]), svg: (w, h2) => this.pg.svg('curves', w, h2, metric) });
    const tables = this.figure(
      'Learning tables',
      'Pairs split by whether the reference (h_0 > 0) and the policy (h_π > 0) rank them right. Now: each cell’s pairs and its share of this step’s learning signal Σ w·|φ′(u)|, with a strip of the cell’s share of the pairs over the recorded steps (pairs moving between cells). Summed over training: each cell’s share of all the signal since the run started, the pairs that ever had signal there, and a strip of the cell’s share of each step’s signal, so you can see when learning happened.',
      'tables',
    );
    this.predictedBox = h('div', { class: 'predicted' });
    const predicted = h(
      'details',
      { class: 'predicted-details', open: true },
      h('summary', {}, 'Predicted against measured, per run'),
      h('p', { class: 'help shown' }, 'Per cell, what the run’s settings predict: learns (every pair gets signal) and silent (none does) are exact, and a cell whose measurement contradicts one is outlined; some depends on the state; fades is silent only as γ grows far beyond β.'),
      this.predictedBox,
    );
    tables.element.append(predicted, this.buildClaims());
    this.metricsHead = h('tr', {});
    this.metricsBody = h('tbody', {});
    const metricsTable = h(
      'div',
      { class: 'table-scroll', tabindex: '0', role: 'region', 'aria-label': 'Current metrics of each run (scrolls sideways)' },
      h('table', { class: 'metrics' }, h('caption', {}, 'Current metrics of each run'), h('thead', {}, this.metricsHead), this.metricsBody),
    );
    const rewards = this.figure('Chosen and rejected rewards', 'TRL-style implicit rewards β·log π(y)/π0(y), averaged over the pairs’ chosen and rejected outputs.', 'rewards');
    for (const metric of ['chosen_reward', 'rejected_reward']) this.addPlot(rewards, { draw: (c) => this.pg.drawCurves(c, [metric]), svg: (w, h2) => this.pg.svg('curves', w, h2, metric) });
    const truth = this.figure('Against the ground truth', 'Expected true reward under each policy, and the share of output pairs it ranks as r* does.', 'truth');
    for (const metric of ['true_reward', 'ranking_agreement']) this.addPlot(truth, { draw: (c) => this.pg.drawCurves(c, [metric]), svg: (w, h2) => this.pg.svg('curves', w, h2, metric) });
    const policy = this.figure('Policy against the reference', 'Probability of each output: the reference π0 in grey, each run’s policy in its colour.', 'policy');
    this.promptSelect = select([['0', 'x0']], '0', { 'aria-label': 'Prompt shown', 'aria-description': 'Which prompt’s distributions the chart shows.' });
    this.promptSelect.addEventListener('change', () => this.invalidate());
    this.promptField = field('Prompt', this.promptSelect, null);
    policy.element.querySelector('.figure-head').after(this.promptField);
    this.addPlot(policy, { draw: (c) => this.pg.drawPolicy(c, this.promptIndex()), svg: (w, h2) => this.pg.svg('policy', w, h2, String(this.promptIndex())) });
    this.figure('Margin of each pair', 'u = β·h_π − γ·h_0 − m for every pair over steps, one chart per run. The hinge learns a pair only while its u < 0.', 'margins');

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
    side.append(this.buildFileSection());
    if (collapsed) for (const details of side.querySelectorAll('details')) details.open = false;

    const primary = h('div', { class: 'dpo-primary' }, curves.element, tables.element);
    const secondary = h('div', { class: 'dpo-secondary' }, h('div', { class: 'plot' }, metricsTable), rewards.element, truth.element, policy.element, this.figures.margins.element);
    this.root.replaceChildren(
      h('button', { type: 'button', class: 'skip-link', onclick: () => this.playButton.focus() }, 'Skip to the controls'),
      bar,
      h('div', { class: 'dpo-intro' }, this.aboutBox, this.aboutMore),
      meta,
      this.status,
      h('div', { class: 'dpo-main' }, h('div', { class: 'dpo-stage' }, primary, secondary), h('div', { class: 'dpo-aside' }, knobs, side)),
    );
    this.bindDrop();
    this.bindKeys();
  }

  /** The claims panel: each claim of the argument that applies to the loaded runs, checked live. */
  buildClaims() {
    this.claimsBody = h('tbody', {});
    this.claimsEmpty = h('p', { class: 'help shown' }, 'No claim of the argument applies to these runs (see docs/claims.md for each claim and when it applies).');
    return h(
      'details',
      { class: 'claims', open: true },
      h('summary', {}, 'Claims, checked on these runs'),
      h('p', { class: 'help shown' }, 'Each claim of the argument that applies to the runs loaded, what they measure now, and whether it holds here. Where it is about where learning happens, the table summed over training is read.'),
      h('div', { class: 'table-scroll', tabindex: '0', role: 'region', 'aria-label': 'Claims, checked (scrolls sideways)' },
        h('table', { class: 'claims-table' }, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'claim'), h('th', { scope: 'col' }, 'measured'), h('th', { scope: 'col' }, 'verdict'))), this.claimsBody)),
      this.claimsEmpty,
    );
  }

  updateClaims(claims) {
    const key = JSON.stringify(claims);
    if (key === this.claimsKey) return;
    this.claimsKey = key;
    this.claimsEmpty.hidden = claims.length > 0;
    this.claimsBody.replaceChildren(
      ...claims.map((c) =>
        h(
          'tr',
          { 'data-claim': c.id },
          h('th', { scope: 'row' }, c.claim, h('br', {}), h('small', { class: 'source' }, c.source)),
          h('td', {}, c.measured),
          h('td', { class: `verdict verdict-${c.verdict}` }, h('strong', {}, VERDICTS[c.verdict] ?? c.verdict), h('br', {}), h('small', {}, c.why)),
        ),
      ),
    );
  }

  /** Shows the whole scenario description or two lines of it. */
  toggleAbout() {
    const open = this.aboutBox.classList.toggle('clamped') === false;
    this.aboutMore.textContent = open ? 'Show less' : 'Read more';
    this.aboutMore.setAttribute('aria-expanded', String(open));
  }

  /** Space plays or pauses, `.` steps, `r` resets: while the focus is in the playground and not
   * in a field that takes text or a control that uses the key itself. */
  bindKeys() {
    this.root.addEventListener('keydown', (event) => {
      if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
      const target = event.target;
      // A field that takes text keeps every key; a control that Space activates keeps Space.
      const typing = target.closest('textarea, select, [contenteditable]') || (target.matches('input') && !['range', 'checkbox', 'radio', 'button', 'file'].includes(target.type));
      if (typing) return;
      if (event.key === ' ' && target.closest('input, button, summary, a, [role="slider"], label')) return;
      if (event.key === ' ') {
        event.preventDefault();
        if (this.playing) this.pause();
        else this.play();
      } else if (event.key === '.') {
        event.preventDefault();
        this.stepOnce();
      } else if (event.key === 'r' || event.key === 'R') {
        event.preventDefault();
        this.reset();
      }
    });
  }

  /** A checkbox that shows every control's inline help at once (otherwise it shows on focus). */
  helpToggle() {
    const box = h('input', { type: 'checkbox' });
    box.addEventListener('change', () => this.root.classList.toggle('show-help', box.checked));
    return box;
  }

  /** A figure with a title, help and PNG/SVG export buttons; its canvases are added by addPlot. */
  figure(title, help, name) {
    const canvases = h('div', { class: `canvases canvases-${name}` });
    const helpText = h('p', { class: 'help figure-help' }, help);
    const helpButton = h('button', { type: 'button', class: 'small', 'aria-expanded': 'false', 'aria-label': `About “${title}”` }, '?');
    helpButton.addEventListener('click', () => {
      const shown = helpText.classList.toggle('shown');
      helpButton.setAttribute('aria-expanded', String(shown));
    });
    const element = h(
      'figure',
      { class: `plot plot-${name}` },
      h(
        'div',
        { class: 'figure-head' },
        h('figcaption', {}, title),
        h(
          'span',
          { class: 'exports' },
          helpButton,
          h('button', { type: 'button', class: 'small', 'aria-label': `Download “${title}” as PNG`, onclick: () => this.exportPng(name) }, 'PNG'),
          h('button', { type: 'button', class: 'small', 'aria-label': `Download “${title}” as SVG`, onclick: () => this.exportSvg(name) }, 'SVG'),
        ),
      ),
      helpText,
      canvases,
    );
    const figure = { element, canvases, name, title, plots: [] };
    this.figures[name] = figure;
    return figure;
  }

  addPlot(figure, { draw, svg, label }) {
    const canvas = h('canvas', { role: 'img', 'aria-label': label ?? figure.title });
    const plot = { canvas, draw, svg, figure, visible: false, stale: true, lastDrawn: 0, width: 0, height: 0 };
    figure.canvases.append(canvas);
    figure.plots.push(plot);
    this.plots.push(plot);
    this.intersections?.observe(canvas);
    this.resizes?.observe(canvas);
    return plot;
  }

  removePlot(plot) {
    this.intersections?.unobserve(plot.canvas);
    this.resizes?.unobserve(plot.canvas);
    plot.canvas.remove();
    this.plots = this.plots.filter((p) => p !== plot);
    plot.figure.plots = plot.figure.plots.filter((p) => p !== plot);
  }

  /** Draw only what is on screen; size canvases in device pixels when their CSS size changes. */
  observe() {
    this.intersections = new IntersectionObserver(
      (entries) => {
        for (const entry of entries) {
          const plot = this.plots.find((p) => p.canvas === entry.target);
          if (!plot) continue;
          plot.visible = entry.isIntersecting;
          if (plot.visible && plot.stale) this.invalidate();
        }
      },
      { rootMargin: '64px' },
    );
    this.resizes = new ResizeObserver((entries) => {
      for (const entry of entries) {
        const plot = this.plots.find((p) => p.canvas === entry.target);
        if (plot) {
          plot.stale = true;
          plot.width = 0;
        }
      }
      this.invalidate();
    });
    for (const plot of this.plots) {
      this.intersections.observe(plot.canvas);
      this.resizes.observe(plot.canvas);
    }
  }

  /** Structures that follow the number of runs and prompts: margin charts, tables. */
  rebuildStructures() {
    const { model } = this;
    // One canvas per run: pair margins, learning tables.
    const perRun = (figure, draw, kind, label) => {
      while (figure.plots.length > model.runs.length) this.removePlot(figure.plots[figure.plots.length - 1]);
      while (figure.plots.length < model.runs.length) {
        const run = figure.plots.length;
        this.addPlot(figure, { draw: (c) => draw(c, run), svg: (w, h2) => this.pg.svg(kind, w, h2, String(run)), label: label(run) });
      }
    };
    perRun(this.figures.margins, (c, run) => this.pg.drawMargins(c, run), 'margins', (run) => `Margins of run ${run + 1}`);
    perRun(this.figures.tables, (c, run) => this.pg.drawLearningTable(c, run), 'tables', (run) => `Learning tables of run ${run + 1}`);
    this.promptSelect.replaceChildren(...model.prompts.map((p, x) => h('option', { value: String(x) }, p)));
    this.promptField.hidden = model.prompts.length <= 1;
    this.figures.truth.element.hidden = !model.reward;

    const columns = [...METRIC_COLUMNS, ...(model.reward ? TRUTH_COLUMNS : [])];
    this.metricColumns = columns;
    this.metricsHead.replaceChildren(h('th', { scope: 'col' }, 'run'), ...columns.map(([, text]) => h('th', { scope: 'col' }, text)));
    this.metricRows = model.runs.map(() => {
      const name = h('th', { scope: 'row' }, h('span', { class: 'swatch', 'aria-hidden': 'true' }), h('span', {}));
      const cells = columns.map(() => h('td', {}));
      h('tr', {}, name, cells);
      return { name, cells };
    });
    this.metricsBody.replaceChildren(...this.metricRows.map((r) => r.name.parentElement));

    this.predictedTables = model.runs.map(() => {
      const caption = h('caption', {}, h('span', { class: 'swatch', 'aria-hidden': 'true' }), h('span', {}));
      const cells = {};
      const row = (reference) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row' }, reference),
          ['policy right', 'policy wrong'].map((policy) => {
            const key = CELLS.find(([, r, p]) => r === reference && p === policy)[0];
            const predicted = h('span', { class: 'predicted-word' });
            const measured = h('span', { class: 'measured' });
            const cell = h('td', {}, predicted, h('br', {}), measured);
            cells[key] = { cell, predicted, measured };
            return cell;
          }),
        );
      const note = h('p', { class: 'note help' });
      const table = h(
        'table',
        { class: 'learning' },
        caption,
        h('thead', {}, h('tr', {}, h('td', {}), h('th', { scope: 'col' }, 'policy right'), h('th', { scope: 'col' }, 'policy wrong'))),
        h('tbody', {}, row('reference right'), row('reference wrong')),
      );
      return { element: h('div', { class: 'predicted-run' }, table, note), caption, cells, note };
    });
    this.predictedBox.replaceChildren(...this.predictedTables.map((t) => t.element));
    for (const plot of this.plots) plot.stale = true;
    this.invalidate();
  }

  promptIndex() {
    return Math.min(Number(this.promptSelect.value) || 0, this.model.prompts.length - 1);
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

  // ---- The loop ----

  schedule() {
    if (!this.raf) this.raf = requestAnimationFrame(this.frame);
  }

  /** Marks every plot stale and asks for a frame. */
  invalidate() {
    this.dirty = true;
    for (const plot of this.plots) plot.stale = true;
    this.schedule();
  }

  frame() {
    this.raf = 0;
    const start = performance.now();
    if (this.playing) this.stats.playFrames += 1;
    if (this.playing && !this.asyncStep) {
      // Keep a frame responsive on large scenarios: train at most what fits in ~12 ms, going by
      // the measured cost of a step (the speed setting is the upper bound).
      const affordable = this.stepCost ? Math.max(1, Math.floor(12 / this.stepCost)) : 1;
      const steps = Math.min(this.speed, affordable);
      const before = performance.now();
      this.pg.step(steps);
      const cost = (performance.now() - before) / steps;
      this.stepCost = this.stepCost ? 0.8 * this.stepCost + 0.2 * cost : cost;
      this.reconsiderBackend();
      this.pg.record();
      this.invalidate();
    }
    // Draw before launching the next GPU step: once it is in flight the engine is busy until it
    // lands, and launching first would starve drawing while playing.
    if (this.dirty && !this.pending) this.render(start);
    if (this.playing && this.asyncStep) {
      // A GPU step still in flight: skip this frame's training rather than queue another.
      if (this.pending) this.stats.skippedFrames += 1;
      else {
        this.pending = this.pg.stepAsync(this.speed).then(
          () => {
            this.pending = null;
            this.pg.record();
            this.invalidate();
          },
          (error) => {
            this.pending = null;
            this.useCpu(`the WebGPU step failed (${error.message ?? error})`);
          },
        );
      }
    }
    if (this.playing || this.dirty) this.schedule();
  }

  /** Updates the text views from a snapshot, then redraws stale visible canvases within a budget. */
  render(start) {
    const snapshot = this.pg.snapshot();
    this.snapshot = snapshot;
    this.updateTables(snapshot);
    this.editors.update(snapshot);
    this.knobs.update(snapshot);
    this.updateClaims(snapshot.claims);
    const step = snapshot.runs.reduce((max, run) => Math.max(max, run.step), 0);
    this.stepOutput.textContent = `step ${step}`;
    if (step > 0 && this.stats.firstTrainedFrame === null) {
      this.stats.firstTrainedFrame = performance.now();
      performance.mark('dpo-first-trained-frame');
    }
    // While playing only what is on screen is drawn; paused, the rest catch up (for exports,
    // screenshots and scrolling), still within the frame budget.
    const wanted = (p) => p.stale && (p.visible || !this.playing) && !p.figure.element.hidden;
    const waiting = this.plots.filter(wanted).sort((a, b) => b.visible - a.visible || a.lastDrawn - b.lastDrawn);
    let drawn = 0;
    for (const plot of waiting) {
      if (drawn > 0 && performance.now() - start > DRAW_BUDGET_MS) break;
      this.drawPlot(plot);
      drawn += 1;
    }
    this.dirty = this.plots.some(wanted);
    this.stats.frames += 1;
    this.stats.drawMs += performance.now() - start;
  }

  drawPlot(plot) {
    const { canvas } = plot;
    const ratio = Math.min(window.devicePixelRatio || 1, 3);
    const width = Math.max(10, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(10, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    try {
      plot.draw(canvas);
    } catch (error) {
      this.note(`A chart could not be drawn: ${error.message}`, 'error');
    }
    plot.stale = false;
    plot.lastDrawn = performance.now();
  }

  updateTables(snapshot) {
    snapshot.runs.forEach((run, i) => {
      const row = this.metricRows[i];
      if (row) {
        const diverged = run.metrics.diverged;
        const at = run.metrics.diverged_at;
        setText(row.name.lastChild, diverged ? `${run.name} (diverged${at == null ? '' : ` at step ${at}`})` : run.name);
        setColor(row.name.firstChild, run.color);
        row.name.parentElement.classList.toggle('diverged', diverged);
        if (diverged && !this.divergedNoted.has(i)) {
          this.divergedNoted.add(i);
          this.note(`${run.name}: ${divergedText(run.metrics)}`, 'error');
        } else if (!diverged) this.divergedNoted.delete(i);
        this.metricColumns.forEach(([key], c) => setText(row.cells[c], key === 'step' ? String(run.metrics.step) : formatNumber(run.metrics[key])));
      }
      const table = this.predictedTables[i];
      if (table) {
        setText(table.caption.lastChild, run.name);
        setColor(table.caption.firstChild, run.color);
        for (const [key] of CELLS) {
          const { cell, predicted, measured } = table.cells[key];
          const word = run.predicted[key];
          const measuredCell = run.metrics.learning_table[key];
          setText(predicted, `predicted: ${word === 'fades' ? 'fades (silent as γ ≫ β)' : word}`);
          setText(measured, `measured: ${measuredCell.pairs} pair${measuredCell.pairs === 1 ? '' : 's'}, ${(100 * measuredCell.share).toFixed(0)}%`);
          // `silent` and `learns` are exact predictions (see src/engine/predict.rs): a cell that
          // contradicts one is outlined.
          const contradicted = (word === 'silent' && measuredCell.signal > 0) || (word === 'learns' && measuredCell.pairs > 0 && measuredCell.signal === 0);
          const className = `cell-${word}${contradicted ? ' disagrees' : ''}`;
          if (cell.className !== className) cell.className = className;
        }
        setText(table.note, run.predicted.note);
      }
    });
  }

  // ---- Transport ----

  setPlayLabel() {
    this.playButton.replaceChildren(h('span', { class: 'icon-glyph', 'aria-hidden': 'true' }, this.playing ? '❚❚' : '▶'), this.playing ? 'Pause' : 'Play');
  }

  play() {
    if (this.playing) return;
    this.playing = true;
    this.setPlayLabel();
    this.root.dataset.playing = '';
    this.schedule();
  }

  pause() {
    this.playing = false;
    this.setPlayLabel();
    delete this.root.dataset.playing;
    // Charts off screen were skipped while playing: let them catch up now.
    this.dirty = true;
    this.schedule();
  }

  async stepOnce() {
    if (!this.asyncStep) {
      this.pg.step(1);
      this.pg.record();
      this.invalidate();
      return;
    }
    // On WebGPU a step lands later: count the presses, and let one loop train them all, so that
    // pressing Step three times always trains three steps.
    this.queuedSteps = (this.queuedSteps ?? 0) + 1;
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.queuedSteps > 0 && this.asyncStep) {
        while (this.pending) await this.pending.catch(() => {});
        const steps = this.queuedSteps;
        this.queuedSteps = 0;
        this.pending = this.pg.stepAsync(steps);
        try {
          await this.pending;
        } catch (error) {
          this.pending = null;
          await this.useCpu(`the WebGPU step failed (${error.message ?? error})`);
          // The CPU continues from the last state read back and trains the steps asked for.
          this.pg.step(steps);
          this.pg.record();
          this.invalidate();
          return;
        }
        this.pending = null;
        this.pg.record();
        this.invalidate();
      }
    } finally {
      this.draining = false;
      this.queuedSteps = 0;
    }
  }

  async reset() {
    // A GPU step may still be writing the runs: let it land, then reset.
    if (this.pending) await this.pending;
    this.pg.reset();
    this.note('');
    this.invalidate();
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
    if (this.pending) {
      this.pending.then(() => this.apply(mutate, options));
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
      this.showError(error.path, error.message, scope);
      return false;
    }
    let result;
    try {
      result = runsOnly ? this.pg.setRuns(runsText(next)) : this.pg.setScenario(scenarioText(next));
    } catch (error) {
      const { path, message } = splitError(error.message);
      this.showError(path, message, scope);
      return false;
    }
    const previous = this.model;
    this.model = next;
    this.clearErrors(scope);
    if (resetAll) this.pg.reset();
    this.reportApplied(previous, next, result, resetAll);
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
    this.refreshScenarioText();
    this.saveHash();
    this.invalidate();
    return true;
  }

  reportApplied(previous, next, result, resetAll) {
    const data = (m) => JSON.stringify([m.prompts, m.outputs, m.reference, m.pairs, m.reward, m.generate]);
    const sameData = next.pairs === previous.pairs; // a runs-only edit shares the data
    const restarted = result.reset.filter((i) => i < previous.runs.length).map((i) => `“${next.runs[i].name}”`);
    if (resetAll) return;
    if (result.reshaped) this.note('The outputs or prompts changed, so every run restarted from step 0.');
    else if (restarted.length)
      this.note(`${restarted.join(', ')} restarted from step 0: a change to the initial policy, optimiser, seed, regulariser or length normalisation needs a fresh start.`);
    else if (!sameData && data(previous) !== data(next)) this.note('The data changed: every run keeps training from where it is; the charts start over.');
    else this.note('');
  }

  /** Says something in the status line (`kind` "error" for problems). */
  note(message, kind = '') {
    this.status.textContent = message;
    this.status.className = `dpo-status ${kind}`.trim();
  }

  /** Finds the control for an error path: the exact one, else the closest enclosing field. */
  findPathElement(path, scope = null) {
    // The same field can have two controls (a run's β in its card and in the Runs editor): the
    // one in the edited scope first.
    const inScope = scope ? [...scope.querySelectorAll('[data-path]')].find((e) => e.dataset.path === path) : null;
    if (inScope) return inScope;
    const candidates = [...this.root.querySelectorAll('[data-path]')];
    const exact = candidates.find((e) => e.dataset.path === path);
    if (exact) return exact;
    const within = (outer, inner) => inner.startsWith(outer) && /^[.[]/.test(inner.slice(outer.length));
    const enclosing = candidates.filter((e) => within(e.dataset.path, path)).sort((a, b) => b.dataset.path.length - a.dataset.path.length)[0];
    return enclosing ?? candidates.find((e) => within(path, e.dataset.path)) ?? null;
  }

  showError(path, message, scope) {
    const target = this.findPathElement(path, scope) ?? scope;
    const text = path ? `${path}: ${message}` : message;
    this.note(`Not applied — ${text}`, 'error');
    if (!target) return;
    let record = this.errors.get(target);
    if (!record) {
      const element = h('span', { class: 'field-error' });
      const holder = target.closest('.field') ?? target.closest('.row') ?? target;
      if (holder === target && !target.matches('input, select, textarea')) target.append(element);
      else if (holder === target) target.after(element);
      else holder.append(element);
      record = { element, scope };
      this.errors.set(target, record);
    }
    record.scope = scope;
    record.element.textContent = message;
    if (target.matches('input, select, textarea')) target.setAttribute('aria-invalid', 'true');
  }

  /** Removes the errors shown for edits within `scope` (all of them when `scope` is null). */
  clearErrors(scope) {
    for (const [target, record] of this.errors) {
      if (scope === null || record.scope === scope || scope.contains(target)) {
        record.element.remove();
        target.removeAttribute('aria-invalid');
        this.errors.delete(target);
      }
    }
  }

  /** Drops the error records of controls about to be rebuilt. */
  forgetErrors(container) {
    for (const [target, record] of this.errors) {
      if (container.contains(target)) {
        record.element.remove();
        this.errors.delete(target);
      }
    }
  }

  /**
   * Replaces the whole scenario (preset, import, link, JSON editor): validated first; every run
   * restarts. Returns `null` or the error text.
   */
  load(text, { presetId = null, announce = null } = {}) {
    // setScenario validates (and estimates the memory) before it changes anything.
    try {
      this.pg.setScenario(text);
    } catch (error) {
      return error.message;
    }
    this.pg.reset();
    this.afterLoad(text, presetId, announce);
    return null;
  }

  /**
   * `load` for text of any size; resolves to `null` or the error text. Past LARGE_TEXT the text
   * is parsed by the browser and handed to the engine in parts (the scenario without its pairs,
   * then PAIRS_PER_PART pairs at a time), yielding between parts, so that importing 100,000
   * pairs never holds the tab for long; Pause and the charts keep working meanwhile.
   */
  async loadText(text, options = {}) {
    if (text.length <= LARGE_TEXT) {
      // The engine first; the view (editors, tables) in the next task, so neither is long.
      try {
        this.pg.setScenario(text);
      } catch (error) {
        return error.message;
      }
      this.pg.reset();
      await nextTask();
      await this.afterLoadInSteps(text, options.presetId ?? null, options.announce ?? null);
      return null;
    }
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch {
      return this.load(text, options); // the engine names the line and column
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed) || !Array.isArray(parsed.pairs)) return this.load(text, options);
    const { pairs } = parsed;
    let parts;
    try {
      parts = new ScenarioParts(JSON.stringify({ ...parsed, pairs: [] }));
      for (let start = 0; start < pairs.length; start += PAIRS_PER_PART) {
        this.note(`Reading the scenario: ${start.toLocaleString('en')} of ${pairs.length.toLocaleString('en')} pairs…`);
        parts.addPairs(JSON.stringify(pairs.slice(start, start + PAIRS_PER_PART)));
        await nextTask();
      }
      const whole = parts;
      parts = null; // setScenarioParts uses them up, even when it throws
      this.pg.setScenarioParts(whole);
    } catch (error) {
      parts?.free();
      this.note('');
      return error.message ?? String(error);
    }
    await nextTask();
    this.pg.reset();
    await nextTask();
    await this.afterLoadInSteps(text, options.presetId ?? null, options.announce ?? null);
    return null;
  }

  /** After a scenario was loaded into the engine (and its runs reset): the view follows it. */
  afterLoad(text, presetId, announce) {
    this.followEngine(text, presetId);
    this.editors.renderAll();
    this.finishLoad(announce);
  }

  /** `afterLoad` in three tasks, for large scenarios: the model, the editors, the rest. */
  async afterLoadInSteps(text, presetId, announce) {
    this.followEngine(text, presetId);
    await nextTask();
    this.editors.renderAll();
    await nextTask();
    this.finishLoad(announce);
  }

  followEngine(text, presetId) {
    this.linkTooBig = false;
    this.model = modelFromEngine(this.pg);
    this.presetId = presetId ?? this.presetIdFor(text);
    this.clearErrors(null);
    this.namedByUser.clear();
  }

  finishLoad(announce) {
    this.knobs.render();
    this.rebuildStructures();
    this.refreshAbout();
    this.refreshScenarioText(true);
    this.saveHash();
    if (this.backendMode === 'auto') {
      // Another scenario, another size: the CPU's measured step cost no longer applies. Chosen
      // in a task of its own: starting WebGPU for a large scenario builds its buffers.
      this.stepCost = null;
      setTimeout(() => this.chooseBackend('auto'), 0);
    }
    this.note(announce ?? '');
  }

  // ---- URL state ----

  saveHash(now = false) {
    if (!this.options.urlState) return;
    clearTimeout(this.hashTimer);
    const write = () => {
      // Far over the limit: say so without writing the scenario out (megabytes for a big one).
      const approximate = Math.ceil((approximateLength(this.model) * 4) / 3);
      const hash = approximate > 4 * MAX_LINK_CHARS ? null : hashFor(scenarioText(this.model));
      if (hash === null || hash.length > MAX_LINK_CHARS) {
        // Too big for a link that survives being shared: no link rather than one that breaks,
        // and the address no longer holds an older scenario either.
        this.lastHash = '';
        if (location.hash) history.replaceState(history.state, '', location.pathname + location.search);
        if (!this.linkTooBig) {
          // Added to what the status line says (e.g. "Imported ..."), unless that is an error.
          const said = this.status.classList.contains('error') ? '' : this.status.textContent;
          this.note([said, tooBigForLink(hash?.length ?? approximate)].filter(Boolean).join(' '));
        }
        this.linkTooBig = true;
        return;
      }
      this.linkTooBig = false;
      this.lastHash = hash;
      if (location.hash !== hash) history.replaceState(history.state, '', hash);
    };
    // Debounced: dragging a bar applies many edits a second.
    if (now) write();
    else this.hashTimer = setTimeout(write, 250);
  }

  onHashChange() {
    if (location.hash === this.lastHash) return;
    const fromHash = readHash(location.hash);
    if (!fromHash) return;
    const problem = fromHash.error ?? this.load(fromHash.text, { announce: 'Loaded the scenario from the link.' });
    if (problem) {
      this.load(defaultScenario(), { presetId: 'default' });
      this.note(`The scenario in this link could not be used (${problem}), so the default scenario is shown instead.`, 'error');
    }
  }

  // ---- Import and export ----

  buildFileSection() {
    const fileInput = h('input', { type: 'file', accept: '.json,application/json', class: 'visually-hidden' });
    fileInput.addEventListener('change', async () => {
      const file = fileInput.files?.[0];
      if (file) this.importText(await file.text(), file.name);
      fileInput.value = '';
    });
    this.scenarioArea = h('textarea', { rows: 14, spellcheck: 'false', autocomplete: 'off', 'aria-label': 'Scenario JSON', 'data-path': '' });
    this.scenarioArea.setAttribute('aria-description', 'The whole scenario as JSON (SPEC section 8). Edit it and press Apply.');
    this.scenarioCheck = h('p', { class: 'scenario-check help', 'aria-live': 'polite' });
    let timer = 0;
    this.scenarioArea.addEventListener('input', () => {
      this.scenarioArea.dataset.edited = '';
      clearTimeout(timer);
      timer = setTimeout(() => this.checkScenarioText(), 200);
    });
    this.fileSection = h(
      'details',
      { class: 'editor file' },
      h('summary', {}, 'Scenario file: import, export, share'),
      h('p', { class: 'help' }, 'Import a scenario file with the button, or drop a .json file anywhere on the playground. Exports: the scenario, the metrics recorded so far (CSV), and each chart (PNG/SVG buttons above it).'),
      h(
        'div',
        { class: 'row buttons wrap' },
        h('label', { class: 'button' }, fileInput, 'Import JSON…'),
        h('button', { type: 'button', onclick: () => this.exportScenario() }, 'Export scenario'),
        h('button', { type: 'button', onclick: () => this.exportCsv() }, 'Export metrics CSV'),
        h('button', { type: 'button', onclick: () => this.copyLink() }, 'Copy link'),
      ),
      this.scenarioArea,
      h('div', { class: 'row buttons' }, h('button', { type: 'button', onclick: () => this.applyScenarioText() }, 'Apply JSON'), h('button', { type: 'button', onclick: () => this.refreshScenarioText(true) }, 'Revert')),
      this.scenarioCheck,
    );
    this.fileSection.addEventListener('toggle', () => this.refreshScenarioText());
    return this.fileSection;
  }

  /** Shows the current scenario in the JSON editor, unless the user is editing it. */
  refreshScenarioText(force = false) {
    if (!this.scenarioArea) return;
    if (!force && ('edited' in this.scenarioArea.dataset || !this.fileSection.open)) return;
    delete this.scenarioArea.dataset.edited;
    if (approximateLength(this.model) > MAX_EDITABLE_CHARS) {
      // Megabytes of text in a text area freeze the tab: the file is the way to edit this one.
      this.scenarioArea.value = '';
      this.scenarioCheck.textContent = `This scenario is too large to edit as text here (about ${approximateLength(this.model).toLocaleString('en')} characters): use Export scenario, edit the file, and import it.`;
      return;
    }
    this.scenarioArea.value = scenarioText(this.model, true);
    this.scenarioCheck.textContent = '';
  }

  checkScenarioText() {
    const problem = this.problemWith(this.scenarioArea.value);
    this.scenarioCheck.textContent = problem ? `Invalid: ${problem}` : 'Valid scenario: press Apply JSON to load it.';
    this.scenarioCheck.classList.toggle('error', Boolean(problem));
  }

  async applyScenarioText() {
    const problem = await this.loadText(this.scenarioArea.value, { announce: 'Loaded the edited scenario; every run restarted.' });
    if (problem) {
      this.scenarioCheck.textContent = `Invalid: ${problem}`;
      this.scenarioCheck.classList.add('error');
      this.note(`Not applied — ${problem}`, 'error');
    }
  }

  /** Loads imported text; on an error, the text stays in the JSON editor to be fixed. */
  async importText(text, name) {
    const problem = await this.loadText(text, { announce: `Imported ${name}; every run restarted.` });
    if (problem) {
      this.fileSection.open = true;
      this.scenarioArea.value = text;
      this.scenarioArea.dataset.edited = '';
      this.scenarioCheck.textContent = `Invalid: ${problem}`;
      this.scenarioCheck.classList.add('error');
      this.note(`Could not import ${name}: ${problem}`, 'error');
    }
  }

  bindDrop() {
    const hasFiles = (event) => [...(event.dataTransfer?.types ?? [])].includes('Files');
    this.root.addEventListener('dragover', (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      this.root.classList.add('dropping');
    });
    this.root.addEventListener('dragleave', (event) => {
      if (!this.root.contains(event.relatedTarget)) this.root.classList.remove('dropping');
    });
    this.root.addEventListener('drop', async (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      this.root.classList.remove('dropping');
      const file = event.dataTransfer.files[0];
      if (file) this.importText(await file.text(), file.name);
    });
  }

  fileStem() {
    return (this.presetId || 'scenario').replace(/[^a-z0-9-]+/gi, '-');
  }

  exportScenario() {
    download(`${this.fileStem()}.json`, new Blob([scenarioText(this.model, true) + '\n'], { type: 'application/json' }));
  }

  exportCsv() {
    download(`${this.fileStem()}-metrics.csv`, new Blob([this.pg.metricsCsv()], { type: 'text/csv' }));
  }

  async copyLink() {
    const url = new URL(location.href);
    url.hash = hashFor(scenarioText(this.model));
    if (url.hash.length > MAX_LINK_CHARS) {
      this.note(tooBigForLink(url.hash.length), 'error');
      return;
    }
    try {
      await navigator.clipboard.writeText(url.href);
      this.note('Copied a link to this scenario.');
    } catch {
      this.note(`Copy this link: ${url.href}`);
    }
  }

  /** Where each canvas of a figure sits, for exports that look like the page. */
  layout(figure) {
    const box = figure.canvases.getBoundingClientRect();
    const placed = figure.plots.map((plot) => {
      const rect = plot.canvas.getBoundingClientRect();
      return { plot, x: Math.round(rect.left - box.left), y: Math.round(rect.top - box.top), width: Math.round(rect.width), height: Math.round(rect.height) };
    });
    const width = Math.max(...placed.map((p) => p.x + p.width), 10);
    const height = Math.max(...placed.map((p) => p.y + p.height), 10);
    return { placed, width, height };
  }

  exportPng(name) {
    const figure = this.figures[name];
    const { placed, width, height } = this.layout(figure);
    const ratio = Math.min(window.devicePixelRatio || 1, 3);
    const canvas = h('canvas', { width: Math.round(width * ratio), height: Math.round(height * ratio) });
    const context = canvas.getContext('2d');
    context.fillStyle = '#ffffff';
    context.fillRect(0, 0, canvas.width, canvas.height);
    for (const { plot, x, y, width: w, height: h2 } of placed) {
      this.drawPlot(plot);
      context.drawImage(plot.canvas, x * ratio, y * ratio, w * ratio, h2 * ratio);
    }
    canvas.toBlob((blob) => blob && download(`${this.fileStem()}-${name}.png`, blob), 'image/png');
  }

  exportSvg(name) {
    const figure = this.figures[name];
    const { placed, width, height } = this.layout(figure);
    // One SVG per canvas from the engine, nested at the position the canvas has on the page.
    const parts = placed.map(({ plot, x, y, width: w, height: h2 }) => {
      const text = plot.svg(Math.max(10, w), Math.max(10, h2)).replace(/<\?xml[^>]*>\s*/, '');
      return text.replace(/^<svg\b/, `<svg x="${x}" y="${y}"`);
    });
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">\n${parts.join('\n')}\n</svg>\n`;
    download(`${this.fileStem()}-${name}.svg`, new Blob([svg], { type: 'image/svg+xml' }));
  }

  // ---- Backend ----

  setBackend(kind, detail) {
    this.backend = kind;
    this.backendElement.dataset.backend = kind;
    this.backendElement.textContent = kind === 'webgpu' ? `Backend: WebGPU${detail ? ` (${detail})` : ''}` : `Backend: CPU${detail ? ` — ${detail}` : ''}`;
    this.backendButton.textContent = kind === 'webgpu' ? 'Use CPU' : 'Use WebGPU';
    this.backendButton.disabled = kind === 'cpu' && Boolean(this.gpuReason);
  }

  /** The CPU's training time per frame at the current speed, in ms: measured once the CPU has
   * trained, else the engine's estimate (calibrated natively; wasm is slower). */
  cpuFrameMs() {
    const perStep = this.stepCost ?? this.pg.estimateStepMs() * WASM_SLOWDOWN;
    return perStep * this.speed;
  }

  /**
   * Picks the backend: `cpu` or `webgpu` as asked (WebGPU falling back to the CPU when it cannot
   * start), or `auto`: WebGPU only where it is faster for this scenario, that is, where a frame
   * of CPU training takes longer than a WebGPU round trip. The backend element says which and why.
   */
  async chooseBackend(mode) {
    this.autoCpu = false;
    if (this.backend !== 'webgpu') this.setBackend('cpu', 'trying WebGPU…');
    this.backendButton.disabled = true;
    this.gpuReason = await gpuUnavailable(this.pg);
    const cpu = async (detail) => {
      if (this.backend === 'webgpu' || this.asyncStep) await this.useCpu(detail);
      this.asyncStep = false;
      this.setBackend('cpu', detail);
    };
    if (mode === 'cpu') return cpu('chosen by you');
    if (this.gpuReason) return cpu(this.gpuReason);
    if (mode === 'auto') {
      const frame = this.cpuFrameMs();
      if (frame < GPU_ROUND_TRIP_MS) {
        this.autoCpu = true;
        this.autoSince = this.stats.playFrames;
        return cpu(`faster for this scenario (about ${formatMs(frame)} of training a frame); WebGPU available`);
      }
    }
    if (this.backend === 'webgpu') return;
    try {
      const result = await this.pg.useGpu();
      if (result?.ok && typeof this.pg.stepAsync === 'function') {
        this.asyncStep = true;
        const why = mode === 'auto' ? `faster for this scenario than the CPU’s ${formatMs(this.cpuFrameMs())} a frame` : 'chosen by you';
        this.setBackend('webgpu', [result.adapter, why].filter(Boolean).join('; '));
      } else {
        this.asyncStep = false;
        this.setBackend('cpu', result?.reason || 'WebGPU could not start');
      }
    } catch (error) {
      this.asyncStep = false;
      this.setBackend('cpu', `WebGPU could not start (${error.message ?? error})`);
    }
  }

  /** In `auto`, once the CPU's measured frame time has outgrown a WebGPU round trip, try WebGPU. */
  reconsiderBackend() {
    if (this.backendMode !== 'auto' || !this.autoCpu || this.gpuReason) return;
    if (this.stats.playFrames - this.autoSince < 30) return;
    if (this.cpuFrameMs() > 2 * GPU_ROUND_TRIP_MS) this.chooseBackend('auto');
  }

  async switchBackend() {
    this.backendMode = this.backend === 'webgpu' ? 'cpu' : 'webgpu';
    if (this.backend === 'webgpu') await this.useCpu('chosen by you');
    else await this.chooseBackend('webgpu');
  }

  /** Back to the CPU: through the engine when it can switch, else a fresh engine (runs restart). */
  async useCpu(reason) {
    if (this.pending) await this.pending.catch(() => {});
    this.asyncStep = false;
    if (typeof this.pg.useCpu === 'function') this.pg.useCpu();
    else if (this.pg.backend !== 'cpu') {
      this.pg.free?.();
      this.pg = new Playground(scenarioText(this.model));
      this.note('Switched to the CPU; the runs restarted.');
    }
    this.setBackend('cpu', reason);
    this.invalidate();
  }
}

/** The largest scenario the JSON text area shows. */
const MAX_EDITABLE_CHARS = 500_000;
/** Scenario text past this size is imported in parts (see `loadInParts`). */
const LARGE_TEXT = 256 * 1024;
/** Pairs handed to the engine per part: about 10 ms of parsing each. */
const PAIRS_PER_PART = 5000;

/** The longest `#s=` link the page writes: longer ones are cut by mail and chat programs and
 * slow every history update (a 100,000-pair scenario would be megabytes). */
const MAX_LINK_CHARS = 32_000;

function tooBigForLink(length) {
  return `This scenario is too big for a link (about ${length.toLocaleString('en')} characters; links stop at ${MAX_LINK_CHARS.toLocaleString('en')}), so the address does not hold it: share it with “Export scenario” in the Scenario file section.`;
}

/** Resolves in a later task, letting the browser draw and handle input in between. */
function nextTask() {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** A duration in ms as the backend element writes it. */
function formatMs(ms) {
  return ms < 0.1 ? `${ms.toFixed(3)} ms` : ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

function setColor(element, color) {
  if (element.dataset.color !== color) {
    element.dataset.color = color;
    element.style.background = color;
  }
}
