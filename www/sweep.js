// The Sweep panel (loaded when first opened): the scenario's runs as templates over one or two
// axes of settings and several seeds, trained in slices a frame at a time (never a frozen tab),
// a chart of a metric against the first axis (the replicates' mean, and a band from their
// minimum to their maximum; a line per value of the second axis, or a heat map over both; the
// reward–KL frontier with a ground-truth reward), a table of the settings, and the statistics
// as CSV and the chart as SVG or PNG. The engine is `dpo sweep`'s (`SweepSession`), so the page
// and the command line give the same numbers; WebGPU trains the runs between checkpoints where
// the playground's backend is WebGPU or the CPU proves slow (`GpuTrainer.openSweep`).
// The sweep is kept in the scenario, so the share link carries it.

import { h, select, download } from './dom.js';
import { errorParts } from './errors.js';
import { SweepSession, sweepAxisValues } from './pkg/dpo_playground.js';
import { scenarioText } from './state.js';
import { loadGpu, probeAdapter } from './engine.js';
import { GPU_ROUND_TRIP_MS, formatMs } from './backend.js';

/** The axes the panel offers (the format has a few more: see docs/scenario-format.md). */
const FIELDS = [
  ['gamma_over_beta', 'γ / β'],
  ['gamma', 'γ'],
  ['beta', 'β'],
  ['margin', 'margin'],
  ['lr', 'learning rate'],
  ['alpha', 'α'],
  ['seed', 'seed'],
  ['batch_size', 'batch size'],
];
/** Milliseconds of training per frame: the rest of the frame is the page's. */
const FRAME_BUDGET_MS = 12;
/** CPU frames trained before their measured cost decides whether WebGPU takes over. */
const SETTLED_FRAMES = 10;
/** How often the chart is redrawn while the sweep trains. */
const REDRAW_MS = 250;
/** Metric names as the panel shows them. */
const METRIC_LABELS = {
  loss: 'loss',
  accuracy: 'accuracy',
  kl: 'KL to the reference',
  entropy: 'entropy',
  reward_margin: 'reward margin',
  true_reward: 'true reward',
  ranking_agreement: 'ranking agreement',
  share_rr: 'signal share: reference right, policy right',
  share_rw: 'signal share: reference right, policy wrong',
  share_wr: 'signal share: reference wrong, policy right',
  share_ww: 'signal share: reference wrong, policy wrong',
  validation_loss: 'held-out loss',
  validation_accuracy: 'held-out accuracy',
  validation_reward_margin: 'held-out reward margin',
  frontier: 'reward–KL frontier (true reward against KL)',
};

export class SweepPanel {
  constructor(view, element) {
    this.view = view;
    this.element = element;
    this.session = null;
    this.generation = 0;
    this.build();
  }

  build() {
    this.field = select(FIELDS, 'gamma_over_beta', { 'aria-label': 'Setting to sweep' });
    this.values = h('input', { type: 'text', 'aria-label': 'Values (comma-separated)', spellcheck: 'false' });
    this.field2 = select([['', 'none'], ...FIELDS], '', { 'aria-label': 'Second setting (optional)' });
    this.values2 = h('input', { type: 'text', 'aria-label': 'Values of the second setting', spellcheck: 'false' });
    this.field2.addEventListener('change', () => {
      this.values2.disabled = !this.field2.value;
    });
    this.replicates = h('input', { type: 'number', min: '1', max: '256', step: '1', 'aria-label': 'Seeds per setting' });
    this.steps = h('input', { type: 'number', min: '1', step: '1', 'aria-label': 'Steps per run' });
    this.heldOut = h('input', { type: 'number', min: '0', max: '0.9', step: '0.05', 'aria-label': 'Share of pairs held out' });
    this.fillForm();
    this.runButton = h('button', { type: 'button', class: 'primary', onclick: () => this.run() }, 'Run the sweep');
    this.stopButton = h('button', { type: 'button', onclick: () => this.stop('Stopped.') }, 'Stop');
    this.stopButton.disabled = true;
    this.status = h('p', { class: 'sweep-status', role: 'status' });
    this.metric = select([['accuracy', METRIC_LABELS.accuracy]], 'accuracy', { 'aria-label': 'Metric' });
    this.best = h('input', { type: 'checkbox' });
    this.bestLabel = h('label', { class: 'check' }, this.best, 'at each run’s best checkpoint by held-out loss (early stopping)');
    this.bestLabel.hidden = true;
    this.heat = h('input', { type: 'checkbox' });
    this.heatLabel = h('label', { class: 'check' }, this.heat, 'as a heat map over the two settings');
    this.heatLabel.hidden = true;
    this.band = select(
      [
        ['min-max', 'minimum to maximum'],
        ['p10-p90', '10th to 90th percentile'],
        ['iqr', '25th to 75th percentile'],
      ],
      'min-max',
      { 'aria-label': 'Band over the seeds' },
    );
    for (const control of [this.metric, this.best, this.heat, this.band]) control.addEventListener('change', () => this.draw());
    this.canvas = h('canvas', { class: 'sweep-chart', role: 'img', 'aria-label': 'The swept metric against the setting' });
    this.table = h('table', { class: 'sweep-table' });
    const tableBox = h('div', { class: 'table-scroll', tabindex: '0', role: 'region', 'aria-label': 'Sweep statistics (scrolls sideways)' }, this.table);
    this.csvButton = h('button', { type: 'button', onclick: () => this.downloadCsv() }, 'Download CSV');
    this.svgButton = h('button', { type: 'button', onclick: () => this.downloadSvg() }, 'Download SVG');
    this.pngButton = h('button', { type: 'button', onclick: () => this.downloadPng() }, 'Download PNG');
    this.csvButton.disabled = this.svgButton.disabled = this.pngButton.disabled = true;
    // Redrawn at its new width when the panel's width changes (a rotated phone, a resized window).
    let width = 0;
    new ResizeObserver(() => {
      if (this.canvas.clientWidth !== width && this.session) {
        width = this.canvas.clientWidth;
        this.draw();
      }
    }).observe(this.canvas);
    this.element.append(
      h('p', { class: 'help shown' }, 'Every run of the scenario becomes a template: trained at each value of the setting, with several seeds each (each seed changes a random start, the minibatch order and the mixout masks). The chart shows each template’s mean over its seeds and a band over them (from their minimum to their maximum, or between two percentiles). The same numbers as `dpo sweep` on the command line.'),
      h(
        'div',
        { class: 'sweep-form' },
        h('label', { class: 'field' }, h('span', { class: 'field-label' }, 'Setting'), this.field),
        h('label', { class: 'field wide' }, h('span', { class: 'field-label' }, 'Values'), this.values),
        h('label', { class: 'field' }, h('span', { class: 'field-label' }, 'Second setting'), this.field2),
        h('label', { class: 'field wide' }, h('span', { class: 'field-label' }, 'Its values'), this.values2),
        h('label', { class: 'field' }, h('span', { class: 'field-label' }, 'Seeds per setting'), this.replicates),
        h('label', { class: 'field' }, h('span', { class: 'field-label' }, 'Steps'), this.steps),
        h('label', { class: 'field' }, h('span', { class: 'field-label' }, 'Held-out share'), this.heldOut),
      ),
      h('div', { class: 'row buttons' }, this.runButton, this.stopButton),
      this.status,
      h(
        'div',
        { class: 'sweep-view' },
        h('label', { class: 'field' }, h('span', { class: 'field-label' }, 'Metric'), this.metric),
        h('label', { class: 'field' }, h('span', { class: 'field-label' }, 'Band'), this.band),
        this.bestLabel,
        this.heatLabel,
      ),
      this.canvas,
      tableBox,
      h('div', { class: 'row buttons' }, this.csvButton, this.svgButton, this.pngButton),
    );
  }

  /** The form from the page's scenario: its sweep's first two axes, seeds, steps and held-out
   * share (the defaults where it has none). */
  fillForm() {
    const { model } = this.view;
    const block = model.sweep;
    const [axis, second] = block?.axes ?? [];
    // A range as the engine spaces it, to six digits (readable in the form).
    const valuesOf = (a) => a.values ?? sweepAxisValues(JSON.stringify(a)).map((x) => Number(x.toPrecision(6)));
    this.field.value = axis?.field ?? 'gamma_over_beta';
    this.values.value = (axis ? valuesOf(axis) : [0, 0.5, 1, 2, 5, 10, 20]).join(', ');
    this.field2.value = second?.field ?? '';
    this.values2.value = second ? valuesOf(second).join(', ') : '';
    this.values2.disabled = !second;
    // The axes as filled in: one left as it was keeps its form in the scenario (a log range
    // stays a log range, and its chart's axis logarithmic).
    this.filled = [axis, second].filter(Boolean).map((a) => ({ axis: a, field: a.field, text: valuesOf(a).join(', ') }));
    this.replicates.value = String(block?.replicates ?? 8);
    this.steps.value = String(model.steps);
    // Pairs drawn fresh from the reward (`validation.fresh`) are the scenario's own choice: the
    // share field gives way to them until a share is typed in.
    // So are pairs held out by hand in the pair editor (`"split": "validation"`).
    const fresh = model.validation?.fresh;
    const marked = model.validation ? 0 : model.pairs.filter((p) => p.split === 'validation').length;
    this.heldOut.value = fresh || marked ? '' : String(model.validation?.fraction ?? 0);
    this.heldOut.placeholder = fresh ? `${fresh} fresh per prompt` : marked ? `${marked} held out by hand` : '';
  }

  /** Another scenario was loaded: a sweep under way stops, its results (of the old scenario)
   * go, and the form starts from the new scenario. */
  scenarioChanged() {
    const had = Boolean(this.session);
    this.stop('');
    this.session?.free();
    this.session = null;
    this.fillForm();
    this.table.replaceChildren();
    this.canvas.getContext('2d')?.clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.csvButton.disabled = this.svgButton.disabled = this.pngButton.disabled = true;
    this.bestLabel.hidden = this.heatLabel.hidden = true;
    this.status.textContent = had ? 'The scenario changed: run the sweep again for its numbers.' : '';
  }

  /** The scenario to sweep: the page's, with the form's sweep (which goes into the page's
   * scenario too, so that the share link carries it), steps and held-out share. A message when
   * a field cannot be read. */
  scenario() {
    const field = this.field.value;
    const numbers = (text, label) => {
      const words = text.split(/[\s,]+/).filter(Boolean);
      if (!words.length) throw new Error(`${label}: give at least one value`);
      return words.map((word) => {
        const x = Number(word);
        if (!Number.isFinite(x)) throw new Error(`${label}: “${word}” is not a number`);
        return x;
      });
    };
    const axisOf = (field, text, label) =>
      this.filled?.find((f) => f.field === field && f.text === text.trim())?.axis ?? { field, values: numbers(text, label) };
    const axes = [axisOf(field, this.values.value, 'Values')];
    if (this.field2.value) {
      if (this.field2.value === field) throw new Error('Second setting: choose another setting than the first');
      axes.push(axisOf(this.field2.value, this.values2.value, 'Second setting’s values'));
    }
    const replicates = Number(this.replicates.value);
    if (!Number.isInteger(replicates) || replicates < 1) throw new Error('Seeds per setting: a whole number of at least 1');
    const steps = Number(this.steps.value);
    if (!Number.isInteger(steps) || steps < 1) throw new Error('Steps: a whole number of at least 1');
    const fresh = this.view.model.validation?.fresh && this.heldOut.value.trim() === '';
    const heldOut = Number(this.heldOut.value);
    if (!fresh && !(heldOut >= 0 && heldOut < 1)) throw new Error('Held-out share: from 0 (none) to below 1');
    if (heldOut > 0 && !this.view.model.validation && this.view.model.pairs.some((p) => p.split === 'validation'))
      throw new Error('Held-out share: some pairs are held out by hand (the pair editor’s “Held out” boxes); clear them, or leave this field empty to score those');
    const sweep = { axes, replicates };
    const scenario = JSON.parse(scenarioText(this.view.model));
    scenario.sweep = sweep;
    scenario.steps = steps;
    if (fresh) scenario.validation = { ...this.view.model.validation };
    else if (heldOut > 0) scenario.validation = { fraction: heldOut, seed: this.view.model.validation?.seed ?? 0 };
    else delete scenario.validation;
    return { text: JSON.stringify(scenario), sweep };
  }

  run() {
    let parsed;
    try {
      parsed = this.scenario();
    } catch (error) {
      this.status.textContent = error.message;
      return;
    }
    this.session?.free();
    this.session = null;
    try {
      this.session = new SweepSession(parsed.text);
    } catch (error) {
      const { path, message } = errorParts(error);
      this.status.textContent = `The sweep cannot run: ${path ? `${path}: ` : ''}${message}`;
      return;
    }
    // The sweep is part of the scenario now (the share link carries it): a preset with another
    // sweep is an edited preset, whose link holds the scenario rather than the preset's name.
    const { view } = this;
    if (JSON.stringify(view.model.sweep ?? null) !== JSON.stringify(parsed.sweep) && view.presetId) {
      view.presetId = '';
      view.presetSelect.value = '';
    }
    view.model.sweep = parsed.sweep;
    view.files?.refreshScenarioText?.();
    view.files?.saveHash?.();
    this.text = parsed.text;
    this.offerMetrics(this.session.metrics());
    this.bestLabel.hidden = !this.session.validation;
    this.heatLabel.hidden = parsed.sweep.axes.length !== 2;
    if (this.heatLabel.hidden) this.heat.checked = false;
    if (!this.session.validation) this.best.checked = false;
    this.runButton.disabled = true;
    this.stopButton.disabled = false;
    this.csvButton.disabled = this.svgButton.disabled = this.pngButton.disabled = true;
    const generation = ++this.generation;
    this.train(generation, this.session);
  }

  /**
   * Trains `session` to its end, a slice a frame. On the CPU a slice is sized by the measured
   * cost (about FRAME_BUDGET_MS of training a frame); on WebGPU a slice is the steps up to the
   * next checkpoint, trained on the device while the page goes on, its state read back and scored
   * here. WebGPU trains the sweep where the playground's backend is WebGPU or, chosen
   * automatically, once the CPU's measured training between two checkpoints takes longer than
   * two WebGPU round trips; the CPU where it was chosen, or where WebGPU is missing or fails (the
   * sweep goes on from the last state read back).
   */
  async train(generation, session) {
    const live = () => generation === this.generation && session === this.session && this.element.isConnected;
    const nextFrame = () => new Promise((resolve) => requestAnimationFrame(resolve));
    const { backend } = this.view;
    const automatic = backend.mode === 'auto' && backend.kind !== 'webgpu';
    this.where = 'on the CPU';
    this.note = backend.mode === 'cpu' ? ' (the playground’s backend is the CPU, as chosen)' : '';
    let gpu = null;
    let tried = false;
    const startGpu = async (why) => {
      tried = true;
      // Freed at the end of training, as every trainer opened here (stopped meanwhile or not).
      gpu = await this.openGpu(session, why);
    };
    let stepsPerFrame = 1;
    let cpuFrames = 0;
    let drawn = 0;
    let metrics = session.metrics().join();
    // Whether a slice trained on WebGPU has landed since the metrics were last compared.
    let landed = false;
    try {
      if (backend.mode === 'webgpu' || backend.kind === 'webgpu') await startGpu('as the playground’s backend');
      while (live()) {
        await nextFrame();
        if (!live()) break;
        if (gpu) {
          const steps = session.slice(0xffffffff);
          try {
            const states = await gpu.train(steps);
            if (!live()) break;
            session.land(states, steps);
            landed = true;
          } catch (error) {
            if (!live()) break;
            gpu.free();
            gpu = null;
            this.where = 'on the CPU';
            this.note = ` (WebGPU stopped: ${errorParts(error).message}; going on from the last checkpoint)`;
          }
        } else {
          const started = performance.now();
          session.advance(stepsPerFrame);
          const spent = performance.now() - started;
          const perStep = spent / stepsPerFrame;
          // Size the next slice by the measured cost: about FRAME_BUDGET_MS of training per frame.
          stepsPerFrame = Math.max(1, Math.min(stepsPerFrame * 2, Math.floor((stepsPerFrame * FRAME_BUDGET_MS) / Math.max(spent, 0.01))));
          cpuFrames += 1;
          // The first frames run cold; past a few, their cost decides.
          const between = perStep * session.every;
          if (automatic && !tried && cpuFrames >= SETTLED_FRAMES && between > 2 * GPU_ROUND_TRIP_MS && session.done < session.steps) {
            await startGpu(`faster for this sweep than the CPU’s ${formatMs(between)} between checkpoints`);
            if (!live()) break;
          }
        }
        const { done, steps, runs } = session;
        this.status.textContent = `Training ${runs} runs ${this.where}${this.note}: step ${done} of ${steps}…`;
        // Runs trained on WebGPU no longer track the summed learning table: its shares leave the
        // metrics the panel offers.
        if (landed) {
          landed = false;
          const now = session.metrics();
          if (now.join() !== metrics) {
            metrics = now.join();
            this.offerMetrics(now);
          }
        }
        if (performance.now() - drawn > REDRAW_MS || done >= steps) {
          this.draw();
          drawn = performance.now();
        }
        if (done >= steps) {
          this.finish();
          break;
        }
      }
    } finally {
      gpu?.free();
      // Taken out of the page mid-sweep: stopped, as before this loop trained on WebGPU too.
      if (!this.element.isConnected && generation === this.generation) this.stop('');
    }
  }

  /** A WebGPU trainer for `session`'s runs from their state now, or null (the reason said in the
   * status line's note) when WebGPU is missing or cannot take them. */
  async openGpu(session, why) {
    if (!(await probeAdapter())) {
      this.note = '';
      return null;
    }
    try {
      const module = await loadGpu();
      const gpu = await module.GpuTrainer.openSweep(this.text, session.states());
      this.where = `on WebGPU${gpu.adapter ? ` (${gpu.adapter})` : ''}`;
      this.note = `, ${why}; the signal shares are left out, since WebGPU does not track the learning table summed over training`;
      return gpu;
    } catch (error) {
      this.note = ` (WebGPU could not take the sweep: ${errorParts(error).message})`;
      return null;
    }
  }

  /** The metric menu: `names`, keeping the chosen one where it is still among them. */
  offerMetrics(names) {
    const chosen = names.includes(this.metric.value) ? this.metric.value : 'accuracy';
    this.metric.replaceChildren(...names.map((name) => h('option', { value: name }, METRIC_LABELS[name] ?? name)));
    this.metric.value = chosen;
  }

  finish() {
    const { runs, steps } = this.session;
    this.status.textContent = `Done: ${runs} runs, ${steps} steps each, ${this.where}${this.note}.`;
    this.runButton.disabled = false;
    this.stopButton.disabled = true;
    this.csvButton.disabled = this.svgButton.disabled = this.pngButton.disabled = false;
  }

  stop(message) {
    this.generation += 1;
    this.runButton.disabled = false;
    this.stopButton.disabled = true;
    if (this.session) this.csvButton.disabled = this.svgButton.disabled = this.pngButton.disabled = false;
    if (message) this.status.textContent = message;
  }

  draw() {
    if (!this.session) return;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(320, this.canvas.clientWidth || 640);
    const height = 300;
    this.canvas.style.height = `${height}px`;
    this.canvas.width = Math.round(width * ratio);
    this.canvas.height = Math.round(height * ratio);
    try {
      this.session.drawChart(this.canvas, this.metric.value, this.best.checked, this.heat.checked, this.band.value);
    } catch (error) {
      this.status.textContent = `The chart cannot be drawn: ${error.message}`;
    }
    this.fillTable();
  }

  fillTable() {
    // The frontier's chart plots two metrics; the table lists the one it rises along.
    const metric = this.metric.value === 'frontier' ? 'true_reward' : this.metric.value;
    const best = this.best.checked;
    const rows = this.session.summaries();
    const head = h('tr', {}, ...['setting', 'seeds', `${METRIC_LABELS[metric] ?? metric}: mean`, 'sd', 'min', 'median', 'max', ...(this.session.validation ? ['best step (mean)'] : [])].map((t) => h('th', { scope: 'col' }, t)));
    const number = (x) => (Number.isFinite(x) ? x.toPrecision(4) : '–');
    const body = rows.map((row) => {
      const summary = (best ? row.best : row.final)?.[metric];
      const name = row.label ? `${row.template} (${row.label})` : row.template;
      const cells = summary ? [summary.mean, summary.std, summary.min, summary.median, summary.max].map(number) : ['–', '–', '–', '–', '–'];
      const extra = this.session.validation ? [row.best_step ? number(row.best_step.mean) : '–'] : [];
      return h('tr', {}, h('th', { scope: 'row' }, name), h('td', {}, row.diverged ? `${row.runs} (${row.diverged} diverged)` : String(row.runs)), ...[...cells, ...extra].map((t) => h('td', {}, t)));
    });
    this.table.replaceChildren(h('thead', {}, head), h('tbody', {}, ...body));
  }

  downloadCsv() {
    if (this.session) download('sweep.csv', new Blob([this.session.csv()], { type: 'text/csv' }));
  }

  /** The chart as drawn, at the screen's pixel ratio. */
  downloadPng() {
    if (!this.session) return;
    this.canvas.toBlob((blob) => {
      if (blob) download(`sweep-${this.metric.value}.png`, blob);
      else this.status.textContent = 'The chart cannot be exported as PNG.';
    }, 'image/png');
  }

  downloadSvg() {
    if (!this.session) return;
    try {
      download(`sweep-${this.metric.value}.svg`, new Blob([this.session.svg(this.metric.value, this.best.checked, this.heat.checked, this.band.value, 900, 420)], { type: 'image/svg+xml' }));
    } catch (error) {
      this.status.textContent = `The chart cannot be exported: ${error.message}`;
    }
  }
}
