// Where the page's module spends a training step (printed, not a test): Chromium's sampling CPU
// profiler over `Playground.step` on a scenario file, each function's share of the samples.
//
//   cargo xtask serve --port 8000 &            # the module as built, with its function names
//   ./target/release/dpo bench --workload sweep --scenario > /tmp/sweep.json
//   DPO_BASE_URL=http://127.0.0.1:8000/ node bench/profile.mjs /tmp/sweep.json
//
// Serve the sources (`serve`, not `serve --dist`): `dist` strips the names. Prints each
// function's share of the samples, then the largest call paths (a closure or a generic function
// called from several places is told apart by its callers). A loop body inlined into its caller
// is counted as the caller; mark a function `#[inline(never)]` for a moment to see it apart.

import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const [file, seconds = '4'] = process.argv.slice(2);
if (!file || !process.env.DPO_BASE_URL) {
  console.error('usage: DPO_BASE_URL=http://127.0.0.1:PORT/ node bench/profile.mjs SCENARIO.json [SECONDS]');
  process.exit(2);
}
const text = readFileSync(file, 'utf8');
const browser = await chromium.launch({
  executablePath: process.env.DPO_CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  const page = await browser.newPage();
  await page.goto(new URL('www/page.css', process.env.DPO_BASE_URL).href);
  await page.evaluate(async (text) => {
    const engine = await import('/www/pkg/dpo_playground.js');
    await engine.default({ module_or_path: '/www/pkg/dpo_playground_bg.wasm' });
    globalThis.playground = new engine.Playground(text);
    // Warm up, so that the samples are of the optimised code.
    globalThis.playground.step(50);
  }, text);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 100 });
  await cdp.send('Profiler.start');
  await page.evaluate((ms) => {
    const started = performance.now();
    while (performance.now() - started < ms) globalThis.playground.step(20);
  }, Number(seconds) * 1000);
  const { profile } = await cdp.send('Profiler.stop');
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const samples = new Map();
  for (const id of profile.samples) {
    const frame = nodes.get(id).callFrame;
    const name = frame.functionName || frame.url || '(anonymous)';
    samples.set(name, (samples.get(name) ?? 0) + 1);
  }
  const total = profile.samples.length;
  const share = (count) => `${((100 * count) / total).toFixed(1).padStart(5)}%`;
  console.log('Each function, by its own samples:');
  for (const [name, count] of [...samples].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
    console.log(`${share(count)}  ${name.slice(0, 150)}`);
  }
  // The same samples by call path, the sampled function and its three callers: a function that
  // several places call (a generic one, a closure) shows which of them it was called from.
  const parents = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
  const short = (id) => (nodes.get(id).callFrame.functionName || '(anonymous)').replace(/::h[0-9a-f]{16}$/, '').slice(-70);
  const paths = new Map();
  for (const id of profile.samples) {
    const path = [];
    for (let at = id; at !== undefined && path.length < 4; at = parents.get(at)) path.push(short(at));
    const key = path.join('  <-  ');
    paths.set(key, (paths.get(key) ?? 0) + 1);
  }
  console.log('\nBy call path (the function, then its callers):');
  for (const [path, count] of [...paths].sort((a, b) => b[1] - a[1]).slice(0, 15)) {
    console.log(`${share(count)}  ${path}`);
  }
} finally {
  await browser.close();
}
