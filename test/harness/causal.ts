/**
 * What the causal_reads tests and benchmark share: the readwritesplit cluster (rws-cluster.ts)
 * with one service per causal_reads setting and a table causal.t, a lag maker that holds back
 * the replicas' SQL threads in turn, and a loop of write-then-read pairs that counts stale reads.
 */
import mysql from 'mysql2/promise';
import type { MariaDBServer, Topology } from './mariadb.ts';
import { startRwsCluster, type RwsCluster } from './rws-cluster.ts';

export type CausalCluster = RwsCluster;

/** `services`: name → extra service parameters (e.g. `causal_reads=local`); `app` writes to causal.t. */
export function startCausalCluster(services: Record<string, string>): Promise<CausalCluster> {
  return startRwsCluster({
    services,
    database: 'causal',
    schema: ['CREATE DATABASE causal', 'CREATE TABLE causal.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT NOT NULL)'],
  });
}

/**
 * Holds back a replica's SQL thread without stopping it: FLUSH TABLES WITH READ LOCK makes
 * it wait before applying the next write, while reads still run and the monitor still sees
 * a running replica (a stopped SQL thread would cost the server its `slave` state, and the
 * reads would simply go to the primary).
 */
export async function freeze(server: MariaDBServer): Promise<{ thaw(): Promise<void> }> {
  const c = await mysql.createConnection({ host: '127.0.0.1', port: server.port, user: 'root' });
  await c.query('FLUSH TABLES WITH READ LOCK');
  return {
    async thaw() {
      await c.query('UNLOCK TABLES');
      await c.end();
    },
  };
}

/** Freezes every replica; `thaw` lets them all go on. */
export async function freezeReplicas(topo: Topology): Promise<{ thaw(): Promise<void> }> {
  const held = await Promise.all(topo.replicas.map((r) => freeze(r)));
  return {
    async thaw() {
      await Promise.all(held.map((h) => h.thaw()));
    },
  };
}

/**
 * Makes the replicas lag: holds one replica's SQL thread for `holdMs`, lets it go, then the
 * other's, until stopped. The point is to have writes the replicas have not applied while
 * reads arrive, whatever the machine's speed; the tests never wait on these timers.
 */
export function lagReplicas(topo: Topology, holdMs = 150, gapMs = 50): { stop(): Promise<void> } {
  let running = true;
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const loop = (async () => {
    while (running) {
      for (const r of topo.replicas) {
        if (!running) break;
        const held = await freeze(r);
        await pause(holdMs);
        await held.thaw();
        await pause(gapMs);
      }
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
    },
  };
}

/** How a worker talks to Weir: text with multi-statements (the causal wait rides in the read's packet), plain text, or prepared statements. */
export type PairKind = 'text-multi' | 'text' | 'prepared';

export interface PairResult {
  pairs: number;
  /** Reads that did not see the row written just before. */
  stale: number;
  /** Reads answered by a replica (server_id other than the primary's 1). */
  replicaReads: number;
  elapsedMs: number;
  byKind: Record<PairKind, { pairs: number; stale: number; replicaReads: number }>;
}

/**
 * `pairs` write-then-read pairs through `service`, spread over one worker per kind in
 * `kinds`: each inserts a row and at once reads it back by id.
 */
export async function runPairs(
  cluster: CausalCluster,
  service: string,
  pairs: number,
  kinds: PairKind[] = ['text-multi', 'text', 'prepared', 'text-multi'],
): Promise<PairResult> {
  const result: PairResult = {
    pairs: 0,
    stale: 0,
    replicaReads: 0,
    elapsedMs: 0,
    byKind: {
      'text-multi': { pairs: 0, stale: 0, replicaReads: 0 },
      text: { pairs: 0, stale: 0, replicaReads: 0 },
      prepared: { pairs: 0, stale: 0, replicaReads: 0 },
    },
  };
  let next = 0;
  const started = performance.now();
  await Promise.all(
    kinds.map(async (kind, w) => {
      const c = await cluster.client(service, { multipleStatements: kind === 'text-multi' });
      while (next < pairs) {
        next++;
        const value = w * 1_000_000 + next;
        let id: number;
        let rows: any[];
        if (kind === 'prepared') {
          const [ok] = (await c.execute('INSERT INTO t (v) VALUES (?)', [value])) as any;
          id = ok.insertId;
          [rows] = (await c.execute('SELECT (SELECT v FROM t WHERE id = ?) AS v, @@server_id AS sid', [id])) as any;
        } else {
          const [ok] = (await c.query(`INSERT INTO t (v) VALUES (${value})`)) as any;
          id = ok.insertId;
          [rows] = (await c.query(`SELECT (SELECT v FROM t WHERE id = ${id}) AS v, @@server_id AS sid`)) as any;
        }
        const k = result.byKind[kind];
        result.pairs++;
        k.pairs++;
        const row = rows[0];
        if (Number(row.v) !== value) {
          result.stale++;
          k.stale++;
        }
        if (Number(row.sid) !== 1) {
          result.replicaReads++;
          k.replicaReads++;
        }
      }
    }),
  );
  result.elapsedMs = performance.now() - started;
  return result;
}
