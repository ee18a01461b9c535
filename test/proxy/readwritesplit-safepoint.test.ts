/**
 * readwritesplit leaves servers it should no longer use at the next safe point (readwritesplit
 * reference §5.4, §5.5): a replica put in maintenance or moved to another rank at runtime loses
 * the session's connection once the reply is complete and no transaction is open, and the
 * REST API's GET /sessions/{id} shows it. Scenario 39: a session command in flight while every
 * server stalls (SIGSTOP) still succeeds once they go on. A GTID primary (db1, server_id 1)
 * and two replicas (db2, db3) from the causal_reads harness.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import type { Connection } from 'mysql2/promise';
import { freeze, waitFor } from '../harness/mariadb.ts';
import { asAdmin } from '../harness/weir.ts';
import { startCausalCluster, type CausalCluster } from '../harness/causal.ts';

const JSON_PATCH = 'application/json-patch+json';

describe('readwritesplit: connections left at the next safe point', () => {
  let k: CausalCluster;
  const core = () => k.t.weir.context.core;
  const flags = (name: string) => core().get('server', name).runtime.facts.flags;

  before(async () => {
    k = await startCausalCluster({ RWS: '', Lag: 'max_replication_lag=10s' });
  });
  after(async () => {
    for (const s of [k?.topo.primary, ...(k?.topo.replicas ?? [])]) if (s) process.kill(s.pid, 'SIGCONT');
    await k?.close();
  });

  /** The servers GET /sessions/{id} lists for the client's session (mysql2's threadId is Weir's session id). */
  const servers = async (c: Connection): Promise<string[]> =>
    ((await asAdmin(k.t.http.get(`/sessions/${c.threadId}`)).expect(200)).body.servers as string[])
      .map((s) => s.replace('/servers/', ''))
      .sort();
  const serverId = async (c: Connection): Promise<number> => {
    const [[r]] = (await c.query('SELECT @@server_id AS id')) as any;
    return Number(r.id);
  };
  const patch = (server: string, ops: object[]) =>
    asAdmin(k.t.http.patch(`/servers/${server}`))
      .type(JSON_PATCH)
      .send(ops)
      .expect((r) => assert.equal(r.status, 200, r.text));
  const setMaintenance = (server: string) => patch(server, [{ op: 'add', path: '/state/-', value: 'maintenance' }]);
  const clearMaintenance = async (server: string) => {
    const state = (await asAdmin(k.t.http.get(`/servers/${server}`)).expect(200)).body.state as string[];
    if (state.includes('maintenance'))
      await patch(server, [{ op: 'remove', path: `/state/${state.indexOf('maintenance')}` }]);
  };
  /** A session with a connection to each of db1, db2, db3. */
  const fullSession = async (service = 'RWS'): Promise<Connection> => {
    const c = await k.client(service);
    await c.query('SET @a = 1');
    assert.deepEqual(await servers(c), ['db1', 'db2', 'db3']);
    return c;
  };

  test('maintenance: an idle session closes its connection to the replica at once, and reads go to the other', async () => {
    const c = await fullSession();
    try {
      await setMaintenance('db2');
      await c.query('SELECT 1');
      assert.deepEqual(await servers(c), ['db1', 'db3']);
      for (let i = 0; i < 6; i++) assert.equal(await serverId(c), 3);
      const [[a]] = (await c.query('SELECT @a AS a')) as any;
      assert.equal(Number(a.a), 1);
    } finally {
      await clearMaintenance('db2');
    }
  });

  test('maintenance during a read-write transaction: the replica connection is closed only after COMMIT', async () => {
    const c = await fullSession();
    try {
      await c.query('BEGIN');
      await c.query('INSERT INTO t (v) VALUES (39)');
      await setMaintenance('db3');
      // Inside the transaction nothing is closed, whatever the statements.
      const [[inTrx]] = (await c.query('SELECT @@server_id AS id, COUNT(*) AS n FROM t WHERE v = 39')) as any;
      assert.deepEqual([Number(inTrx.id), Number(inTrx.n)], [1, 1]);
      assert.deepEqual(await servers(c), ['db1', 'db2', 'db3']);
      await c.query('COMMIT');
      // The COMMIT's reply was the safe point: the connection went before the client had it.
      assert.deepEqual(await servers(c), ['db1', 'db2']);
      for (let i = 0; i < 6; i++) assert.equal(await serverId(c), 2);
    } finally {
      await clearMaintenance('db3');
    }
  });

  test('maintenance on the primary: the open transaction finishes there, then its connection is closed', async () => {
    const c = await fullSession();
    try {
      await c.query('BEGIN');
      await c.query('INSERT INTO t (v) VALUES (391)');
      await setMaintenance('db1');
      await c.query('INSERT INTO t (v) VALUES (392)');
      assert.deepEqual(await servers(c), ['db1', 'db2', 'db3']);
      await c.query('COMMIT');
      assert.deepEqual(await servers(c), ['db2', 'db3']);
      const [n] = await k.topo.primary.query('SELECT COUNT(*) AS n FROM causal.t WHERE v IN (391, 392)');
      assert.equal(Number(n.n), 2);
      assert.notEqual(await serverId(c), 1); // reads go on, on the replicas
      // No primary left for it (master_failure_mode=fail_on_write): a write ends the session.
      await assert.rejects(c.query('INSERT INTO t (v) VALUES (393)'), /No primary is available/);
    } finally {
      await clearMaintenance('db1');
    }
  });

  test('ranks: a replica made secondary at runtime loses the session’s connection; reads stay on the primary rank', async () => {
    const c = await fullSession();
    try {
      await patch('db3', [{ op: 'replace', path: '/parameters/rank', value: 'secondary' }]);
      await c.query('SELECT 1');
      assert.deepEqual(await servers(c), ['db1', 'db2']);
      for (let i = 0; i < 6; i++) assert.equal(await serverId(c), 2);
    } finally {
      await patch('db3', [{ op: 'replace', path: '/parameters/rank', value: 'primary' }]);
    }
  });

  test('max_replication_lag=10s: a replica whose lag passes 300 s loses the session’s open connection; 300 s keeps it', async () => {
    const c = await fullSession('Lag');
    const db3 = core().get('server', 'db3');
    // What the monitor would report: set and announced in one go, as its round does. The
    // monitor is paused meanwhile, so that its next round does not put the real lag back.
    const report = (lag: number) => {
      db3.runtime.facts.replication_lag = lag;
      core().touch(db3);
    };
    await asAdmin(k.t.http.put('/monitors/Monitor/stop')).expect(204);
    try {
      report(300);
      assert.deepEqual(await servers(c), ['db1', 'db2', 'db3']);
      // An idle session closes at once; one whose session command db3 has not answered yet
      // (the SET's reply from a replica may trail the primary's) closes when it answers.
      report(301);
      await waitFor(
        'the session to close its connection to db3',
        async () => (await servers(c)).join(',') === 'db1,db2',
      );
      await c.query('SELECT 1');
      assert.deepEqual(await servers(c), ['db1', 'db2']);
    } finally {
      await asAdmin(k.t.http.put('/monitors/Monitor/start')).expect(204);
      // A started monitor knows the servers' roles again after its first round.
      await waitFor('the monitor to see the primary and replicas again', async () => {
        await k.t.weir.context.monitors.get('Monitor')!.nextTick();
        return flags('db1').includes('master') && flags('db2').includes('slave') && flags('db3').includes('slave');
      });
    }
  });

  test('max_replication_lag=10s: a replica crossing the limit is logged once each way, by the read that finds it', async () => {
    const c = await fullSession('Lag');
    const db3 = k.topo.replicas[1]!;
    const lag = () => core().get('server', 'db3').runtime.facts.replication_lag;
    const untilLag = (what: string, holds: (l: number | null) => boolean) =>
      waitFor(`the monitor to see db3's lag ${what}`, async () => {
        await k.t.weir.context.monitors.get('Monitor')!.nextTick();
        return holds(lag());
      });
    const logged = () =>
      readFileSync(k.t.weir.context.log.file, 'utf8')
        .split('\n')
        .filter((l) => l.includes("Replication lag of 'db3'"));
    const readsOn = async (n: number) => {
      const ids = new Set<number>();
      for (let i = 0; i < n; i++) ids.add(await serverId(c));
      return [...ids].sort();
    };
    await untilLag('at 0', (l) => l === 0);
    assert.deepEqual(await readsOn(4), [2, 3]);
    const before = logged().length;
    // A real lag of ~100 s at once: db3 applies events an hour late, and the primary writes one
    // stamped 100 s ago (Seconds_Behind_Master counts from the event's timestamp).
    await db3.query('STOP SLAVE');
    await db3.query('CHANGE MASTER TO MASTER_DELAY = 3600');
    await db3.query('START SLAVE');
    try {
      await k.topo.primary.query('SET TIMESTAMP = UNIX_TIMESTAMP() - 100; INSERT INTO causal.t (v) VALUES (100)');
      await untilLag('above 10 s', (l) => l !== null && l >= 10);
      assert.deepEqual(await readsOn(4), [2], 'db3 is skipped');
      assert.deepEqual(await readsOn(2), [2]);
      await waitFor('the warning that db3 left routing', async () => logged().length === before + 1);
      assert.match(
        logged()[before]!,
        /Replication lag of 'db3' is \d+ seconds, which is above the configured limit 10s\. 'db3' is excluded from query routing\./,
      );
    } finally {
      await db3.query('STOP SLAVE');
      await db3.query('CHANGE MASTER TO MASTER_DELAY = 0');
      await db3.query('START SLAVE');
    }
    await untilLag('back at 0', (l) => l === 0);
    assert.deepEqual(await readsOn(4), [2, 3], 'db3 is back');
    await waitFor('the warning that db3 is back', async () => logged().length === before + 2);
    assert.match(
      logged()[before + 1]!,
      /Replication lag of 'db3' is 0 seconds, which is below the configured limit 10s\. 'db3' is returned to query routing\./,
    );
    assert.deepEqual(await readsOn(2), [2, 3]);
    assert.equal(logged().length, before + 2, 'logged once per crossing, not per read');
  });

  test('39: SET @a=(SELECT SLEEP(2)) while every server is stopped and then continued: the SET succeeds, the session goes on', async () => {
    const c = await fullSession();
    const monitor = () => k.t.weir.context.monitors.get('Monitor')!;
    const nodes = [k.topo.primary, ...k.topo.replicas];
    // The monitor is paused for the stall: it would call the stopped servers down, which is
    // another scenario (the stall here is shorter than the monitor's patience).
    await asAdmin(k.t.http.put('/monitors/Monitor/stop')).expect(204);
    const set = c.query('SET @a = (SELECT SLEEP(2))');
    let stopped = false;
    try {
      // Every server has the statement (it is a session command) before any is stopped.
      for (const n of nodes)
        await waitFor(`${n.name} to run the SET`, async () => {
          const [row] = await n.query(
            "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SET @a = (SELECT SLEEP%'",
          );
          return Number(row.n) === 1;
        });
      const started = performance.now();
      stopped = true;
      for (const n of nodes) await freeze(n.pid);
      // Stopped past the moment the answers were due. The length is the scenario's, not a
      // guess the test's outcome rests on: any length gives the same result.
      await delay(Math.max(0, started + 2500 - performance.now()));
    } finally {
      if (stopped) for (const n of nodes) process.kill(n.pid, 'SIGCONT');
      await asAdmin(k.t.http.put('/monitors/Monitor/start')).expect(204);
    }
    await set;
    await waitFor('the monitor to see the primary and replicas again', async () => {
      await monitor().nextTick();
      return flags('db1').includes('master') && flags('db2').includes('slave') && flags('db3').includes('slave');
    });
    const [[onReplica]] = (await c.query('SELECT @a AS a, @@server_id AS id')) as any;
    assert.equal(Number(onReplica.a), 0);
    assert.notEqual(Number(onReplica.id), 1);
    await c.query('BEGIN');
    const [[inTrx]] = (await c.query('SELECT @a AS a, @@server_id AS id')) as any;
    await c.query('COMMIT');
    assert.deepEqual([Number(inTrx.a), Number(inTrx.id)], [0, 1]);
    await c.query('START TRANSACTION READ ONLY');
    const [[inRoTrx]] = (await c.query('SELECT @a AS a, @@server_id AS id')) as any;
    await c.query('COMMIT');
    assert.equal(Number(inRoTrx.a), 0);
    assert.notEqual(Number(inRoTrx.id), 1);
    assert.deepEqual(await servers(c), ['db1', 'db2', 'db3']);
  });
});
