/**
 * mariadbmon's cluster operations on a real GTID primary with two replicas: switchover
 * (and back) under a write stream with no acknowledged write lost, failover by hand and
 * automatically, rejoin, and the refusals that protect data. Every wait is on a monitor
 * round or a server state, never on a guessed duration.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mysql, { type Connection } from 'mysql2/promise';
import {
  createUser,
  freePort,
  startReplicationTopology,
  waitFor,
  type MariaDBServer,
  type Topology,
} from '../harness/mariadb.ts';
import { asAdmin, removeDir, startTestWeir, type TestWeir } from '../harness/weir.ts';
import { CLUSTER_ADMIN, clusterConfig, createClusterAdmin } from '../harness/config.ts';

const JSON_PATCH = 'application/json-patch+json';
function config(topo: Topology, port: number): string {
  const servers = [topo.primary, ...topo.replicas].map((s) => s.name);
  return (
    clusterConfig(topo, {
      intervalMs: 200,
      failcount: 2,
      readTimeout: '2s',
      extra: 'switchover_timeout=30s\nfailover_timeout=30s\n',
    }) +
    `[Writes]\ntype=service\nrouter=readconnroute\nrouter_options=master\nservers=${servers.join(',')}\n` +
    `user=${CLUSTER_ADMIN.user}\npassword=${CLUSTER_ADMIN.password}\n\n` +
    `[Writes-Listener]\ntype=listener\nservice=Writes\naddress=127.0.0.1\nport=${port}\n`
  );
}

describe('mariadbmon cluster operations on a real primary and two replicas', () => {
  let topo: Topology;
  let t: TestWeir;
  let port: number;
  const byName = new Map<string, MariaDBServer>();
  const monitor = () => t.weir.context.monitors.get('Cluster')!;
  const server = async (name: string) => (await asAdmin(t.http.get(`/servers/${name}`)).expect(200)).body;
  const op = (name: 'switchover' | 'failover' | 'rejoin', body?: object) =>
    asAdmin(
      name === 'switchover'
        ? t.http.post('/monitors/Cluster/switchover')
        : name === 'failover'
          ? t.http.post('/monitors/Cluster/failover')
          : t.http.post('/monitors/Cluster/rejoin'),
    ).send(body);
  /** Waits, by monitor rounds, until `check` holds for the server's REST view. */
  async function until(name: string, what: string, check: (s: any) => boolean, rounds = 100): Promise<any> {
    for (let i = 0; i < rounds; i++) {
      const s = await server(name);
      if (check(s)) return s;
      await monitor().nextTick();
    }
    assert.fail(`${name}: ${what} not seen after ${rounds} rounds: ${JSON.stringify(await server(name))}`);
  }
  const isState =
    (...flags: string[]) =>
    (s: any) =>
      JSON.stringify(s.state) === JSON.stringify(flags);
  const primaryName = async () => {
    for (const n of byName.keys()) if ((await server(n)).state.includes('master')) return n;
    return null;
  };
  const connectApp = () =>
    mysql.createConnection({ host: '127.0.0.1', port, user: 'app', password: 'app-pw', database: 'shop' });
  /** The server a new session through Weir lands on. */
  async function landsOn(): Promise<number> {
    const c = await connectApp();
    try {
      const [[row]] = (await c.query('SELECT @@server_id AS id')) as any;
      return Number(row.id);
    } finally {
      await c.end();
    }
  }

  before(async () => {
    topo = await startReplicationTopology(2);
    for (const s of [topo.primary, ...topo.replicas]) byName.set(s.name, s);
    await createClusterAdmin(topo);
    await createUser(topo.primary, 'app', 'app-pw', 'SELECT, INSERT, CREATE ON shop.*');
    await topo.primary.query('CREATE DATABASE shop');
    await topo.primary.query('CREATE TABLE shop.orders (id INT PRIMARY KEY)');
    port = await freePort();
    t = await startTestWeir({ config: config(topo, port) });
    await until('db1', 'primary', isState('master', 'running'));
    await until('db2', 'replica', isState('slave', 'running'));
    await until('db3', 'replica', isState('slave', 'running'));
  });
  after(async () => {
    await t?.stop();
    if (t) removeDir(t.datadir);
    await topo?.destroy();
  });

  test('bad cluster operations are refused with the reason and change nothing', async () => {
    const refused = async (
      path: 'switchover' | 'failover' | 'rejoin',
      body: object | undefined,
      pattern: RegExp,
      status = 422,
    ) => {
      const res = await op(path, body).expect(status);
      assert.match(res.body.description, pattern);
    };
    await refused('switchover', { new_primary: 'nope' }, /'nope' is not a server of this monitor/);
    await refused(
      'switchover',
      { new_primary: 'db2', old_primary: 'db3' },
      /'db3' is not the primary: the primary is 'db1'/,
    );
    await refused('failover', undefined, /The primary 'db1' is running/);
    await refused('rejoin', { server: 'db1' }, /'db1' is the primary/);
    await refused('rejoin', { server: 'nope' }, /'nope' is not a server of this monitor/);
    await refused('switchover', { new_primary: 'db2', surprise: 1 }, /surprise/, 400);
    await refused('rejoin', {}, /server/, 400);
    assert.equal((await asAdmin(t.http.post('/monitors/Nope/failover')).expect(404)).body.error, 'Not Found');
    const patch = await asAdmin(t.http.patch('/monitors/Cluster'))
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/monitor_interval', value: -200 }])
      .expect((r) => assert.ok(r.status === 400 || r.status === 422, String(r.status)));
    assert.match(patch.body.description + JSON.stringify(patch.body.errors ?? []), /monitor_interval/);

    // Nor one listed in servers_no_promotion; an unknown name there is refused.
    await asAdmin(t.http.patch('/monitors/Cluster'))
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/parameters/servers_no_promotion', value: ['db3'] }])
      .expect(200);
    await refused(
      'switchover',
      { new_primary: 'db3' },
      /'db3' cannot be promoted: it is listed in servers_no_promotion/,
    );
    const unknown = await asAdmin(t.http.patch('/monitors/Cluster'))
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/parameters/servers_no_promotion', value: ['db7'] }])
      .expect(422);
    assert.match(unknown.body.description, /servers_no_promotion.*db7/);
    await asAdmin(t.http.patch('/monitors/Cluster'))
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/parameters/servers_no_promotion', value: [] }])
      .expect(200);

    // A replica in maintenance, or one that is down, cannot be promoted.
    await asAdmin(t.http.patch('/servers/db3'))
      .type(JSON_PATCH)
      .send([{ op: 'add', path: '/state/-', value: 'maintenance' }])
      .expect(200);
    await refused('switchover', { new_primary: 'db3' }, /'db3' cannot be promoted: it is in maintenance/);
    await asAdmin(t.http.patch('/servers/db3'))
      .type(JSON_PATCH)
      .send([{ op: 'remove', path: '/state/0' }])
      .expect(200);
    await byName.get('db3')!.kill();
    await until('db3', 'down', isState('down'));
    await refused(
      'switchover',
      { new_primary: 'db3' },
      /'db3' does not replicate from the primary 'db1' \(or is not reachable\)/,
    );
    await byName.get('db3')!.restart();
    await until('db3', 'replica again', isState('slave', 'running'));

    // Nothing changed: same primary, writable; replicas read-only and replicating from it.
    assert.equal((await server('db1')).read_only, false);
    assert.equal((await monitorView()).parameters.auto_failover, false);
    assert.equal((await asAdmin(t.http.get('/monitors/Cluster')).expect(200)).body.monitor_interval, 200);
    for (const r of ['db2', 'db3']) assert.equal((await server(r)).replicates_from, '/servers/db1');
    assert.equal(await landsOn(), 1);
  });

  async function monitorView() {
    return (await asAdmin(t.http.get('/monitors/Cluster')).expect(200)).body;
  }

  test('switchover and back under a write stream: every acknowledged write is on the final primary', async () => {
    const writer = new WriteStream(connectApp);
    const running = writer.run();
    try {
      await writer.acknowledged(50);
      const first = (await op('switchover', { new_primary: 'db2' }).expect(200)).body;
      assert.equal(first.operation, 'switchover');
      assert.equal(first.primary, 'db2');
      assert.equal(first.previous_primary, 'db1');
      assert.ok(first.steps.includes('db1: SET GLOBAL read_only=1'), first.steps.join('\n'));
      assert.ok(
        first.steps.some((s: string) => /'db2' applied every transaction up to GTID 0-1-\d+/.test(s)),
        first.steps.join('\n'),
      );
      // The reply comes after a monitoring round: the REST view already shows the new topology.
      assert.deepEqual((await server('db2')).state, ['master', 'running']);
      await until('db1', 'replica of db2', (s) => s.state.includes('slave') && s.replicates_from === '/servers/db2');
      await until('db3', 'replica of db2', (s) => s.state.includes('slave') && s.replicates_from === '/servers/db2');
      assert.equal((await server('db1')).read_only, true);
      assert.equal(await landsOn(), 2);

      const onDb2 = writer.acked.size;
      await writer.acknowledged(onDb2 + 50);
      const back = (await op('switchover', { new_primary: 'db1', old_primary: 'db2' }).expect(200)).body;
      assert.equal(back.primary, 'db1');
      await until('db2', 'replica of db1', (s) => s.state.includes('slave') && s.replicates_from === '/servers/db1');
      await until('db3', 'replica of db1', (s) => s.state.includes('slave') && s.replicates_from === '/servers/db1');
      await writer.acknowledged(writer.acked.size + 50);
    } finally {
      writer.stop();
      await running;
    }
    assert.ok(writer.reconnects > 0, 'the writer was moved off the old primary');

    const rows = await topo.primary.query('SELECT id FROM shop.orders');
    const stored = new Set<number>((rows as Array<{ id: number }>).map((r) => r.id));
    const lost = [...writer.acked].filter((id) => !stored.has(id));
    assert.deepEqual(lost, [], `acknowledged writes missing on the primary (of ${writer.acked.size})`);
    assert.ok(
      [...stored].every((id) => id <= writer.lastAttempted),
      'no row that was never written',
    );
    // The replicas have them too.
    const [{ pos }] = await topo.primary.query('SELECT @@gtid_binlog_pos AS pos');
    for (const r of topo.replicas) {
      await waitFor(
        `${r.name} to catch up`,
        async () => (await r.query(`SELECT MASTER_GTID_WAIT('${pos}', 0) AS w`))[0].w === 0,
      );
      const [{ n }] = await r.query('SELECT COUNT(*) AS n FROM shop.orders');
      assert.equal(Number(n), stored.size, r.name);
    }

    // Asking again for what already holds is safe: nothing is done, and it says so.
    const again = (await op('switchover', { new_primary: 'db1' }).expect(200)).body;
    assert.deepEqual(again.steps, ["'db1' is already the primary; nothing was changed"]);
  });

  let failedPrimary = 'db1';
  let newPrimary = '';

  test('primary killed: failover promotes the most up-to-date replica, sessions follow; rejoin brings the old primary back', async () => {
    await byName.get('db1')!.kill();
    await until('db1', 'down', (s) => s.state.includes('down') && s.last_event === 'master_down');
    const result = (await op('failover').expect(200)).body;
    assert.equal(result.operation, 'failover');
    assert.equal(result.previous_primary, 'db1');
    newPrimary = result.primary;
    assert.ok(['db2', 'db3'].includes(newPrimary), newPrimary);
    const other = newPrimary === 'db2' ? 'db3' : 'db2';
    assert.deepEqual((await server(newPrimary)).state, ['master', 'running']);
    assert.equal((await server(newPrimary)).read_only, false);
    await until(
      other,
      `replica of ${newPrimary}`,
      (s) => s.state.includes('slave') && s.replicates_from === `/servers/${newPrimary}`,
    );
    assert.equal(await landsOn(), Number(newPrimary.slice(2)));

    // Failing over again is refused: the new primary is running.
    assert.match(
      (await op('failover').expect(422)).body.description,
      new RegExp(`The primary '${newPrimary}' is running`),
    );

    // The old primary returns as a writable stand-alone server; rejoin makes it a replica.
    await byName.get('db1')!.restart();
    await until('db1', 'running', isState('running'));
    const rejoined = (await op('rejoin', { server: 'db1' }).expect(200)).body;
    assert.equal(rejoined.primary, newPrimary);
    const db1 = await until(
      'db1',
      `replica of ${newPrimary}`,
      (s) => s.state.includes('slave') && s.replicates_from === `/servers/${newPrimary}`,
    );
    assert.equal(db1.read_only, true);
    // Rejoining what already replicates changes nothing.
    assert.match((await op('rejoin', { server: 'db1' }).expect(200)).body.steps.join(), /already replicates/);
    failedPrimary = newPrimary;
  });

  test('auto_failover and auto_rejoin: a killed primary is replaced within failcount rounds and rejoins when back', async () => {
    await asAdmin(t.http.patch('/monitors/Cluster'))
      .type(JSON_PATCH)
      .send([
        { op: 'replace', path: '/parameters/auto_failover', value: true },
        { op: 'replace', path: '/parameters/auto_rejoin', value: true },
      ])
      .expect(200);
    const victim = failedPrimary;
    await byName.get(victim)!.kill();
    await until(victim, 'down', (s) => s.state.includes('down'));
    let promoted: string | null = null;
    for (let i = 0; i < 100 && !promoted; i++) {
      promoted = await primaryName();
      if (!promoted) await monitor().nextTick();
    }
    assert.ok(promoted && promoted !== victim, `a new primary (got ${promoted})`);
    assert.equal(await landsOn(), Number(promoted.slice(2)));

    await byName.get(victim)!.restart();
    const back = await until(
      victim,
      `auto-rejoined to ${promoted}`,
      (s) => s.state.includes('slave') && s.replicates_from === `/servers/${promoted}`,
    );
    assert.equal(back.read_only, true);
    newPrimary = promoted;
  });

  test('rejoin refuses a server with transactions the primary does not have, and leaves it as it was', async () => {
    await asAdmin(t.http.patch('/monitors/Cluster'))
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/parameters/auto_rejoin', value: false }])
      .expect(200);
    const diverged = [...byName.keys()].find((n) => n !== newPrimary)!;
    const s = byName.get(diverged)!;
    await s.query('STOP SLAVE');
    await s.query('RESET SLAVE ALL');
    await s.query('SET GLOBAL read_only=0');
    await s.query('INSERT INTO shop.orders VALUES (-1)');
    await until(diverged, 'stand-alone', isState('running'));
    const res = await op('rejoin', { server: diverged }).expect(422);
    assert.match(
      res.body.description,
      new RegExp(`'${diverged}' has transactions the primary '${newPrimary}' does not`),
    );
    const slaves = await s.query('SHOW ALL SLAVES STATUS');
    assert.equal(slaves.length, 0, 'no replication was set up');
    const [{ ro }] = await s.query('SELECT @@global.read_only AS ro');
    assert.equal(Number(ro), 0, 'still writable');
  });
});

/**
 * An application writing through Weir: one INSERT at a time, reconnecting when its session
 * is closed or its write refused, as a real client's retry loop does. A write counts as
 * acknowledged when the server said OK (or, on a retry after a lost reply, that the row exists).
 */
class WriteStream {
  readonly acked = new Set<number>();
  lastAttempted = 0;
  reconnects = 0;
  private stopped = false;
  private waiters: Array<{ n: number; resolve: () => void }> = [];

  constructor(private readonly connect: () => Promise<Connection>) {}

  stop(): void {
    this.stopped = true;
  }

  /** Resolves once `n` writes are acknowledged. */
  acknowledged(n: number): Promise<void> {
    if (this.acked.size >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  async run(): Promise<void> {
    let conn: Connection | null = null;
    let id = 1;
    while (!this.stopped) {
      try {
        conn ??= await this.connect();
        this.lastAttempted = Math.max(this.lastAttempted, id);
        await conn.query('INSERT INTO orders VALUES (?)', [id]);
        this.ack(id++);
      } catch (err) {
        const e = err as { errno?: number };
        if (e.errno === 1062) {
          this.ack(id++); // committed before its reply was lost
          continue;
        }
        conn?.destroy();
        conn = null;
        this.reconnects++;
        // Refused while no primary takes writes (read-only, no primary yet): wait for the next
        // monitor round's outcome by simply trying again on a fresh session.
        await new Promise((r) => setTimeout(r, 10)); // a client's retry back-off, not a wait for an outcome
      }
    }
    await conn?.end().catch(() => undefined);
  }

  private ack(id: number): void {
    this.acked.add(id);
    const ready = this.waiters.filter((w) => this.acked.size >= w.n);
    this.waiters = this.waiters.filter((w) => this.acked.size < w.n);
    for (const w of ready) w.resolve();
  }
}
