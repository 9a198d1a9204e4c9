// Soak benchmark (printed figures, not a test): does memory stay flat over long training?
//
//  1. `dpo run` for DPO_SOAK_STEPS steps (default 10^7) of the default preset with
//     `--csv --every 1000`, its resident memory sampled from /proc every 200 ms.
//  2. The page training the default scenario for DPO_SOAK_MINUTES minutes (default 10) on each
//     backend (headless Chromium without WebGPU, then with SwiftShader's WebGPU), sampling the
//     wasm memory, the JS heap and the step count every 15 s.
//
// Run through `cargo xtask soak [--minutes M] [--steps N]`, which builds the release `dpo` and the
// static site and serves it (DPO_BASE_URL, DPO_BIN).

import { spawn } from 'node:child_process';
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.DPO_BASE_URL;
const BIN = process.env.DPO_BIN;
const STEPS = process.env.DPO_SOAK_STEPS ?? '10000000';
const MINUTES = Number(process.env.DPO_SOAK_MINUTES ?? '10');
const CHROMIUM = process.env.DPO_CHROMIUM ?? '/usr/bin/chromium';
const COMMON_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const WEBGPU_ARGS = ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader'];

const mib = (bytes) => (bytes / 2 ** 20).toFixed(1);

/** Resident memory of a process in bytes, from /proc (Linux). */
function rss(pid) {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
    return Number(line.split(/\s+/)[1]) * 1024;
  } catch {
    return null;
  }
}

async function soakCommandLine() {
  const dir = mkdtempSync(join(tmpdir(), 'dpo-soak-'));
  const csv = join(dir, 'metrics.csv');
  const args = ['run', 'preset:default', '--steps', STEPS, '--csv', csv, '--every', '1000', '--quiet'];
  const started = performance.now();
  const child = spawn(BIN, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const samples = [];
  const timer = setInterval(() => {
    const bytes = rss(child.pid);
    if (bytes !== null) samples.push({ at: performance.now() - started, bytes });
  }, 200);
  const code = await new Promise((resolve) => child.on('exit', resolve));
  clearInterval(timer);
  const seconds = (performance.now() - started) / 1000;
  const rows = readFileSync(csv, 'utf8').split('\n').length - 2;
  // Growth: from the first sample after a tenth of the run to the last one.
  const settled = samples.find((s) => s.at > (seconds * 1000) / 10) ?? samples[0];
  const last = samples[samples.length - 1];
  const peak = Math.max(...samples.map((s) => s.bytes));
  console.log(`cli: dpo ${args.join(' ')}`);
  console.log(`cli: exit=${code} seconds=${seconds.toFixed(1)} csv_rows=${rows} samples=${samples.length}`);
  console.log(`cli: rss_first_mib=${mib(samples[0].bytes)} rss_peak_mib=${mib(peak)} rss_last_mib=${mib(last.bytes)} growth_after_first_tenth_mib=${mib(last.bytes - settled.bytes)}`);
}

async function soakPage(name, args) {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(BASE);
  await page.waitForFunction(() => document.querySelector('[data-dpo-playground]')?.dpoPlayground);
  // Let the backend settle (the page picks WebGPU when it has an adapter).
  await page.waitForTimeout(2000);
  const backend = await page.evaluate(() => document.querySelector('[data-backend]')?.dataset.backend ?? 'unknown');
  await page.evaluate(() => document.querySelector('[data-dpo-playground]').dpoPlayground.play());
  const sample = () =>
    page.evaluate(() => {
      const p = document.querySelector('[data-dpo-playground]').dpoPlayground;
      const step = Number(document.querySelector('.step-count').textContent.replace(/\D/g, ''));
      return { wasm: p.memoryBytes(), heap: performance.memory?.usedJSHeapSize ?? 0, step, frames: p.stats.playFrames, at: performance.now() };
    });
  const samples = [await sample()];
  const end = Date.now() + MINUTES * 60_000;
  while (Date.now() < end) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(15_000, end - Date.now())));
    samples.push(await sample());
  }
  await browser.close();
  const first = samples[0];
  const last = samples[samples.length - 1];
  const settled = samples[Math.min(samples.length - 1, 2)];
  const fps = ((last.frames - first.frames) * 1000) / (last.at - first.at);
  console.log(`page ${name} (${backend}): minutes=${MINUTES} steps=${last.step} fps=${fps.toFixed(1)}`);
  console.log(
    `page ${name}: wasm_first_mib=${mib(first.wasm)} wasm_peak_mib=${mib(Math.max(...samples.map((s) => s.wasm)))} wasm_last_mib=${mib(last.wasm)} ` +
      `heap_first_mib=${mib(first.heap)} heap_peak_mib=${mib(Math.max(...samples.map((s) => s.heap)))} heap_last_mib=${mib(last.heap)} ` +
      `heap_growth_after_30s_mib=${mib(last.heap - settled.heap)}`,
  );
}

if (!BASE || !BIN) throw new Error('run through `cargo xtask soak` (it sets DPO_BASE_URL and DPO_BIN)');
await soakCommandLine();
if (MINUTES > 0) {
  await soakPage('without WebGPU', COMMON_ARGS);
  await soakPage('with WebGPU', [...COMMON_ARGS, ...WEBGPU_ARGS]);
}
