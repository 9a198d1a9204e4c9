// Mounts a playground into every element with the attribute `data-dpo-playground`. One of them
// owns the URL hash: the one marked `data-url-state`, else the first. Per-element options come
// from attributes: `data-preset="simpo"`, `data-autoplay`, `data-collapsed`.

import { mountPlayground } from './playground.js';

const elements = [...document.querySelectorAll('[data-dpo-playground]')];
const owner = elements.find((element) => element.hasAttribute('data-url-state')) ?? elements[0];
for (const element of elements) {
  mountPlayground(element, {
    urlState: element === owner,
    preset: element.dataset.preset,
    autoplay: element.hasAttribute('data-autoplay'),
    collapsed: element.hasAttribute('data-collapsed'),
  }).catch((error) => console.error('dpo-playground:', error));
}
