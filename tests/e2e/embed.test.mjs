// End-to-end tests of <dpo-playground> in a hostile host page (www/embed-demo.html: an article
// with its own CSS on bare elements, a 680 px column, two elements and one iframe), with and
// without WebGPU. Run with the other browser tests: DPO_BASE_URL=... node --test tests/e2e/

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';

const BASE = process.env.DPO_BASE_URL;
if (!BASE) throw new Error('set DPO_BASE_URL to the static server serving the playground');
const CHROMIUM = process.env.DPO_CHROMIUM ?? '/usr/bin/chromium';
const COMMON_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const WEBGPU_ARGS = ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader'];
const MODES = [
  { name: 'without WebGPU', args: COMMON_ARGS, webgpu: false },
  { name: 'with WebGPU', args: [...COMMON_ARGS, ...WEBGPU_ARGS], webgpu: true },
];

async function waitFor(condition, timeout = 8000) {
  const end = Date.now() + timeout;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${condition}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The step count an element shows ('' before it is up). */
function stepOf(page, id) {
  return page.evaluate((id) => Number(document.getElementById(id).shadowRoot.querySelector('.step-count')?.textContent.replace('step ', '') ?? NaN), id);
}

for (const mode of MODES) {
  describe(`<dpo-playground> ${mode.name}`, () => {
    let browser;
    before(async () => {
      browser = await chromium.launch({ executablePath: CHROMIUM, args: mode.args });
    });
    after(async () => {
      await browser?.close();
    });

    async function open(path, viewport = { width: 1280, height: 900 }) {
      const page = await browser.newPage({ viewport });
      page.setDefaultTimeout(10000);
      page.errors = [];
      page.on('pageerror', (error) => page.errors.push(error.stack ?? String(error)));
      page.wasmFetches = [];
      page.sameOriginFetches = [];
      page.on('request', (request) => {
        if (request.frame() !== page.mainFrame()) return;
        if (request.url().endsWith('.wasm')) page.wasmFetches.push(request.url());
        if (request.url().startsWith(new URL(BASE).origin)) page.sameOriginFetches.push(request.url());
      });
      await page.goto(new URL(path, BASE).href);
      return page;
    }

    test('in a hostile article: isolated both ways, compact, autoplay to `steps`, locks, no address change', async () => {
      // The article without the playgrounds, for its computed styles.
      const bare = await open('www/embed-demo.html');
      const articleStyles = (page) =>
        page.evaluate(() => {
          const body = getComputedStyle(document.body);
          const article = document.querySelector('article');
          const paragraph = getComputedStyle(document.querySelector('article p'));
          return { font: `${body.fontFamily} ${body.fontSize}`, background: body.backgroundColor, width: article.getBoundingClientRect().width, paragraph: `${paragraph.fontFamily} ${paragraph.textAlign}` };
        });
      await bare.evaluate(() => {
        for (const element of document.querySelectorAll('dpo-playground, iframe')) element.remove();
      });
      const without = await articleStyles(bare);
      await bare.close();

      const page = await open('www/embed-demo.html');
      const address = page.url();
      const first = page.locator('#first');
      await first.scrollIntoViewIfNeeded();
      // Autoplay: the first starts once half of it is in view and stops at the preset's 200 steps.
      await waitFor(async () => (await stepOf(page, 'first')) === 200, 20000);
      await page.waitForTimeout(300);
      assert.equal(await stepOf(page, 'first'), 200, 'autoplay stops at `steps`');
      assert.deepEqual(await articleStyles(page), without, 'the article looks the same with the playgrounds');
      const inside = await page.evaluate(() => {
        const root = document.getElementById('first').shadowRoot;
        const button = root.querySelector('button.play');
        const table = root.querySelector('table');
        const label = root.querySelector('label');
        const host = document.getElementById('first');
        const overflowing = [...root.querySelectorAll('*')].filter((e) => e.getBoundingClientRect().right > host.getBoundingClientRect().right + 1 && e.checkVisibility()).map((e) => e.className || e.tagName);
        return {
          transform: getComputedStyle(button).textTransform,
          font: getComputedStyle(button).fontFamily,
          tableBorder: getComputedStyle(table).borderTopWidth,
          labelStyle: getComputedStyle(label).fontStyle,
          height: host.getBoundingClientRect().height,
          width: host.getBoundingClientRect().width,
          overflowing,
          claimsShown: root.querySelector('details.claims').checkVisibility(),
        };
      });
      assert.equal(inside.transform, 'none', 'the article’s button rule does not reach in');
      assert.doesNotMatch(inside.font, /Georgia/);
      assert.equal(inside.tableBorder, '0px', 'the article’s table rule does not reach in');
      assert.equal(inside.labelStyle, 'normal');
      assert.ok(inside.width <= 700, `in the article's column (${inside.width} px)`);
      assert.ok(inside.height <= 900, `a compact element is at most 900 px tall (${inside.height} px)`);
      assert.deepEqual(inside.overflowing, [], 'nothing overflows the element');
      assert.equal(inside.claimsShown, false, '`hide="claims"` hides the claims');

      // The second: an inline scenario, the loss locked (with the reason), β and γ not.
      const second = page.locator('#second');
      await second.scrollIntoViewIfNeeded();
      await waitFor(() => page.evaluate(() => Boolean(document.getElementById('second').playground)));
      assert.equal(await second.locator('.knob-card').count(), 2);
      const loss = second.getByLabel('Run 1 loss');
      assert.equal(await loss.isDisabled(), true, '`lock="loss"` disables the loss');
      assert.equal(await loss.getAttribute('title'), 'Locked by this page');
      assert.equal(await second.getByLabel('Run 1 γ (gamma)', { exact: true }).isDisabled(), false);
      assert.equal(await stepOf(page, 'second'), 0, 'without autoplay the second waits');

      // The article's text drives it: its button sets γ = 0 in every run.
      await page.locator('#gamma-zero').click();
      await waitFor(async () => (await second.getByLabel('Run 1 γ (gamma)', { exact: true }).inputValue()) === '0');

      // Playing, it trains while seen and holds while scrolled away.
      await second.getByRole('button', { name: 'Play' }).click();
      await waitFor(async () => (await stepOf(page, 'second')) > 20);
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.waitForTimeout(400);
      const away = await stepOf(page, 'second');
      await page.waitForTimeout(600);
      assert.equal(await stepOf(page, 'second'), away, 'an element out of view stops stepping');
      await second.scrollIntoViewIfNeeded();
      await waitFor(async () => (await stepOf(page, 'second')) > away);
      await second.getByRole('button', { name: 'Pause' }).click();
      assert.equal(await stepOf(page, 'first'), 200, 'the first did not move');

      // The frame: the iframe route fills it, and it grows to its content's height.
      const frame = page.locator('#frame');
      await frame.scrollIntoViewIfNeeded();
      await waitFor(async () => (await frame.evaluate((f) => f.getBoundingClientRect().height)) !== 600);
      const framed = page.frameLocator('#frame');
      await framed.locator('dpo-playground .step-count').waitFor();
      const frameHeight = await frame.evaluate((f) => f.getBoundingClientRect().height);
      assert.ok(frameHeight > 400 && frameHeight < 1200, `the frame sized itself (${frameHeight} px)`);

      assert.equal(page.url(), address, 'no element writes the address');
      // Figures for the README: what the page fetched for its two elements (the frame aside),
      // gzipped, and the autoplay's first frame (printed: a time depends on the machine).
      const firstFrame = await page.evaluate(() => document.getElementById('first').playground.stats.firstTrainedFrame);
      let gzipped = 0;
      for (const url of new Set(page.sameOriginFetches)) gzipped += gzipSync(Buffer.from(await (await fetch(url)).arrayBuffer()), { level: 9 }).length;
      console.log(`embed_first_load_gzip_kb=${(gzipped / 1024).toFixed(1)} embed_autoplay_first_trained_frame_ms=${firstFrame?.toFixed(0)}`);
      // Issue 9's budget for a page with one compact element, held here by a page with two (and
      // the article), as `cargo xtask dist` ships the site (minified): the byte count does not
      // depend on the machine, so it is asserted.
      assert.ok(gzipped <= 250 * 1024, `the article's first load is ${(gzipped / 1024).toFixed(1)} KB gzipped (budget: 250 KB)`);
      // The engine is fetched once for the page, not per element, and the WebGPU module not at
      // all: these small presets train on the CPU (with WebGPU too, the automatic choice
      // measures the CPU first), so the page never downloads it.
      assert.deepEqual(page.wasmFetches.map((url) => url.split('/').pop()), ['dpo_playground_bg.wasm'], `the engine once, and nothing else: ${page.wasmFetches}`);
      // A compact element's editors come with their first opening (editors.js is not in the
      // first load above), and then show the data.
      assert.ok(!page.sameOriginFetches.some((url) => url.endsWith('/editors.js')), 'editors.js is not in the first load');
      assert.equal(await first.evaluate((element) => element.shadowRoot.querySelectorAll('.pair-row').length), 0);
      await first.getByRole('button', { name: 'Edit the data and runs' }).click();
      await waitFor(async () => (await first.evaluate((element) => element.shadowRoot.querySelectorAll('.pair-row:not(.row-head)').length)) > 0);
      assert.ok(page.sameOriginFetches.some((url) => url.endsWith('/editors.js')), 'editors.js is fetched when the editors open');
      assert.deepEqual(page.errors, []);
      await page.close();
    });

    test('the Share / embed dialog writes snippets that reproduce the scenario', async () => {
      const full = await open('');
      await full.waitForFunction(() => document.querySelector('[data-dpo-playground]')?.dpoPlayground);
      await full.getByLabel('Run 1 β (beta)', { exact: true }).fill('0.7');
      await full.getByRole('button', { name: 'Share / embed' }).click();
      const dialog = full.getByRole('dialog', { name: 'Share or embed this scenario' });
      await dialog.getByLabel('Autoplay when seen').check();
      await dialog.locator('fieldset', { hasText: 'Lock' }).getByLabel('loss').check();
      // Each change rewrites the snippets when its update lands: wait for the last one's.
      await waitFor(async () => (await dialog.getByLabel('Element snippet').inputValue()).includes('lock="loss" autoplay'));
      const link = await dialog.getByLabel('Link').inputValue();
      const snippet = await dialog.getByLabel('Element snippet').inputValue();
      const frame = await dialog.getByLabel('Iframe snippet').inputValue();
      assert.match(link, /#from=default&z1=/);
      assert.match(snippet, /<dpo-playground layout="compact" lock="loss" autoplay>/);
      assert.match(snippet, /<script type="application\/json">/);
      assert.match(frame, /embed\.html\?layout=compact&amp;lock=loss&amp;autoplay#from=default&amp;z1=/);
      await full.close();

      // The element snippet, put into another page, shows the edited runs with the lock.
      const page = await open('www/embed-demo.html');
      await page.evaluate((snippet) => {
        const fragment = document.createRange().createContextualFragment(snippet.replace(/<script type="module"[^>]*><\/script>/, ''));
        fragment.querySelector('dpo-playground').id = 'pasted';
        document.querySelector('article').prepend(fragment);
      }, snippet);
      const pasted = page.locator('#pasted');
      await pasted.getByLabel('Run 1 β (beta)', { exact: true }).waitFor();
      assert.equal(await pasted.getByLabel('Run 1 β (beta)', { exact: true }).inputValue(), '0.7');
      assert.equal(await pasted.getByLabel('Run 1 loss').isDisabled(), true);
      assert.deepEqual(page.errors, []);
      await page.close();
    });

    test('a teacher makes an exercise in the dialog; its link marks the measured answer all right', async () => {
      const full = await open('#preset=default');
      await full.waitForFunction(() => document.querySelector('[data-dpo-playground]')?.dpoPlayground);
      await full.getByRole('button', { name: 'Share / embed' }).click();
      const dialog = full.getByRole('dialog', { name: 'Share or embed this scenario' });
      await dialog.getByLabel('Make it an exercise').check();
      await dialog.getByLabel('Question').fill('Which cells learn when γ = β?');
      await dialog.getByLabel('Explanation shown after the reveal').fill('<b>not bold</b>: text, never HTML');
      // Last, so that the update it makes reads every field (the text fields update after a pause).
      await dialog.getByLabel('Also ask which run ends with').selectOption('kl');
      await waitFor(async () => /^The answer, measured over \d+ steps.*higher kl/.test(await dialog.locator('.exercise-answer').textContent()) && (await dialog.getByLabel('Link').inputValue()).includes('z1='), 20000);
      const answer = await dialog.locator('.exercise-answer').textContent();
      const link = await dialog.getByLabel('Link').inputValue();
      assert.doesNotMatch(link, /#preset=/, 'an exercise makes the preset another scenario');
      await full.close();

      // A student opens the link: the question, nothing measured, then the measured answer marks
      // every cell right.
      const student = await open(link);
      await student.waitForFunction(() => document.querySelector('[data-dpo-playground]')?.dpoPlayground);
      const root = student.locator('[data-dpo-playground]');
      assert.equal(await root.locator('.exercise-question').textContent(), 'Which cells learn when γ = β?');
      const block = await student.evaluate(() => JSON.parse(document.querySelector('[data-dpo-playground]').dpoPlayground.scenario()).exercise);
      assert.ok(block.predict.length >= 2 && block.compare?.metric === 'kl', JSON.stringify(block));
      const fieldsets = root.locator('.exercise-run');
      for (const [i, { learns }] of block.predict.entries()) {
        for (const cell of learns) await fieldsets.nth(i).locator(`input[value="${cell}"]`).check();
      }
      const runNames = await student.evaluate(() => JSON.parse(document.querySelector('[data-dpo-playground]').dpoPlayground.scenario()).runs.map((r) => r.name));
      const higher = typeof block.compare.higher === 'number' ? block.compare.higher : runNames.indexOf(block.compare.higher);
      assert.match(answer, new RegExp(`higher kl: “${runNames[higher].replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}”`));
      await root.locator(`.exercise-run input[type="radio"][value="${higher}"]`).check();
      await root.getByRole('button', { name: 'Run and reveal' }).click();
      await waitFor(async () => /cells right/.test(await root.locator('.exercise-result').textContent()), 20000);
      const cells = block.predict.length * 4;
      assert.match(await root.locator('.exercise-result').textContent(), new RegExp(`^${cells} of ${cells} cells right; the comparison right`));
      assert.equal(await root.locator('.exercise-explanation').textContent(), '<b>not bold</b>: text, never HTML');
      assert.deepEqual(student.errors, []);
      await student.close();
    });

    test('bad attributes say what is wrong, inside the element and as an event', async () => {
      const page = await open('www/embed-demo.html');
      // A preset's file that the host cannot serve (the engine's module lists the presets and
      // holds only the default's text).
      await page.route('**/pkg/presets/unlearning.json', (route) => route.fulfill({ status: 503, body: 'down' }));
      const messages = await page.evaluate(async () => {
        const cases = [
          ['preset', 'gama-zero'],
          ['src', 'no/such/scenario.json'],
          ['layout', 'tiny'],
          ['hide', 'curves, charts'],
          ['preset', 'unlearning'],
        ];
        const results = [];
        for (const [name, value] of cases) {
          const element = document.createElement('dpo-playground');
          element.setAttribute(name, value);
          const event = new Promise((resolve) => element.addEventListener('dpo-error', (e) => resolve(e.detail.message), { once: true }));
          document.querySelector('article').prepend(element);
          const message = await event;
          results.push([message, element.shadowRoot.querySelector('.dpo-error')?.textContent ?? '']);
        }
        return results;
      });
      const expected = [/unknown preset “gama-zero”.*gamma-zero/, /src="no\/such\/scenario.json" could not be fetched \(HTTP 404\)/, /layout="tiny" is not one of full, compact/, /hide: unknown name “charts”/, /the preset “unlearning” could not be fetched \(HTTP 503\)/];
      messages.forEach(([event, shown], i) => {
        assert.match(event, expected[i]);
        assert.match(shown, expected[i], 'the element shows it too');
      });
      await page.close();
    });

    test('changed attributes rebuild a started element; a bad one is said, a good one recovers', async () => {
      const page = await open('www/embed-demo.html');
      const seen = await page.evaluate(async () => {
        const element = document.createElement('dpo-playground');
        element.setAttribute('preset', 'default');
        const ready = () => new Promise((resolve) => element.addEventListener('dpo-ready', resolve, { once: true }));
        const failed = () => new Promise((resolve) => element.addEventListener('dpo-error', (e) => resolve(e.detail.message), { once: true }));
        let up = ready();
        document.querySelector('article').prepend(element);
        await up;
        const state = () => ({
          title: JSON.parse(element.scenario).title,
          editors: element.shadowRoot.querySelector('.dpo-editors')?.hidden === false,
          containers: element.shadowRoot.querySelectorAll('.dpo').length,
        });
        const before = state();
        // Two attributes in one go: one rebuild, to the new preset, without the editors.
        up = ready();
        element.setAttribute('preset', 'gamma-zero');
        element.setAttribute('hide', 'editors');
        await up;
        const after = state();
        element.play();
        const stepShown = () => Number(element.shadowRoot.querySelector('.step-count')?.textContent.replace('step ', ''));
        // The first WebGPU step takes a moment (the device and its pipelines).
        for (let waited = 0; !(stepShown() > 0) && waited < 8000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
        const step = stepShown();
        const bad = failed();
        element.setAttribute('preset', 'gama-zero');
        const message = await bad;
        up = ready();
        element.setAttribute('preset', 'simpo');
        await up;
        return { before, after, step, message, recovered: state() };
      });
      assert.equal(seen.before.title, 'DPO vs hinge vs gamma = 0');
      assert.equal(seen.before.editors, true, 'the full layout has the editors');
      assert.notEqual(seen.after.title, seen.before.title, 'the new preset is loaded');
      assert.match(seen.after.title, /gamma = 0|γ = 0/i);
      assert.equal(seen.after.editors, false, 'hide="editors" took effect');
      assert.equal(seen.after.containers, 1, 'the old playground is gone');
      assert.ok(seen.step > 0, `the rebuilt element trains (step ${seen.step})`);
      assert.match(seen.message, /unknown preset “gama-zero”/);
      assert.match(seen.recovered.title, /SimPO/i);
      assert.deepEqual(page.errors, []);
      await page.close();
    });
  });
}
