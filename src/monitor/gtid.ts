/**
 * MariaDB GTID positions: `domain-server-sequence` triples, one per replication domain,
 * separated by commas (`0-1-100,1-2-5`). Cluster operations compare positions to decide
 * whether a server has everything another has: per domain, the higher sequence number is
 * further along.
 */
export type GtidPosition = Map<number, { server: number; sequence: bigint }>;

export function parseGtid(text: string): GtidPosition {
  const pos: GtidPosition = new Map();
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^(\d+)-(\d+)-(\d+)$/.exec(part);
    if (!m) throw new Error(`'${part}' is not a GTID (domain-server-sequence)`);
    pos.set(Number(m[1]), { server: Number(m[2]), sequence: BigInt(m[3]!) });
  }
  return pos;
}

/** Domains where `a` has transactions that `b` lacks (a higher sequence, or a domain b has not seen). */
export function aheadDomains(a: GtidPosition, b: GtidPosition): number[] {
  const ahead: number[] = [];
  for (const [domain, gtid] of a) {
    const other = b.get(domain);
    if (!other || gtid.sequence > other.sequence) ahead.push(domain);
  }
  return ahead;
}

/** Orders two positions by how far along they are: by total events, then domain by domain. */
export function compareGtid(a: GtidPosition, b: GtidPosition): number {
  const total = (p: GtidPosition) => [...p.values()].reduce((sum, g) => sum + g.sequence, 0n);
  const diff = total(a) - total(b);
  return diff > 0n ? 1 : diff < 0n ? -1 : 0;
}
