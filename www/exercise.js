// A classroom exercise (the scenario's `exercise` block, docs/scenario-format.md; loaded the first
// time a scenario has one): predict, then
// reveal. Until the student has entered a prediction and pressed "Run and reveal", the measured
// parts of the playground (curves, learning tables, metrics, the other charts, the transport) are
// not in the page at all; then the runs train from step 0 to the scenario's `steps` on the CPU
// (whose learning table is summed over training), the parts come back, and each predicted cell is
// marked right or wrong against that summed table by the engine (`markExercise`), with the
// teacher's explanation. The student can download their answer with the results.

import { h, download } from './dom.js';
import { errorParts } from './errors.js';

/** The learning table's cells, in the engine's order, with what a student reads. */
const CELLS = [
  ['rr', 'reference right', 'policy right'],
  ['rw', 'reference right', 'policy wrong'],
  ['wr', 'reference wrong', 'policy right'],
  ['ww', 'reference wrong', 'policy wrong'],
];

export class Exercise {
  /** Renders into `element` (the view's exercise section); the view decides what is held back
   * until the reveal (`view.exerciseHolds`), this module says when the reveal comes. */
  constructor(view, element) {
    this.view = view;
    this.element = element;
    this.key = null;
    this.training = false;
  }

  /** The exercise block of the scenario as it is, or null. */
  get block() {
    return this.view.model.exercise ?? null;
  }

  /** Follows the scenario: a new exercise (or none) starts over. */
  render() {
    const { block, view } = this;
    const key = block ? JSON.stringify(block) : null;
    if (key === this.key) return;
    this.key = key;
    this.training = false;
    this.element.hidden = !block;
    if (!block) {
      this.element.replaceChildren();
      return;
    }
    this.inputs = [];
    const runs = block.predict.map(({ run }) => {
      const index = typeof run === 'number' ? run : view.model.runs.findIndex((r) => r.name === run);
      const name = view.model.runs[index]?.name ?? String(run);
      const boxes = CELLS.map(([cell, reference, policy]) => {
        const box = h('input', { type: 'checkbox', value: cell, 'aria-label': `${name}: ${reference}, ${policy} learns` });
        this.inputs.push(box);
        return { cell, box, mark: h('span', { class: 'exercise-mark' }) };
      });
      const at = (cell) => boxes.find((b) => b.cell === cell);
      const cellView = (cell) => h('td', {}, h('label', { class: 'check' }, at(cell).box, 'learns'), at(cell).mark);
      const table = h(
        'table',
        { class: 'exercise-table' },
        h('thead', {}, h('tr', {}, h('td', {}), h('th', { scope: 'col' }, 'policy right'), h('th', { scope: 'col' }, 'policy wrong'))),
        h('tbody', {}, h('tr', {}, h('th', { scope: 'row' }, 'reference right'), cellView('rr'), cellView('rw')), h('tr', {}, h('th', { scope: 'row' }, 'reference wrong'), cellView('wr'), cellView('ww'))),
      );
      return { run: index, name, boxes, element: h('fieldset', { class: 'exercise-run' }, h('legend', {}, name), table) };
    });
    this.runs = runs;
    this.compare = null;
    if (block.compare) {
      const group = `higher-${Math.random().toString(36).slice(2)}`;
      const choices = runs.map(({ run, name }) => {
        const radio = h('input', { type: 'radio', name: group, value: String(run) });
        this.inputs.push(radio);
        return { run, radio, element: h('label', { class: 'check' }, radio, name) };
      });
      this.compare = { choices, mark: h('p', { class: 'exercise-mark' }) };
      this.compare.element = h('fieldset', { class: 'exercise-run' }, h('legend', {}, `Which run ends with the higher ${block.compare.metric}?`), ...choices.map((c) => c.element), this.compare.mark);
    }
    this.runButton = h('button', { type: 'button', class: 'primary', onclick: () => this.run() }, 'Run and reveal');
    this.result = h('p', { class: 'exercise-result', role: 'status' });
    this.explanation = h('p', { class: 'exercise-explanation' });
    this.explanation.hidden = true;
    this.downloadButton = h('button', { type: 'button', onclick: () => this.downloadAnswer() }, 'Download my answer');
    this.downloadButton.hidden = true;
    this.tryAgain = h('button', { type: 'button', onclick: () => this.restart() }, 'Try again');
    this.tryAgain.hidden = true;
    this.element.replaceChildren(
      h('h2', { class: 'exercise-title' }, 'Exercise'),
      h('p', { class: 'exercise-question' }, block.question),
      h('p', { class: 'help shown' }, 'Tick each cell of each run’s learning table that you expect to carry learning signal over training (at least 1% of the signal summed over all the steps). Then press Run and reveal: the runs train, and the page marks your prediction against what they measured.'),
      h('div', { class: 'exercise-runs' }, ...runs.map((r) => r.element), ...(this.compare ? [this.compare.element] : [])),
      h('div', { class: 'row buttons' }, this.runButton, this.downloadButton, this.tryAgain),
      this.result,
      this.explanation,
    );
  }

  /** The student's prediction as the engine reads it. */
  prediction() {
    const prediction = { runs: this.runs.map(({ run, boxes }) => ({ run, learns: boxes.filter((b) => b.box.checked).map((b) => b.cell) })) };
    const chosen = this.compare?.choices.find((c) => c.radio.checked);
    if (chosen) prediction.higher = chosen.run;
    return prediction;
  }

  /** Trains from step 0 to the scenario's steps on the CPU, then reveals. */
  async run() {
    const { view } = this;
    if (this.compare && !this.compare.choices.some((c) => c.radio.checked)) {
      this.result.textContent = 'Choose the run you expect to end higher first.';
      return;
    }
    this.training = true;
    for (const input of this.inputs) input.disabled = true;
    this.runButton.disabled = true;
    this.result.textContent = 'Training…';
    // The summed learning table is the CPU engine's: an exercise always trains there.
    if (view.backend.asyncStep) await view.backend.useCpu('an exercise is marked against the CPU’s learning table summed over training');
    await view.transport.reset();
    const steps = view.model.steps;
    // Train in slices, yielding to the browser between them, so that the page stays responsive.
    for (let done = 0; done < steps; ) {
      const slice = Math.min(50, steps - done);
      view.pg.step(slice);
      done += slice;
      this.result.textContent = `Training… step ${done} of ${steps}`;
      await new Promise((resolve) => setTimeout(resolve, 0));
      if (view.destroyed) return;
      if (this.key !== (this.block ? JSON.stringify(this.block) : null)) return; // another scenario meanwhile
    }
    view.pg.record();
    this.training = false;
    this.reveal();
  }

  reveal() {
    const { view } = this;
    view.exerciseRevealed = true;
    view.applyPanels();
    view.transport.invalidate();
    let marking;
    try {
      marking = view.pg.markExercise(JSON.stringify(this.prediction()));
    } catch (error) {
      const { path, message } = errorParts(error);
      this.result.textContent = `The prediction could not be marked: ${path ? `${path}: ` : ''}${message}`;
      return;
    }
    this.marking = marking;
    if (!marking.available) {
      this.result.textContent = `The prediction could not be marked: ${marking.reason}`;
      return;
    }
    let right = 0;
    let total = 0;
    for (const markedRun of marking.runs) {
      const shown = this.runs.find((r) => r.run === markedRun.run);
      for (const cell of markedRun.cells) {
        const box = shown?.boxes.find((b) => b.cell === cell.cell);
        if (!box) continue;
        total += 1;
        if (cell.right) right += 1;
        box.mark.textContent = `${cell.right ? '✓ right' : '✗ wrong'}: it ${cell.measured ? 'learns' : 'stays silent'}`;
        box.mark.className = `exercise-mark ${cell.right ? 'right' : 'wrong'}`;
        box.box.closest('td').classList.add(cell.right ? 'right' : 'wrong');
      }
    }
    if (this.compare && marking.compare) {
      const winner = this.runs.find((r) => r.run === marking.compare.measured)?.name ?? '';
      this.compare.mark.textContent = `${marking.compare.right ? '✓ right' : '✗ wrong'}: “${winner}” ends higher.`;
      this.compare.mark.className = `exercise-mark ${marking.compare.right ? 'right' : 'wrong'}`;
    }
    this.result.textContent = `${right} of ${total} cells right${this.compare && marking.compare ? `; the comparison ${marking.compare.right ? 'right' : 'wrong'}` : ''}. The charts and tables are shown now.`;
    this.explanation.textContent = this.block.explanation ?? '';
    this.explanation.hidden = !this.block.explanation;
    this.downloadButton.hidden = false;
    this.tryAgain.hidden = false;
    view.emit('dpo-exercise', { marking });
  }

  /** Hides the results again for another prediction. */
  restart() {
    this.key = null;
    this.view.exerciseRevealed = false;
    this.render();
    this.view.applyPanels();
  }

  /** The student's answer with the results, to hand in: JSON (question, prediction, marking, the
   * runs' final metrics) and the metrics CSV. */
  downloadAnswer() {
    const { view } = this;
    const details = view.pg.details();
    const answer = {
      question: this.block.question,
      prediction: this.prediction(),
      marking: this.marking,
      runs: details.runs.map((run) => ({ name: run.name, step: run.step, metrics: run.metrics })),
      scenario: JSON.parse(view.pg.scenarioJson()),
    };
    download('exercise-answer.json', new Blob([JSON.stringify(answer, null, 2)], { type: 'application/json' }));
    download('exercise-metrics.csv', new Blob([view.pg.metricsCsv()], { type: 'text/csv' }));
  }
}
