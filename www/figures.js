// The charts of one playground: each figure (a title, a help toggle, PNG/SVG exports) and its
// canvases, which the engine draws into. Canvases are drawn only when on screen and stale, sized
// in device pixels, and exported as one PNG or SVG per figure laid out as on the page.

import { h, field, select, download } from './dom.js';

export class Figures {
  constructor(view) {
    this.view = view;
    this.plots = [];
    this.byName = {};
    this.observe();
    // Each chart reads `view.pg` when it draws: a switch to the CPU may replace the engine.

    // The experiment first (curves and learning tables), the rest after the knobs (playground.js).
    const compact = view.options.layout === 'compact';
    const curves = this.figure(compact ? 'Loss and accuracy' : 'Loss, accuracy and KL', 'Over training steps, a line per run. Accuracy: weighted share of pairs the policy ranks right (h_π > 0). KL(π ‖ π0), averaged over prompts.', 'curves');
    // The compact layout (embeds) keeps the two curves the argument is about.
    const curveMetrics = compact ? ['loss', 'accuracy'] : ['loss', 'accuracy', 'kl'];
    for (const metric of curveMetrics) this.addPlot(curves, { draw: (c) => view.pg.drawCurves(c, [metric]), svg: (w, h2) => view.pg.svg('curves', w, h2, metric) });
    this.figure(
      'Learning tables',
      'Pairs split by whether the reference (h_0 > 0) and the policy (h_π > 0) rank them right. Now: each cell’s pairs and its share of this step’s learning signal Σ w·|φ′(u)|, with a strip of the cell’s share of the pairs over the recorded steps (pairs moving between cells). Summed over training: each cell’s share of all the signal since the run started, the pairs that ever had signal there, and a strip of the cell’s share of each step’s signal, so you can see when learning happened.',
      'tables',
    );
    const rewards = this.figure('Chosen and rejected rewards', 'TRL-style implicit rewards β·log π(y)/π0(y), averaged over the pairs’ chosen and rejected outputs.', 'rewards');
    for (const metric of ['chosen_reward', 'rejected_reward']) this.addPlot(rewards, { draw: (c) => view.pg.drawCurves(c, [metric]), svg: (w, h2) => view.pg.svg('curves', w, h2, metric) });
    const truth = this.figure('Against the ground truth', 'Expected true reward under each policy, and the share of output pairs it ranks as r* does.', 'truth');
    for (const metric of ['true_reward', 'ranking_agreement']) this.addPlot(truth, { draw: (c) => view.pg.drawCurves(c, [metric]), svg: (w, h2) => view.pg.svg('curves', w, h2, metric) });
    const policy = this.figure('Policy against the reference', 'Probability of each output: the reference π0 in grey, each run’s policy in its colour.', 'policy');
    this.promptSelect = select([['0', 'x0']], '0', { 'aria-label': 'Prompt shown', 'aria-description': 'Which prompt’s distributions the chart shows.' });
    this.promptSelect.addEventListener('change', () => view.transport.invalidate());
    this.promptField = field('Prompt', this.promptSelect, null);
    policy.element.querySelector('.figure-head').after(this.promptField);
    this.addPlot(policy, { draw: (c) => view.pg.drawPolicy(c, this.promptIndex()), svg: (w, h2) => view.pg.svg('policy', w, h2, String(this.promptIndex())) });
    this.figure('Margin of each pair', 'u = β·h_π − γ·h_0 − m for every pair over steps, one chart per run. The hinge learns a pair only while its u < 0.', 'margins');
  }

  /** A figure with a title, help and PNG/SVG export buttons; its canvases are added by addPlot. */
  figure(title, help, name) {
    const canvases = h('div', { class: `canvases canvases-${name}` });
    const helpText = h('p', { class: 'help figure-help' }, help);
    const helpButton = h('button', { type: 'button', class: 'small', 'aria-expanded': 'false', 'aria-label': `About “${title}”` }, '?');
    helpButton.addEventListener('click', () => {
      const shown = helpText.classList.toggle('shown');
      helpButton.setAttribute('aria-expanded', String(shown));
    });
    const element = h(
      'figure',
      { class: `plot plot-${name}` },
      h(
        'div',
        { class: 'figure-head' },
        h('figcaption', {}, title),
        h(
          'span',
          { class: 'exports' },
          helpButton,
          h('button', { type: 'button', class: 'small', 'aria-label': `Download “${title}” as PNG`, onclick: () => this.exportPng(name) }, 'PNG'),
          h('button', { type: 'button', class: 'small', 'aria-label': `Download “${title}” as SVG`, onclick: () => this.exportSvg(name) }, 'SVG'),
        ),
      ),
      helpText,
      canvases,
    );
    const figure = { element, canvases, name, title, plots: [] };
    this.byName[name] = figure;
    return figure;
  }

  addPlot(figure, { draw, svg, label }) {
    const canvas = h('canvas', { role: 'img', 'aria-label': label ?? figure.title });
    const plot = { canvas, draw, svg, figure, visible: false, stale: true, lastDrawn: 0, width: 0, height: 0 };
    figure.canvases.append(canvas);
    figure.plots.push(plot);
    this.plots.push(plot);
    this.intersections.observe(canvas);
    this.resizes.observe(canvas);
    return plot;
  }

  removePlot(plot) {
    this.intersections.unobserve(plot.canvas);
    this.resizes.unobserve(plot.canvas);
    plot.canvas.remove();
    this.plots = this.plots.filter((p) => p !== plot);
    plot.figure.plots = plot.figure.plots.filter((p) => p !== plot);
  }

  /** Draw only what is on screen; size canvases in device pixels when their CSS size changes. */
  observe() {
    this.intersections = new IntersectionObserver(
      (entries) => {
        for (const entry of entries) {
          const plot = this.plots.find((p) => p.canvas === entry.target);
          if (!plot) continue;
          plot.visible = entry.isIntersecting;
          if (plot.visible && plot.stale) this.view.transport.invalidate();
        }
      },
      { rootMargin: '64px' },
    );
    this.resizes = new ResizeObserver((entries) => {
      for (const entry of entries) {
        const plot = this.plots.find((p) => p.canvas === entry.target);
        if (plot) {
          plot.stale = true;
          plot.width = 0;
        }
      }
      this.view.transport.invalidate();
    });
  }

  /** The charts that follow the number of runs and prompts: a margin chart and a learning table
   * per run, the prompt choice, and the ground truth's figure only where the scenario has one. */
  rebuild(model) {
    const { view } = this;
    // One canvas per run: pair margins, learning tables.
    const perRun = (figure, draw, kind, label) => {
      while (figure.plots.length > model.runs.length) this.removePlot(figure.plots[figure.plots.length - 1]);
      while (figure.plots.length < model.runs.length) {
        const run = figure.plots.length;
        this.addPlot(figure, { draw: (c) => draw(c, run), svg: (w, h2) => view.pg.svg(kind, w, h2, String(run)), label: label(run) });
      }
    };
    perRun(this.byName.margins, (c, run) => view.pg.drawMargins(c, run), 'margins', (run) => `Margins of run ${run + 1}`);
    perRun(this.byName.tables, (c, run) => view.pg.drawLearningTable(c, run), 'tables', (run) => `Learning tables of run ${run + 1}`);
    this.promptSelect.replaceChildren(...model.prompts.map((p, x) => h('option', { value: String(x) }, p)));
    this.promptField.hidden = model.prompts.length <= 1;
    this.byName.truth.element.hidden = !model.reward;
  }

  promptIndex() {
    return Math.min(Number(this.promptSelect.value) || 0, this.view.model.prompts.length - 1);
  }

  markStale() {
    for (const plot of this.plots) plot.stale = true;
  }

  /**
   * Redraws stale canvases, the longest waiting first, until `deadline` (a `performance.now()`
   * time; at least one is drawn). While playing only what is on screen is drawn; paused, the rest
   * catch up (for exports, screenshots and scrolling). Returns whether some still wait.
   */
  drawStale(deadline, playing) {
    const wanted = (p) => p.stale && (p.visible || !playing) && !p.figure.element.hidden;
    const waiting = this.plots.filter(wanted).sort((a, b) => b.visible - a.visible || a.lastDrawn - b.lastDrawn);
    let drawn = 0;
    for (const plot of waiting) {
      if (drawn > 0 && performance.now() > deadline) break;
      this.drawPlot(plot);
      drawn += 1;
    }
    return this.plots.some(wanted);
  }

  drawPlot(plot) {
    const { canvas } = plot;
    const ratio = Math.min(window.devicePixelRatio || 1, 3);
    const width = Math.max(10, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(10, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    try {
      plot.draw(canvas);
    } catch (error) {
      this.view.note(`A chart could not be drawn: ${error.message}`, 'error');
    }
    plot.stale = false;
    plot.lastDrawn = performance.now();
  }

  // ---- Exports ----

  /** Where each canvas of a figure sits, for exports that look like the page. */
  layout(figure) {
    const box = figure.canvases.getBoundingClientRect();
    const placed = figure.plots.map((plot) => {
      const rect = plot.canvas.getBoundingClientRect();
      return { plot, x: Math.round(rect.left - box.left), y: Math.round(rect.top - box.top), width: Math.round(rect.width), height: Math.round(rect.height) };
    });
    const width = Math.max(...placed.map((p) => p.x + p.width), 10);
    const height = Math.max(...placed.map((p) => p.y + p.height), 10);
    return { placed, width, height };
  }

  exportPng(name) {
    const { placed, width, height } = this.layout(this.byName[name]);
    const ratio = Math.min(window.devicePixelRatio || 1, 3);
    const canvas = h('canvas', { width: Math.round(width * ratio), height: Math.round(height * ratio) });
    const context = canvas.getContext('2d');
    context.fillStyle = '#ffffff';
    context.fillRect(0, 0, canvas.width, canvas.height);
    for (const { plot, x, y, width: w, height: h2 } of placed) {
      this.drawPlot(plot);
      context.drawImage(plot.canvas, x * ratio, y * ratio, w * ratio, h2 * ratio);
    }
    canvas.toBlob((blob) => blob && download(`${this.view.files.fileStem()}-${name}.png`, blob), 'image/png');
  }

  exportSvg(name) {
    const { placed, width, height } = this.layout(this.byName[name]);
    // One SVG per canvas from the engine, nested at the position the canvas has on the page.
    const parts = placed.map(({ plot, x, y, width: w, height: h2 }) => {
      const text = plot.svg(Math.max(10, w), Math.max(10, h2)).replace(/<\?xml[^>]*>\s*/, '');
      return text.replace(/^<svg\b/, `<svg x="${x}" y="${y}"`);
    });
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">\n${parts.join('\n')}\n</svg>\n`;
    download(`${this.view.files.fileStem()}-${name}.svg`, new Blob([svg], { type: 'image/svg+xml' }));
  }
}
