// Browser benchmark (printed figures, not a test): the engine's training step in wasm, in headless
// Chromium, beside the same step natively, workload by workload.
//
// For each workload `dpo bench --workload W --scenario` prints the workload as a scenario file;
// the page loads it into the wasm module's `Playground` and times `step(n)` (the CPU engine's
// `RunSet::step`, nothing else: no metrics, no drawing), the median of 15 timed batches after a
// warm-up, as `dpo bench` times it natively (`dpo bench --json --workload W`). Both sides build
// their runs from the same scenario text, so they train the same numbers.
//
// Run through `cargo xtask bench --browser`, which builds the release `dpo` and the static site and
// serves it (DPO_BASE_URL, DPO_BIN). DPO_BENCH_REPEATS (default 3) repeats the whole comparison
// and prints each figure's range.

import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';

const BASE = process.env.DPO_BASE_URL;
const BIN = process.env.DPO_BIN;
const REPEATS = Number(process.env.DPO_BENCH_REPEATS ?? '3');
const CHROMIUM = process.env.DPO_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const WORKLOADS = (process.env.DPO_BENCH_WORKLOADS ?? 'classroom,default,learning-table,sweep').split(',');

const dpo = (...args) => execFileSync(BIN, args, { encoding: 'utf8', maxBuffer: 1 << 28 });

/** Native seconds per step of `workload`, from `dpo bench --json`. */
function nativeStep(workload) {
  // One thread natively, as the page has: the ratio is the code's, not the core count's.
  const report = JSON.parse(execFileSync(BIN, ['bench', '--json', '--workload', workload], { encoding: 'utf8', env: { ...process.env, RAYON_NUM_THREADS: '1' } }));
  return report.workloads[0].seconds_per_step;
}

/** In the page: the wasm module's seconds per step of the scenario `text`. */
async function wasmStep(page, text) {
  return page.evaluate(async (text) => {
    const engine = await import('/www/pkg/dpo_playground.js');
    await engine.default({ module_or_path: '/www/pkg/dpo_playground_bg.wasm' });
    const playground = new engine.Playground(text);
    // A batch long enough (about 20 ms) that the timer's resolution does not matter.
    let steps = 1;
    for (;;) {
      const started = performance.now();
      playground.step(steps);
      if (performance.now() - started > 20 || steps >= 1 << 24) break;
      steps *= 2;
    }
    const times = [];
    for (let i = 0; i < 15; i++) {
      const started = performance.now();
      playground.step(steps);
      times.push((performance.now() - started) / 1000 / steps);
    }
    playground.free();
    times.sort((a, b) => a - b);
    return times[7];
  }, text);
}

const format = (seconds) => (seconds < 1e-3 ? `${(seconds * 1e6).toFixed(2)} µs` : `${(seconds * 1e3).toFixed(3)} ms`);
const range = (values) => {
  const low = Math.min(...values);
  const high = Math.max(...values);
  return { low, high };
};

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
const page = await browser.newPage();
// Any document of the site's origin will do: the module is imported from it.
await page.goto(`${BASE}www/page.css`);
const version = browser.version();
const results = {};
for (const workload of WORKLOADS) {
  const text = dpo('bench', '--workload', workload, '--scenario');
  results[workload] = { native: [], wasm: [], ratio: [] };
  for (let r = 0; r < REPEATS; r++) {
    const native = nativeStep(workload);
    const wasm = await wasmStep(page, text);
    results[workload].native.push(native);
    results[workload].wasm.push(wasm);
    results[workload].ratio.push(wasm / native);
  }
}
await browser.close();

// The last column divides each side's fastest round: on a machine shared with other work a round
// can only be slowed down, never sped up, so the fastest rounds are the nearest to the code's own
// speed, and their ratio varies far less than the rounds' ratios do.
console.log(`wasm (headless Chromium ${version}, SIMD) against native, CPU engine, seconds per step, ${REPEATS} repeats:`);
console.log('| workload | native | wasm | wasm / native, by round | fastest / fastest |');
console.log('|---|---|---|---|---|');
for (const [workload, r] of Object.entries(results)) {
  const native = range(r.native);
  const wasm = range(r.wasm);
  const ratio = range(r.ratio);
  console.log(
    `| ${workload} | ${format(native.low)}-${format(native.high)} | ${format(wasm.low)}-${format(wasm.high)} | ${ratio.low.toFixed(2)}x-${ratio.high.toFixed(2)}x | ${(wasm.low / native.low).toFixed(2)}x |`,
  );
}
if (process.env.DPO_BENCH_JSON) console.log(JSON.stringify(results));
