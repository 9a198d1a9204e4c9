// What every playground on a page shares: the compiled wasm module, loaded once; the WebGPU
// module, loaded once and only when a playground trains on WebGPU; and the answer to whether the
// browser gives WebGPU an adapter, asked once. Everything else belongs to an instance.

import init, { defaultScenario } from './pkg/dpo_playground.js';

let engineReady = null;
/** The module's linear memory, once instantiated (its size is reported in `stats`). */
let engineMemory = null;

/** Loads and instantiates the wasm module once per page; every instance awaits the same promise.
 * The module's URL is given explicitly: the generated glue may be built without a default path. */
export function loadEngine() {
  engineReady ??= init({ module_or_path: new URL('./pkg/dpo_playground_bg.wasm', import.meta.url) }).then((exports) => {
    engineMemory = exports.memory;
    return exports;
  });
  return engineReady;
}

/** Bytes of the wasm module's memory (shared by every playground on the page), 0 before it loads. */
export function memoryBytes() {
  return engineMemory?.buffer.byteLength ?? 0;
}

/** Preset texts by id, as promises (shared by every playground on the page), and the texts
 * once fetched. */
const presetTexts = new Map();
const fetchedTexts = new Map();

/** The text of shipped preset `id`. The engine's module lists the presets (`presets()`) and holds
 * only the default's text: the files are fetched one at a time, when a playground loads one. A
 * failed fetch is an error that names the preset, and is tried again the next time. */
export function presetText(id) {
  if (id === 'default') return Promise.resolve(defaultScenario());
  if (!presetTexts.has(id)) {
    const text = fetch(new URL(`./pkg/presets/${encodeURIComponent(id)}.json`, import.meta.url)).then(async (response) => {
      if (!response.ok) throw new Error(`the preset “${id}” could not be fetched (HTTP ${response.status})`);
      const body = await response.text();
      fetchedTexts.set(id, body);
      return body;
    });
    text.catch(() => presetTexts.delete(id));
    presetTexts.set(id, text);
  }
  return presetTexts.get(id);
}

/** The id of the shipped preset whose text `text` is, exactly: the default or one fetched on
 * this page; '' for any other text. */
export function presetIdOf(text) {
  if (text === defaultScenario()) return 'default';
  for (const [id, fetched] of fetchedTexts) if (fetched === text) return id;
  return '';
}

let gpuReady = null;

/** The WebGPU module (`wgpu` and the kernels, `GpuTrainer`), loaded once per page, when the first
 * playground starts WebGPU; a page that trains on the CPU never downloads it. A failed load is
 * tried again at the next start. */
export function loadGpu() {
  gpuReady ??= import('./pkg/dpo_gpu.js').then(async (gpu) => {
    await gpu.default({ module_or_path: new URL('./pkg/dpo_gpu_bg.wasm', import.meta.url) });
    return gpu;
  });
  gpuReady.catch(() => {
    gpuReady = null;
  });
  return gpuReady;
}

let adapterProbe = null;

/** Whether the browser gives WebGPU an adapter. Chromium may expose `navigator.gpu` and still
 * have none (no flags, no GPU), so asking is the only test; asked once per page. */
export function probeAdapter() {
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
