/**
 * A one-label histogram for observations on the data path (two per statement: the reply
 * time of the service and of the server). prom-client's `labels().observe()` rebuilds and
 * hashes its label object on every call (~0.5 µs each on this machine, the largest
 * JavaScript self time in a profile of Weir under sysbench); this keeps each series'
 * bucket counts in a typed array and builds label objects only when scraped. Its
 * exposition is prom-client's Histogram's (`_bucket` with cumulative counts and `le`,
 * `_sum`, `_count`), and it registers in a prom-client Registry like any metric.
 */
import type { Metric, Registry } from 'prom-client';

interface Series {
  value: string;
  /** Observations per bucket (not cumulative), the last one beyond every bound. */
  counts: Float64Array;
  sum: number;
  count: number;
  /** Removed from the histogram: an observer still holding it finds the live series again. */
  removed: boolean;
}

interface Value {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

export class FastHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly label: string,
    private readonly buckets: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Metric);
  }

  /** A function that records one observation (seconds) in the series of `value`. */
  observer(value: string): (v: number) => void {
    let series = this.seriesOf(value);
    const buckets = this.buckets;
    return (v) => {
      if (series.removed) series = this.seriesOf(value);
      series.sum += v;
      series.count++;
      let i = 0;
      while (i < buckets.length && v > buckets[i]!) i++;
      series.counts[i]!++;
    };
  }

  private seriesOf(value: string): Series {
    let s = this.series.get(value);
    if (!s) {
      s = { value, counts: new Float64Array(this.buckets.length + 1), sum: 0, count: 0, removed: false };
      this.series.set(value, s);
    }
    return s;
  }

  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Value[] }> {
    const values: Value[] = [];
    for (const s of this.series.values()) {
      let cumulative = 0;
      for (let i = 0; i <= this.buckets.length; i++) {
        cumulative += s.counts[i]!;
        values.push({
          labels: { le: i < this.buckets.length ? this.buckets[i]! : '+Inf', [this.label]: s.value },
          value: cumulative,
          metricName: `${this.name}_bucket`,
        });
      }
      values.push({ labels: { [this.label]: s.value }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { [this.label]: s.value }, value: s.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  /** Drops the series whose label has the value in `labels`. */
  remove(labels: Record<string, string | number>): void {
    const value = String(labels[this.label]);
    const s = this.series.get(value);
    if (!s) return;
    s.removed = true;
    this.series.delete(value);
  }

  reset(): void {
    for (const s of this.series.values()) s.removed = true;
    this.series.clear();
  }
}
