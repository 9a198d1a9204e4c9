// End-to-end tests of the playground in headless Chromium, with WebGPU (SwiftShader) and without.
// The static server's base URL comes from DPO_BASE_URL (`cargo xtask test` starts the server and
// sets it). Run: DPO_BASE_URL=http://127.0.0.1:8000/ node --test tests/e2e/
//
// Besides the assertions, the WebGPU-less pass prints the performance figures the README reports
// (`first_frame_ms=`, `fps=`, `site_gzip_kb=`) and both passes save a screenshot under
// tests/e2e/artifacts/.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { gzipSync, inflateRawSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const BASE = process.env.DPO_BASE_URL;
if (!BASE) throw new Error('set DPO_BASE_URL to the static server serving the playground (e.g. http://127.0.0.1:8000/)');
const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));
const CHROMIUM = process.env.DPO_CHROMIUM ?? '/usr/bin/chromium';
const COMMON_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const WEBGPU_ARGS = ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader'];
const XSS = '<img src=x onerror=window.__pwned=1>';

/** base64url of UTF-8 text, as the page writes its `#s=` hash. */
function base64url(text) {
  return Buffer.from(text, 'utf8').toString('base64url');
}

const MODES = [
  { name: 'without WebGPU', args: COMMON_ARGS, webgpu: false, screenshot: 'playground.png' },
  { name: 'with WebGPU', args: [...COMMON_ARGS, ...WEBGPU_ARGS], webgpu: true, screenshot: 'playground-webgpu.png' },
];

for (const mode of MODES) {
  describe(`playground ${mode.name}`, () => {
    let browser;
    before(async () => {
      browser = await chromium.launch({ executablePath: CHROMIUM, args: mode.args });
    });
    after(async () => {
      await browser?.close();
    });

    /** Opens a page, collecting script errors; waits until every playground on it is mounted
     * and its backend has settled. */
    async function open(path = '', { viewport = { width: 1280, height: 900 }, init = null } = {}) {
      const page = await browser.newPage({ viewport });
      if (init) await page.addInitScript(init);
      page.setDefaultTimeout(8000);
      page.errors = [];
      page.on('pageerror', (error) => page.errors.push(error.stack ?? String(error)));
      page.on('console', (message) => {
        if (message.type() === 'error') page.errors.push(message.text());
      });
      // With WebGPU the tests ask for it: on its own the page picks the faster backend, which for
      // these small scenarios is the CPU (tested separately).
      const url = new URL(path, BASE);
      if (mode.webgpu && !url.searchParams.has('backend')) url.searchParams.set('backend', 'webgpu');
      await page.goto(url.href);
      await waitReady(page);
      return page;
    }

    async function waitReady(page) {
      await page.waitForFunction(() => {
        const roots = [...document.querySelectorAll('[data-dpo-playground]')];
        return roots.length > 0 && roots.every((root) => root.dpoPlayground && !/trying/.test(root.querySelector('span[data-backend]')?.textContent ?? 'trying'));
      });
    }

    /** The text of a metric in the metrics table: column found by its header, row by run index. */
    function metric(page, name, { run = 0, instance = 0 } = {}) {
      return page.evaluate(
        ({ name, run, instance }) => {
          const root = document.querySelectorAll('[data-dpo-playground]')[instance];
          const table = root.querySelector('table.metrics');
          const headers = [...table.querySelectorAll('thead th')].map((th) => th.textContent.trim());
          const column = headers.indexOf(name);
          if (column < 0) throw new Error(`no column ${name} in ${headers.join(', ')}`);
          return table.querySelectorAll('tbody tr')[run].children[column].textContent;
        },
        { name, run, instance },
      );
    }

    function playground(page, instance = 0) {
      return page.locator('[data-dpo-playground]').nth(instance);
    }

    /** Trains `n` single steps through the Step button, and waits for the table to show them. */
    async function stepTimes(page, n, instance = 0) {
      const target = Number(await metric(page, 'step', { instance })) + n;
      const step = playground(page, instance).getByRole('button', { name: 'Step', exact: true });
      for (let i = 0; i < n; i += 1) await step.click();
      await waitFor(async () => Number(await metric(page, 'step', { instance })) === target);
    }

    function scenarioOf(page) {
      return page.evaluate(() => JSON.parse(document.querySelector('[data-dpo-playground]').dpoPlayground.scenario()));
    }

    /** The scenario text in the page's hash ('' when there is none): `#z1=` (raw DEFLATE,
     * base64url; with `from=`, without the preset's title and description), `#s=` (the first
     * links' form) or `#preset=ID` (given as `preset:ID`). */
    async function hashScenario(page) {
      // The page's own address: the link is written with `history.replaceState`.
      const params = new URLSearchParams((await page.evaluate(() => location.hash)).slice(1));
      if (params.has('z1')) return inflateRawSync(Buffer.from(params.get('z1'), 'base64url')).toString('utf8');
      if (params.has('s')) return Buffer.from(params.get('s'), 'base64url').toString('utf8');
      if (params.has('preset')) return `preset:${params.get('preset')}`;
      return '';
    }

    async function waitFor(condition, timeout = 5000) {
      const end = Date.now() + timeout;
      while (!(await condition())) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${condition}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }

    function assertNoErrors(page) {
      assert.deepEqual(page.errors, [], `script errors on the page:\n${page.errors.join('\n')}`);
    }

    test('loads, plays, the metrics change, and the backend is shown', async () => {
      const page = await open();
      const backend = page.locator('span[data-backend]');
      await backend.waitFor({ state: 'visible' });
      const kind = await backend.getAttribute('data-backend');
      const text = await backend.textContent();
      assert.ok(['cpu', 'webgpu'].includes(kind), `data-backend is ${kind}`);
      const hasAdapter = await page.evaluate(async () => Boolean(await navigator.gpu?.requestAdapter()));
      assert.equal(hasAdapter, mode.webgpu, 'a WebGPU adapter exists exactly with the flags');
      if (!mode.webgpu) {
        assert.equal(kind, 'cpu');
        assert.match(text, /WebGPU is not available in this browser/);
        assert.ok(await page.getByRole('button', { name: 'Use WebGPU' }).isDisabled(), 'no WebGPU: the switch is disabled');
      } else {
        assert.equal(kind, 'webgpu', `with a WebGPU adapter the page trains on it (${text})`);
        // The user can switch back and forth.
        await page.getByRole('button', { name: 'Use CPU' }).click();
        await page.waitForSelector('span[data-backend="cpu"]');
        await page.getByRole('button', { name: 'Use WebGPU' }).click();
        await page.waitForSelector('span[data-backend="webgpu"]');
      }

      const before = await metric(page, 'loss', { run: 1 });
      const stepBefore = await metric(page, 'step');
      assert.equal(stepBefore, '0');
      const play = page.getByRole('button', { name: 'Play' });
      assert.equal(await play.evaluate((b) => b.tagName), 'BUTTON');
      await play.click();
      await page.getByRole('button', { name: 'Pause' }).waitFor();
      await page.waitForFunction(
        (before) => {
          const table = document.querySelector('table.metrics');
          const column = [...table.querySelectorAll('thead th')].findIndex((th) => th.textContent.trim() === 'loss');
          return table.querySelectorAll('tbody tr')[1].children[column].textContent !== before;
        },
        before,
        { timeout: 10_000 },
      );
      await page.getByRole('button', { name: 'Pause' }).click();
      await page.getByRole('button', { name: 'Play' }).waitFor();
      // On WebGPU a step launched before the pause still lands; after that the count must stay.
      await page.evaluate(() => document.querySelector('[data-dpo-playground]').dpoPlayground.settled());
      await page.waitForTimeout(100);
      const stepAfter = Number(await metric(page, 'step'));
      assert.ok(stepAfter > 0, `trained to step ${stepAfter}`);
      assert.notEqual(await metric(page, 'loss', { run: 1 }), before);
      // Paused means paused.
      await page.waitForTimeout(300);
      assert.equal(Number(await metric(page, 'step')), stepAfter);
      await page.getByRole('button', { name: 'Reset' }).click();
      await page.waitForFunction(() => document.querySelector('.step-count').textContent === 'step 0');
      assertNoErrors(page);
      await page.close();
    });

    test('editing a pair or the reference changes training', async () => {
      const page = await open();
      const root = playground(page);
      // All three runs' losses: an edit keeps the logits (on either backend), so DPO sees the new
      // reference (u != 0) while gamma = 0 does not.
      const losses = async () => (await Promise.all([0, 1, 2].map((run) => metric(page, 'loss', { run })))).join(' ');
      await stepTimes(page, 5);
      const original = await losses();
      assert.equal(await metric(page, 'step'), '5');

      // A pair: prefer A to D instead of A to C.
      await root.getByRole('button', { name: 'Reset' }).click();
      await waitFor(async () => (await metric(page, 'step')) === '0');
      await root.getByLabel('Pair 1 rejected output').selectOption({ label: 'D' });
      await stepTimes(page, 5);
      const editedPair = await losses();
      assert.notEqual(editedPair, original, 'a different pair trains differently');

      // The reference: type a weight; the bars show the normalised probabilities.
      await root.getByRole('button', { name: 'Reset' }).click();
      await waitFor(async () => (await metric(page, 'step')) === '0');
      await root.getByLabel('Reference weight of A', { exact: true }).fill('1.6');
      await page.waitForFunction(() => document.querySelector('.ref-percent').textContent === '72.7%');
      await stepTimes(page, 5);
      const editedReference = await losses();
      assert.notEqual(editedReference, editedPair, 'a different reference trains differently');

      // The bars are sliders: the keyboard moves them, and the others share the rest.
      const slider = root.getByRole('slider', { name: 'Reference probability of B' });
      const beforeB = Number(await slider.getAttribute('aria-valuenow'));
      await slider.focus();
      await page.keyboard.press('ArrowUp');
      await page.waitForFunction((b) => Number(document.querySelectorAll('.ref-track')[1].getAttribute('aria-valuenow')) > b, beforeB);
      const total = await page.evaluate(() => [...document.querySelectorAll('.ref-track')].reduce((sum, t) => sum + Number(t.getAttribute('aria-valuenow')), 0));
      assert.ok(Math.abs(total - 100) < 0.3, `the reference stays normalised (${total}%)`);
      // Dragging a bar works too.
      const box = await slider.boundingBox();
      await page.mouse.move(box.x + box.width / 2, box.y + box.height * 0.9);
      await page.mouse.down();
      await page.mouse.move(box.x + box.width / 2, box.y + box.height * 0.2, { steps: 4 });
      await page.mouse.up();
      const dragged = Number(await slider.getAttribute('aria-valuenow'));
      assert.ok(dragged > 70 && dragged < 90, `dragged B to ${dragged}%`);

      // An invalid edit: the error stands beside the field, the input keeps what was typed,
      // and training goes on with the last valid scenario.
      const weight = root.getByLabel('Pair 2 weight');
      await weight.fill('-3');
      const error = root.locator('.pair-row .field-error');
      await error.waitFor();
      assert.match(await error.textContent(), /positive/);
      assert.equal(await weight.inputValue(), '-3');
      assert.equal(await weight.getAttribute('aria-invalid'), 'true');
      assert.match(await root.locator('.dpo-status').textContent(), /pairs\[1\]\.weight/);
      await weight.fill('3');
      await error.waitFor({ state: 'detached' });

      // A change that needs a restart says so.
      await stepTimes(page, 2);
      await root.getByLabel('Initial policy').nth(1).selectOption('reference');
      // On either backend only the edited run restarts; the device takes the CPU's state.
      await page.waitForFunction(() => /“hinge” restarted \(new initial policy\) from step 0/.test(document.querySelector('.dpo-status').textContent));
      await waitFor(async () => (await metric(page, 'step', { run: 1 })) === '0');
      assert.equal(await metric(page, 'step', { run: 0 }), '7', 'the other runs keep their state (5 + 2 steps)');
      // And they train on from there, the restarted one from 0.
      await stepTimes(page, 3);
      assert.equal(await metric(page, 'step', { run: 1 }), '3');
      assert.equal(await metric(page, 'step', { run: 2 }), '10');
      assertNoErrors(page);
      await page.close();
    });

    const DPO = fileURLToPath(new URL('../../target/release/dpo', import.meta.url));

    /** Compares the page's runs (a snapshot's) after `steps` steps with `dpo run` on the page's
     * own scenario: the CPU in wasm is the same engine (identical up to printing); WebGPU agrees
     * to f32 noise. */
    async function assertAgreesWithCli(page, steps, label, tolerance = mode.webgpu ? 1e-5 : 1e-12) {
      assert.ok(existsSync(DPO), `build the command line first (cargo build --release): ${DPO}`);
      const { scenario, runs } = await page.evaluate(() => {
        const handle = document.querySelector('[data-dpo-playground]').dpoPlayground;
        return { scenario: handle.scenario(), runs: handle.playground.details().runs };
      });
      const report = JSON.parse(execFileSync(DPO, ['run', '-', '--steps', String(steps), '--json'], { input: scenario }));
      assert.equal(report.runs.length, runs.length, label);
      report.runs.forEach((cli, r) => {
        const run = runs[r];
        const where = `${label}, ${cli.name}`;
        assert.equal(run.step, steps, `${where}: step`);
        for (const key of ['loss', 'accuracy', 'reference_accuracy', 'kl', 'entropy', 'chosen_reward', 'rejected_reward', 'reward_margin']) {
          const difference = Math.abs(cli.metrics[key] - run.metrics[key]);
          assert.ok(difference <= tolerance * (1 + Math.abs(cli.metrics[key])), `${where} ${key}: page ${run.metrics[key]} vs dpo run ${cli.metrics[key]}`);
        }
        for (const cell of Object.keys(cli.metrics.learning_table)) {
          assert.equal(run.metrics.learning_table[cell].pairs, cli.metrics.learning_table[cell].pairs, `${where}: learning table ${cell}`);
        }
        // The learning table summed over the steps: the cells' sums, which the page's module adds
        // two lanes at a time with wasm SIMD. WebGPU does not sum it (the CPU engine does).
        if (!mode.webgpu) {
          for (const [cell, total] of Object.entries(cli.metrics.accumulated_table)) {
            const summed = run.metrics.accumulated_table[cell];
            assert.equal(summed.pairs, total.pairs, `${where}: summed learning table ${cell}, pairs`);
            assert.ok(Math.abs(summed.signal - total.signal) <= tolerance * (1 + Math.abs(total.signal)), `${where}: summed learning table ${cell}, signal ${summed.signal} vs ${total.signal}`);
          }
        }
        cli.policy.forEach((row, x) =>
          row.forEach((p, y) => assert.ok(Math.abs(p - run.policy[x][y]) <= tolerance, `${where}: policy[${x}][${y}] ${run.policy[x][y]} vs ${p}`)),
        );
      });
    }

    test('the numbers on the page agree with `dpo run` on the same scenario', async () => {
      const page = await open();
      await stepTimes(page, 20);
      await assertAgreesWithCli(page, 20, 'default');
      assertNoErrors(page);
      await page.close();
      // Every loss, on full batches and on minibatches of a size that is not a multiple of 4, and
      // both optimisers on 9 logits: the page's module computes the pairs' slopes and the update
      // of every logit four at a time with wasm SIMD and the rest one by one, and both must give
      // `dpo run`'s numbers (no preset trains IPO or momentum).
      const scenario = JSON.parse(execFileSync(DPO, ['preset', 'learning-table'], { encoding: 'utf8' }));
      scenario.outputs.push('I');
      scenario.reference = [[0.17, 0.18, 0.15, 0.12, 0.11, 0.09, 0.07, 0.06, 0.05]];
      scenario.pairs.push({ chosen: 'I', rejected: 'E' });
      const run = (name, loss, more = {}) => ({ name, loss, beta: 0.7, gamma: 0.7, seed: 5, init: { kind: 'random', scale: 1 }, optimizer: { kind: 'adam', lr: 0.05 }, ...more });
      scenario.runs = [
        run('IPO', 'ipo'),
        run('IPO, batches of 7', 'ipo', { batch_size: 7 }),
        run('DPO, batches of 5', 'logistic', { batch_size: 5 }),
        run('hinge, batches of 6', 'hinge', { batch_size: 6 }),
        run('DPO, SGD with momentum', 'logistic', { optimizer: { kind: 'sgd', lr: 0.3, momentum: 0.9 } }),
      ];
      const losses = await open(`#s=${base64url(JSON.stringify(scenario))}`);
      await stepTimes(losses, 15);
      await assertAgreesWithCli(losses, 15, 'every loss');
      assertNoErrors(losses);
      await losses.close();
    });

    test('the Sweep panel trains a sweep as `dpo sweep` does, and exports its statistics', async () => {
      const page = await open('#preset=gamma-sweep');
      const root = playground(page);
      await root.locator('summary', { hasText: 'Sweep: many seeds and settings' }).click();
      assert.equal(await root.getByLabel('Setting to sweep').inputValue(), 'gamma_over_beta', 'the form starts from the scenario’s sweep');
      await root.getByLabel('Values (comma-separated)').fill('0, 2, 20');
      await root.getByLabel('Seeds per setting').fill('3');
      await root.getByLabel('Steps per run').fill('60');
      await root.getByLabel('Share of pairs held out').fill('0.25');
      // Frames while the sweep trains (a figure, printed; the bound only catches a frozen tab).
      await page.evaluate(() => {
        window.__sweepFrames = 0;
        const count = () => {
          window.__sweepFrames += 1;
          if (!/^Done/.test(document.querySelector('.sweep-status')?.textContent ?? '')) requestAnimationFrame(count);
        };
        requestAnimationFrame(count);
        window.__sweepStart = performance.now();
      });
      await root.getByRole('button', { name: 'Run the sweep' }).click();
      await waitFor(async () => /^Done: 18 runs, 60 steps each/.test(await root.locator('.sweep-status').textContent()), 20000);
      // With WebGPU as the playground's backend (`open` asks for it), the sweep trains on it too.
      const done = await root.locator('.sweep-status').textContent();
      assert.match(done, mode.webgpu ? /, on WebGPU .*the signal shares are left out/ : /, on the CPU\.$/);
      const sweepFps = await page.evaluate(() => window.__sweepFrames / ((performance.now() - window.__sweepStart) / 1000));
      console.log(`${mode.webgpu ? 'webgpu_' : ''}sweep_fps=${sweepFps.toFixed(1)}`);
      assert.ok(sweepFps > 15, `${sweepFps} frames per second while the sweep trained`);
      // Six settings (two templates, three values) with held-out pairs: a row each, with its best step.
      assert.equal(await root.locator('.sweep-table tbody tr').count(), 6);
      assert.match(await root.locator('.sweep-table thead').textContent(), /best step/);
      const download = page.waitForEvent('download');
      await root.getByRole('button', { name: 'Download CSV' }).click();
      const csv = readFileSync(await (await download).path(), 'utf8');
      // The same sweep on the command line: the page's scenario (which now carries the sweep)
      // with the form's steps and held-out share.
      const scenario = JSON.parse(await page.evaluate(() => document.querySelector('[data-dpo-playground]').dpoPlayground.scenario()));
      assert.deepEqual(scenario.sweep, { axes: [{ field: 'gamma_over_beta', values: [0, 2, 20] }], replicates: 3 });
      scenario.steps = 60;
      scenario.validation = { fraction: 0.25, seed: 0 };
      const dir = fileURLToPath(new URL('./artifacts/', import.meta.url));
      mkdirSync(dir, { recursive: true });
      const file = `${dir}sweep-${mode.webgpu ? 'gpu' : 'cpu'}.csv`;
      execFileSync(DPO, ['sweep', '-', '--csv', file, '--quiet'], { input: JSON.stringify(scenario) });
      const rows = (text) => text.trim().split('\n').map((line) => line.split(','));
      // Trained on WebGPU, the page's final statistics leave out the signal shares (the device
      // does not sum the learning table; a best checkpoint at step 0, scored before WebGPU took
      // over, still has them), and the rest agrees with the CPU to the WebGPU parity tests'
      // tolerance.
      const shares = (row) => mode.webgpu && /^share_/.test(row[3]);
      if (mode.webgpu) assert.deepEqual(rows(csv).filter((row) => row[2] === 'final' && shares(row)), []);
      const page_rows = rows(csv).filter((row) => !shares(row));
      const cli_rows = rows(readFileSync(file, 'utf8')).filter((row) => !shares(row));
      const tolerance = mode.webgpu ? 1e-5 : 1e-9;
      assert.equal(page_rows.length, cli_rows.length);
      assert.ok(page_rows.length > 6 * 16, `${page_rows.length} rows`);
      assert.deepEqual(page_rows[0], cli_rows[0]);
      page_rows.slice(1).forEach((row, i) => {
        const cli = cli_rows[i + 1];
        assert.deepEqual(row.slice(0, 5), cli.slice(0, 5), `row ${i + 1}`);
        row.slice(5).forEach((value, j) => {
          const [a, b] = [Number(value), Number(cli[5 + j])];
          assert.ok(value === cli[5 + j] || Math.abs(a - b) <= tolerance * (1 + Math.abs(b)), `row ${i + 1} (${row.slice(1, 4)}): page ${value} vs dpo sweep ${cli[5 + j]}`);
        });
      });
      // Another band: the chart between the seeds' quartiles, its title says so; the table has
      // the median.
      await root.getByLabel('Band over the seeds').selectOption('iqr');
      const svgDownload = page.waitForEvent('download');
      await root.getByRole('button', { name: 'Download SVG' }).click();
      assert.match(readFileSync(await (await svgDownload).path(), 'utf8'), /band interquartile over replicates/);
      assert.match(await root.locator('.sweep-table thead').textContent(), /median/);
      // The sweep survives a reload through the page's link: the form starts from it.
      // (Read from the page: an address changed by `history.replaceState` is not a navigation.)
      // The link is written a moment after the edit (debounced, then compressed); an edited
      // preset's link holds the scenario, not the preset's name.
      await waitFor(async () => (await page.evaluate(() => location.hash)).startsWith('#from=gamma-sweep&z1='));
      const reloaded = await open(await page.evaluate(() => location.hash));
      const again = playground(reloaded);
      await again.locator('summary', { hasText: 'Sweep: many seeds and settings' }).click();
      assert.equal(await again.getByLabel('Setting to sweep').inputValue(), 'gamma_over_beta');
      assert.equal(await again.getByLabel('Values (comma-separated)').inputValue(), '0, 2, 20');
      assert.equal(await again.getByLabel('Seeds per setting').inputValue(), '3');
      await reloaded.close();
      // The filled panel passes axe-core too (form labels, the table's headers, the region).
      await page.addScriptTag({ path: fileURLToPath(new URL('../../node_modules/axe-core/axe.min.js', import.meta.url)) });
      const violations = await page.evaluate(async () => {
        const result = await window.axe.run(document.querySelector('.dpo-sweep'), { resultTypes: ['violations'] });
        return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
      });
      assert.deepEqual(violations.filter((v) => v.impact === 'serious' || v.impact === 'critical'), [], JSON.stringify(violations));
      assertNoErrors(page);
      await page.close();
    });

    test('the pair editor marks the pairs `validation` holds out of training', async () => {
      const scenario = JSON.parse(execFileSync(DPO, ['preset', 'default'], { encoding: 'utf8' }));
      scenario.validation = { fraction: 0.5, seed: 3 };
      const page = await open(`#s=${base64url(JSON.stringify(scenario))}`);
      const root = playground(page);
      const held = Math.min(Math.max(Math.round(0.5 * scenario.pairs.length), 1), scenario.pairs.length - 1);
      assert.equal(await root.locator('.pair-row.held-out').count(), held);
      assert.match(await root.locator('.held-out-note').textContent(), new RegExp(`Held out of training by “validation”: ${held} of these ${scenario.pairs.length} pairs`));
      const described = await root.locator('.pair-row.held-out select, .pair-row.held-out input').first().getAttribute('aria-description');
      assert.match(described, /held out of training/);
      // Without validation nothing is marked.
      delete scenario.validation;
      const plain = await open(`#s=${base64url(JSON.stringify(scenario))}`);
      assert.equal(await playground(plain).locator('.pair-row.held-out').count(), 0);
      assert.equal(await playground(plain).locator('.held-out-note').count(), 0);
      // Pairs drawn fresh from a reward hold none of these out, and the note says so; the Sweep
      // panel keeps them as the scenario's held-out pairs.
      const luck = JSON.parse(execFileSync(DPO, ['preset', 'luck-and-tuning'], { encoding: 'utf8' }));
      luck.validation = { fresh: 12, seed: 3 };
      const fresh = await open(`#s=${base64url(JSON.stringify(luck))}`);
      const freshRoot = playground(fresh);
      assert.equal(await freshRoot.locator('.pair-row.held-out').count(), 0);
      assert.match(await freshRoot.locator('.held-out-note').textContent(), /12 pairs per prompt drawn fresh from the reward/);
      await freshRoot.locator('summary', { hasText: 'Sweep: many seeds and settings' }).click();
      assert.equal(await freshRoot.getByLabel('Share of pairs held out').getAttribute('placeholder'), '12 fresh per prompt');
      await freshRoot.getByLabel('Values (comma-separated)').fill('1');
      await freshRoot.getByLabel('Seeds per setting').fill('2');
      await freshRoot.getByLabel('Steps per run').fill('20');
      await freshRoot.getByRole('button', { name: 'Run the sweep' }).click();
      await waitFor(async () => /^Done: 2 runs, 20 steps each/.test(await freshRoot.locator('.sweep-status').textContent()), 20000);
      assert.match(await freshRoot.locator('.sweep-table thead').textContent(), /best step/, 'scored on the fresh pairs: a best checkpoint');
      assertNoErrors(page);
      assertNoErrors(fresh);
      await page.close();
      await plain.close();
      await fresh.close();
    });

    test('pairs held out by hand in the pair editor leave training and travel in the link', async () => {
      const page = await open('#preset=default');
      const root = playground(page);
      const box = (n) => root.getByLabel(`Hold pair ${n} out of training`);
      // The keyboard ticks the box; the row is dashed, the note counts it, and focus stays put.
      await box(2).focus();
      await page.keyboard.press('Space');
      await waitFor(async () => (await root.locator('.pair-row.held-out').count()) === 1);
      assert.equal(await page.evaluate(() => document.activeElement?.dataset.path), 'pairs[1].split');
      assert.match(await root.locator('.held-out-note').textContent(), /Held out of training by hand: 1 of these 3 pairs/);
      // Another edit of the row keeps its mark.
      await root.getByLabel('Pair 2 weight').fill('3');
      await waitFor(async () => (await root.locator('.pair-row.held-out').count()) === 1);
      assert.ok(await box(2).isChecked());
      // Holding out every pair is refused, named, and the box shows the pair as it still is.
      await box(1).check();
      await box(3).click();
      await root.locator('.field-error', { hasText: 'every pair is marked' }).waitFor();
      assert.equal(await box(3).isChecked(), false);
      assert.equal(await root.locator('.pair-row.held-out').count(), 2);
      await box(1).uncheck();
      await waitFor(async () => (await root.locator('.pair-row.held-out').count()) === 1);
      // The link carries the mark: the command line reads it from the link as the page wrote it.
      // The page writes the link a moment after the last edit, so the wait is for the link that
      // holds this state (one pair held out), not for any link: the one written while two pairs
      // were held out may still be in the address bar.
      const heldOutInLink = (text) => (text.startsWith('{') ? JSON.parse(text).pairs.filter((pair) => pair.split === 'validation').length : -1);
      await waitFor(async () => heldOutInLink(await hashScenario(page)) === 1);
      const hash = await page.evaluate(() => location.hash);
      assert.ok(hash.startsWith('#from=default&z1='), `an edited preset's link: ${hash}`);
      const checked = execFileSync(DPO, ['check', `${BASE}${hash}`], { encoding: 'utf8' });
      assert.match(checked, /validation: 1 pair held out \(marked "split": "validation"\); 2 pairs train/);
      const reloaded = await open(hash);
      const again = playground(reloaded);
      assert.ok(await again.getByLabel('Hold pair 2 out of training').isChecked());
      assert.equal(await again.getByLabel('Hold pair 1 out of training').isChecked(), false);
      // The Sweep panel scores the marked pairs, and a share typed beside them is refused.
      await again.locator('summary', { hasText: 'Sweep: many seeds and settings' }).click();
      assert.equal(await again.getByLabel('Share of pairs held out').getAttribute('placeholder'), '1 held out by hand');
      await again.getByLabel('Share of pairs held out').fill('0.5');
      await again.getByRole('button', { name: 'Run the sweep' }).click();
      await waitFor(async () => /some pairs are held out by hand/.test(await again.locator('.sweep-status').textContent()));
      await again.getByLabel('Share of pairs held out').fill('');
      await again.getByLabel('Values (comma-separated)').fill('1');
      await again.getByLabel('Seeds per setting').fill('2');
      await again.getByLabel('Steps per run').fill('20');
      await again.getByRole('button', { name: 'Run the sweep' }).click();
      await waitFor(async () => /^Done: 6 runs, 20 steps each/.test(await again.locator('.sweep-status').textContent()), 20000);
      assert.match(await again.locator('.sweep-table thead').textContent(), /best step/, 'scored on the marked pair: a best checkpoint');
      // A validation block chooses the held-out pairs itself: the boxes give way to it.
      const scenario = JSON.parse(execFileSync(DPO, ['preset', 'default'], { encoding: 'utf8' }));
      scenario.validation = { fraction: 0.5, seed: 3 };
      const block = await open(`#s=${base64url(JSON.stringify(scenario))}`);
      assert.equal(await playground(block).getByLabel('Hold pair 1 out of training').isDisabled(), true);
      assertNoErrors(page);
      assertNoErrors(reloaded);
      assertNoErrors(block);
      await page.close();
      await reloaded.close();
      await block.close();
    });

    test('the Sweep panel sweeps two settings as a heat map, and starts over for a new scenario', async () => {
      const page = await open('#preset=gamma-sweep');
      const root = playground(page);
      await root.locator('summary', { hasText: 'Sweep: many seeds and settings' }).click();
      await root.getByLabel('Values (comma-separated)').fill('0, 1');
      await root.getByLabel('Second setting (optional)').selectOption('lr');
      await root.getByLabel('Values of the second setting').fill('0.02, 0.05, 0.1');
      await root.getByLabel('Seeds per setting').fill('2');
      await root.getByLabel('Steps per run').fill('20');
      await root.getByRole('button', { name: 'Run the sweep' }).click();
      // Two templates, two by three settings, two seeds each.
      await waitFor(async () => /^Done: 24 runs, 20 steps each/.test(await root.locator('.sweep-status').textContent()), 20000);
      assert.equal(await root.locator('.sweep-table tbody tr').count(), 12);
      const scenario = JSON.parse(await page.evaluate(() => document.querySelector('[data-dpo-playground]').dpoPlayground.scenario()));
      assert.deepEqual(scenario.sweep, { axes: [{ field: 'gamma_over_beta', values: [0, 1] }, { field: 'lr', values: [0.02, 0.05, 0.1] }], replicates: 2 });
      await root.getByLabel('as a heat map over the two settings').check();
      const download = page.waitForEvent('download');
      await root.getByRole('button', { name: 'Download SVG' }).click();
      const svg = readFileSync(await (await download).path(), 'utf8');
      assert.match(svg, /over gamma_over_beta and lr/);
      assert.match(svg, />\s*hinge\s*</);
      // Another scenario: the old results go, the form follows the new scenario's sweep.
      await root.getByLabel('Preset').selectOption('frontier');
      await waitFor(async () => (await root.getByLabel('Setting to sweep').inputValue()) === 'beta');
      assert.equal(await root.getByLabel('Second setting (optional)').inputValue(), 'gamma_over_beta');
      assert.equal(await root.locator('.sweep-table tbody tr').count(), 0);
      assert.match(await root.locator('.sweep-status').textContent(), /scenario changed/);
      assert.equal(await root.getByRole('button', { name: 'Download CSV' }).isDisabled(), true);
      assertNoErrors(page);
      await page.close();
    });

    test('chosen automatically, a large sweep moves to WebGPU once the CPU proves slow', async () => {
      // The playground's own backend chosen automatically (the small preset trains on the CPU).
      // Every device the page asks for is kept, so that the test can lose the sweep's.
      const page = await open('?backend=auto#preset=gamma-sweep', {
        init: () => {
          window.__dpoDevices = [];
          const requestDevice = globalThis.GPUAdapter?.prototype.requestDevice;
          if (!requestDevice) return;
          GPUAdapter.prototype.requestDevice = async function (...args) {
            const device = await requestDevice.apply(this, args);
            window.__dpoDevices.push(device);
            return device;
          };
        },
      });
      const root = playground(page);
      await root.locator('summary', { hasText: 'Sweep: many seeds and settings' }).click();
      // 2 templates x 8 values x 64 seeds = 1024 runs, 100 steps between checkpoints: far more than
      // two WebGPU round trips of CPU training between checkpoints.
      await root.getByLabel('Values (comma-separated)').fill('0, 0.5, 1, 2, 4, 8, 16, 32');
      await root.getByLabel('Seeds per setting').fill('64');
      await root.getByLabel('Steps per run').fill('5000');
      await root.getByLabel('Share of pairs held out').fill('0');
      await root.getByRole('button', { name: 'Run the sweep' }).click();
      const status = root.locator('.sweep-status');
      await waitFor(async () => /^Training 1024 runs on the CPU: step [1-9]/.test(await status.textContent()), 20000);
      if (mode.webgpu) {
        await waitFor(async () => /^Training 1024 runs on WebGPU .*faster for this sweep than the CPU’s .* between checkpoints/.test(await status.textContent()), 30000);
        // It trains on, checkpoint by checkpoint, from the state the CPU handed over.
        const step = () => status.textContent().then((text) => Number(/step (\d+) of/.exec(text)?.[1]));
        const first = await step();
        await waitFor(async () => (await step()) > first, 30000);
        // The device is lost: the sweep says so and goes on on the CPU from the last checkpoint.
        assert.ok(await page.evaluate(() => window.__dpoDevices.forEach((device) => device.destroy()) ?? window.__dpoDevices.length));
        await waitFor(async () => /^Training 1024 runs on the CPU \(WebGPU stopped: .*; going on from the last checkpoint\)/.test(await status.textContent()), 30000);
        const resumed = await step();
        await waitFor(async () => (await step()) > resumed, 30000);
      } else {
        // No adapter: it stays on the CPU, and says nothing of WebGPU.
        await waitFor(async () => Number(/step (\d+) of/.exec(await status.textContent())?.[1]) >= 30, 30000);
        assert.match(await status.textContent(), /^Training 1024 runs on the CPU: step \d+ of 5000…$/);
      }
      await root.getByRole('button', { name: 'Stop' }).click();
      assert.equal(await status.textContent(), 'Stopped.');
      assertNoErrors(page);
      await page.close();
    });

    test('with a ground-truth reward the Sweep panel draws the reward–KL frontier', async () => {
      const page = await open('#preset=frontier');
      const root = playground(page);
      await root.locator('summary', { hasText: 'Sweep: many seeds and settings' }).click();
      assert.equal(await root.getByLabel('Setting to sweep').inputValue(), 'beta', 'the form starts from the scenario’s first axis');
      // Its log range from 0.05 to 5 in 5 points, as the engine spaces it (0.05 * sqrt(10)^i).
      assert.equal(await root.getByLabel('Values (comma-separated)').inputValue(), '0.05, 0.158114, 0.5, 1.58114, 5');
      await root.getByLabel('Seeds per setting').fill('1');
      await root.getByLabel('Steps per run').fill('30');
      await root.getByRole('button', { name: 'Run the sweep' }).click();
      await waitFor(async () => /^Done: /.test(await root.locator('.sweep-status').textContent()), 20000);
      // Left as filled in, the range stays a log range in the scenario, and its chart's axis
      // logarithmic.
      const swept = JSON.parse(await page.evaluate(() => document.querySelector('[data-dpo-playground]').dpoPlayground.scenario())).sweep;
      assert.deepEqual(swept.axes[0], { field: 'beta', from: 0.05, to: 5, count: 5, scale: 'log' });
      const accuracySvg = page.waitForEvent('download');
      await root.getByRole('button', { name: 'Download SVG' }).click();
      assert.match(readFileSync(await (await accuracySvg).path(), 'utf8'), />\s*log10 beta\s*</);
      await root.locator('.dpo-sweep').getByLabel('Metric', { exact: true }).selectOption('frontier');
      // The table lists the metric the frontier rises along.
      assert.match(await root.locator('.sweep-table thead').textContent(), /true reward: mean/);
      const download = page.waitForEvent('download');
      await root.getByRole('button', { name: 'Download SVG' }).click();
      const svg = readFileSync(await (await download).path(), 'utf8');
      assert.match(svg, /reward–KL frontier over beta/);
      assert.match(svg, /expected true reward/);
      assert.match(svg, /<circle/, 'the frontier has its points');
      const png = page.waitForEvent('download');
      await root.getByRole('button', { name: 'Download PNG' }).click();
      const bytes = readFileSync(await (await png).path());
      assert.equal(bytes.subarray(1, 4).toString('latin1'), 'PNG', 'a PNG file');
      assert.ok(bytes.length > 5000, `a PNG of the chart (${bytes.length} bytes)`);
      assert.equal(await root.locator('.sweep-status').textContent().then((t) => /cannot/.test(t)), false);
      assertNoErrors(page);
      await page.close();
    });

    test('every preset trains on the page as `dpo run` trains it', async () => {
      const page = await open();
      const select = playground(page).getByLabel('Preset');
      // The exercises keep the metrics and the transport out of the page until their reveal: the
      // exercise test trains one through its reveal and compares it with `dpo run`.
      const ids = (await select.locator('option').evaluateAll((options) => options.map((o) => o.value))).filter((id) => id && !id.startsWith('exercise-'));
      assert.ok(ids.length >= 7, `presets offered: ${ids.join(', ')}`);
      for (const id of ids) {
        await select.selectOption(id);
        try {
          await waitFor(async () => (await metric(page, 'step')) === '0');
          await stepTimes(page, 12);
        } catch (error) {
          throw new Error(`preset ${id}: ${error.message} (step ${await metric(page, 'step')}; ${await page.locator('.dpo-status').textContent()})`);
        }
        await assertAgreesWithCli(page, 12, `preset ${id}`);
      }
      // Still on the backend the mode gives (no silent fallback along the way).
      assert.equal(await page.locator('span[data-backend]').getAttribute('data-backend'), mode.webgpu ? 'webgpu' : 'cpu');
      assertNoErrors(page);
      await page.close();
    });

    test('a preset is fetched when chosen; one that cannot be fetched leaves the scenario as it was', async () => {
      // The engine's module lists the presets and carries only the default's text.
      const page = await open();
      const fetched = [];
      page.on('request', (request) => {
        if (/\/pkg\/presets\//.test(request.url())) fetched.push(new URL(request.url()).pathname.split('/').pop());
      });
      const root = playground(page);
      const select = root.getByLabel('Preset');
      await page.route('**/pkg/presets/exercise-gamma-zero.json', (route) => route.fulfill({ status: 503, body: 'down' }));
      await select.selectOption('exercise-gamma-zero');
      await waitFor(async () => /Could not load the preset: the preset “exercise-gamma-zero” could not be fetched \(HTTP 503\)/.test(await root.locator('.dpo-status').textContent()));
      assert.equal(await select.inputValue(), 'default');
      assert.equal(await root.locator('.dpo-about strong').textContent(), 'DPO vs hinge vs gamma = 0');
      // Tried again the next time, and loaded.
      await page.unroute('**/pkg/presets/exercise-gamma-zero.json');
      await select.selectOption('exercise-gamma-zero');
      await waitFor(async () => (await root.locator('.dpo-about strong').textContent()) === 'Exercise: γ = 0, the hinge against the logistic loss');
      assert.equal(await select.inputValue(), 'exercise-gamma-zero');
      assert.deepEqual(fetched, ['exercise-gamma-zero.json', 'exercise-gamma-zero.json']);
      // Its share link names it, and opens it.
      await waitFor(async () => (await page.evaluate(() => location.hash)) === '#preset=exercise-gamma-zero');
      await page.close();
    });

    if (mode.webgpu) {
      test('a lost WebGPU device: the page says so and trains on with the CPU, keeping everything', async () => {
        // Keep a handle on every device the page asks for, so the test can destroy it as a driver
        // reset or a GPU process crash would.
        const page = await open('', {
          init: () => {
            window.__dpoDevices = [];
            const requestDevice = GPUAdapter.prototype.requestDevice;
            GPUAdapter.prototype.requestDevice = async function (...args) {
              const device = await requestDevice.apply(this, args);
              window.__dpoDevices.push(device);
              return device;
            };
          },
        });
        const backend = page.locator('span[data-backend]');
        assert.equal(await backend.getAttribute('data-backend'), 'webgpu');
        const root = playground(page);
        await root.getByLabel('β (beta)', { exact: true }).first().fill('2.5');
        await root.getByLabel('β (beta)', { exact: true }).first().press('Tab');
        await waitFor(async () => (await scenarioOf(page)).runs[0].beta === 2.5);
        await stepTimes(page, 8);
        const destroyed = await page.evaluate(() => {
          window.__dpoDevices.forEach((device) => device.destroy());
          return window.__dpoDevices.length;
        });
        assert.ok(destroyed >= 1, 'the page asked for a device');
        // The next step fails on the device; the page falls back and trains it on the CPU.
        await root.getByRole('button', { name: 'Step', exact: true }).click();
        await page.waitForSelector('span[data-backend="cpu"]');
        assert.match(await backend.textContent(), /WebGPU step failed.*lost/i);
        await waitFor(async () => (await metric(page, 'step')) === '9');
        await stepTimes(page, 3);
        // Nothing the user set up is lost, and the numbers are the CPU engine's from step 8 on.
        assert.equal((await scenarioOf(page)).runs[0].beta, 2.5);
        await assertAgreesWithCli(page, 12, 'after the device was lost');
        // WebGPU can be chosen again: a fresh device, which continues from the CPU's state
        // (logits, Adam's moments, step counts), so the numbers still agree after 15 steps.
        await page.getByRole('button', { name: 'Use WebGPU' }).click();
        await page.waitForSelector('span[data-backend="webgpu"]');
        await stepTimes(page, 3);
        await assertAgreesWithCli(page, 15, 'back on WebGPU');
        const errors = page.errors.filter((e) => !/destroyed|lost/i.test(e));
        assert.deepEqual(errors, [], `script errors on the page:\n${errors.join('\n')}`);
        await page.close();
      });
    }

    test('the URL hash round-trips the scenario', async () => {
      const page = await open();
      const root = playground(page);
      await root.getByLabel('Name', { exact: true }).first().fill('my own run');
      await root.getByLabel('β (beta)', { exact: true }).first().fill('2.5');
      await root.getByRole('button', { name: '+ Add output' }).click();
      // The hash is written 250 ms after the last edit.
      await waitFor(async () => (await hashScenario(page)).includes('my own run') && (await hashScenario(page)).includes('"E"'));
      const url = page.url();
      const scenario = await scenarioOf(page);

      const fresh = await open(url.slice(new URL(BASE).href.length));
      assert.deepEqual(await scenarioOf(fresh), scenario);
      assert.equal(await playground(fresh).getByLabel('Name', { exact: true }).first().inputValue(), 'my own run');
      assert.equal(await playground(fresh).getByLabel('β (beta)', { exact: true }).first().inputValue(), '2.5');
      assert.equal(await fresh.locator('table.metrics tbody tr th').first().textContent(), 'my own run');
      assert.equal(await fresh.locator('.output-row:not(.row-head)').count(), 5);

      // Same steps, same numbers: the link reproduces the runs.
      await stepTimes(page, 3);
      await stepTimes(fresh, 3);
      for (const run of [0, 1, 2]) assert.equal(await metric(fresh, 'loss', { run }), await metric(page, 'loss', { run }));

      await fresh.reload();
      await waitReady(fresh);
      assert.deepEqual(await scenarioOf(fresh), scenario);
      assertNoErrors(page);
      assertNoErrors(fresh);
      await page.close();
      await fresh.close();
    });

    test('share links: short, and the same runs on a fresh page and in `dpo run`', { skip: mode.webgpu && 'the links are the same with WebGPU' }, async () => {
      const probe = await open();
      const ids = await probe.evaluate(() => [...document.querySelector('.preset-select').options].map((o) => o.value).filter(Boolean));
      await probe.close();
      assert.ok(ids.length >= 10, `${ids}`);
      const lengths = [];
      for (const id of ids) {
        const page = await open(`#preset=${id}`);
        assert.equal(new URL(page.url()).hash, `#preset=${id}`, `${id}: an unchanged preset's link names it`);
        // One edit: the first run's β (through the handle: an exercise may lock the field).
        await page.evaluate(async () => {
          const handle = document.querySelector('[data-dpo-playground]').dpoPlayground;
          const scenario = JSON.parse(handle.scenario());
          scenario.runs[0].beta = 0.7;
          const problem = await handle.load(JSON.stringify(scenario));
          if (problem) throw new Error(problem);
        });
        await waitFor(async () => new URL(page.url()).hash.includes('z1='));
        const url = page.url();
        const hash = new URL(url).hash;
        lengths.push(`${id} ${hash.length}`);
        assert.ok(hash.length <= 600, `${id}: the link's hash is ${hash.length} characters`);
        assert.match(hash, new RegExp(`^#from=${id}&z1=`), `${id}: an edited preset's link leaves out its texts`);
        const fresh = await open(hash);
        assert.deepEqual(await scenarioOf(fresh), await scenarioOf(page), `${id}: the link reproduces the scenario`);
        await fresh.evaluate(() => {
          const engine = document.querySelector('[data-dpo-playground]').dpoPlayground.playground;
          engine.step(5);
          engine.record();
        });
        // `dpo run` on the link trains the same runs to the same numbers.
        const report = JSON.parse(execFileSync(DPO, ['run', url, '--steps', '5', '--json']));
        const runs = await fresh.evaluate(() => document.querySelector('[data-dpo-playground]').dpoPlayground.playground.details().runs);
        assert.equal(report.runs.length, runs.length, id);
        report.runs.forEach((cli, r) => {
          assert.equal(cli.name, runs[r].name, id);
          for (const key of ['loss', 'accuracy', 'kl']) assert.ok(Math.abs(cli.metrics[key] - runs[r].metrics[key]) <= 1e-12 * (1 + Math.abs(cli.metrics[key])), `${id}, ${cli.name}: ${key} page ${runs[r].metrics[key]} vs dpo run ${cli.metrics[key]}`);
        });
        assertNoErrors(page);
        assertNoErrors(fresh);
        await page.close();
        await fresh.close();
      }
      console.log(`share_link_chars ${lengths.join(', ')}`);
    });

    test('an exercise: nothing measured in the page before the reveal, then each cell marked', async () => {
      const page = await open('#preset=exercise-large-gamma');
      const root = playground(page);
      const measuredParts = () => page.evaluate(() => ({
        tables: document.querySelectorAll('.canvases-tables, table.learning, table.metrics, .canvases-curves').length,
        transport: document.querySelectorAll('.transport').length,
      }));
      assert.deepEqual(await measuredParts(), { tables: 0, transport: 0 }, 'the measured tables, curves and the transport are not in the page');
      assert.match(await root.locator('.exercise-question').textContent(), /γ = 20/);
      // A prediction with one cell wrong: ticks "reference right, policy wrong" for γ = 20 too.
      for (const label of ['hinge, γ = 20: reference right, policy right learns', 'hinge, γ = 20: reference right, policy wrong learns', 'hinge, γ = 0: reference wrong, policy wrong learns']) await root.getByLabel(label).check();
      await root.getByLabel('hinge, γ = 0', { exact: true }).check();
      await root.getByRole('button', { name: 'Run and reveal' }).click();
      await waitFor(async () => /cells right/.test(await root.locator('.exercise-result').textContent()), 15000);
      assert.match(await root.locator('.exercise-result').textContent(), /^7 of 8 cells right; the comparison right/);
      const marks = await root.locator('.exercise-table td').evaluateAll((cells) => cells.map((c) => c.className));
      assert.equal(marks.filter((c) => c === 'wrong').length, 1, 'the wrong cell is marked wrong');
      assert.equal(marks.filter((c) => c === 'right').length, 7);
      assert.ok((await measuredParts()).tables > 0, 'revealed');
      assert.equal(await metric(page, 'step', { run: 0 }), '200', 'trained to the scenario’s steps');
      assert.match(await root.locator('.exercise-explanation').textContent(), /reference/);
      // The CPU trained it (exercises are marked against its summed table), as `dpo run` does.
      await assertAgreesWithCli(page, 200, 'exercise-large-gamma', 1e-12);
      assertNoErrors(page);
      await page.close();
    });

    test('a tampered hash shows a message and the default scenario', async () => {
      for (const [hash, expected] of [
        ['#s=%%%not-base64%%%', /could not be decoded/],
        [`#s=${base64url('{"outputs": ["A"], "pairs": []}')}`, /outputs/],
        [`#s=${base64url('{"outputs": ["A", "B"], "pairs": [{"chosen": "A", "rejected": "B"}], "runs": [{"beta": -1}]}')}`, /runs\[0\]\.beta/],
        [`#s=${base64url('{"outputs": ["A", "B"')}`, /line 1/],
      ]) {
        const page = await open(hash);
        const status = page.locator('.dpo-status');
        assert.match(await status.textContent(), /could not be used|could not be decoded/);
        assert.match(await status.textContent(), expected);
        assert.equal(await page.locator('.dpo-about strong').textContent(), 'DPO vs hinge vs gamma = 0');
        assert.equal(await page.locator('table.metrics tbody tr').count(), 3);
        await stepTimes(page, 1);
        assertNoErrors(page);
        await page.close();
      }
    });

    test('a diverged run is marked in its card, the metrics table and the charts', async () => {
      // The second run's margin overflows f32 (gamma h_0 is about -3.5e38): the CPU refuses its
      // first step; WebGPU does not stop it but its state's margins say it diverged.
      const scenario = JSON.stringify({
        outputs: ['a', 'b'],
        reference: [1, 8],
        pairs: [{ chosen: 'a', rejected: 'b' }],
        runs: [{ name: 'sane' }, { name: 'huge gamma', gamma: 1.7e38 }],
      });
      const page = await open(`#s=${base64url(scenario)}`);
      await stepTimes(page, 2);
      const rows = page.locator('table.metrics tbody tr');
      await waitFor(async () => (await rows.nth(1).getAttribute('class'))?.includes('diverged'));
      const expected = mode.webgpu ? /huge gamma \(diverged/ : /huge gamma \(diverged at step 0\)/;
      assert.match(await rows.nth(1).locator('th').textContent(), expected);
      assert.ok(!(await rows.nth(0).getAttribute('class'))?.includes('diverged'), 'the sane run is not marked');
      // The run's card says so (and what to do); the sane run's card says nothing.
      const statuses = playground(page).locator('.run-status');
      assert.ok(await statuses.nth(1).isVisible());
      assert.match(await statuses.nth(1).textContent(), /Diverged.*Lower the learning rate/);
      assert.ok(!(await statuses.nth(0).isVisible()));
      assert.match(await page.locator('.dpo-status').textContent(), /huge gamma: Diverged/);
      // Every chart's legend names it as diverged.
      const svg = await page.evaluate(() => document.querySelector('[data-dpo-playground]').dpoPlayground.playground.svg('curves', 600, 300, 'loss'));
      assert.match(svg, /huge gamma \(diverged/);
      assertNoErrors(page);
      await page.close();
    });

    test('the predicted tables are exact where they say learns or silent, and say where the argument only holds in the limit', async () => {
      const text = readFileSync(new URL('../../presets/learning-table.json', import.meta.url), 'utf8');
      const page = await open(`#s=${base64url(text)}`);
      await stepTimes(page, 25);
      const root = playground(page);
      assert.equal(await root.locator('td.disagrees').count(), 0, 'no measured cell contradicts a learns or silent prediction');
      // The hinge with gamma = 20: its reference-wrong/policy-wrong cell is silent only in the limit.
      const words = await root.locator('.predicted-word').allTextContents();
      assert.ok(words.some((w) => /fades \(silent as γ ≫ β\)/.test(w)), words.join(' | '));
      assert.ok(words.some((w) => w === 'predicted: silent'));
      assert.ok(words.some((w) => w === 'predicted: learns'));
      assertNoErrors(page);
      await page.close();
    });

    test('a scenario past the page memory limit is refused with the fields to change', async () => {
      // 2,048 x 2,048 logits and three runs: about 480 MiB by the estimate the command line uses, over the 256 MiB the page allows.
      const labels = (prefix) => Array.from({ length: 2048 }, (_, i) => `${prefix}${i}`);
      const scenario = JSON.stringify({ prompts: labels('p'), outputs: labels('o'), pairs: [{ chosen: 0, rejected: 1 }] });
      const page = await open(`#s=${base64url(scenario)}`);
      const status = await page.locator('.dpo-status').textContent();
      assert.match(status, /could not be used/);
      assert.match(status, /runs: this needs about .* of memory .* more than the limit of 256\.0 MiB \(the page's limit\)/);
      // The page carries on with the default scenario.
      assert.equal(await page.locator('table.metrics tbody tr').count(), 3);
      await stepTimes(page, 1);
      assertNoErrors(page);
      await page.close();
    });

    test('a label containing HTML shows as text and runs no script', async () => {
      // Through the editor...
      const page = await open();
      const root = playground(page);
      await root.getByLabel('Output 2 label').fill(XSS);
      await root.getByLabel('Name', { exact: true }).first().fill(`${XSS} run`);
      await page.waitForFunction((xss) => [...document.querySelectorAll('.ref-label')].some((e) => e.textContent === xss), XSS);
      // ...and through a shared link.
      const scenario = JSON.stringify({
        title: XSS,
        outputs: [XSS, 'B', { label: `<script>window.__pwned=2</script>`, length: 2 }],
        prompts: [`<b onmouseover=window.__pwned=3>p</b>`],
        pairs: [{ chosen: XSS, rejected: 'B' }],
        runs: [{ name: XSS }],
      });
      const linked = await open(`#s=${base64url(scenario)}`);
      for (const p of [page, linked]) {
        await p.waitForTimeout(300);
        assert.equal(await p.evaluate(() => window.__pwned), undefined, 'no injected script ran');
        assert.equal(await p.locator('[data-dpo-playground] img, [data-dpo-playground] script, [data-dpo-playground] b').count(), 0, 'no injected element');
      }
      assert.equal(await linked.locator('table.metrics tbody th').first().textContent(), XSS);
      assert.equal(await linked.locator('.dpo-about strong').textContent(), XSS);
      assert.ok((await linked.locator('.ref-label').allTextContents()).includes(XSS));
      assert.equal(await page.locator('table.metrics tbody th').first().textContent(), `${XSS} run`);
      assertNoErrors(page);
      assertNoErrors(linked);
      await page.close();
      await linked.close();
    });

    test('two instances on one page train independently', async () => {
      const page = await open('www/two-playgrounds.html');
      assert.equal(await page.locator('[data-dpo-playground]').count(), 2);
      assert.equal(await page.locator('span[data-backend]').count(), 2);
      assert.equal(await page.locator('[data-dpo-playground] [id]').count(), 0, 'no element IDs');
      assert.equal(await playground(page, 1).locator('.dpo-about strong').textContent(), 'SimPO: gamma = 0, a margin, and length normalisation');

      await playground(page, 0).getByRole('button', { name: 'Play' }).click();
      await page.waitForFunction(() => Number(document.querySelectorAll('.step-count')[0].textContent.replace('step ', '')) > 50);
      assert.equal(await metric(page, 'step', { instance: 1 }), '0', 'the second did not train');
      await playground(page, 1).getByRole('button', { name: 'Play' }).click();
      await playground(page, 0).getByRole('button', { name: 'Pause' }).click();
      // On WebGPU a step launched before the pause still lands; after that the count must stay.
      await page.evaluate(() => document.querySelectorAll('[data-dpo-playground]')[0].dpoPlayground.settled());
      await page.waitForTimeout(100);
      const first = await metric(page, 'step', { instance: 0 });
      await page.waitForFunction(() => Number(document.querySelectorAll('.step-count')[1].textContent.replace('step ', '')) > 50);
      assert.equal(await metric(page, 'step', { instance: 0 }), first, 'pausing the first leaves the second playing');
      await playground(page, 1).getByRole('button', { name: 'Pause' }).click();
      await page.evaluate(() => document.querySelectorAll('[data-dpo-playground]')[1].dpoPlayground.settled());
      await page.waitForTimeout(100);

      // An edit in one changes only that one; only the first owns the URL.
      const secondLoss = await metric(page, 'loss', { instance: 1 });
      await playground(page, 0).getByText('Preference pairs', { exact: true }).click(); // the embeds start collapsed
      await playground(page, 0).getByLabel('Pair 1 weight').fill('4');
      await page.waitForTimeout(400);
      assert.equal(await metric(page, 'loss', { instance: 1 }), secondLoss);
      const scenario = await hashScenario(page);
      assert.ok(scenario, 'the first instance writes the hash');
      assert.match(scenario, /"weight":4/);
      assert.doesNotMatch(scenario, /SimPO/);
      assertNoErrors(page);
      await page.close();
    });

    test('exports and imports scenarios, metrics and charts', async () => {
      const page = await open();
      const root = playground(page);
      await stepTimes(page, 3);
      await root.getByText('Scenario file: import, export, share').click();
      const saved = async (name) => {
        const [download] = await Promise.all([page.waitForEvent('download'), root.getByRole('button', { name }).click()]);
        return { name: download.suggestedFilename(), body: readFileSync(await download.path()) };
      };
      const scenario = await saved('Export scenario');
      assert.match(scenario.name, /\.json$/);
      assert.deepEqual(JSON.parse(scenario.body.toString('utf8')), await scenarioOf(page));
      const csv = (await saved('Export metrics CSV')).body.toString('utf8');
      assert.match(csv.split('\n')[0], /^run,step,loss,/);
      assert.ok(csv.split('\n').length > 3, 'the CSV has the recorded rows');
      const png = (await saved('Download “Loss, accuracy and KL” as PNG')).body;
      assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
      const svg = (await saved('Download “Policy against the reference” as SVG')).body.toString('utf8');
      assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
      assert.match(svg, /<rect|<path|<polyline/);

      // Import through the file picker: an invalid file shows the engine's error and keeps the text.
      const fileInput = root.locator('input[type="file"]');
      const bad = '{"outputs": ["A", "B"], "pairs": [{"chosen": "A", "rejected": "B"}], "runs": [{"betta": 1}]}';
      await fileInput.setInputFiles({ name: 'bad.json', mimeType: 'application/json', buffer: Buffer.from(bad) });
      await root.locator('.scenario-check.error').waitFor();
      assert.match(await root.locator('.scenario-check').textContent(), /runs\[0\]\.betta/);
      assert.equal(await root.getByLabel('Scenario JSON').inputValue(), bad);
      // A valid one loads and restarts the runs.
      const good = JSON.stringify({ title: 'Imported', outputs: ['yes', 'no'], pairs: [{ chosen: 'yes', rejected: 'no' }] });
      await fileInput.setInputFiles({ name: 'good.json', mimeType: 'application/json', buffer: Buffer.from(good) });
      await page.waitForFunction(() => document.querySelector('.dpo-about strong').textContent === 'Imported');
      await waitFor(async () => (await metric(page, 'step')) === '0');
      // Drag and drop onto the playground.
      await page.evaluate((text) => {
        const data = new DataTransfer();
        data.items.add(new File([text], 'dropped.json', { type: 'application/json' }));
        const target = document.querySelector('[data-dpo-playground]');
        target.dispatchEvent(new DragEvent('dragover', { dataTransfer: data, bubbles: true, cancelable: true }));
        target.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
      }, JSON.stringify({ title: 'Dropped', outputs: ['x', 'y', 'z'], pairs: [{ chosen: 'z', rejected: 'x' }] }));
      await page.waitForFunction(() => document.querySelector('.dpo-about strong').textContent === 'Dropped');
      assert.equal(await root.locator('.output-row:not(.row-head)').count(), 3);
      assertNoErrors(page);
      await page.close();
    });

    /** Every SVG export of the page's charts (curves, tables, margins, policy), at their size on the page. */
    function chartSvgs(page) {
      return page.evaluate(() => {
        const handle = document.querySelector('[data-dpo-playground]').dpoPlayground;
        const pg = handle.playground;
        const runs = pg.snapshot().runs.length;
        const svgs = { curves: pg.svg('curves', 300, 180, 'loss'), policy: pg.svg('policy', 600, 240, '0') };
        for (let run = 0; run < runs; run += 1) {
          svgs[`tables-${run}`] = pg.svg('tables', 290, 190, String(run));
          svgs[`margins-${run}`] = pg.svg('margins', 300, 180, String(run));
        }
        return svgs;
      });
    }

    test('chart text is at least 10 CSS px at any pixel ratio, and legends stay off the lines', async () => {
      for (const [viewport, deviceScaleFactor] of [[{ width: 1280, height: 800 }, 2], [{ width: 390, height: 844 }, 3]]) {
        const page = await browser.newPage({ viewport, deviceScaleFactor });
        await page.goto(new URL(mode.webgpu ? '?backend=webgpu' : '', BASE).href);
        await waitReady(page);
        await stepTimes(page, 15);
        const svgs = await chartSvgs(page);
        for (const [name, svg] of Object.entries(svgs)) {
          // The SVG backend writes each text's size in px; the canvas draws the same sizes in CSS px,
          // scaled to the device (web.rs, CssCanvas), so these are the sizes on screen.
          const sizes = [...svg.matchAll(/font-size="([0-9.]+)"/g)].map((m) => Number(m[1]));
          assert.ok(sizes.length > 0, `${name}: no text`);
          assert.ok(Math.min(...sizes) >= 10, `${name}: smallest text ${Math.min(...sizes)} px`);
        }
        // Curves: the legend's run names sit above every point of every line.
        const curves = svgs.curves;
        const linesTop = Math.min(...[...curves.matchAll(/<polyline[^>]*points="([^"]+)"/g)].flatMap((m) => m[1].trim().split(/\s+/).map((p) => Number(p.split(',')[1]))));
        for (const name of ['DPO', 'hinge', 'gamma = 0']) {
          const at = [...curves.matchAll(/<text[^>]*y="([0-9.]+)"[^>]*>([^<]*)<\/text>/g)].find((m) => m[2].trim() === name);
          assert.ok(at, `legend entry ${name}`);
          assert.ok(Number(at[1]) < linesTop, `legend ${name} at y=${at[1]}, lines from y=${linesTop}`);
        }
        // The canvases are drawn at the device's resolution (no upscaled blur).
        const ratio = await page.evaluate(() => {
          const canvas = document.querySelector('.canvases-curves canvas');
          return canvas.width / canvas.clientWidth;
        });
        assert.ok(Math.abs(ratio - deviceScaleFactor) < 0.05, `canvas bitmap ratio ${ratio}`);
        await page.close();
      }
    });

    test('the first screen is the experiment, and nothing overflows without a scroll region', async () => {
      const page = await open('', { viewport: { width: 1280, height: 800 } });
      const boxes = await page.evaluate(() => ({
        curves: document.querySelector('.canvases-curves canvas').getBoundingClientRect().top,
        tables: Math.max(...[...document.querySelectorAll('.canvases-tables canvas')].map((c) => c.getBoundingClientRect().bottom)),
        play: document.querySelector('.play').getBoundingClientRect().bottom,
        knob: document.querySelector('.knob-card input[type="range"]').getBoundingClientRect().bottom,
      }));
      assert.ok(boxes.curves < 800, `first canvas at ${boxes.curves}`);
      assert.ok(boxes.tables <= 800, `the learning tables end at ${boxes.tables}`);
      assert.ok(boxes.play < 200 && boxes.knob < 800, JSON.stringify(boxes));
      // No stray text from an empty slot (a list without a pager), and hidden notes stay hidden.
      const text = await playground(page).innerText();
      assert.doesNotMatch(text, /\bnull\b|\bundefined\b/);
      assert.doesNotMatch(text, /No claim of the argument applies/);
      for (const viewport of [{ width: 1280, height: 800 }, { width: 390, height: 844 }]) {
        await page.setViewportSize(viewport);
        await page.waitForTimeout(300);
        const overflowing = await page.evaluate(() =>
          [...document.querySelectorAll('[data-dpo-playground] *')]
            .filter((e) => {
              const style = getComputedStyle(e);
              if (style.display === 'none' || style.display === 'contents' || e.closest('svg')) return false;
              // (A visually hidden element, such as the skip link until focused, is 1 px wide.)
              if (!(e.scrollWidth > e.clientWidth + 1) || e.clientWidth <= 1) return false;
              // A scroll region is fine if it can be reached with the keyboard.
              const scrolls = ['auto', 'scroll'].includes(style.overflowX);
              return !(scrolls && (e.tabIndex >= 0 || e.querySelector('a, button, input, select, textarea, [tabindex]')));
            })
            .filter((e) => !['INPUT', 'SELECT', 'TEXTAREA', 'OPTION'].includes(e.tagName))
            .map((e) => `${e.tagName}.${e.className} ${e.scrollWidth}>${e.clientWidth}`),
        );
        assert.deepEqual(overflowing, [], `at ${viewport.width}px`);
        const width = await page.evaluate(() => document.documentElement.scrollWidth);
        assert.ok(width <= viewport.width + 1, `the page is ${width}px wide at ${viewport.width}px`);
      }
      // On a phone the transport stays in reach while scrolling.
      await page.evaluate(() => window.scrollTo(0, 2000));
      await page.waitForTimeout(100);
      const play = await page.evaluate(() => document.querySelector('.play').getBoundingClientRect());
      assert.ok(play.top >= 0 && play.bottom <= 844, `Play at ${play.top}..${play.bottom} after scrolling`);
      assertNoErrors(page);
      await page.close();
    });

    test('the accumulated learning table shows where the hinge learned in gamma-zero', async () => {
      // The automatic choice trains this small scenario on the CPU, which accumulates the table.
      const page = await open('?backend=auto');
      await playground(page).getByLabel('Preset').selectOption('gamma-zero');
      await waitFor(async () => (await metric(page, 'step')) === '0');
      await stepTimes(page, 40);
      const tables = await page.evaluate(() => document.querySelector('[data-dpo-playground]').dpoPlayground.playground.snapshot().runs.map((r) => [r.name, r.metrics.accumulated_table]));
      const [, hinge] = tables.find(([name]) => name === 'hinge, gamma = 0');
      assert.ok(hinge, 'the CPU reports the accumulated table');
      const wrong = hinge.reference_right_policy_wrong.share + hinge.reference_wrong_policy_wrong.share;
      assert.ok(wrong > 0.9, `the hinge's accumulated signal in the policy-wrong column: ${wrong}`);
      // The claims panel reads it: "with gamma = 0, learning happens wherever the policy is wrong".
      const row = playground(page).locator('tr[data-claim="gamma-zero"]');
      await waitFor(async () => /holds/.test(await row.locator('td.verdict').textContent()));
      assert.match(await row.locator('td').first().textContent(), /hinge, gamma = 0: 100% of its signal so far/);
      // The CSV export carries it too.
      const csv = await page.evaluate(() => document.querySelector('[data-dpo-playground]').dpoPlayground.playground.metricsCsv());
      const [header, ...rows] = csv.trim().split('\n');
      const columns = header.split(',');
      const last = rows.filter((r) => r.startsWith('"hinge, gamma = 0"')).pop().split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/);
      assert.equal(Number(last[columns.indexOf('accumulated_share_ww')]), 1);
      assertNoErrors(page);
      await page.close();
      if (mode.webgpu) {
        // The GPU's kernels compute the table now only: a run trained there reports no summed
        // table, and its chart says so rather than showing zeros.
        const gpu = await open();
        assert.equal(await gpu.locator('span[data-backend]').getAttribute('data-backend'), 'webgpu');
        await stepTimes(gpu, 5);
        const { accumulated, svg } = await gpu.evaluate(() => {
          const pg = document.querySelector('[data-dpo-playground]').dpoPlayground.playground;
          return { accumulated: pg.snapshot().runs.map((r) => r.metrics.accumulated_table ?? null), svg: pg.svg('tables', 300, 190, '0') };
        });
        assert.deepEqual(accumulated, [null, null, null]);
        assert.match(svg, /not tracked \(trained on WebGPU\)/);
        assertNoErrors(gpu);
        await gpu.close();
      }
    });

    test('a run card’s γ slider changes the run at once, its curve, and its name', async () => {
      const page = await open();
      const root = playground(page);
      const slider = root.getByLabel('Run 3 γ (gamma) slider');
      await slider.focus();
      for (let i = 0; i < 60; i += 1) await slider.press('ArrowRight');
      await waitFor(async () => (await scenarioOf(page)).runs[2].gamma === 1);
      // The name followed the settings ("gamma = 0" was a name the user had not typed).
      assert.equal((await scenarioOf(page)).runs[2].name, 'DPO');
      assert.equal(await root.getByLabel('Run 3 γ (gamma)', { exact: true }).inputValue(), '1');
      await stepTimes(page, 10);
      await assertAgreesWithCli(page, 10, 'after the slider');
      // With the mouse: drag run 1's β slider to its right end.
      const box = await root.getByLabel('Run 1 β (beta) slider').boundingBox();
      await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2);
      await page.mouse.down();
      await page.mouse.move(box.x + box.width * 0.8, box.y + box.height / 2, { steps: 4 });
      await page.mouse.move(box.x + box.width + 20, box.y + box.height / 2, { steps: 4 });
      await page.mouse.up();
      await waitFor(async () => (await scenarioOf(page)).runs[0].beta === 100);
      assert.equal((await scenarioOf(page)).runs[0].name, 'logistic, γ = 1, β = 100');
      // A typed name stays put.
      await root.getByLabel('Run 3 name').fill('mine');
      await slider.press('End');
      await waitFor(async () => (await scenarioOf(page)).runs[2].gamma === 100);
      assert.equal((await scenarioOf(page)).runs[2].name, 'mine');
      assertNoErrors(page);
      await page.close();
    });

    test('keyboard: shortcuts, a skip link, and no serious axe-core violation', async () => {
      const page = await open();
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to the playground');
      await page.keyboard.press('Tab'); // the header's "How it works"
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to the controls');
      await page.keyboard.press('Enter');
      assert.match(await page.evaluate(() => document.activeElement.textContent), /Play/);
      // Shortcuts work from anywhere in the playground that is not a control.
      await page.locator('.dpo-about').click();
      await page.keyboard.press('.');
      await waitFor(async () => (await metric(page, 'step')) === '1');
      await page.keyboard.press(' ');
      await waitFor(async () => Number(await metric(page, 'step')) > 5);
      await page.keyboard.press(' ');
      await page.evaluate(() => document.querySelector('[data-dpo-playground]').dpoPlayground.settled());
      await page.keyboard.press('r');
      await waitFor(async () => (await metric(page, 'step')) === '0');
      // With the focus on a button (after a click), '.' and 'r' still apply.
      await playground(page).getByRole('button', { name: 'Step', exact: true }).click();
      await waitFor(async () => (await metric(page, 'step')) === '1');
      await page.keyboard.press('.');
      await waitFor(async () => (await metric(page, 'step')) === '2');
      await page.keyboard.press('r');
      await waitFor(async () => (await metric(page, 'step')) === '0');
      await page.addScriptTag({ path: fileURLToPath(new URL('../../node_modules/axe-core/axe.min.js', import.meta.url)) });
      for (const viewport of [{ width: 1280, height: 800 }, { width: 390, height: 844 }]) {
        await page.setViewportSize(viewport);
        const violations = await page.evaluate(async () => {
          const result = await window.axe.run(document, { resultTypes: ['violations'] });
          return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
        });
        const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
        assert.deepEqual(serious, [], `axe-core at ${viewport.width}px: ${JSON.stringify(violations)}`);
      }
      assertNoErrors(page);
      await page.close();
    });

    if (mode.webgpu) {
      test('on its own the page trains small scenarios on the CPU and says why', async () => {
        const page = await open('?backend=auto');
        const backend = page.locator('span[data-backend]');
        assert.equal(await backend.getAttribute('data-backend'), 'cpu');
        assert.match(await backend.textContent(), /faster for this scenario.*WebGPU available/);
        await page.getByRole('button', { name: 'Use WebGPU' }).click();
        await page.waitForSelector('span[data-backend="webgpu"]');
        assert.match(await backend.textContent(), /chosen by you/);
        assertNoErrors(page);
        await page.close();
      });
    }

    test('big imports: no long task over 200 ms, Pause answers within 100 ms, light editors', async () => {
      const outputs = Array.from({ length: 5000 }, (_, i) => `o${i}`);
      const wide = { title: 'wide', outputs, reference: [outputs.map((_, i) => 1 + (i % 7))], pairs: Array.from({ length: 300 }, (_, i) => ({ chosen: `o${i}`, rejected: `o${i + 1}` })), runs: [{ name: 'DPO' }, { name: 'hinge', loss: 'hinge' }] };
      const few = Array.from({ length: 50 }, (_, i) => `o${i}`);
      const many = { title: 'many', outputs: few, reference: [few.map(() => 1)], pairs: Array.from({ length: 100000 }, (_, i) => ({ chosen: `o${i % 50}`, rejected: `o${((i % 50) + 1 + (i % 7)) % 50}` })), runs: [{ name: 'DPO' }, { name: 'hinge', loss: 'hinge' }] };
      // On the CPU in both passes: starting WebGPU for 100,000 pairs (its buffers and index) is
      // one task of its own, about 150-250 ms on SwiftShader, which this bound does not cover.
      const page = await open('?backend=cpu');
      const root = playground(page);
      for (const scenario of [wide, many]) {
        // The file is built in the page first (handing megabytes to the page is the test's own
        // long task), then chosen in the file input as a user would.
        await page.evaluate((text) => {
          window.__file = new File([text], 'big.json', { type: 'application/json' });
        }, JSON.stringify(scenario));
        await page.waitForTimeout(200);
        await page.evaluate(() => {
          window.__longTasks = [];
          window.__observer = new PerformanceObserver((list) => window.__longTasks.push(...list.getEntries().map((e) => Math.round(e.duration))));
          window.__observer.observe({ type: 'longtask' });
          const input = document.querySelector('[data-dpo-playground] input[type="file"]');
          const files = new DataTransfer();
          files.items.add(window.__file);
          input.files = files.files;
          input.dispatchEvent(new Event('change'));
        });
        await page.waitForFunction((title) => document.querySelector('.dpo-about strong').textContent === title, scenario.title, { timeout: 30000 });
        await page.waitForTimeout(500);
        // Train a while, then pause from a task queued behind whatever the page is doing.
        await root.getByRole('button', { name: 'Play' }).click();
        await page.waitForTimeout(1500);
        const pauseMs = await page.evaluate(
          () =>
            new Promise((resolve) => {
              const queued = performance.now();
              setTimeout(() => {
                document.querySelector('.play').click();
                resolve(performance.now() - queued);
              }, 0);
            }),
        );
        await page.waitForTimeout(300);
        const { tasks, nodes, playing } = await page.evaluate(() => {
          window.__observer.disconnect();
          const element = document.querySelector('[data-dpo-playground]');
          return { tasks: window.__longTasks, nodes: element.querySelectorAll('*').length, playing: 'playing' in element.dataset };
        });
        console.log(`import_${scenario.title}_long_tasks_ms=${JSON.stringify(tasks)} pause_ms=${pauseMs.toFixed(0)} nodes=${nodes}`);
        assert.ok(Math.max(0, ...tasks) <= 200, `${scenario.title}: long tasks ${tasks.join(', ')} ms`);
        assert.ok(pauseMs <= 100, `${scenario.title}: Pause answered after ${pauseMs} ms`);
        assert.equal(playing, false);
        assert.ok(nodes < 5000, `${scenario.title}: ${nodes} elements in the playground`);
        assert.ok(Number(await metric(page, 'step')) > 0, `${scenario.title} trained`);
      }
      // Too big for a link: the address holds no scenario, and the page says why.
      assert.equal(new URL(page.url()).hash, '');
      assert.match(await page.locator('.dpo-status').textContent(), /too big for a link/);
      // A runs-only edit (a slider) is applied at once (once a WebGPU step still in flight, a
      // slow one on SwiftShader with 100,000 pairs, has landed).
      await page.evaluate(() => document.querySelector('[data-dpo-playground]').dpoPlayground.settled());
      const slider = root.getByLabel('Run 2 γ (gamma) slider');
      await slider.focus();
      await slider.press('Home');
      await waitFor(async () => (await scenarioOf(page)).runs[1].gamma === 0, 20000);
      assertNoErrors(page);
      await page.close();
    });

    test('performance figures and a screenshot', async () => {
      const page = await open();
      await page.getByRole('button', { name: 'Play' }).click();
      await page.waitForFunction(() => document.querySelector('[data-dpo-playground]').dpoPlayground.stats.firstTrainedFrame !== null);
      const firstFrame = await page.evaluate(() => performance.getEntriesByName('dpo-first-trained-frame')[0].startTime);
      const speed = await page.evaluate(() => Number(document.querySelector('.speed input').value));
      assert.equal(speed, 10, 'the default speed is 10 steps per frame');
      const start = await page.evaluate(() => ({ frames: document.querySelector('[data-dpo-playground]').dpoPlayground.stats.playFrames, at: performance.now() }));
      await page.waitForTimeout(2000);
      const end = await page.evaluate(() => ({ frames: document.querySelector('[data-dpo-playground]').dpoPlayground.stats.playFrames, at: performance.now() }));
      const fps = ((end.frames - start.frames) * 1000) / (end.at - start.at);
      await page.getByRole('button', { name: 'Pause' }).click();

      // The whole site as the browser fetched it, gzipped.
      const urls = await page.evaluate(() => [location.href.split('#')[0], ...performance.getEntriesByType('resource').map((r) => r.name)]);
      let gzipped = 0;
      for (const url of new Set(urls.filter((u) => u.startsWith(new URL(BASE).origin)))) {
        const body = Buffer.from(await (await fetch(url)).arrayBuffer());
        gzipped += gzipSync(body, { level: 9 }).length;
      }
      const label = mode.webgpu ? 'webgpu_' : '';
      console.log(`${label}first_frame_ms=${firstFrame.toFixed(0)} ${label}fps=${fps.toFixed(1)} site_gzip_kb=${(gzipped / 1024).toFixed(1)}`);
      assert.ok(firstFrame < 5000, `first trained frame after ${firstFrame} ms`);
      assert.ok(fps > 20, `${fps} frames per second while training`);
      // A guard against growth by accident, not the target (issue 13's is 200 KB). The first load
      // was 300 KB until the page gained exercises, the Share / embed dialog (both loaded only
      // when used) and the embedding options (315 KB), then wasm SIMD, the sweeps and the
      // vectorised metrics (330 KB); the WebGPU backend in a module of its own, fetched only when
      // WebGPU trains, the JavaScript minified by `cargo xtask dist` and two links to Unicode and
      // float-parsing tables cut brought it to 242 KB, and the sweeps' new charts (frontier, heat
      // map, titles that fit) to 252 KB; one small sort for the page's sorts and binaryen's
      // passes for gzip took it to 241 KB (README, "Size"). This pass asks for WebGPU, so it
      // fetches that module too (about 140 KB more).
      const limit = mode.webgpu ? 395 : 250;
      assert.ok(gzipped <= limit * 1024, `the site is ${gzipped} bytes gzipped (guard: ${limit} KB)`);

      await page.waitForTimeout(500); // charts off screen catch up once paused
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: `${ARTIFACTS}${mode.screenshot}`, fullPage: true });
      // Narrow screens: nothing wider than the viewport but the scrollable tables.
      await page.setViewportSize({ width: 360, height: 780 });
      await page.waitForTimeout(300);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(overflow <= 362, `the page is ${overflow}px wide at 360px`);
      assertNoErrors(page);
      await page.close();
    });
  });
}
