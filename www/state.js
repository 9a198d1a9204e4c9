// The one declared state of a playground: the scenario (SPEC section 8), held as a plain object
// ("the model") that the editors change, that serialises to the scenario text the engine reads,
// and that round-trips through the URL hash. The engine stays the judge of validity: nothing here
// checks ranges, so that every error message comes from one place and names its field path.

import { canonicalScenario } from './pkg/dpo_playground.js';
import { presetText } from './engine.js';

/** Rounds a number read back from the engine to the precision it was stored with (f32), so that
 * 0.05 does not come back as 0.05000000074505806 in editors, links and exported files. */
function tidy(value) {
  if (typeof value !== 'number' || !Number.isFinite(value) || Number.isInteger(value)) return value;
  return Number(value.toPrecision(7));
}

/** Applies `tidy` to every number in a JSON value. */
export function tidyNumbers(value) {
  if (Array.isArray(value)) return value.map(tidyNumbers);
  if (value && typeof value === 'object') {
    const out = {};
    for (const [key, item] of Object.entries(value)) out[key] = tidyNumbers(item);
    return out;
  }
  return tidy(value);
}

/** Turns the engine's canonical scenario text (`pg.scenarioJson()`) into the model. Pairs refer to
 * prompts and outputs by index, so that renaming an output never breaks a pair. */
export function modelFromCanonical(text) {
  const raw = tidyNumbers(JSON.parse(text));
  const outputs = raw.outputs.map((o) => (typeof o === 'string' ? { label: o, length: 1 } : { label: o.label, length: o.length ?? 1 }));
  const prompts = raw.prompts ?? ['x0'];
  // Label lookups through maps: a pair list of 100,000 over 5,000 outputs stays linear.
  const outputAt = new Map(outputs.map((o, y) => [o.label, y]));
  const promptAt = new Map(prompts.map((p, x) => [p, x]));
  const outputIndex = (v) => (typeof v === 'number' ? v : (outputAt.get(v) ?? -1));
  const promptIndex = (v) => (typeof v === 'number' ? v : (promptAt.get(v) ?? 0));
  return {
    title: raw.title ?? '',
    description: raw.description ?? '',
    prompts,
    outputs,
    reference: raw.reference,
    pairs: (raw.pairs ?? []).map((p) => {
      const pair = { prompt: promptIndex(p.prompt ?? 0), chosen: outputIndex(p.chosen), rejected: outputIndex(p.rejected), weight: p.weight ?? 1 };
      // Held out of training by hand (`"split": "validation"`); "train" is the default.
      if (p.split === 'validation') pair.split = 'validation';
      return pair;
    }),
    reward: raw.reward ?? null,
    generate: raw.generate ?? null,
    steps: raw.steps ?? 200,
    runs: raw.runs.map(runFromCanonical),
    exercise: raw.exercise ?? null,
    // A sweep and held-out pairs travel with the scenario (the command line's `dpo sweep` runs
    // the sweep; the page trains the templates on the training pairs).
    sweep: raw.sweep ?? null,
    validation: raw.validation ?? null,
  };
}

/** The model of the scenario a Playground holds: its canonical form without the pairs, and the
 * pairs as numbers (`pairArray`), so that a large scenario is not written out and parsed again. */
export function modelFromEngine(pg) {
  const model = modelFromCanonical(pg.headerJson());
  const numbers = pg.pairArray();
  const pairs = new Array(numbers.length / 4);
  for (let i = 0; i < pairs.length; i += 1) {
    pairs[i] = { prompt: numbers[4 * i], chosen: numbers[4 * i + 1], rejected: numbers[4 * i + 2], weight: tidy(numbers[4 * i + 3]) };
  }
  // Without a `validation` block, the held-out pairs are the ones marked by hand.
  if (!model.validation) for (const i of pg.heldOutPairs()) if (i < pairs.length) pairs[i].split = 'validation';
  model.pairs = pairs;
  return model;
}

/** A run of the canonical form (init as a name or an object) as the editors hold it. */
export function runFromCanonical(run) {
  const init = typeof run.init === 'string' ? { kind: run.init } : { ...run.init };
  return { ...run, init, optimizer: { ...run.optimizer }, regularizer: { ...run.regularizer } };
}

/** The scenario object (SPEC section 8) for a model: labels rather than indices where that reads
 * better, and only the fields that are set. */
export function scenarioObject(model) {
  const label = (y) => model.outputs[y]?.label ?? y;
  const scenario = {};
  if (model.title) scenario.title = model.title;
  if (model.description) scenario.description = model.description;
  scenario.prompts = model.prompts;
  scenario.outputs = model.outputs.map((o) => (o.length === 1 ? o.label : { label: o.label, length: o.length }));
  scenario.reference = model.reference;
  scenario.pairs = model.pairs.map((p) => {
    const pair = { chosen: label(p.chosen), rejected: label(p.rejected) };
    if (model.prompts.length > 1) pair.prompt = model.prompts[p.prompt] ?? p.prompt;
    if (p.weight !== 1) pair.weight = p.weight;
    if (p.split === 'validation') pair.split = 'validation';
    return pair;
  });
  if (model.reward) scenario.reward = model.reward;
  if (model.generate) scenario.generate = model.generate;
  scenario.steps = model.steps;
  scenario.runs = runsObject(model);
  if (model.exercise) scenario.exercise = model.exercise;
  if (model.sweep) scenario.sweep = model.sweep;
  if (model.validation) scenario.validation = model.validation;
  return scenario;
}

function runsObject(model) {
  return model.runs.map((run) => ({
    ...run,
    init: run.init.kind === 'random' ? { kind: 'random', scale: run.init.scale } : run.init.kind,
  }));
}

/** The `runs` array of a model's scenario, as text (for edits that change only the runs). */
export function runsText(model) {
  return JSON.stringify(runsObject(model));
}

/** Roughly how many characters a model's scenario takes as text, without writing it out. */
export function approximateLength(model) {
  const cells = model.prompts.length * model.outputs.length;
  return 300 + 40 * model.pairs.length + 12 * cells * (model.reward ? 2 : 1) + 16 * model.outputs.length + 400 * model.runs.length;
}

/** Scenario text for a model; `pretty` for files people read. */
export function scenarioText(model, pretty = false) {
  return JSON.stringify(scenarioObject(model), null, pretty ? 2 : undefined);
}

/** A deep copy of a model (it is plain JSON data); with `runsOnly`, a copy whose runs are its
 * own and whose data is shared (for edits that change only the runs). */
export function cloneModel(model, runsOnly = false) {
  return runsOnly ? { ...model, runs: structuredClone(model.runs) } : structuredClone(model);
}

// ---- Share links: the scenario in the URL hash ----
//
// `#preset=ID`          a preset as shipped;
// `#from=ID&z1=DATA`    a scenario whose title and description are preset ID's (an edited preset),
//                       written without them (and without its exercise, when that is the
//                       preset's too);
// `#z1=DATA`            any other scenario.
// DATA is the scenario's compact JSON, compressed with raw DEFLATE (RFC 1951) and written in
// base64url (RFC 4648 section 5); `z1` names this first compressed form, so that a later form can
// come beside it. `#s=TEXT` (the scenario in base64url, uncompressed) is the first links' form
// and is still read. `dpo run` reads all of them (docs/scenario-format.md, "Share links").

function base64urlEncode(bytes) {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function base64urlBytes(data) {
  if (!/^[A-Za-z0-9_-]*$/.test(data)) throw new Error('the link contains characters that are not base64url');
  const base64 = data.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (data.length % 4)) % 4);
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

/** UTF-8 bytes as text; `fatal` so that a truncated link is reported, not decoded into
 * replacement characters. */
function utf8(bytes) {
  return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
}

async function through(bytes, transform) {
  return new Uint8Array(await new Response(new Blob([bytes]).stream().pipeThrough(transform)).arrayBuffer());
}

/** The hash fragment (with `#`) that carries a scenario: see the forms above. `presetId` names
 * the preset the text is, unchanged; `presets` are the shipped ones (`{id, title}`). */
export async function hashFor(text, presetId, presets) {
  if (presetId) return `#preset=${encodeURIComponent(presetId)}`;
  const scenario = JSON.parse(text);
  // An edited preset: the preset with its title, and its description too (read from its text,
  // fetched if need be; a preset that cannot be fetched is no base, and the link holds it all).
  const titled = presets.find((p) => p.title && p.title === scenario.title);
  const base = titled && (await presetText(titled.id).then((t) => JSON.parse(canonicalScenario(t)), () => null));
  let prefix = '';
  if (base && (base.description ?? '') === (scenario.description ?? '')) {
    delete scenario.title;
    delete scenario.description;
    // An exercise is long (question, explanation): left out when it is the preset's own.
    const { exercise } = base;
    if (exercise && JSON.stringify(exercise) === JSON.stringify(scenario.exercise)) delete scenario.exercise;
    prefix = `from=${encodeURIComponent(titled.id)}&`;
  }
  const compressed = await through(new TextEncoder().encode(JSON.stringify(scenario)), new CompressionStream('deflate-raw'));
  return `#${prefix}z1=${base64urlEncode(compressed)}`;
}

/** Reads a location hash: `null` when it carries no scenario, else `{text, presetId?}` or
 * `{error}` (a sentence saying why the link could not be read). */
export async function readHash(hash, presets) {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const presetNamed = (id) => {
    const preset = presets.find((p) => p.id === id);
    if (!preset) throw new Error(`it names a preset “${id}” that this version does not have`);
    return preset;
  };
  try {
    if (params.has('preset')) {
      const preset = presetNamed(params.get('preset'));
      return { text: await presetText(preset.id), presetId: preset.id };
    }
    if (params.has('z1')) {
      const text = utf8(await through(base64urlBytes(params.get('z1')), new DecompressionStream('deflate-raw')).catch((error) => {
        throw new Error(`its data is not a compressed scenario (${error.message})`);
      }));
      if (!params.has('from')) return { text };
      const base = JSON.parse(canonicalScenario(await presetText(presetNamed(params.get('from')).id)));
      const scenario = JSON.parse(text);
      const { title, description, exercise } = base;
      return { text: JSON.stringify({ title, description, ...(exercise ? { exercise } : {}), ...scenario }) };
    }
    if (params.has('s')) return { text: utf8(base64urlBytes(params.get('s'))) };
  } catch (error) {
    return { error: `the link's scenario could not be decoded (${error.message})` };
  }
  return null;
}
