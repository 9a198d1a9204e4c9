// The backend of one playground: the CPU engine or WebGPU, as asked (`cpu`, `webgpu`) or chosen
// automatically (`auto`: WebGPU only where it is faster for the scenario at hand), the switch
// between them, and the element that says which one trains and why.

import { Playground } from './pkg/dpo_playground.js';
import { h } from './dom.js';
import { probeAdapter } from './engine.js';
import { scenarioText } from './state.js';

const MODES = ['auto', 'cpu', 'webgpu'];
/** A WebGPU frame's fixed cost, in ms: submitting the steps and awaiting the state read back
 * (about 1 to 3 ms in Chromium on a discrete GPU, more on an emulated one). Where a frame of CPU
 * training takes less, the CPU is faster, whatever the GPU's arithmetic speed. */
const GPU_ROUND_TRIP_MS = 3;
/** How much slower the wasm engine is than the native build `estimateStepMs` is calibrated on. */
const WASM_SLOWDOWN = 2;

/** Why WebGPU cannot be tried for `pg`, or null when it can. */
async function gpuUnavailable(pg) {
  if (!(await probeAdapter())) return 'WebGPU is not available in this browser';
  if (typeof pg.useGpu !== 'function') return 'this build of the engine has no WebGPU backend';
  return null;
}

/** A duration in ms as the backend element writes it. */
function formatMs(ms) {
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
    // In `auto`, whether the CPU was chosen as the faster, and at which played frame.
    this.autoCpu = false;
    this.autoSince = 0;
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
    this.gpuReason = await gpuUnavailable(view.pg);
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
      if (frame < GPU_ROUND_TRIP_MS) {
        this.autoCpu = true;
        this.autoSince = view.transport.stats.playFrames;
        return cpu(`faster for this scenario (about ${formatMs(frame)} of training a frame); WebGPU available`);
      }
    }
    if (this.kind === 'webgpu') return;
    try {
      const result = await view.pg.useGpu();
      if (result?.ok && typeof view.pg.stepAsync === 'function') {
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
    if (this.view.transport.stats.playFrames - this.autoSince < 30) return;
    if (this.cpuFrameMs() > 2 * GPU_ROUND_TRIP_MS) this.choose('auto');
  }

  /** Another scenario was loaded: in `auto`, choose again for its size. */
  scenarioChanged() {
    if (this.mode !== 'auto') return;
    // Another scenario, another size: the CPU's measured step cost no longer applies. Chosen
    // in a task of its own: starting WebGPU for a large scenario builds its buffers.
    this.view.transport.stepCost = null;
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

  /** Back to the CPU: through the engine when it can switch, else a fresh engine (runs restart). */
  async useCpu(reason) {
    const { view } = this;
    if (view.transport.pending) await view.transport.pending.catch(() => {});
    this.asyncStep = false;
    if (typeof view.pg.useCpu === 'function') view.pg.useCpu();
    else if (view.pg.backend !== 'cpu') {
      view.pg.free?.();
      view.pg = new Playground(scenarioText(view.model));
      view.note('Switched to the CPU; the runs restarted.');
    }
    this.show('cpu', reason);
    view.transport.invalidate();
  }
}
