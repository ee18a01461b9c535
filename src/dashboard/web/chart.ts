/**
 * A hand-written SVG line chart: a fixed frame and one <path> per series whose `d` is
 * rewritten on each refresh, so the chart moves without being rebuilt.
 */
import { setAttr, setText, svg, el } from './dom.ts';
import type { Sample } from './history.ts';

const W = 560,
  H = 170,
  LEFT = 44,
  RIGHT = 8,
  TOP = 10,
  BOTTOM = 22;
export const PALETTE = [
  '#2563eb',
  '#db2777',
  '#059669',
  '#d97706',
  '#7c3aed',
  '#0891b2',
  '#dc2626',
  '#65a30d',
  '#475569',
  '#c026d3',
];

export interface SeriesData {
  name: string;
  samples: readonly Sample[];
}

export class LineChart {
  readonly root: HTMLElement;
  private readonly plot: SVGGElement;
  private readonly grid: SVGTextElement[] = [];
  private readonly legend: HTMLElement;
  private readonly paths = new Map<string, { path: SVGPathElement; key: HTMLElement; value: HTMLElement }>();

  constructor(
    id: string,
    title: string,
    private readonly unit: string,
    private readonly windowMs: number,
  ) {
    const frame = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart-svg', role: 'img', 'aria-label': title });
    for (let i = 0; i <= 4; i++) {
      const y = TOP + ((H - TOP - BOTTOM) * i) / 4;
      frame.append(svg('line', { x1: LEFT, x2: W - RIGHT, y1: y, y2: y, class: i === 4 ? 'axis' : 'gridline' }));
      const label = svg('text', { x: LEFT - 6, y: y + 4, 'text-anchor': 'end', class: 'tick' });
      this.grid.push(label);
      frame.append(label);
    }
    const minutes = Math.round(windowMs / 60_000);
    for (let m = 0; m <= minutes; m++) {
      const x = LEFT + ((W - LEFT - RIGHT) * m) / minutes;
      const t = svg('text', {
        x,
        y: H - 6,
        'text-anchor': m === 0 ? 'start' : m === minutes ? 'end' : 'middle',
        class: 'tick',
      });
      t.textContent = m === minutes ? 'now' : `−${minutes - m} min`;
      frame.append(t);
    }
    this.plot = svg('g');
    frame.append(this.plot);
    this.legend = el('div', { class: 'legend' });
    this.root = el('figure', { class: 'card chart', id }, el('figcaption', {}, title), frame, this.legend);
  }

  update(series: SeriesData[], now: number): void {
    let max = 0;
    for (const s of series)
      for (const p of s.samples) if (p.v !== null && p.t >= now - this.windowMs && p.v > max) max = p.v;
    const top = niceCeiling(max);
    this.grid.forEach((label, i) => setText(label, format(top * (1 - i / 4))));
    const x = (t: number) => LEFT + ((W - LEFT - RIGHT) * (t - (now - this.windowMs))) / this.windowMs;
    const y = (v: number) => TOP + (H - TOP - BOTTOM) * (1 - v / top);
    const names = new Set(series.map((s) => s.name));
    for (const [name, entry] of this.paths) {
      if (!names.has(name)) {
        entry.path.remove();
        entry.key.remove();
        this.paths.delete(name);
      }
    }
    series.forEach((s, i) => {
      let entry = this.paths.get(s.name);
      if (!entry) {
        const path = svg('path', { class: 'line', 'data-series': s.name });
        const value = el('span', { class: 'value' });
        const key = el('span', { class: 'key', 'data-series': s.name }, el('i'), s.name, value);
        entry = { path, key, value };
        this.paths.set(s.name, entry);
        this.plot.append(path);
        this.legend.append(key);
      }
      const color = PALETTE[i % PALETTE.length]!;
      setAttr(entry.path, 'stroke', color);
      (entry.key.firstElementChild as HTMLElement).style.background = color;
      setAttr(
        entry.path,
        'd',
        pathOf(
          s.samples.filter((p) => p.t >= now - this.windowMs - 2000),
          x,
          y,
        ),
      );
      const last = s.samples.length ? s.samples[s.samples.length - 1]!.v : null;
      setText(entry.value, last === null ? '–' : `${format(last)}${this.unit}`);
    });
  }
}

/** A path with a gap wherever a sample has no value. */
function pathOf(samples: readonly Sample[], x: (t: number) => number, y: (v: number) => number): string {
  let d = '';
  let pen = false;
  for (const p of samples) {
    if (p.v === null) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`;
    pen = true;
  }
  return d;
}

function niceCeiling(max: number): number {
  if (max <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= max) return step * magnitude;
  return 10 * magnitude;
}

function format(v: number): string {
  if (v >= 1000) return `${(v / 1000).toFixed(v >= 10_000 ? 0 : 1)}k`;
  if (v >= 10 || Number.isInteger(v)) return v.toFixed(0);
  return v.toFixed(v >= 1 ? 1 : 2);
}

/** A small line without axes, for a table cell: the last minutes of one series. */
export class Sparkline {
  readonly root: SVGSVGElement;
  private readonly path: SVGPathElement;

  constructor(private readonly windowMs: number) {
    this.root = svg('svg', { viewBox: '0 0 120 24', class: 'spark', 'aria-hidden': 'true' });
    this.path = svg('path', { class: 'spark-line' });
    this.root.append(this.path);
  }

  update(samples: readonly Sample[], now: number): void {
    const recent = samples.filter((p) => p.t >= now - this.windowMs);
    const top = niceCeiling(Math.max(0, ...recent.map((p) => p.v ?? 0)));
    setAttr(
      this.path,
      'd',
      pathOf(
        recent,
        (t) => (120 * (t - (now - this.windowMs))) / this.windowMs,
        (v) => 22 - (20 * v) / top,
      ),
    );
  }
}
