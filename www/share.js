// The "Share / embed" dialog of one playground (loaded when first opened): the author picks the layout, what to show, hide
// and lock, autoplay and the theme, and gets the share link, the <dpo-playground> snippet and the
// iframe snippet for the scenario as it is now, each with a copy button, and a live preview (the
// iframe route with the same options). Everything it writes is text (textarea values).

import { h, select } from './dom.js';
import { hashFor, scenarioText } from './state.js';

/** Where the site's files are, whatever page this module runs in: its own folder's parent. */
const SITE = new URL('../', import.meta.url);

/** Panels an embed commonly hides, in the dialog's order (the others stay as the layout has them). */
const HIDEABLE = [
  ['about', 'description'],
  ['claims', 'claims'],
  ['predicted', 'predicted tables'],
  ['metrics', 'metrics table'],
  ['policy', 'policy chart'],
  ['margins', 'margin charts'],
  ['editors', 'editors'],
  ['file', 'scenario file'],
];
/** What an embed can lock. */
const LOCKABLE = [
  ['loss', 'loss'],
  ['beta', 'β'],
  ['gamma', 'γ'],
  ['margin', 'margin'],
  ['runs', 'all run settings'],
  ['data', 'the data'],
  ['preset', 'preset menu'],
];

/** Escapes text for an HTML attribute value or element content written into a snippet. */
function html(text) {
  return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A scenario written inside <script type="application/json">: script text is not HTML (no
 * entities), so `<` is written as the JSON escape \u003c, which no `</script>` can come out of. */
function inlineJson(text) {
  return JSON.stringify(JSON.parse(text), null, 2).replace(/</g, '\\u003c').replace(/^/gm, '    ');
}

export class ShareDialog {
  constructor(view) {
    this.view = view;
  }

  build() {
    const checkboxes = (items) => items.map(([name, label]) => {
      const box = h('input', { type: 'checkbox', value: name });
      box.addEventListener('change', () => this.update());
      return { name, box, element: h('label', { class: 'check' }, box, label) };
    });
    this.layout = select([['compact', 'compact (for an article)'], ['full', 'full']], 'compact', { 'aria-label': 'Layout' });
    this.theme = select([['light', 'light'], ['dark', 'dark'], ['auto', 'the reader’s setting']], 'light', { 'aria-label': 'Theme' });
    this.hide = checkboxes(HIDEABLE);
    this.lock = checkboxes(LOCKABLE);
    this.autoplay = h('input', { type: 'checkbox' });
    this.loop = h('input', { type: 'checkbox' });
    for (const control of [this.layout, this.theme, this.autoplay, this.loop]) control.addEventListener('change', () => this.update());
    const output = (label) => {
      const area = h('textarea', { readonly: true, rows: 3, spellcheck: 'false', 'aria-label': label });
      const copy = h('button', { type: 'button', class: 'small', onclick: () => this.copy(area, label) }, 'Copy');
      return { area, element: h('div', { class: 'share-output' }, h('div', { class: 'share-output-head' }, h('strong', {}, label), copy), area) };
    };
    this.link = output('Link');
    this.elementSnippet = output('Element snippet');
    this.frameSnippet = output('Iframe snippet');
    this.preview = h('iframe', { title: 'Preview of the embed', class: 'share-preview', loading: 'lazy' });
    this.said = h('p', { class: 'help', role: 'status' });
    this.dialog = h(
      'dialog',
      { class: 'share-dialog', 'aria-label': 'Share or embed this scenario' },
      h('div', { class: 'share-head' }, h('h2', { class: 'share-title' }, 'Share or embed this scenario'), h('button', { type: 'button', class: 'small', onclick: () => this.dialog.close() }, 'Close')),
      h('p', { class: 'help shown' }, 'The link opens the full page on this scenario. The snippets put it in a page of your own: the element in any page that can load a script, the iframe where no script is allowed. docs/embedding.md explains every option.'),
      h(
        'div',
        { class: 'share-options' },
        h('label', { class: 'field' }, h('span', { class: 'field-label' }, 'Layout'), this.layout),
        h('label', { class: 'field' }, h('span', { class: 'field-label' }, 'Theme'), this.theme),
        h('fieldset', { class: 'share-set' }, h('legend', {}, 'Hide'), ...this.hide.map((c) => c.element)),
        h('fieldset', { class: 'share-set' }, h('legend', {}, 'Lock'), ...this.lock.map((c) => c.element)),
        h('div', { class: 'share-set' }, h('label', { class: 'check' }, this.autoplay, 'Autoplay when seen'), h('label', { class: 'check' }, this.loop, 'Loop')),
      ),
      this.link.element,
      this.elementSnippet.element,
      this.frameSnippet.element,
      this.said,
      h('details', { class: 'share-preview-box' }, h('summary', {}, 'Preview'), this.preview),
    );
    this.dialog.querySelector('details').addEventListener('toggle', () => this.update());
    this.view.root.append(this.dialog);
  }

  open() {
    if (!this.dialog) this.build();
    this.dialog.showModal();
    this.update();
  }

  /** The options chosen, as the element's attributes (name → value, '' for a bare attribute). */
  attributes() {
    const attributes = [];
    if (this.layout.value !== 'full') attributes.push(['layout', this.layout.value]);
    const hide = this.hide.filter((c) => c.box.checked).map((c) => c.name);
    if (hide.length) attributes.push(['hide', hide.join(' ')]);
    const lock = this.lock.filter((c) => c.box.checked).map((c) => c.name);
    if (lock.length) attributes.push(['lock', lock.join(' ')]);
    if (this.autoplay.checked) attributes.push(['autoplay', '']);
    if (this.loop.checked) attributes.push(['loop', '']);
    if (this.theme.value !== 'light') attributes.push(['theme', this.theme.value]);
    return attributes;
  }

  async update() {
    const { view } = this;
    const text = scenarioText(view.model);
    const hash = await hashFor(text, view.presetId, view.presets);
    const page = new URL(SITE);
    page.hash = hash;
    this.link.area.value = page.href;

    const attributes = this.attributes();
    const preset = view.presetId ? [['preset', view.presetId]] : [];
    const written = [...preset, ...attributes].map(([name, value]) => (value === '' ? ` ${name}` : ` ${name}="${html(value)}"`)).join('');
    const script = `<script type="module" src="${html(new URL('www/dpo-playground.js', SITE).href)}"></script>`;
    this.elementSnippet.area.value = view.presetId
      ? `${script}\n<dpo-playground${written}></dpo-playground>`
      : `${script}\n<dpo-playground${written}>\n  <script type="application/json">\n${inlineJson(text)}\n  </script>\n</dpo-playground>`;

    const frame = new URL('embed.html', SITE);
    for (const [name, value] of [...preset, ...attributes]) frame.searchParams.set(name, value);
    // A scenario of one's own travels in the frame's hash, as in a share link.
    if (!view.presetId) frame.hash = hash;
    const frameSource = frame.href.replace(/=(?=&|#|$)/g, '');
    this.frameSnippet.area.value = `<iframe src="${html(frameSource)}" title="DPO playground" style="width: 100%; height: 900px; border: 0" loading="lazy"></iframe>`;
    // The preview is the iframe route itself; it loads only while "Preview" is open.
    if (this.dialog.querySelector('details').open && this.preview.src !== frameSource) this.preview.src = frameSource;
  }

  async copy(area, label) {
    try {
      await navigator.clipboard.writeText(area.value);
      this.said.textContent = `Copied the ${label.toLowerCase()}.`;
    } catch {
      area.select();
      this.said.textContent = `Select and copy the ${label.toLowerCase()} (the browser did not allow copying).`;
    }
  }
}
