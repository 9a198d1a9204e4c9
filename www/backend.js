// The backend of one playground: the CPU engine or WebGPU, as asked (`cpu`, `webgpu`) or chosen
// automatically (`auto`: WebGPU only where it is faster for the scenario at hand), the switch
// between them, and the element that says which one trains and why.

import { h } from './dom.js';
import { loadGpu, probeAdapter } from './engine.js';

const MODES = ['auto', 'cpu', 'webgpu'];
/** A WebGPU frame's fixed cost, in ms: submitting the steps and awaiting the state read back
 * (about 1 to 3 ms in Chromium on a discrete GPU, more on an emulated one). Where a frame of CPU
 * training takes less, the CPU is faster, whatever the GPU's arithmetic speed. */
export const GPU_ROUND_TRIP_MS = 3;
/** How far past a round trip the engine's estimate of a CPU frame must be for the automatic
 * choice to start WebGPU before the CPU has measured a frame (the estimate is calibrated
 * natively and can be several times off in a browser). */
const ESTIMATE_MARGIN = 10;
/** CPU frames measured before their cost decides anything. */
const SETTLED_FRAMES = 30;
/** How much slower the wasm engine is than the native build `estimateStepMs` is calibrated on. */
const WASM_SLOWDOWN = 2;

/** Why WebGPU cannot be tried for `pg`, or null when it can. */
async function gpuUnavailable() {
  if (!(await probeAdapter())) return 'WebGPU is not available in this browser';
  return null;
}

/** A duration in ms as the backend element writes it. */
export function formatMs(ms) {
  return ms < 0.1 ? `${ms.toFixed(3)} ms` : ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

export class Backend {
  constructor(view) {
    this.view = view;
    // What trains now (`cpu` or `webgpu`; unset until the first choice) and what was asked.
    this.kind = undefined;
    this.mode = 'auto';
    // Whether steps go through the engine's `stepAsync` (WebGPU) rather than `step`.
    this.asyncStep = false;
    // Why WebGPU cannot be tried here (null when it can), once asked.
    this.gpuReason = null;
    // In `auto`, whether the CPU was chosen as the faster, and how many frames it has trained
    // (measured) since.
    this.autoCpu = false;
    this.cpuFrames = 0;
    this.label = h('span', { class: 'backend', 'data-backend': 'cpu' }, 'CPU');
    this.button = h('button', { type: 'button', class: 'small', onclick: () => this.toggle() }, 'Use WebGPU');
    this.element = h('div', { class: 'backend-box' }, this.label, this.button);
  }

  /** Starts with the backend `mode` asks for (`auto` when it names none of the three). */
  start(mode = 'auto') {
    this.mode = mode;
    if (!MODES.includes(this.mode)) {
      this.view.note(`The backend “${this.mode}” is not auto, cpu or webgpu; choosing automatically.`, 'error');
      this.mode = 'auto';
    }
    this.choose(this.mode);
  }

  show(kind, detail) {
    this.kind = kind;
    this.label.dataset.backend = kind;
    this.label.textContent = kind === 'webgpu' ? `Backend: WebGPU${detail ? ` (${detail})` : ''}` : `Backend: CPU${detail ? ` — ${detail}` : ''}`;
    this.button.textContent = kind === 'webgpu' ? 'Use CPU' : 'Use WebGPU';
    this.button.disabled = kind === 'cpu' && Boolean(this.gpuReason);
  }

  /** The CPU's training time per frame at the current speed, in ms: measured once the CPU has
   * trained, else the engine's estimate (calibrated natively; wasm is slower). */
  cpuFrameMs() {
    const { transport, pg } = this.view;
    const perStep = transport.stepCost ?? pg.estimateStepMs() * WASM_SLOWDOWN;
    return perStep * transport.speed;
  }

  /**
   * Picks the backend: `cpu` or `webgpu` as asked (WebGPU falling back to the CPU when it cannot
   * start), or `auto`: WebGPU only where it is faster for this scenario, that is, where a frame
   * of CPU training takes longer than a WebGPU round trip. The backend element says which and why.
   */
  choose(mode) {
    // Kept, so that a playground being destroyed can wait for a choice under way (it may be
    // starting WebGPU on the engine's runs).
    this.choosing = this.chooseNow(mode);
    return this.choosing;
  }

  async chooseNow(mode) {
    const { view } = this;
    if (view.destroyed) return;
    this.autoCpu = false;
    if (this.kind !== 'webgpu') this.show('cpu', 'trying WebGPU…');
    this.button.disabled = true;
    this.gpuReason = await gpuUnavailable();
    // Destroyed meanwhile (an embed rebuilt for a changed attribute): nothing left to choose for.
    if (view.destroyed) return;
    const cpu = async (detail) => {
      if (this.kind === 'webgpu' || this.asyncStep) await this.useCpu(detail);
      this.asyncStep = false;
      this.show('cpu', detail);
    };
    if (mode === 'cpu') return cpu('chosen by you');
    if (this.gpuReason) return cpu(this.gpuReason);
    if (mode === 'auto') {
      const frame = this.cpuFrameMs();
      // A few frames' cost is not a measurement yet: the first steps run cold (the module's
      // code not yet optimised by the browser), often ten times slower than later ones.
      const measured = view.transport.costSamples >= SETTLED_FRAMES;
      // Only an estimate so far, and not far past a round trip: the CPU trains first and its
      // measured frames decide (`reconsider`), so a small scenario never downloads the WebGPU
      // module on a guess.
      if (frame < GPU_ROUND_TRIP_MS || (!measured && frame < ESTIMATE_MARGIN * GPU_ROUND_TRIP_MS)) {
        this.autoCpu = true;
        this.cpuFrames = 0;
        return cpu(
          frame < GPU_ROUND_TRIP_MS
            ? `faster for this scenario (about ${formatMs(frame)} of training a frame); WebGPU available`
            : `starting on the CPU (about ${formatMs(frame)} of training a frame so far); WebGPU available`,
        );
      }
    }
    if (this.kind === 'webgpu') return;
    try {
      // The WebGPU module comes with the first start on the page; the engine hands it the runs.
      const gpu = await loadGpu();
      if (view.destroyed) return;
      const result = await view.pg.useGpu((scenario, states) => gpu.GpuTrainer.open(scenario, states));
      if (result?.ok) {
        this.asyncStep = true;
        const why = mode === 'auto' ? `faster for this scenario than the CPU’s ${formatMs(this.cpuFrameMs())} a frame` : 'chosen by you';
        this.show('webgpu', [result.adapter, why].filter(Boolean).join('; '));
      } else {
        this.asyncStep = false;
        this.show('cpu', result?.reason || 'WebGPU could not start');
      }
    } catch (error) {
      this.asyncStep = false;
      this.show('cpu', `WebGPU could not start (${error.message ?? error})`);
    }
  }

  /** In `auto`, once the CPU's measured frame time has outgrown a WebGPU round trip, try WebGPU. */
  reconsider() {
    if (this.mode !== 'auto' || !this.autoCpu || this.gpuReason) return;
    // Called once per frame the CPU trained: SETTLED_FRAMES of them first, so that the measured
    // cost has settled (a frame played off screen trains nothing and measures nothing).
    this.cpuFrames += 1;
    if (this.cpuFrames < SETTLED_FRAMES) return;
    const frame = this.cpuFrameMs();
    if (frame > 2 * GPU_ROUND_TRIP_MS) this.choose('auto');
    else if (this.cpuFrames === SETTLED_FRAMES && /starting on the CPU/.test(this.label.textContent)) {
      // Measured now, and the CPU keeps training: say so instead of "starting".
      this.show('cpu', `faster for this scenario (about ${formatMs(frame)} of training a frame); WebGPU available`);
    }
  }

  /** Another scenario was loaded: in `auto`, choose again for its size. */
  scenarioChanged() {
    if (this.mode !== 'auto') return;
    // Another scenario, another size: the CPU's measured step cost no longer applies. Chosen
    // in a task of its own: starting WebGPU for a large scenario builds its buffers.
    this.view.transport.stepCost = null;
    this.view.transport.costSamples = 0;
    setTimeout(() => {
      if (!this.view.destroyed) this.choose('auto');
    }, 0);
  }

  /** The button: from WebGPU to the CPU and back, as the user's choice. */
  async toggle() {
    this.mode = this.kind === 'webgpu' ? 'cpu' : 'webgpu';
    if (this.kind === 'webgpu') await this.useCpu('chosen by you');
    else await this.choose('webgpu');
  }

  /** Back to the CPU: the runs continue from the last state WebGPU read back. */
  async useCpu(reason) {
    const { view } = this;
    if (view.transport.pending) await view.transport.pending.catch(() => {});
    this.asyncStep = false;
    view.pg.useCpu();
    this.show('cpu', reason);
    view.transport.invalidate();
  }
}
