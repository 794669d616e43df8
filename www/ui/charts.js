// The charts panel: this tab's hash rate over the last ten minutes (sampled
// once a second), and for the last 100 blocks of the best chain each
// block's difficulty and the time it took after its parent: the retarget
// at work, difficulty following the hash rate when workers are added.
//
// The charts are uPlot's (www/vendor/uplot/, vendored by `cargo xtask
// build-wasm` from www-vendor/'s lockfile). It is imported when the panel
// mounts, not statically: without it the page works and this panel says
// why it has no charts (the data is still kept, for `window.tabchain.charts`).

import { $, formatRate } from './dom.js';

/** How often the hash rate is sampled. */
const SAMPLE_MS = 1000;
/** Hash-rate samples kept: ten minutes. */
const RATE_SAMPLES = 600;
/** Blocks of the best chain plotted. */
const PACE_BLOCKS = 100;
const CHART_HEIGHT = 180;
const UPLOT_MODULE = new URL('../vendor/uplot/uPlot.esm.js', import.meta.url);
const UPLOT_CSS = new URL('../vendor/uplot/uPlot.min.css', import.meta.url);

/** A fixed-size ring of `[time, value]` samples: the oldest go when full. */
class Ring {
  constructor(capacity) {
    this.capacity = capacity;
    this.times = new Float64Array(capacity);
    this.values = new Float64Array(capacity);
    this.start = 0;
    this.length = 0;
  }

  push(time, value) {
    const at = (this.start + this.length) % this.capacity;
    this.times[at] = time;
    this.values[at] = value;
    if (this.length < this.capacity) this.length++;
    else this.start = (this.start + 1) % this.capacity;
  }

  /** The samples oldest first, as two arrays. */
  columns() {
    const times = [];
    const values = [];
    for (let i = 0; i < this.length; i++) {
      const at = (this.start + i) % this.capacity;
      times.push(this.times[at]);
      values.push(this.values[at]);
    }
    return [times, values];
  }
}

const rates = new Ring(RATE_SAMPLES);
/** The plotted blocks (`TabNode.recentPace` rows) and the tip they end at. */
let pace = [];
let paceTip = null;
/** The time between blocks the retarget aims at, ms (from the node's status). */
let targetIntervalMs = null;
/** The uPlot class once loaded; `null` before, `false` if it could not load. */
let UPlot = null;
/** The three charts, once made: `{rate, difficulty, interval}`. */
let plots = null;

/** `n` with an SI prefix: 1.5 k, 12 M, 3.2 G. */
function si(n) {
  if (!Number.isFinite(n)) return '';
  const abs = Math.abs(n);
  for (const [scale, prefix] of [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ]) {
    if (abs >= scale) return `${+(n / scale).toFixed(abs >= 10 * scale ? 0 : 1)} ${prefix}`;
  }
  return String(+n.toFixed(abs >= 10 ? 0 : 2));
}

const seconds = (ms) => (ms === null ? null : ms / 1000);

/** Starts sampling the hash rate and loads the chart library. */
export function mount(host) {
  host.clock.every(SAMPLE_MS, () => {
    rates.push(Date.now() / 1000, host.miner.hashrate());
    if (plots) plots.rate.setData(rates.columns());
  });
  loadLibrary(host);
}

/** Imports uPlot and its CSS from this origin; on failure the panel says so. */
async function loadLibrary(host) {
  try {
    const module = await import(UPLOT_MODULE.href);
    UPlot = module.default;
    const css = document.createElement('link');
    css.rel = 'stylesheet';
    css.href = UPLOT_CSS.href;
    document.head.append(css);
  } catch (err) {
    UPlot = false;
    const note = $('charts-note');
    note.textContent =
      'Charts unavailable: the chart library (vendor/uplot/) did not load. ' +
      'Run `cargo xtask build-wasm` to vendor it. The rest of the page works.';
    note.hidden = false;
    console.warn('tabchain: no charts:', err);
    return;
  }
  makePlots();
  host.changed();
}

/** A y range from 0 (or a negative value) to a tenth above the top value. */
const fromZero = (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1];

/**
 * The interval chart's y range: up to the longest interval, unless a few
 * stand far above the rest (95% of the intervals below half of it), which
 * then run off the top rather than flatten every other block: the first
 * block after a pause (days, on a dev chain whose genesis is old).
 */
function intervalRange(u, min) {
  const target = seconds(targetIntervalMs) ?? 1;
  const values = u.data[1].filter((v) => Number.isFinite(v) && v > 0).sort((a, b) => a - b);
  if (values.length === 0) return [Math.min(0, min), 2 * target];
  const p95 = values[Math.floor(0.95 * (values.length - 1))];
  return [Math.min(0, min), Math.min(values.at(-1), Math.max(4 * target, 2 * p95)) * 1.1];
}

/** Options for one chart: `x` is time or height, `y` has a unit (and `yRange`, a range function). */
function options({ width, xTime, xLabel, series, yLabel, yValue, yRange = fromZero }) {
  return {
    width,
    height: CHART_HEIGHT,
    scales: { x: { time: xTime }, y: { range: yRange } },
    series: [{ label: xLabel, value: xTime ? undefined : (_u, v) => (v === null ? '–' : String(v)) }, ...series],
    axes: [
      { label: xTime ? undefined : xLabel, stroke: '#6b7385', grid: { stroke: '#e1e4ea' } },
      {
        label: yLabel,
        stroke: '#6b7385',
        grid: { stroke: '#e1e4ea' },
        size: 56,
        values: (_u, ticks) => ticks.map(yValue),
      },
    ],
    cursor: { drag: { x: false, y: false } },
  };
}

/** Makes the three charts, sized to their boxes, and keeps them sized. */
function makePlots() {
  const boxes = { rate: $('chart-rate'), difficulty: $('chart-difficulty'), interval: $('chart-interval') };
  const width = (box) => Math.max(200, box.clientWidth);
  plots = {
    rate: new UPlot(
      options({
        width: width(boxes.rate),
        xTime: true,
        xLabel: 'time',
        yLabel: 'hashes / s',
        yValue: si,
        series: [
          {
            label: 'hash rate',
            stroke: '#2f6fde',
            fill: 'rgba(47, 111, 222, 0.12)',
            value: (_u, v) => (v === null ? '–' : formatRate(v)),
          },
        ],
      }),
      rates.columns(),
      boxes.rate,
    ),
    difficulty: new UPlot(
      options({
        width: width(boxes.difficulty),
        xTime: false,
        xLabel: 'height',
        yLabel: 'expected hashes',
        yValue: si,
        series: [
          { label: 'difficulty', stroke: '#b26a00', value: (_u, v) => (v === null ? '–' : Math.round(v).toLocaleString()) },
        ],
      }),
      [[], []],
      boxes.difficulty,
    ),
    interval: new UPlot(
      options({
        width: width(boxes.interval),
        xTime: false,
        xLabel: 'height',
        yLabel: 'seconds',
        yValue: (v) => `${+v.toFixed(2)}`,
        yRange: intervalRange,
        series: [
          {
            label: 'interval',
            stroke: '#187540',
            points: { show: true, size: 4 },
            value: (_u, v) => (v === null ? '–' : `${v.toFixed(2)} s`),
          },
          {
            label: 'target',
            stroke: '#c62828',
            dash: [6, 4],
            width: 1,
            points: { show: false },
            value: (_u, v) => (v === null ? '–' : `${v} s`),
          },
        ],
      }),
      [[], [], []],
      boxes.interval,
    ),
  };
  paceTip = null; // the next render draws the blocks
  const resize = new ResizeObserver(() => {
    for (const [name, plot] of Object.entries(plots)) plot.setSize({ width: width(boxes[name]), height: CHART_HEIGHT });
  });
  for (const box of Object.values(boxes)) resize.observe(box);
}

/** Redraws the per-block charts when the tip moved (a reorg included: recomputed from the chain). */
export function render({ node, status }) {
  if (!node || !status) return;
  targetIntervalMs = status.targetIntervalMs;
  if (status.tip === paceTip) return;
  paceTip = status.tip;
  pace = node.recentPace(PACE_BLOCKS);
  $('charts-blocks').textContent =
    pace.length > 0 ? `heights ${pace[0].height}–${pace[pace.length - 1].height}` : '';
  if (!plots) return;
  const heights = pace.map((b) => b.height);
  plots.difficulty.setData([heights, pace.map((b) => b.expectedHashes)]);
  plots.interval.setData([
    heights,
    pace.map((b) => seconds(b.intervalMs)),
    pace.map(() => seconds(targetIntervalMs)),
  ]);
}

/**
 * What the charts show, for `window.tabchain.charts()`: `{library ('loaded',
 * 'missing' or 'loading'), hashrate: [{time (ms), rate}], blocks: [{height,
 * hash, timestamp, intervalMs, expectedHashes}], plotted: {hashrate, blocks}
 * (points in the drawn charts; 0 without the library), targetIntervalMs}`.
 */
export function chartData() {
  const [times, values] = rates.columns();
  return {
    library: UPlot ? 'loaded' : UPlot === false ? 'missing' : 'loading',
    hashrate: times.map((time, i) => ({ time: Math.round(time * 1000), rate: values[i] })),
    blocks: pace.map(({ height, hash, timestamp, intervalMs, expectedHashes }) => ({
      height,
      hash,
      timestamp,
      intervalMs,
      expectedHashes,
    })),
    plotted: {
      hashrate: plots ? plots.rate.data[0].length : 0,
      blocks: plots ? plots.difficulty.data[0].length : 0,
    },
    targetIntervalMs,
  };
}
