// How a playground shows what went wrong with an edit: the engine's errors (an `InputError` with
// a field `path` and a `message`), and the message shown beside the control whose path it names
// (the status line says it too, through `view.note`).

import { validateScenario } from './pkg/dpo_playground.js';
import { h } from './dom.js';

/** The field path and message of an error the engine threw (an `InputError`), or of any other
 * error (no path). */
export function errorParts(error) {
  return { path: typeof error?.path === 'string' ? error.path : '', message: String(error?.message ?? error ?? 'unknown error') };
}

/** An error as one sentence: `path: message`. */
export function describeError(error) {
  const { path, message } = errorParts(error);
  return path ? `${path}: ${message}` : message;
}

/** `null` when `text` is a valid scenario, else a sentence naming the bad field. */
export function problemWith(text) {
  const error = validateScenario(text);
  return error ? describeError(error) : null;
}

/** Finds the control for an error path within `root`: the exact one, else the closest enclosing
 * field. */
function findPathElement(root, path, scope = null) {
  // The same field can have two controls (a run's β in its card and in the Runs editor): the
  // one in the edited scope first.
  const inScope = scope ? [...scope.querySelectorAll('[data-path]')].find((e) => e.dataset.path === path) : null;
  if (inScope) return inScope;
  const candidates = [...root.querySelectorAll('[data-path]')];
  const exact = candidates.find((e) => e.dataset.path === path);
  if (exact) return exact;
  const within = (outer, inner) => inner.startsWith(outer) && /^[.[]/.test(inner.slice(outer.length));
  const enclosing = candidates.filter((e) => within(e.dataset.path, path)).sort((a, b) => b.dataset.path.length - a.dataset.path.length)[0];
  return enclosing ?? candidates.find((e) => within(path, e.dataset.path)) ?? null;
}

/** The errors shown beside the controls of one playground, each remembered with the scope of the
 * edit that caused it, so that the next good edit in that scope clears it. */
export class ErrorDisplay {
  constructor(view) {
    this.view = view;
    // control → { element: the message beside it, scope }
    this.shown = new Map();
  }

  /** Says an edit was refused, in the status line and beside the control `path` names. */
  show(path, message, scope) {
    const target = findPathElement(this.view.root, path, scope) ?? scope;
    const text = path ? `${path}: ${message}` : message;
    this.view.note(`Not applied — ${text}`, 'error');
    if (!target) return;
    let record = this.shown.get(target);
    if (!record) {
      const element = h('span', { class: 'field-error' });
      const holder = target.closest('.field') ?? target.closest('.row') ?? target;
      if (holder === target && !target.matches('input, select, textarea')) target.append(element);
      else if (holder === target) target.after(element);
      else holder.append(element);
      record = { element, scope };
      this.shown.set(target, record);
    }
    record.scope = scope;
    record.element.textContent = message;
    if (target.matches('input, select, textarea')) target.setAttribute('aria-invalid', 'true');
  }

  /** Removes the errors shown for edits within `scope` (all of them when `scope` is null). */
  clear(scope) {
    for (const [target, record] of this.shown) {
      if (scope === null || record.scope === scope || scope.contains(target)) {
        record.element.remove();
        target.removeAttribute('aria-invalid');
        this.shown.delete(target);
      }
    }
  }

  /** Drops the error records of controls about to be rebuilt. */
  forget(container) {
    for (const [target, record] of this.shown) {
      if (container.contains(target)) {
        record.element.remove();
        this.shown.delete(target);
      }
    }
  }
}
