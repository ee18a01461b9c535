/**
 * What the charts remember while the page stays open: per series, timestamped samples,
 * at most HISTORY_MS old (older ones are dropped as new ones come).
 */
export const HISTORY_MS = 10 * 60_000;

export interface Sample {
  t: number;
  v: number | null;
}

export class History {
  private readonly series = new Map<string, Sample[]>();

  add(name: string, t: number, v: number | null): void {
    let s = this.series.get(name);
    if (!s) this.series.set(name, (s = []));
    s.push({ t, v });
    let drop = 0;
    while (drop < s.length && s[drop]!.t < t - HISTORY_MS) drop++;
    if (drop) s.splice(0, drop);
  }

  get(name: string): readonly Sample[] {
    return this.series.get(name) ?? [];
  }

  names(prefix: string): string[] {
    return [...this.series.keys()].filter((k) => k.startsWith(prefix));
  }

  /** The newest value of a series, or null. */
  last(name: string): number | null {
    const s = this.series.get(name);
    return s?.length ? s[s.length - 1]!.v : null;
  }
}
