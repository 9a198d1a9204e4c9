// The iframe route (embed.html): builds one <dpo-playground> from this page's query string, whose
// parameters are the element's attributes (`?preset=gamma-zero&layout=compact&autoplay`), and
// tells the parent page its content height whenever it changes, so that a frame can fit it:
// `{type: "dpo-playground:height", height}` by postMessage. A parent that does not listen gets a
// playground that scrolls inside a frame of fixed height.

import './dpo-playground.js';

/** The query parameters that become attributes; `src` is resolved against this page. */
const ATTRIBUTES = ['preset', 'src', 'layout', 'show', 'hide', 'lock', 'autoplay', 'loop', 'steps', 'theme', 'backend'];

const params = new URLSearchParams(location.search);
const element = document.createElement('dpo-playground');
for (const name of ATTRIBUTES) {
  const value = params.get(name);
  if (value !== null) element.setAttribute(name, value);
}
// A link to the full page's scenario (`#s=...` or `#preset=...`) works here too.
if (location.hash.length > 1 && !params.has('preset') && !params.has('src')) element.setAttribute('url-state', '');
document.documentElement.classList.add(`theme-${params.get('theme') ?? 'light'}`);
document.body.append(element);

if (window.parent !== window) {
  let last = 0;
  new ResizeObserver(() => {
    const height = Math.ceil(document.documentElement.getBoundingClientRect().height);
    if (height === last) return;
    last = height;
    // The height is not a secret: any parent may size its frame with it.
    window.parent.postMessage({ type: 'dpo-playground:height', height }, '*');
  }).observe(document.body);
}
