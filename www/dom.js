// Small DOM helpers shared by the playground's modules. Every piece of text goes in as a text
// node or a property, never through an HTML parser: labels, run names and URL state are user data.

/**
 * Creates an element. `props`: `class`, `on<event>` listeners, `value`/`checked` (set as
 * properties after the children, so that a <select> keeps its value), `hidden`, and any other
 * attribute. Children: nodes, strings (as text), arrays, or null/false (skipped).
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  let value;
  let checked;
  for (const [key, item] of Object.entries(props)) {
    if (item === null || item === undefined || item === false) continue;
    if (key === 'value') value = item;
    else if (key === 'checked') checked = item;
    else if (key === 'class') element.className = item;
    else if (key.startsWith('on') && typeof item === 'function') element.addEventListener(key.slice(2), item);
    else element.setAttribute(key, item === true ? '' : String(item));
  }
  append(element, children);
  if (value !== undefined) element.value = String(value);
  if (checked !== undefined) element.checked = Boolean(checked);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : String(child));
  }
}

/**
 * A labelled control with inline help. The help stands outside the <label> so that it describes
 * the control (aria-description) without becoming part of its name. `path` is the scenario field
 * the control edits (SPEC section 8 paths such as `runs[0].beta`): the engine's validation errors
 * name it, and the error is shown next to the control that has it.
 */
export function field(labelText, control, help, path, extraClass = '') {
  if (path) control.dataset.path = path;
  if (help) control.setAttribute('aria-description', help);
  return h(
    'div',
    { class: `field ${extraClass}`.trim() },
    h('label', {}, h('span', { class: 'field-label' }, labelText), control),
    help ? h('small', { class: 'help' }, help) : null,
  );
}

/** A <select> of `[value, text]` options. */
export function select(options, value, props = {}) {
  return h('select', { ...props, value }, options.map(([optionValue, text]) => h('option', { value: optionValue }, text)));
}

/** A number input that accepts any decimal. */
export function numberInput(value, props = {}) {
  return h('input', { type: 'number', step: 'any', inputmode: 'decimal', ...props, value: value ?? '' });
}

/** Formats a metric for the tables: fixed decimals, with a real minus sign. */
export function formatNumber(value, digits = 4) {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  if (!Number.isFinite(value)) return value > 0 ? '∞' : '−∞';
  const text = Math.abs(value) >= 1e4 ? value.toExponential(2) : value.toFixed(digits);
  return text.replace(/^-/, '−');
}

/** Offers `blob` as a download named `name`. */
export function download(name, blob) {
  const url = URL.createObjectURL(blob);
  const link = h('a', { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  // Revoke later: some browsers read the URL after click() returns.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
