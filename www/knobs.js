// The argument's knobs, where the eyes are: one compact card per run beside the charts, with the
// loss, a log slider for β, a log slider for γ that reaches 0, and the margin. Moving a slider
// edits the run at once (through `view.apply`, as the editors do), while it trains. The full
// run editor (optimiser, init, seed, regulariser...) stays in the Runs section below.
//
// Run names follow their settings: a run whose name the user has not typed is named from its
// loss, β, γ, margin, α and length normalisation (`derivedName`), and renamed when they change.

import { h, select, numberInput } from './dom.js';
import { FieldError, choices } from './runs.js';


/** Slider positions 1..100 map to 10^((p − 60)/20): 0.0011 … 1 (at 60) … 100; γ's 0 is 0. */
export function sliderValue(position) {
  const p = Number(position);
  if (p <= 0) return 0;
  return Number((10 ** ((p - 60) / 20)).toPrecision(2));
}

/** The slider position that shows `value` (clamped to the slider's range). */
export function sliderPosition(value, min = 0) {
  if (!(value > 0)) return min;
  return Math.min(100, Math.max(Math.max(min, 1), Math.round(60 + 20 * Math.log10(value))));
}

/** A number as the names write it: up to three significant digits. */
function short(value) {
  return String(Number(Number(value).toPrecision(3)));
}

/**
 * The name a run's settings give it: "DPO", "SimPO (m = 1)", "hinge, γ = 5", "logistic, γ = β,
 * β = 0.5", with α and per-token (length normalisation) when they are not the defaults.
 */
export function derivedName(run) {
  let name;
  const gammaIsBeta = run.gamma === run.beta;
  if (run.loss === 'logistic' && gammaIsBeta && run.margin === 0 && !run.length_normalize) name = 'DPO';
  else if (run.loss === 'logistic' && run.gamma === 0 && run.length_normalize && run.margin > 0) name = `SimPO (m = ${short(run.margin)})`;
  else {
    const loss = { logistic: 'logistic', hinge: 'hinge', ipo: 'IPO' }[run.loss] ?? run.loss;
    name = `${loss}, γ = ${gammaIsBeta ? 'β' : short(run.gamma)}`;
    if (run.margin !== 0) name += `, m = ${short(run.margin)}`;
    if (run.length_normalize) name += ', per token';
  }
  if (run.beta !== 1) name += `, β = ${short(run.beta)}`;
  if (run.alpha !== 1) name += `, α = ${short(run.alpha)}`;
  return name;
}

/** The settings a name is derived from, as one comparable key. */
function namedSettings(run) {
  return derivedName(run);
}

/**
 * Renames, in `next`, every run whose name the user has not typed (`typed` holds their indices)
 * and whose named settings changed from `previous`. A name typed in this very edit is kept.
 */
export function followNames(previous, next, typed) {
  next.runs.forEach((run, i) => {
    const before = previous.runs[i];
    if (!before || typed.has(i) || run.name !== before.name) return;
    if (namedSettings(before) !== namedSettings(run)) run.name = derivedName(run);
  });
}

/** The knob cards of one playground. */
export class Knobs {
  constructor(view, container) {
    this.view = view;
    this.container = container;
    this.cards = [];
  }

  /** Rebuilds the cards from the model (when runs are added, removed or a scenario loads). */
  render() {
    this.cards = this.view.model.runs.map((run, i) => this.card(run, i));
    this.container.replaceChildren(...this.cards.map((c) => c.element));
  }

  /** Shows the model's values in every control the user is not editing. */
  sync() {
    const { runs } = this.view.model;
    this.cards.forEach((card, i) => {
      const run = runs[i];
      if (!run) return;
      const active = card.element.ownerDocument.activeElement;
      const put = (control, value) => {
        if (control !== active && control.value !== String(value)) control.value = String(value);
      };
      put(card.name, run.name);
      put(card.loss, run.loss);
      put(card.beta, run.beta);
      put(card.gamma, run.gamma);
      put(card.margin, run.margin);
      put(card.betaSlider, sliderPosition(run.beta, 1));
      put(card.gammaSlider, sliderPosition(run.gamma));
      card.betaSlider.setAttribute('aria-valuetext', `β = ${run.beta}`);
      card.gammaSlider.setAttribute('aria-valuetext', `γ = ${run.gamma}`);
    });
  }

  /** Colours and the divergence mark, from a snapshot. */
  update(snapshot) {
    snapshot.runs.forEach((run, i) => {
      const card = this.cards[i];
      if (!card) return;
      if (card.swatch.dataset.color !== run.color) {
        card.swatch.dataset.color = run.color;
        card.swatch.style.background = run.color;
      }
      card.element.classList.toggle('diverged', Boolean(run.metrics.diverged));
    });
  }

  card(run, i) {
    const path = (name) => `runs[${i}].${name}`;
    const swatch = h('span', { class: 'swatch', 'aria-hidden': 'true' });
    const name = h('input', { type: 'text', class: 'knob-name', value: run.name, autocomplete: 'off', spellcheck: 'false', 'aria-label': `Run ${i + 1} name`, 'data-path': path('name') });
    name.setAttribute('aria-description', 'Named from its settings until you type a name of your own.');
    const loss = select(choices('loss'), run.loss, { 'aria-label': `Run ${i + 1} loss`, 'data-path': path('loss') });
    const margin = numberInput(run.margin, { 'aria-label': `Run ${i + 1} margin m`, 'data-path': path('margin'), class: 'knob-number' });
    const slider = (label, value, min, help, field) => {
      // `data-lock-path`: the field a `lock` attribute names locks the slider too (errors go to the
      // number beside it, which has the `data-path`).
      const range = h('input', { type: 'range', min, max: 100, step: 1, value: sliderPosition(value, min), 'aria-label': `Run ${i + 1} ${label} slider`, 'data-lock-path': path(field) });
      range.setAttribute('aria-description', help);
      return range;
    };
    const betaSlider = slider('β (beta)', run.beta, 1, 'Logarithmic, 0.001 to 100; 1 in the middle.', 'beta');
    const gammaSlider = slider('γ (gamma)', run.gamma, 0, 'Logarithmic, 0.001 to 100; all the way left is γ = 0.', 'gamma');
    const beta = numberInput(run.beta, { min: 0, 'aria-label': `Run ${i + 1} β (beta)`, 'data-path': path('beta'), class: 'knob-number' });
    const gamma = numberInput(run.gamma, { min: 0, 'aria-label': `Run ${i + 1} γ (gamma)`, 'data-path': path('gamma'), class: 'knob-number' });
    const element = h(
      'div',
      { class: 'knob-card', role: 'group', 'aria-label': `Run ${i + 1}` },
      h('div', { class: 'knob-head' }, swatch, name),
      h('div', { class: 'knob-line' }, h('label', { class: 'knob-label' }, 'loss', loss), h('label', { class: 'knob-label knob-margin' }, 'm', margin)),
      h('div', { class: 'knob-slider' }, h('span', { class: 'knob-symbol', 'aria-hidden': 'true' }, 'β'), betaSlider, beta),
      h('div', { class: 'knob-slider' }, h('span', { class: 'knob-symbol', 'aria-hidden': 'true' }, 'γ'), gammaSlider, gamma),
    );
    const apply = () =>
      this.view.apply(
        (next) => {
          const number = (input) => {
            const value = Number(input.value.trim());
            if (input.value.trim() === '' || !Number.isFinite(value)) throw new FieldError(input.dataset.path, 'enter a number');
            return value;
          };
          next.runs[i] = { ...next.runs[i], name: name.value, loss: loss.value, beta: number(beta), gamma: number(gamma), margin: number(margin) };
        },
        { scope: element, rebuild: ['runs'], runsOnly: true },
      );
    betaSlider.addEventListener('input', () => {
      beta.value = String(sliderValue(betaSlider.value));
      apply();
    });
    gammaSlider.addEventListener('input', () => {
      gamma.value = String(sliderValue(gammaSlider.value));
      apply();
    });
    beta.addEventListener('input', apply);
    gamma.addEventListener('input', apply);
    margin.addEventListener('input', apply);
    loss.addEventListener('change', apply);
    name.addEventListener('input', () => {
      this.view.namedByUser.add(i);
      apply();
    });
    return { element, swatch, name, loss, margin, beta, gamma, betaSlider, gammaSlider };
  }
}
