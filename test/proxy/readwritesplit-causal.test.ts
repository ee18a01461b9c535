/**
 * readwritesplit's causal_reads (readwritesplit reference §7, scenarios 48-49) on a real GTID
 * primary (server_id 1) and two replicas, through mysql2 (text with and without
 * multi-statements, prepared statements) and the MariaDB connector.
 *
 * WEIR_CAUSAL_PAIRS sets how many write-then-read pairs the stale-read test runs (default
 * 2,000; test/bench/causal-reads.bench.ts runs 10,000).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { asAdmin } from '../harness/weir.ts';
import * as mariadb from 'mariadb';
import type { Connection } from 'mysql2/promise';
import { waitFor } from '../harness/mariadb.ts';
import { RawClient } from '../harness/raw-client.ts';
import { Cursor } from '../../src/proxy/protocol/packets.ts';
import { freezeReplicas, lagReplicas, runPairs, startCausalCluster, type CausalCluster } from '../harness/causal.ts';

const PAIRS = Number(process.env.WEIR_CAUSAL_PAIRS ?? 2000);

describe('readwritesplit causal_reads', () => {
  let k: CausalCluster;

  // The replicas' SQL threads held back (not stopped: they stay replicas for the monitor).
  let frozen: { thaw(): Promise<void> } | null = null;
  const stopReplicas = async () => {
    frozen = await freezeReplicas(k.topo);
  };
  const startReplicas = async () => {
    await frozen?.thaw();
    frozen = null;
  };
  /** Until the replicas applied everything the primary has, and the monitor has seen it. */
  const caughtUp = async () => {
    const [{ pos }] = await k.topo.primary.query('SELECT @@gtid_binlog_pos AS pos');
    for (const r of k.topo.replicas)
      await waitFor(`${r.name} to catch up`, async () => (await r.query('SELECT @@gtid_slave_pos AS p'))[0].p === pos);
    const core = k.t.weir.context.core;
    await waitFor('the monitor to see the replicas caught up', async () => {
      await k.t.weir.context.monitors.get('Monitor')!.nextTick();
      return ['db2', 'db3'].every((s) => core.get('server', s).runtime.facts.gtid_current_pos === pos);
    });
  };
  /** A MASTER_GTID_WAIT is running on some replica. */
  const waitingOnReplica = () =>
    waitFor('a replica to wait for the GTID', async () => {
      for (const r of k.topo.replicas) {
        const rows = await r.query(
          "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE INFO LIKE '%MASTER_GTID_WAIT%' AND INFO NOT LIKE '%PROCESSLIST%'",
        );
        if (Number(rows[0].n) > 0) return true;
      }
      return false;
    });
  const insert = async (c: Connection, v: number): Promise<number> => {
    const [ok] = (await c.query(`INSERT INTO t (v) VALUES (${v})`)) as any;
    return ok.insertId as number;
  };
  const readBack = async (c: Connection, id: number) => {
    const [rows] = (await c.query(`SELECT (SELECT v FROM t WHERE id = ${id}) AS v, @@server_id AS sid`)) as any;
    return { v: rows[0].v === null ? null : Number(rows[0].v), sid: Number(rows[0].sid) };
  };

  before(async () => {
    k = await startCausalCluster({
      None: 'causal_reads=none',
      Local: 'causal_reads=local',
      Short: 'causal_reads=local\ncausal_reads_timeout=1s',
      Global: 'causal_reads=global',
      Fast: 'causal_reads=fast',
      FastGlobal: 'causal_reads=fast_global',
      Universal: 'causal_reads=universal',
      FastUniversal: 'causal_reads=fast_universal',
      Legacy: 'causal_reads=true\ncausal_reads_timeout=1s',
    });
  });
  after(async () => {
    await startReplicas();
    await k?.close();
  });

  test(`${PAIRS} write-then-read pairs with lagging replicas: stale reads with none, none with local`, async () => {
    const lag = lagReplicas(k.topo);
    let none, local;
    try {
      none = await runPairs(k, 'None', Math.max(200, Math.floor(PAIRS / 10)));
      local = await runPairs(k, 'Local', PAIRS);
    } finally {
      await lag.stop();
    }
    console.log(`causal_reads=none: ${JSON.stringify(none)}`);
    console.log(`causal_reads=local: ${JSON.stringify(local)}`);
    // The test can fail: without causal reads the lag shows.
    assert.ok(none.stale > 0, 'causal_reads=none saw no stale read: the replicas did not lag');
    assert.equal(local.stale, 0, `causal_reads=local returned ${local.stale} stale reads`);
    // And the reads were not simply all sent to the primary.
    for (const kind of ['text-multi', 'text', 'prepared'] as const) {
      const r = local.byKind[kind];
      assert.ok(r.replicaReads > r.pairs / 2, `${kind}: only ${r.replicaReads} of ${r.pairs} reads on a replica`);
    }
    const d = await k.diagnostics('Local');
    assert.ok(d.causal_read_waits >= local.pairs, `waits ${d.causal_read_waits}`);
    assert.match(d.last_gtid, /^0-1-\d+$/);
  });

  test('local: a read waits on the replica until the write is applied there, and the client gets one plain result', async () => {
    const c = await k.client('Local', { multipleStatements: true });
    await stopReplicas();
    const id = await insert(c, 7);
    // The session shows the GTID of its write (nothing else writes meanwhile).
    const [{ pos }] = await k.topo.primary.query('SELECT @@gtid_binlog_pos AS pos');
    const mine = (await k.sessions()).filter((s) => s.router_diagnostics?.last_gtid === pos);
    assert.equal(mine.length, 1, `one session with last_gtid ${pos}`);
    const reading = readBack(c, id);
    await waitingOnReplica();
    await startReplicas();
    const r = await reading;
    assert.equal(r.v, 7);
    assert.notEqual(r.sid, 1, 'the read ran on a replica');
    // One result set, not the wait's OK and the rows: mysql2 returns plain rows for one result.
    const [rows, fields] = (await c.query(`SELECT v FROM t WHERE id = ${id}`)) as any;
    assert.ok(Array.isArray(rows) && !Array.isArray(rows[0]), JSON.stringify(rows));
    assert.deepEqual(
      rows.map((x: any) => x.v),
      [7],
    );
    assert.deepEqual(
      (fields as any[]).map((f) => f.name),
      ['v'],
    );
    // The client's own multi-statement still gets both of its results, and the connection carries on.
    const [multi] = (await c.query('SELECT 1 AS a; SELECT 2 AS b')) as any;
    assert.deepEqual(multi, [[{ a: 1 }], [{ b: 2 }]]);
    const [[one]] = (await c.query('SELECT 1 AS x')) as any;
    assert.equal(one.x, 1);
  });

  test('local: the MariaDB connector (which checks sequence numbers) reads its write through the hidden wait', async () => {
    const conn = await mariadb.createConnection({
      host: '127.0.0.1',
      port: k.ports.Local,
      user: 'app',
      password: 'app-pw',
      database: 'causal',
      multipleStatements: true,
    });
    try {
      for (let i = 0; i < 20; i++) {
        const ok = await conn.query('INSERT INTO t (v) VALUES (?)', [1000 + i]);
        const rows = await conn.query(`SELECT v FROM t WHERE id = ${Number(ok.insertId)}`);
        assert.equal(rows.length, 1);
        assert.equal(Number(rows[0].v), 1000 + i);
        const prepared = await conn.execute('SELECT v FROM t WHERE id = ?', [Number(ok.insertId)]);
        assert.equal(Number(prepared[0].v), 1000 + i);
      }
      assert.equal(Number((await conn.query('SELECT 5 AS f'))[0].f), 5);
    } finally {
      await conn.end();
    }
  });

  test('local, on the wire: the read comes back numbered from 1, also after COM_SET_OPTION turns multi-statements off', async () => {
    const before = await k.diagnostics('Local');
    const raw = await RawClient.login(k.ports.Local!, 'app', 'app-pw', 'causal');
    const query = (sql: string) => raw.command(Buffer.concat([Buffer.from([0x03]), Buffer.from(sql)]));
    /** The packets of one text reply: an OK/ERR, or a result set up to its closing 0xFE. */
    const reply = async () => {
      const packets = [];
      for (;;) {
        const p = await raw.next();
        assert.ok(p, 'the connection closed');
        packets.push(p);
        if (packets.length === 1 && (p.payload[0] === 0x00 || p.payload[0] === 0xff)) return packets;
        if (packets.length > 1 && p.payload[0] === 0xfe && p.payload.length < 0xffffff) return packets;
      }
    };
    try {
      for (const multiStatements of [true, false]) {
        if (!multiStatements) {
          raw.command(Buffer.from([0x1b, 0x01, 0x00])); // COM_SET_OPTION MULTI_STATEMENTS_OFF
          const answer = await raw.next(); // an EOF packet
          assert.equal(answer?.payload[0], 0xfe, answer?.payload.toString('latin1'));
        }
        query('INSERT INTO t (v) VALUES (18)');
        const [ok] = await reply();
        assert.equal(ok!.payload[0], 0x00);
        const okFields = new Cursor(ok!.payload, 1);
        okFields.lenenc(); // affected rows
        const id = okFields.lenenc(); // last insert id
        query(`SELECT v FROM t WHERE id = ${id}`);
        const packets = await reply();
        // Column count, one definition, the row, the closing OK (DEPRECATE_EOF): nothing of the wait.
        assert.deepEqual(
          packets.map((p) => p.sequence),
          [1, 2, 3, 4],
        );
        assert.deepEqual([...packets[0]!.payload], [1]);
        assert.equal(packets[2]!.payload.toString('utf8', 1), '18');
      }
    } finally {
      raw.destroy();
    }
    const d = await k.diagnostics('Local');
    assert.equal(d.causal_read_waits - before.causal_read_waits, 2);
    assert.equal(d.causal_read_timeouts - before.causal_read_timeouts, 0, 'no wait failed');
  });

  test('local, prepared statements: the execute waits on the replica', async () => {
    const c = await k.client('Local');
    await stopReplicas();
    const [ok] = (await c.execute('INSERT INTO t (v) VALUES (?)', [8])) as any;
    const reading = c.execute('SELECT (SELECT v FROM t WHERE id = ?) AS v, @@server_id AS sid', [ok.insertId]);
    await waitingOnReplica();
    await startReplicas();
    const [rows] = (await reading) as any;
    assert.equal(Number(rows[0].v), 8);
    assert.notEqual(Number(rows[0].sid), 1);
    const [again] = (await c.execute('SELECT ? AS x', [3])) as any;
    assert.equal(Number(again[0].x), 3);
  });

  test('a replica connection killed while it waits: the read is retried elsewhere and still sees the write', async () => {
    await caughtUp();
    const c = await k.client('Local', { multipleStatements: true });
    await stopReplicas();
    const id = await insert(c, 19);
    const reading = readBack(c, id);
    await waitingOnReplica();
    // One connection is killed (retry_failed_reads allows one retry of a read).
    let killed = 0;
    for (const r of k.topo.replicas) {
      const rows = await r.query(
        "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE INFO LIKE '%MASTER_GTID_WAIT%' AND INFO NOT LIKE '%PROCESSLIST%'",
      );
      if (rows.length === 0) continue;
      await r.query(`KILL ${Number(rows[0].id)}`);
      killed++;
      break;
    }
    assert.equal(killed, 1);
    await startReplicas();
    assert.equal((await reading).v, 19);
    const [[one]] = (await c.query('SELECT 1 AS x')) as any;
    assert.equal(one.x, 1);
  });

  test('timeout: a replica that does not catch up in time leaves the read to the primary (text and prepared)', async () => {
    const before = await k.diagnostics('Short');
    const multi = await k.client('Short', { multipleStatements: true });
    const plain = await k.client('Short');
    await stopReplicas();
    try {
      for (const c of [multi, plain]) {
        const id = await insert(c, 9);
        const r = await readBack(c, id);
        assert.deepEqual(r, { v: 9, sid: 1 });
        const [rows] = (await c.execute('SELECT (SELECT v FROM t WHERE id = ?) AS v, @@server_id AS sid', [id])) as any;
        assert.deepEqual([Number(rows[0].v), Number(rows[0].sid)], [9, 1]);
        // The connection is fine afterwards.
        const [[x]] = (await c.query('SELECT 2 AS two')) as any;
        assert.equal(x.two, 2);
      }
    } finally {
      await startReplicas();
    }
    const d = await k.diagnostics('Short');
    // Three reads per client, each after the write: each waited, timed out and ran on the primary.
    assert.equal(d.causal_read_timeouts - before.causal_read_timeouts, 6);
    assert.equal(d.causal_read_waits - before.causal_read_waits, 6);
  });

  test('timeout inside START TRANSACTION READ ONLY: error 1792, the session carries on', async () => {
    await caughtUp();
    const c = await k.client('Short', { multipleStatements: true });
    await stopReplicas();
    try {
      const id = await insert(c, 10);
      await assert.rejects(c.query('START TRANSACTION READ ONLY'), (e: any) => e.errno === 1792);
      await c.query('ROLLBACK');
      assert.deepEqual(await readBack(c, id), { v: 10, sid: 1 });
    } finally {
      await startReplicas();
    }
  });

  test('a client without session tracking: its reads go to replicas until it writes, then to the primary', async () => {
    await caughtUp();
    const c = await k.client('Local', { flags: ['-SESSION_TRACK'] });
    assert.notEqual((await readBack(c, 1)).sid, 1);
    const id = await insert(c, 17);
    // The write's GTID is unknown to Weir, so no replica can be known to have it.
    assert.deepEqual(await readBack(c, id), { v: 17, sid: 1 });
    assert.deepEqual(await readBack(c, id), { v: 17, sid: 1 });
  });

  test('legacy causal_reads=true is local', async () => {
    const c = await k.client('Legacy');
    await stopReplicas();
    try {
      const id = await insert(c, 11);
      assert.deepEqual(await readBack(c, id), { v: 11, sid: 1 });
    } finally {
      await startReplicas();
    }
    assert.equal((await k.diagnostics('Legacy')).causal_read_timeouts, 1);
  });

  test('global: a session reads what another session wrote', async () => {
    await caughtUp();
    const writer = await k.client('Global');
    const reader = await k.client('Global', { multipleStatements: true });
    await readBack(reader, 0); // the reader's session is open before the write
    await stopReplicas();
    const id = await insert(writer, 12);
    const reading = readBack(reader, id);
    await waitingOnReplica();
    await startReplicas();
    const r = await reading;
    assert.equal(r.v, 12);
    assert.notEqual(r.sid, 1);
  });

  test("reset-gtid forgets the service's GTIDs: a global read no longer waits for a write made before it", async () => {
    await caughtUp();
    const writer = await k.client('Global');
    const reader = await k.client('Global');
    await readBack(reader, 0);
    await insert(writer, 16);
    assert.match((await k.diagnostics('Global')).last_gtid, /^0-1-\d+$/);
    await asAdmin(k.t.http.post('/services/Global/reset-gtid')).expect(204);
    assert.equal((await k.diagnostics('Global')).last_gtid, null);
    const waits = (await k.diagnostics('Global')).causal_read_waits;
    await stopReplicas();
    try {
      // With the replicas stopped a waiting read would hang until they start: this one is answered.
      const r = await readBack(reader, 0);
      assert.notEqual(r.sid, 1, 'the read ran on a replica');
    } finally {
      await startReplicas();
    }
    assert.equal((await k.diagnostics('Global')).causal_read_waits, waits, 'nothing waited');
    await asAdmin(k.t.http.post('/services/Nosuch/reset-gtid')).expect(404);
  });

  test('universal: every read first probes the primary, so it sees writes made outside Weir', async () => {
    await caughtUp();
    const before = await k.diagnostics('Universal');
    const reader = await k.client('Universal');
    await stopReplicas();
    const ok = await k.topo.primary.query('INSERT INTO causal.t (v) VALUES (13)');
    const reading = readBack(reader, Number(ok.insertId));
    await waitingOnReplica();
    await startReplicas();
    const r = await reading;
    assert.equal(r.v, 13);
    assert.notEqual(r.sid, 1);
    const d = await k.diagnostics('Universal');
    assert.ok(d.causal_read_probes > before.causal_read_probes);
  });

  test('fast: with the replicas behind, the read goes to the primary at once; once they catch up, to a replica', async () => {
    await caughtUp();
    const c = await k.client('Fast');
    await stopReplicas();
    let id: number;
    try {
      id = await insert(c, 14);
      // Nothing waits (the replicas stay stopped until the read is answered).
      assert.deepEqual(await readBack(c, id), { v: 14, sid: 1 });
    } finally {
      await startReplicas();
    }
    await caughtUp();
    const r = await readBack(c, id);
    assert.equal(r.v, 14);
    assert.notEqual(r.sid, 1);
    assert.equal((await k.diagnostics('Fast')).causal_read_waits, 0);
  });

  test('fast_global and fast_universal: reads go to the primary while the replicas lack the write', async () => {
    await caughtUp();
    const writer = await k.client('FastGlobal');
    const reader = await k.client('FastGlobal');
    const uni = await k.client('FastUniversal');
    await stopReplicas();
    try {
      const id = await insert(writer, 15);
      assert.deepEqual(await readBack(reader, id), { v: 15, sid: 1 });
      const ok = await k.topo.primary.query('INSERT INTO causal.t (v) VALUES (16)');
      assert.deepEqual(await readBack(uni, Number(ok.insertId)), { v: 16, sid: 1 });
    } finally {
      await startReplicas();
    }
    await caughtUp();
    assert.notEqual((await readBack(uni, 1)).sid, 1);
  });

  test('causal_reads and causal_reads_timeout are published, and a bad value is refused', async () => {
    const { asAdmin } = await import('../harness/weir.ts');
    const res = await asAdmin(k.t.http.get('/services/Short')).expect(200);
    assert.equal(res.body.parameters.causal_reads, 'local');
    assert.equal(res.body.parameters.causal_reads_timeout, 1);
    const bad = await asAdmin(k.t.http.patch('/services/Short'))
      .type('application/merge-patch+json')
      .send({ parameters: { causal_reads: 'sometimes' } });
    assert.ok(bad.status === 400 || bad.status === 422, `${bad.status} ${JSON.stringify(bad.body)}`);
    await asAdmin(k.t.http.patch('/services/Short'))
      .type('application/merge-patch+json')
      .send({ parameters: { causal_reads_timeout: 1 } })
      .expect(200);
    const after = await asAdmin(k.t.http.get('/services/Short')).expect(200);
    assert.equal(after.body.parameters.causal_reads, 'local');
  });
});
