/**
 * Small helpers over prom-client for metrics read from live state at scrape time: each
 * scrape starts the metric from nothing and sets what exists now, so an object that was
 * deleted simply has no series any more.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

type Labels = Record<string, string>;
type Emit = (labels: Labels, value: number) => void;

/** A gauge whose values come from `read` at each scrape. */
export function liveGauge(
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[],
  read: (set: Emit) => void,
): Gauge {
  return new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      read((labels, value) => this.set(labels, value));
    },
  });
}

/** A counter kept by the core (a running total it already maintains), read at each scrape. */
export function liveCounter(
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[],
  read: (add: Emit) => void,
): Counter {
  return new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      read((labels, value) => this.inc(labels, value));
    },
  });
}

/** A state-set: one series per possible state, 1 for the current ones and 0 for the others. */
export function stateSet(
  registry: Registry,
  name: string,
  help: string,
  objectLabel: string,
  states: readonly string[],
  read: (set: (object: string, current: readonly string[]) => void) => void,
): Gauge {
  return liveGauge(registry, name, help, [objectLabel, 'state'], (set) =>
    read((object, current) => {
      for (const state of states) set({ [objectLabel]: object, state }, current.includes(state) ? 1 : 0);
    }),
  );
}

/** Removes every series of `metric` whose `label` is `value` (an object was deleted). */
export async function removeSeriesOf(
  metric: { get(): Promise<{ values: Array<{ labels: Record<string, unknown> }> }>; remove(labels: Labels): void },
  label: string,
  value: string,
): Promise<void> {
  const { values } = await metric.get();
  const lower = value.toLowerCase();
  const seen = new Set<string>();
  for (const v of values) {
    if (String(v.labels[label] ?? '').toLowerCase() !== lower) continue;
    // A histogram lists each bucket; its series are removed by their labels without `le`.
    const { le: _le, ...labels } = v.labels as Labels;
    const key = JSON.stringify(labels);
    if (seen.has(key)) continue;
    seen.add(key);
    metric.remove(labels);
  }
}
