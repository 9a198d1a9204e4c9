// Whole scenarios in and out of one playground: the scenario to start from, loading one (a preset,
// a file, a link, the JSON editor; large text in parts), the Scenario file section (import, drop,
// the JSON editor, exports of the scenario and the metrics CSV), and the share link in the URL
// hash. Edits of parts of a scenario go through `view.apply` instead (playground.js).

import { ScenarioParts, defaultScenario } from './pkg/dpo_playground.js';
import { h, download } from './dom.js';
import { presetText } from './engine.js';
import { describeError, problemWith } from './errors.js';
import { modelFromEngine, scenarioText, approximateLength, hashFor, readHash } from './state.js';

/** The largest scenario the JSON text area shows. */
const MAX_EDITABLE_CHARS = 500_000;
/** Scenario text past this size is imported in parts (see `loadText`). */
const LARGE_TEXT = 256 * 1024;
/** Pairs handed to the engine per part: about 10 ms of parsing each. */
const PAIRS_PER_PART = 5000;

/** The longest `#s=` link the page writes: longer ones are cut by mail and chat programs and
 * slow every history update (a 100,000-pair scenario would be megabytes). */
const MAX_LINK_CHARS = 32_000;

function tooBigForLink(length) {
  return `This scenario is too big for a link (about ${length.toLocaleString('en')} characters; links stop at ${MAX_LINK_CHARS.toLocaleString('en')}), so the address does not hold it: share it with “Export scenario” in the Scenario file section.`;
}

function linkUnusable(problem) {
  return `The scenario in this link could not be used (${problem}), so the default scenario is shown instead.`;
}

/** Resolves in a later task, letting the browser draw and handle input in between. */
function nextTask() {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** The scenario a playground starts from (see `mountPlayground`'s options), and a message when
 * the URL's or the given scenario could not be used. */
export async function initialScenario(options, presets) {
  const fallback = async () => {
    if (options.scenario !== undefined && options.scenario !== null) return options.scenario;
    if (!options.preset) return defaultScenario();
    const preset = presets.find((p) => p.id === options.preset);
    // A misspelt preset is an error the page shows, never a silent default.
    if (!preset) throw new Error(`unknown preset “${options.preset}” (the presets: ${presets.map((p) => p.id).join(', ')})`);
    return presetText(preset.id);
  };
  if (options.urlState) {
    const fromHash = await readHash(location.hash, presets);
    if (fromHash) {
      const problem = fromHash.error ?? problemWith(fromHash.text);
      if (!problem) return { text: fromHash.text };
      return { text: defaultScenario(), message: linkUnusable(problem) };
    }
  }
  const text = await fallback();
  const problem = problemWith(text);
  if (problem) return { text: defaultScenario(), message: `The given scenario is invalid (${problem}); showing the default scenario.` };
  return { text };
}

export class Files {
  /** Builds the Scenario file section into `container`, and takes files dropped on the playground. */
  constructor(view, container) {
    this.view = view;
    // The hash this playground last wrote (its own writes are not links to load), and whether the
    // status line has said that this scenario is too big for a link.
    this.lastHash = '';
    this.linkTooBig = false;
    this.hashWrites = 0;
    container.append(this.buildSection());
    this.bindDrop();
  }

  // ---- Loading a whole scenario ----

  /**
   * Replaces the whole scenario (preset, import, link, JSON editor): validated first; every run
   * restarts. Returns `null` or the error text.
   */
  load(text, { presetId = null, announce = null } = {}) {
    // setScenario validates (and estimates the memory) before it changes anything.
    try {
      this.view.pg.setScenario(text);
    } catch (error) {
      return describeError(error);
    }
    this.view.pg.reset();
    this.afterLoad(text, presetId, announce);
    return null;
  }

  /**
   * `load` for text of any size; resolves to `null` or the error text. Past LARGE_TEXT the text
   * is parsed by the browser and handed to the engine in parts (the scenario without its pairs,
   * then PAIRS_PER_PART pairs at a time), yielding between parts, so that importing 100,000
   * pairs never holds the tab for long; Pause and the charts keep working meanwhile.
   */
  async loadText(text, options = {}) {
    const { view } = this;
    if (text.length <= LARGE_TEXT) {
      // The engine first; the view (editors, tables) in the next task, so neither is long.
      try {
        view.pg.setScenario(text);
      } catch (error) {
        return describeError(error);
      }
      view.pg.reset();
      await nextTask();
      await this.afterLoadInSteps(text, options.presetId ?? null, options.announce ?? null);
      return null;
    }
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch {
      return this.load(text, options); // the engine names the line and column
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed) || !Array.isArray(parsed.pairs)) return this.load(text, options);
    const { pairs } = parsed;
    let parts;
    try {
      parts = new ScenarioParts(JSON.stringify({ ...parsed, pairs: [] }));
      for (let start = 0; start < pairs.length; start += PAIRS_PER_PART) {
        view.note(`Reading the scenario: ${start.toLocaleString('en')} of ${pairs.length.toLocaleString('en')} pairs…`);
        parts.addPairs(JSON.stringify(pairs.slice(start, start + PAIRS_PER_PART)));
        await nextTask();
      }
      const whole = parts;
      parts = null; // setScenarioParts uses them up, even when it throws
      view.pg.setScenarioParts(whole);
    } catch (error) {
      parts?.free();
      view.note('');
      return describeError(error);
    }
    await nextTask();
    view.pg.reset();
    await nextTask();
    await this.afterLoadInSteps(text, options.presetId ?? null, options.announce ?? null);
    return null;
  }

  /** After a scenario was loaded into the engine (and its runs reset): the view follows it. */
  afterLoad(text, presetId, announce) {
    this.followEngine(text, presetId);
    this.view.editors.renderAll();
    this.finishLoad(announce);
  }

  /** `afterLoad` in three tasks, for large scenarios: the model, the editors, the rest. */
  async afterLoadInSteps(text, presetId, announce) {
    this.followEngine(text, presetId);
    await nextTask();
    this.view.editors.renderAll();
    await nextTask();
    this.finishLoad(announce);
  }

  /** The model, the preset and the run names follow the engine's new scenario; old errors go. */
  followEngine(text, presetId) {
    const { view } = this;
    this.linkTooBig = false;
    view.model = modelFromEngine(view.pg);
    view.presetId = presetId ?? view.presetIdFor(text);
    view.errors.clear(null);
    view.namedByUser.clear();
  }

  /** The rest follows the model: cards, charts, tables, the JSON text, the link, the backend. */
  finishLoad(announce) {
    const { view } = this;
    view.knobs.render();
    view.rebuildStructures();
    view.refreshAbout();
    this.refreshScenarioText(true);
    this.saveHash();
    view.backend.scenarioChanged();
    // An open Sweep panel's results describe the old scenario.
    view.sweep?.scenarioChanged();
    view.note(announce ?? '');
  }

  // ---- The URL hash ----

  /** Writes the scenario to the address now, and loads the scenario of a link opened later. */
  followHash() {
    this.saveHash(true);
    this.hashListener = () => this.onHashChange();
    window.addEventListener('hashchange', this.hashListener);
  }

  unfollowHash() {
    if (this.hashListener) window.removeEventListener('hashchange', this.hashListener);
    clearTimeout(this.hashTimer);
  }

  saveHash(now = false) {
    const { view } = this;
    if (!view.options.urlState) return;
    clearTimeout(this.hashTimer);
    const write = async () => {
      // Far over the limit: say so without writing the scenario out (megabytes for a big one;
      // compression gains about 3 times on a scenario's JSON).
      const approximate = Math.ceil((approximateLength(view.model) * 4) / 3);
      const written = ++this.hashWrites;
      const hash = approximate > 12 * MAX_LINK_CHARS ? null : await this.linkHash();
      // A later edit's write has started meanwhile: it has the newer scenario.
      if (written !== this.hashWrites) return;
      if (hash === null || hash.length > MAX_LINK_CHARS) {
        // Too big for a link that survives being shared: no link rather than one that breaks,
        // and the address no longer holds an older scenario either.
        this.lastHash = '';
        if (location.hash) history.replaceState(history.state, '', location.pathname + location.search);
        if (!this.linkTooBig) {
          // Added to what the status line says (e.g. "Imported ..."), unless that is an error.
          const said = view.status.classList.contains('error') ? '' : view.status.textContent;
          view.note([said, tooBigForLink(hash?.length ?? approximate)].filter(Boolean).join(' '));
        }
        this.linkTooBig = true;
        return;
      }
      this.linkTooBig = false;
      this.lastHash = hash;
      if (location.hash !== hash) history.replaceState(history.state, '', hash);
    };
    // Debounced: dragging a bar applies many edits a second.
    if (now) write();
    else this.hashTimer = setTimeout(write, 250);
  }

  /** The share link's hash for the scenario as it is (see state.js for the forms). */
  linkHash() {
    const { view } = this;
    return hashFor(scenarioText(view.model), view.presetId, view.presets);
  }

  async onHashChange() {
    if (location.hash === this.lastHash) return;
    const fromHash = await readHash(location.hash, this.view.presets);
    if (!fromHash) return;
    const problem = fromHash.error ?? this.load(fromHash.text, { presetId: fromHash.presetId ?? null, announce: 'Loaded the scenario from the link.' });
    if (problem) {
      this.load(defaultScenario(), { presetId: 'default' });
      this.view.note(linkUnusable(problem), 'error');
    }
  }

  async copyLink() {
    const url = new URL(location.href);
    url.hash = await this.linkHash();
    if (url.hash.length > MAX_LINK_CHARS) {
      this.view.note(tooBigForLink(url.hash.length), 'error');
      return;
    }
    try {
      await navigator.clipboard.writeText(url.href);
      this.view.note('Copied a link to this scenario.');
    } catch {
      this.view.note(`Copy this link: ${url.href}`);
    }
  }

  // ---- The Scenario file section ----

  buildSection() {
    const fileInput = h('input', { type: 'file', accept: '.json,application/json', class: 'visually-hidden', 'data-lock-path': 'scenario' });
    fileInput.addEventListener('change', async () => {
      const file = fileInput.files?.[0];
      if (file) this.importText(await file.text(), file.name);
      fileInput.value = '';
    });
    this.scenarioArea = h('textarea', { rows: 14, spellcheck: 'false', autocomplete: 'off', 'aria-label': 'Scenario JSON', 'data-path': '' });
    this.scenarioArea.setAttribute('aria-description', 'The whole scenario as JSON (SPEC section 8). Edit it and press Apply.');
    this.scenarioCheck = h('p', { class: 'scenario-check help', 'aria-live': 'polite' });
    let timer = 0;
    this.scenarioArea.addEventListener('input', () => {
      this.scenarioArea.dataset.edited = '';
      clearTimeout(timer);
      timer = setTimeout(() => this.checkScenarioText(), 200);
    });
    this.section = h(
      'details',
      { class: 'editor file' },
      h('summary', {}, 'Scenario file: import, export, share'),
      h('p', { class: 'help' }, 'Import a scenario file with the button, or drop a .json file anywhere on the playground. Exports: the scenario, the metrics recorded so far (CSV), and each chart (PNG/SVG buttons above it).'),
      h(
        'div',
        { class: 'row buttons wrap' },
        h('label', { class: 'button' }, fileInput, 'Import JSON…'),
        h('button', { type: 'button', onclick: () => this.exportScenario() }, 'Export scenario'),
        h('button', { type: 'button', onclick: () => this.exportCsv() }, 'Export metrics CSV'),
        h('button', { type: 'button', onclick: () => this.copyLink() }, 'Copy link'),
      ),
      this.scenarioArea,
      h('div', { class: 'row buttons' }, h('button', { type: 'button', 'data-lock-path': 'scenario', onclick: () => this.applyScenarioText() }, 'Apply JSON'), h('button', { type: 'button', onclick: () => this.refreshScenarioText(true) }, 'Revert')),
      this.scenarioCheck,
    );
    this.section.addEventListener('toggle', () => this.refreshScenarioText());
    return this.section;
  }

  /** Shows the current scenario in the JSON editor, unless the user is editing it. */
  refreshScenarioText(force = false) {
    if (!force && ('edited' in this.scenarioArea.dataset || !this.section.open)) return;
    delete this.scenarioArea.dataset.edited;
    const { model } = this.view;
    if (approximateLength(model) > MAX_EDITABLE_CHARS) {
      // Megabytes of text in a text area freeze the tab: the file is the way to edit this one.
      this.scenarioArea.value = '';
      this.scenarioCheck.textContent = `This scenario is too large to edit as text here (about ${approximateLength(model).toLocaleString('en')} characters): use Export scenario, edit the file, and import it.`;
      return;
    }
    this.scenarioArea.value = scenarioText(model, true);
    this.scenarioCheck.textContent = '';
  }

  checkScenarioText() {
    const problem = problemWith(this.scenarioArea.value);
    this.scenarioCheck.textContent = problem ? `Invalid: ${problem}` : 'Valid scenario: press Apply JSON to load it.';
    this.scenarioCheck.classList.toggle('error', Boolean(problem));
  }

  async applyScenarioText() {
    const problem = await this.loadText(this.scenarioArea.value, { announce: 'Loaded the edited scenario; every run restarted.' });
    if (problem) {
      this.scenarioCheck.textContent = `Invalid: ${problem}`;
      this.scenarioCheck.classList.add('error');
      this.view.note(`Not applied — ${problem}`, 'error');
    }
  }

  /** Loads imported text; on an error, the text stays in the JSON editor to be fixed. */
  async importText(text, name) {
    const problem = await this.loadText(text, { announce: `Imported ${name}; every run restarted.` });
    if (problem) {
      this.section.open = true;
      this.scenarioArea.value = text;
      this.scenarioArea.dataset.edited = '';
      this.scenarioCheck.textContent = `Invalid: ${problem}`;
      this.scenarioCheck.classList.add('error');
      this.view.note(`Could not import ${name}: ${problem}`, 'error');
    }
  }

  /** A .json file dropped anywhere on the playground is imported. */
  bindDrop() {
    const { root } = this.view;
    // A page that locks the data or the runs takes no dropped scenario either.
    const hasFiles = (event) => [...(event.dataTransfer?.types ?? [])].includes('Files') && !this.view.locked('scenario');
    root.addEventListener('dragover', (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      root.classList.add('dropping');
    });
    root.addEventListener('dragleave', (event) => {
      if (!root.contains(event.relatedTarget)) root.classList.remove('dropping');
    });
    root.addEventListener('drop', async (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      root.classList.remove('dropping');
      const file = event.dataTransfer.files[0];
      if (file) this.importText(await file.text(), file.name);
    });
  }

  // ---- Exports ----

  /** The name every exported file starts with: the preset's, else "scenario". */
  fileStem() {
    return (this.view.presetId || 'scenario').replace(/[^a-z0-9-]+/gi, '-');
  }

  exportScenario() {
    download(`${this.fileStem()}.json`, new Blob([scenarioText(this.view.model, true) + '\n'], { type: 'application/json' }));
  }

  exportCsv() {
    download(`${this.fileStem()}-metrics.csv`, new Blob([this.view.pg.metricsCsv()], { type: 'text/csv' }));
  }
}
