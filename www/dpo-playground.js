// <dpo-playground>: the playground as an element any page can hold, several to a page. Its markup
// and styles live in a shadow root, so the host page's CSS does not change it and its CSS does not
// touch the host page. This module is small and defines the element only: the playground's code
// and the wasm engine load when the first element comes near the viewport, once for the page.
//
//   <script type="module" src="https://example.org/dpo/www/dpo-playground.js"></script>
//   <dpo-playground preset="gamma-zero" layout="compact" autoplay></dpo-playground>
//
// Attributes (docs/embedding.md has them all, with the events and methods):
//   preset, src (a scenario file's URL) or an inline <script type="application/json"> child;
//   layout="compact|full"; show / hide (panel names, space- or comma-separated); lock (run fields,
//   `preset`, `data`, `runs`); autoplay (starts when half visible, stops at `steps` unless `loop`);
//   steps; loop; theme="light|dark|auto"; backend="auto|cpu|webgpu"; url-state (this element reads
//   and writes the page address; none does by default). Changing an attribute other than autoplay
//   and url-state rebuilds the element from its attributes.

const STYLESHEET = new URL('./playground.css', import.meta.url).href;
/** How far below the viewport an element starts loading (the engine takes a moment). */
const LOAD_MARGIN = '600px';
const LAYOUTS = ['full', 'compact'];
const THEMES = ['light', 'dark', 'auto'];
const BACKENDS = ['auto', 'cpu', 'webgpu'];

/** A list attribute (`show`, `hide`, `lock`): names separated by spaces or commas. */
function names(value) {
  return value ? value.split(/[\s,]+/).filter(Boolean) : [];
}

/** A bad attribute: said inside the element, in the console and as a `dpo-error` event. */
class AttributeError extends Error {}

export class DpoPlayground extends HTMLElement {
  #root = null;
  #container = null;
  #handle = null;
  #started = false;
  #visible = false;
  #autoStarted = false;
  #starting = null;
  #rebuildQueued = false;
  #rebuilds = Promise.resolve();

  connectedCallback() {
    if (this.#root) return;
    this.#root = this.attachShadow({ mode: 'open' });
    const stylesheet = document.createElement('link');
    stylesheet.rel = 'stylesheet';
    stylesheet.href = STYLESHEET;
    this.#container = document.createElement('div');
    this.#container.className = 'dpo';
    const loading = document.createElement('p');
    loading.className = 'dpo-loading';
    loading.textContent = 'The playground loads when it comes into view…';
    this.#container.append(loading);
    this.#root.append(stylesheet, this.#container);
    // Load when near the viewport; train (with autoplay) when at least half of it is visible.
    if (typeof IntersectionObserver !== 'function') {
      this.#start();
      return;
    }
    const near = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) {
        near.disconnect();
        this.#start();
      }
    }, { rootMargin: LOAD_MARGIN });
    near.observe(this);
    new IntersectionObserver((entries) => {
      this.#visible = entries[entries.length - 1].intersectionRatio >= 0.5;
      this.#autoplay();
    }, { threshold: [0, 0.5] }).observe(this);
  }

  /** The options the attributes give, checked: a bad value is an `AttributeError` naming it. */
  #options() {
    const one = (name, allowed, fallback) => {
      const value = this.getAttribute(name);
      if (value === null || value === '') return fallback;
      if (!allowed.includes(value)) throw new AttributeError(`${name}="${value}" is not one of ${allowed.join(', ')}`);
      return value;
    };
    const list = (name, allowed) => {
      const values = names(this.getAttribute(name));
      const unknown = values.filter((value) => !allowed.includes(value));
      if (unknown.length) throw new AttributeError(`${name}: unknown name${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `“${u}”`).join(', ')} (known: ${allowed.join(', ')})`);
      return values;
    };
    let steps = null;
    if (this.hasAttribute('steps')) {
      steps = Number(this.getAttribute('steps'));
      if (!Number.isInteger(steps) || steps < 1) throw new AttributeError(`steps="${this.getAttribute('steps')}" is not a whole number of steps of at least 1`);
    }
    return { steps, layout: one('layout', LAYOUTS, 'full'), theme: one('theme', THEMES, 'light'), backend: one('backend', BACKENDS, 'auto'), list };
  }

  /** The scenario text: from `src`, an inline JSON child, or none (a preset or the default). */
  async #scenarioText() {
    const src = this.getAttribute('src');
    if (src) {
      let response;
      try {
        response = await fetch(new URL(src, document.baseURI));
      } catch (error) {
        throw new AttributeError(`src="${src}" could not be fetched (${error.message}; a file on another site needs CORS headers)`);
      }
      if (!response.ok) throw new AttributeError(`src="${src}" could not be fetched (HTTP ${response.status})`);
      return response.text();
    }
    const inline = this.querySelector(':scope > script[type="application/json"]');
    return inline ? inline.textContent : null;
  }

  /** Attributes that rebuild a started element when they change (`autoplay` and `url-state` are
   * read when it starts). */
  static observedAttributes = ['preset', 'src', 'layout', 'show', 'hide', 'lock', 'theme', 'backend', 'steps', 'loop'];

  attributeChangedCallback(name, before, after) {
    // Before the element starts (and while the parser sets the attributes) there is nothing to redo.
    if (!this.#started || before === after || this.#rebuildQueued) return;
    // Several attributes set in one go rebuild once; rebuilds run one after the other (a change
    // during a rebuild queues the next).
    this.#rebuildQueued = true;
    this.#rebuilds = this.#rebuilds.then(() => this.#rebuild());
  }

  /** Throws the playground away and starts again from the attributes as they are now. */
  async #rebuild() {
    await this.#starting;
    this.#rebuildQueued = false;
    const previous = this.#handle;
    this.#handle = null;
    this.#autoStarted = false;
    await previous?.destroy();
    const container = document.createElement('div');
    container.className = 'dpo';
    this.#container.replaceWith(container);
    this.#container = container;
    this.#started = false;
    this.#start();
    await this.#starting;
  }

  #start() {
    if (this.#started) return;
    this.#started = true;
    this.#starting = this.#mount();
  }

  async #mount() {
    try {
      const options = this.#options();
      const scenario = await this.#scenarioText();
      const { mountPlayground, loadEmbeddingNames } = await import('./playground.js');
      // The panel and lock names are the engine's (`engine::exercise`), so the engine comes first.
      const { panels, lockable } = await loadEmbeddingNames();
      this.#container.dataset.theme = options.theme;
      this.#handle = await mountPlayground(this.#container, {
        preset: scenario === null ? (this.getAttribute('preset') ?? undefined) : undefined,
        scenario: scenario ?? undefined,
        urlState: this.hasAttribute('url-state'),
        layout: options.layout,
        theme: options.theme,
        backend: options.backend,
        show: this.hasAttribute('show') ? options.list('show', panels) : undefined,
        hide: options.list('hide', panels),
        lock: options.list('lock', lockable),
        // Autoplay stops at the scenario's own `steps` unless the element names its own.
        stopAt: options.steps ?? (this.hasAttribute('autoplay') ? 'scenario' : null),
        loop: this.hasAttribute('loop'),
        eventTarget: this,
      });
      this.dispatchEvent(new CustomEvent('dpo-ready', { detail: { element: this } }));
      this.#autoplay();
    } catch (error) {
      this.#fail(error);
    }
  }

  /** Autoplay starts once at least half the element is in view (a reader who paused keeps it
   * paused); off screen, training holds by itself (the playground watches its own visibility). */
  #autoplay() {
    if (!this.#handle || this.#autoStarted || !this.hasAttribute('autoplay') || !this.#visible) return;
    this.#autoStarted = true;
    this.#handle.play();
  }

  #fail(error) {
    const message = `dpo-playground: ${error.message}`;
    const paragraph = document.createElement('p');
    paragraph.className = 'dpo-error';
    paragraph.setAttribute('role', 'alert');
    paragraph.textContent = message;
    this.#container.replaceChildren(paragraph);
    console.error(message, this);
    this.dispatchEvent(new CustomEvent('dpo-error', { detail: { message: error.message } }));
  }

  // ---- What a page's script can do ----

  /** Resolves once the playground is up (after `dpo-ready`); rejects if it could not start. */
  get ready() {
    return new Promise((resolve, reject) => {
      if (this.#handle) resolve(this);
      else {
        this.addEventListener('dpo-ready', () => resolve(this), { once: true });
        this.addEventListener('dpo-error', (event) => reject(new Error(event.detail.message)), { once: true });
      }
    });
  }

  /** The scenario as JSON text (null before it loads). Setting it loads a new scenario. */
  get scenario() {
    return this.#handle ? this.#handle.scenario() : null;
  }

  set scenario(text) {
    if (!this.#handle) throw new Error('dpo-playground: not ready yet (await element.ready)');
    this.#handle.load(typeof text === 'string' ? text : JSON.stringify(text)).then((problem) => {
      if (problem) this.dispatchEvent(new CustomEvent('dpo-error', { detail: { message: problem } }));
    });
  }

  play() {
    this.#handle?.play();
  }

  pause() {
    this.#handle?.pause();
  }

  reset() {
    return this.#handle?.reset();
  }

  /** The playground's own handle (engine access for tests and advanced pages). */
  get playground() {
    return this.#handle;
  }
}

if (!customElements.get('dpo-playground')) customElements.define('dpo-playground', DpoPlayground);
