// What the run cards, the tables and the editors share about runs, in a module of its own so
// that a compact playground, which shows the run cards and the tables, loads the editors only
// when they are opened: the engine's run options and their menus, the error of an edit the page
// refuses itself, and what a diverged run's card says.

import { runOptions } from './pkg/dpo_playground.js';

/** An edit the page refuses before asking the engine (a number field that holds no number). */
export class FieldError extends Error {
  constructor(path, message) {
    super(message);
    this.path = path;
  }
}

/** The engine's run options (`engine/options.rs`, through `runOptions()`): per menu, each kind's
 * name, label and value with default parameters, and the default run. Read once, after the
 * module has loaded. */
let options = null;
export function runOptionTable() {
  options ??= runOptions();
  return options;
}

/** A menu's `[name, label]` pairs: `loss`, `init`, `optimizer` or `regularizer`. */
export function choices(menu) {
  return runOptionTable()[menu].map((kind) => [kind.name, kind.label]);
}

/**
 * What a diverged run's card says: when it stopped, and what to change. The engine refuses the
 * step that would make a margin, a logit or an optimiser moment non-finite, so the run keeps its
 * last finite state; an edit to its settings lets it train again.
 */
export function divergedText(metrics) {
  const when = metrics.diverged_at == null ? '' : ` at step ${metrics.diverged_at}`;
  return `Diverged${when}: a margin, logit or optimiser moment stopped being finite, so this run stopped there. Lower the learning rate, β, γ or α (or reset) to train it again.`;
}
