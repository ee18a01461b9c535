/**
 * What the causal_reads tests and benchmark share: a GTID primary and two replicas behind
 * Weir with one readwritesplit service per causal_reads setting, a lag maker that stops the
 * replicas' SQL threads in turn, and a loop of write-then-read pairs that counts stale reads.
 */
import mysql, { type Connection } from 'mysql2/promise';
import {
  createUser,
  freePort,
  startReplicationTopology,
  waitFor,
  type MariaDBServer,
  type Topology,
} from './mariadb.ts';
import { createProxyUser, monitorSection, PROXY_USER, serverSection } from './config.ts';
import { asAdmin, removeDir, startTestWeir, type TestWeir } from './weir.ts';

export interface CausalCluster {
  topo: Topology;
  t: TestWeir;
  ports: Record<string, number>;
  client(service: string, opts?: Partial<mysql.ConnectionOptions>): Promise<Connection>;
  diagnostics(service: string): Promise<Record<string, any>>;
  /** GET /sessions: every session with its router_diagnostics. */
  sessions(): Promise<Array<Record<string, any>>>;
  close(): Promise<void>;
}

/** `services`: name → extra service parameters (e.g. `causal_reads=local`). */
export async function startCausalCluster(services: Record<string, string>): Promise<CausalCluster> {
  const topo = await startReplicationTopology(2);
  await createProxyUser(topo.primary);
  await createUser(topo.primary, 'app', 'app-pw', 'ALL PRIVILEGES ON *.*');
  await topo.primary.query('CREATE DATABASE causal');
  await topo.primary.query('CREATE TABLE causal.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT NOT NULL)');
  const [{ pos }] = await topo.primary.query('SELECT @@gtid_binlog_pos AS pos');
  for (const r of topo.replicas)
    await waitFor(`${r.name} to catch up`, async () => (await r.query('SELECT @@gtid_slave_pos AS p'))[0].p === pos);
  const ports: Record<string, number> = {};
  const names = ['db1', 'db2', 'db3'];
  let config =
    `[maxscale]\nadmin_host=127.0.0.1\nusers_refresh_time=0s\n\n` +
    serverSection('db1', topo.primary.port) +
    serverSection('db2', topo.replicas[0]!.port) +
    serverSection('db3', topo.replicas[1]!.port) +
    monitorSection('Monitor', names, 200);
  for (const [name, extra] of Object.entries(services)) {
    ports[name] = await freePort();
    config +=
      `[${name}]\ntype=service\nrouter=readwritesplit\nservers=${names.join(',')}\n` +
      `user=${PROXY_USER.user}\npassword=${PROXY_USER.password}\n${extra}\n\n` +
      `[${name}-Listener]\ntype=listener\nservice=${name}\naddress=127.0.0.1\nport=${ports[name]}\n\n`;
  }
  const t = await startTestWeir({ config });
  const core = t.weir.context.core;
  await waitFor('the monitor to find the primary and replicas', async () => {
    await t.weir.context.monitors.get('Monitor')!.nextTick();
    return (
      core.get('server', 'db1').runtime.facts.flags.includes('master') &&
      core.get('server', 'db2').runtime.facts.flags.includes('slave') &&
      core.get('server', 'db3').runtime.facts.flags.includes('slave')
    );
  });
  const open: Connection[] = [];
  return {
    topo,
    t,
    ports,
    async client(service, opts = {}) {
      const c = await mysql.createConnection({
        host: '127.0.0.1',
        port: ports[service],
        user: 'app',
        password: 'app-pw',
        database: 'causal',
        ...opts,
      });
      open.push(c);
      return c;
    },
    async diagnostics(service) {
      return (await asAdmin(t.http.get(`/services/${service}`)).expect(200)).body.router_diagnostics;
    },
    async sessions() {
      return (await asAdmin(t.http.get('/sessions')).expect(200)).body;
    },
    async close() {
      await Promise.all(open.map((c) => c.end().catch(() => undefined)));
      await t.stop();
      // WEIR_KEEP_DATADIR=1 keeps Weir's log (<datadir>/.../weir.log) for a look afterwards.
      if (process.env.WEIR_KEEP_DATADIR) console.log(`Weir's datadir kept: ${t.datadir}`);
      else removeDir(t.datadir);
      await topo.destroy();
    },
  };
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
