// Mounts a playground into every element with the attribute `data-dpo-playground`. One of them
// owns the URL hash: the one marked `data-url-state`, else the first. Per-element options come
// from attributes: `data-preset="simpo"`, `data-autoplay`, `data-collapsed`, `data-backend`
// (`auto`, the default, `cpu` or `webgpu`); the page's own address may name the backend of the
// instance that owns it (`?backend=cpu`).

import { mountPlayground } from './playground.js';

const elements = [...document.querySelectorAll('[data-dpo-playground]')];
const owner = elements.find((element) => element.hasAttribute('data-url-state')) ?? elements[0];
for (const element of elements) {
  mountPlayground(element, {
    urlState: element === owner,
    preset: element.dataset.preset,
    autoplay: element.hasAttribute('data-autoplay'),
    collapsed: element.hasAttribute('data-collapsed'),
    backend: (element === owner ? new URLSearchParams(location.search).get('backend') : null) ?? element.dataset.backend,
  }).catch((error) => console.error('dpo-playground:', error));
}
