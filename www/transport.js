// The transport of one playground: Play/Pause, Step, Reset, the speed, their keyboard shortcuts,
// and the loop. It follows TensorFlow Playground's Player: while playing, each animation frame
// trains `speed` steps in Rust (on the CPU, or one WebGPU step in flight at a time), records the
// metrics once, and redraws what is visible and stale within the frame budget.

import { h } from './dom.js';

const SPEED_DEFAULT = 10;
/** Time a frame may spend on canvases before the rest wait for the next frame. */
const DRAW_BUDGET_MS = 8;

export class Transport {
  constructor(view) {
    this.view = view;
    this.playing = false;
    this.speed = SPEED_DEFAULT;
    this.raf = 0;
    this.dirty = true;
    // The WebGPU step in flight, if any: the engine is busy until it lands.
    this.pending = null;
    // The measured cost of a CPU step in ms (a moving average), null until the CPU has trained.
    this.stepCost = null;
    // How many frames `stepCost` has measured.
    this.costSamples = 0;
    this.stats = { frames: 0, playFrames: 0, skippedFrames: 0, firstTrainedFrame: null, drawMs: 0 };
    // The step the runs are at (the furthest run), and where playing stops (the `stopAt` option;
    // with `loop` it starts over there instead).
    this.currentStep = 0;
    const { stopAt } = view.options;
    this.stopAt = stopAt === 'scenario' ? (view.model.steps ?? 200) : Number.isInteger(stopAt) && stopAt > 0 ? stopAt : null;
    this.loop = Boolean(view.options.loop);
    this.frame = this.frame.bind(this);

    this.playButton = h('button', { type: 'button', class: 'primary play', 'aria-keyshortcuts': 'Space', onclick: () => (this.playing ? this.pause() : this.play()) });
    this.setPlayLabel();
    this.speedInput = h('input', { type: 'range', min: 1, max: 100, step: 1, value: this.speed, 'aria-label': 'Speed' });
    this.speedInput.setAttribute('aria-description', 'Training steps per animation frame (about 60 frames a second).');
    this.speedOutput = h('output', { class: 'speed-value' }, String(this.speed));
    this.speedInput.addEventListener('input', () => {
      this.speed = Number(this.speedInput.value);
      this.speedOutput.textContent = String(this.speed);
    });
    this.stepOutput = h('output', { class: 'step-count', 'aria-live': 'off' }, 'step 0');
    this.element = h(
      'div',
      { class: 'transport' },
      this.playButton,
      h('button', { type: 'button', onclick: () => this.stepOnce(), 'aria-keyshortcuts': '.', 'aria-description': 'Trains every run one step (key: period).' }, 'Step'),
      h('button', { type: 'button', onclick: () => this.reset(), 'aria-keyshortcuts': 'r', 'aria-description': 'Every run back to step 0 (key: r).' }, 'Reset'),
      h('label', { class: 'speed' }, h('span', { class: 'speed-word' }, 'Speed'), this.speedInput, this.speedOutput, h('span', { class: 'unit' }, 'steps/frame')),
      this.stepOutput,
    );
    this.bindKeys();
  }

  /** Space plays or pauses, `.` steps, `r` resets: while the focus is in the playground and not
   * in a field that takes text or a control that uses the key itself. */
  bindKeys() {
    this.view.root.addEventListener('keydown', (event) => {
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

  // ---- The loop ----

  schedule() {
    if (this.view.destroyed) return;
    if (!this.raf) this.raf = requestAnimationFrame(this.frame);
  }

  /** Marks every plot stale and asks for a frame. */
  invalidate() {
    this.dirty = true;
    this.view.figures.markStale();
    this.schedule();
  }

  frame() {
    const { view } = this;
    const { backend } = view;
    this.raf = 0;
    const start = performance.now();
    if (this.playing && this.stopAt !== null && this.currentStep >= this.stopAt && !this.pending) {
      if (this.loop) {
        view.pg.reset();
        this.currentStep = 0;
        this.invalidate();
      } else {
        // Done: Play again trains on, past `stopAt` (the limit is autoplay's, not the reader's).
        this.stopAt = null;
        this.pause();
        view.emit('dpo-finished', { step: this.currentStep });
      }
    }
    // Off screen, a playing playground holds its training until it is seen again.
    const training = this.playing && view.onScreen !== false;
    if (this.playing) this.stats.playFrames += 1;
    if (training && !backend.asyncStep) {
      // Keep a frame responsive on large scenarios: train at most what fits in ~12 ms, going by
      // the measured cost of a step (the speed setting is the upper bound), and not past `stopAt`.
      const affordable = this.stepCost ? Math.max(1, Math.floor(12 / this.stepCost)) : 1;
      const steps = Math.min(this.speed, affordable, this.stepsLeft());
      const before = performance.now();
      view.pg.step(steps);
      this.currentStep += steps;
      const cost = (performance.now() - before) / steps;
      this.stepCost = this.stepCost ? 0.8 * this.stepCost + 0.2 * cost : cost;
      this.costSamples += 1;
      backend.reconsider();
      view.pg.record();
      this.invalidate();
    }
    // Draw before launching the next GPU step: once it is in flight the engine is busy until it
    // lands, and launching first would starve drawing while playing.
    if (this.dirty && !this.pending) this.render(start);
    if (training && backend.asyncStep) {
      // A GPU step still in flight: skip this frame's training rather than queue another.
      if (this.pending) this.stats.skippedFrames += 1;
      else {
        const steps = Math.min(this.speed, this.stepsLeft());
        this.pending = view.pg.stepAsync(steps).then(
          () => {
            this.pending = null;
            this.currentStep += steps;
            view.pg.record();
            this.invalidate();
          },
          (error) => {
            this.pending = null;
            backend.useCpu(`the WebGPU step failed (${error.message ?? error})`);
          },
        );
      }
    }
    if (training || this.dirty) this.schedule();
  }

  /** Steps before `stopAt` (at least 1, so that a frame always trains; none past it). */
  stepsLeft() {
    return this.stopAt === null ? Infinity : Math.max(1, this.stopAt - this.currentStep);
  }

  /** Updates the text views from a snapshot, then redraws stale visible canvases within a budget. */
  render(start) {
    const { view } = this;
    const snapshot = view.pg.snapshot();
    view.tables.update(snapshot);
    view.editors.update(snapshot);
    view.knobs.update(snapshot);
    const step = snapshot.runs.reduce((max, run) => Math.max(max, run.step), 0);
    this.currentStep = step;
    this.stepOutput.textContent = `step ${step}`;
    view.stepped(step, snapshot);
    if (step > 0 && this.stats.firstTrainedFrame === null) {
      this.stats.firstTrainedFrame = performance.now();
      performance.mark('dpo-first-trained-frame');
    }
    this.dirty = view.figures.drawStale(start + DRAW_BUDGET_MS, this.playing);
    this.stats.frames += 1;
    this.stats.drawMs += performance.now() - start;
  }

  /** Resolves once no WebGPU step is in flight (a step launched before a pause still lands). */
  async settled() {
    while (this.pending) await this.pending.catch(() => {});
  }

  // ---- The buttons ----

  setPlayLabel() {
    this.playButton.replaceChildren(h('span', { class: 'icon-glyph', 'aria-hidden': 'true' }, this.playing ? '❚❚' : '▶'), this.playing ? 'Pause' : 'Play');
  }

  play() {
    if (this.playing) return;
    this.playing = true;
    this.setPlayLabel();
    this.view.root.dataset.playing = '';
    this.schedule();
  }

  pause() {
    this.playing = false;
    this.setPlayLabel();
    delete this.view.root.dataset.playing;
    // Charts off screen were skipped while playing: let them catch up now.
    this.dirty = true;
    this.schedule();
  }

  async stepOnce() {
    const { view } = this;
    if (!view.backend.asyncStep) {
      view.pg.step(1);
      view.pg.record();
      this.invalidate();
      return;
    }
    // On WebGPU a step lands later: count the presses, and let one loop train them all, so that
    // pressing Step three times always trains three steps.
    this.queuedSteps = (this.queuedSteps ?? 0) + 1;
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.queuedSteps > 0 && view.backend.asyncStep) {
        await this.settled();
        const steps = this.queuedSteps;
        this.queuedSteps = 0;
        this.pending = view.pg.stepAsync(steps);
        try {
          await this.pending;
        } catch (error) {
          this.pending = null;
          await view.backend.useCpu(`the WebGPU step failed (${error.message ?? error})`);
          // The CPU continues from the last state read back and trains the steps asked for.
          view.pg.step(steps);
          view.pg.record();
          this.invalidate();
          return;
        }
        this.pending = null;
        view.pg.record();
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
    this.view.pg.reset();
    this.view.note('');
    this.invalidate();
  }
}
