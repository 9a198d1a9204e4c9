// The tables of one playground, as text: the current metrics of each run, each run's learning table
// as its settings predict it against what it measures, and the claims of the argument checked on
// the runs at hand. Built when the runs or the ground truth change, updated from each snapshot.

import { h, formatNumber } from './dom.js';
import { divergedText } from './runs.js';

/** The columns of the metrics table: [key in snapshot metrics, header text]. */
const METRIC_COLUMNS = [
  ['step', 'step'],
  ['loss', 'loss'],
  ['accuracy', 'accuracy'],
  ['reference_accuracy', 'reference accuracy'],
  ['kl', 'KL'],
  ['entropy', 'entropy'],
  ['chosen_reward', 'chosen reward'],
  ['rejected_reward', 'rejected reward'],
  ['reward_margin', 'reward margin'],
];
const TRUTH_COLUMNS = [
  ['true_reward', 'true reward'],
  ['ranking_agreement', 'ranking agreement'],
];
const CELLS = [
  ['reference_right_policy_right', 'reference right', 'policy right'],
  ['reference_right_policy_wrong', 'reference right', 'policy wrong'],
  ['reference_wrong_policy_right', 'reference wrong', 'policy right'],
  ['reference_wrong_policy_wrong', 'reference wrong', 'policy wrong'],
];
const VERDICTS = { holds: 'holds', holds_in_the_limit: 'holds in the limit', does_not_hold: 'does not hold here', too_early: 'too early to say' };

function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

function setColor(element, color) {
  if (element.dataset.color !== color) {
    element.dataset.color = color;
    element.style.background = color;
  }
}

export class Tables {
  constructor(view) {
    this.view = view;
    // Runs whose divergence the status line has announced (once each, until they train again).
    this.divergedNoted = new Set();

    this.metricsHead = h('tr', {});
    this.metricsBody = h('tbody', {});
    this.metrics = h(
      'div',
      { class: 'table-scroll', tabindex: '0', role: 'region', 'aria-label': 'Current metrics of each run (scrolls sideways)' },
      h('table', { class: 'metrics' }, h('caption', {}, 'Current metrics of each run'), h('thead', {}, this.metricsHead), this.metricsBody),
    );
    this.predictedBox = h('div', { class: 'predicted' });
    this.predicted = h(
      'details',
      { class: 'predicted-details', open: true },
      h('summary', {}, 'Predicted against measured, per run'),
      h('p', { class: 'help shown' }, 'Per cell, what the run’s settings predict: learns (every pair gets signal) and silent (none does) are exact, and a cell whose measurement contradicts one is outlined; some depends on the state; fades is silent only as γ grows far beyond β.'),
      this.predictedBox,
    );
    this.claims = this.buildClaims();
  }

  /** The claims panel: each claim of the argument that applies to the loaded runs, checked live. */
  buildClaims() {
    this.claimsBody = h('tbody', {});
    this.claimsEmpty = h('p', { class: 'help shown' }, 'No claim of the argument applies to these runs (see docs/claims.md for each claim and when it applies).');
    return h(
      'details',
      { class: 'claims', open: true },
      h('summary', {}, 'Claims, checked on these runs'),
      h('p', { class: 'help shown' }, 'Each claim of the argument that applies to the runs loaded, what they measure now, and whether it holds here. Where it is about where learning happens, the table summed over training is read.'),
      h('div', { class: 'table-scroll', tabindex: '0', role: 'region', 'aria-label': 'Claims, checked (scrolls sideways)' },
        h('table', { class: 'claims-table' }, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'claim'), h('th', { scope: 'col' }, 'measured'), h('th', { scope: 'col' }, 'verdict'))), this.claimsBody)),
      this.claimsEmpty,
    );
  }

  /** The rows and tables that follow the number of runs, and the ground truth's columns. */
  rebuild(model) {
    const columns = [...METRIC_COLUMNS, ...(model.reward ? TRUTH_COLUMNS : [])];
    this.metricColumns = columns;
    this.metricsHead.replaceChildren(h('th', { scope: 'col' }, 'run'), ...columns.map(([, text]) => h('th', { scope: 'col' }, text)));
    this.metricRows = model.runs.map(() => {
      const name = h('th', { scope: 'row' }, h('span', { class: 'swatch', 'aria-hidden': 'true' }), h('span', {}));
      const cells = columns.map(() => h('td', {}));
      h('tr', {}, name, cells);
      return { name, cells };
    });
    this.metricsBody.replaceChildren(...this.metricRows.map((r) => r.name.parentElement));

    this.predictedTables = model.runs.map(() => {
      const caption = h('caption', {}, h('span', { class: 'swatch', 'aria-hidden': 'true' }), h('span', {}));
      const cells = {};
      const row = (reference) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row' }, reference),
          ['policy right', 'policy wrong'].map((policy) => {
            const key = CELLS.find(([, r, p]) => r === reference && p === policy)[0];
            const predicted = h('span', { class: 'predicted-word' });
            const measured = h('span', { class: 'measured' });
            const cell = h('td', {}, predicted, h('br', {}), measured);
            cells[key] = { cell, predicted, measured };
            return cell;
          }),
        );
      const note = h('p', { class: 'note help' });
      const table = h(
        'table',
        { class: 'learning' },
        caption,
        h('thead', {}, h('tr', {}, h('td', {}), h('th', { scope: 'col' }, 'policy right'), h('th', { scope: 'col' }, 'policy wrong'))),
        h('tbody', {}, row('reference right'), row('reference wrong')),
      );
      return { element: h('div', { class: 'predicted-run' }, table, note), caption, cells, note };
    });
    this.predictedBox.replaceChildren(...this.predictedTables.map((t) => t.element));
  }

  /** Every table from a snapshot, changing only the text that changed. */
  update(snapshot) {
    snapshot.runs.forEach((run, i) => {
      const row = this.metricRows[i];
      if (row) {
        const diverged = run.metrics.diverged;
        const at = run.metrics.diverged_at;
        setText(row.name.lastChild, diverged ? `${run.name} (diverged${at == null ? '' : ` at step ${at}`})` : run.name);
        setColor(row.name.firstChild, run.color);
        row.name.parentElement.classList.toggle('diverged', diverged);
        if (diverged && !this.divergedNoted.has(i)) {
          this.divergedNoted.add(i);
          this.view.note(`${run.name}: ${divergedText(run.metrics)}`, 'error');
        } else if (!diverged) this.divergedNoted.delete(i);
        this.metricColumns.forEach(([key], c) => setText(row.cells[c], key === 'step' ? String(run.metrics.step) : formatNumber(run.metrics[key])));
      }
      const table = this.predictedTables[i];
      if (table) {
        setText(table.caption.lastChild, run.name);
        setColor(table.caption.firstChild, run.color);
        for (const [key] of CELLS) {
          const { cell, predicted, measured } = table.cells[key];
          const word = run.predicted[key];
          const measuredCell = run.metrics.learning_table[key];
          setText(predicted, `predicted: ${word === 'fades' ? 'fades (silent as γ ≫ β)' : word}`);
          setText(measured, `measured: ${measuredCell.pairs} pair${measuredCell.pairs === 1 ? '' : 's'}, ${(100 * measuredCell.share).toFixed(0)}%`);
          // `silent` and `learns` are exact predictions (see src/engine/predict.rs): a cell that
          // contradicts one is outlined.
          const contradicted = (word === 'silent' && measuredCell.signal > 0) || (word === 'learns' && measuredCell.pairs > 0 && measuredCell.signal === 0);
          const className = `cell-${word}${contradicted ? ' disagrees' : ''}`;
          if (cell.className !== className) cell.className = className;
        }
        setText(table.note, run.predicted.note);
      }
    });
    this.updateClaims(snapshot.claims);
  }

  updateClaims(claims) {
    const key = JSON.stringify(claims);
    if (key === this.claimsKey) return;
    this.claimsKey = key;
    this.claimsEmpty.hidden = claims.length > 0;
    this.claimsBody.replaceChildren(
      ...claims.map((c) =>
        h(
          'tr',
          { 'data-claim': c.id },
          h('th', { scope: 'row' }, c.claim, h('br', {}), h('small', { class: 'source' }, c.source)),
          h('td', {}, c.measured),
          h('td', { class: `verdict verdict-${c.verdict}` }, h('strong', {}, VERDICTS[c.verdict] ?? c.verdict), h('br', {}), h('small', {}, c.why)),
        ),
      ),
    );
  }
}
