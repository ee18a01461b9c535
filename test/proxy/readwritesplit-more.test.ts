/**
 * readwritesplit, continued (readwritesplit reference §2.6, §2.8, §5.5, §12): server ranks,
 * KILL of Weir session ids, connection_keepalive, reuse_prepared_statements, reply-time
 * metrics per answering server, the `mariadb` command-line client, and more numbered
 * scenarios, against a real GTID primary (server_id 1) and two replicas (2, 3).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import mysql, { type Connection } from 'mysql2/promise';
import { waitFor, type Topology } from '../harness/mariadb.ts';
import { monitorSection, serverSection } from '../harness/config.ts';
import { asAdmin, type TestWeir } from '../harness/weir.ts';
import { startRwsCluster, type RwsCluster, type RwsService } from '../harness/rws-cluster.ts';
import { freeze } from '../harness/causal.ts';
import { RawClient } from '../harness/raw-client.ts';
import { killTargetsOf } from '../../src/proxy/routing/kill.ts';
import { readErr } from '../../src/proxy/protocol/packets.ts';
import { Readable } from 'node:stream';

const SERVICES: Record<string, string | RwsService> = {
  RWS: '',
  Ranked: { servers: ['k1', 'k2', 'k3'] },
  RankedTwo: { servers: ['k1', 'k2'] },
  Keepalive: 'connection_keepalive=1s\n',
  NoKeepalive: 'connection_keepalive=0s\n',
  Reuse: 'reuse_prepared_statements=true\n',
  Loose: 'strict_tmp_tables=false\n',
  Hist2: 'max_sescmd_history=2\nprune_sescmd_history=false\n',
  Hist10: 'max_sescmd_history=10\nprune_sescmd_history=false\n',
  Two: { servers: ['db1', 'db2'] },
  Pruned: { servers: ['db1', 'db2'], params: 'max_sescmd_history=10\n' },
  Conn: { router: 'readconnroute', params: 'router_options=master\n' },
  ConnDb2: { router: 'readconnroute', params: 'router_options=slave\n', servers: ['db2'] },
  Optimistic: 'optimistic_trx=true\n',
  OptimisticTwo: { servers: ['db1', 'db2'], params: 'optimistic_trx=true\n' },
};

describe('readwritesplit, continued', () => {
  let k: RwsCluster;
  let topo: Topology;
  let t: TestWeir;
  let ports: Record<string, number>;
  const client = async (service = 'RWS', opts: Partial<mysql.ConnectionOptions> = {}): Promise<Connection> => {
    const c = await k.client(service, opts);
    c.on('error', () => undefined);
    return c;
  };
  const one = async (c: Connection, sql: string): Promise<any> => {
    const [[row]] = (await c.query(sql)) as any;
    return row;
  };
  const serverId = async (c: Connection, suffix = ''): Promise<number> =>
    Number((await one(c, `SELECT @@server_id AS id${suffix}`)).id);
  const sessionId = (c: Connection): number => (c as any).connection.connectionId as number;
  const stats = (service = 'RWS') => k.diagnostics(service);
  const byPort = (port: number) => [topo.primary, ...topo.replicas].find((s) => s.port === port)!;
  /** Whether a server thread still exists. */
  const threadAlive = async (port: number, id: number) =>
    Number(
      (await byPort(port).query(`SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID = ${id}`))[0].n,
    ) > 0;
  const backendsOf = (c: Connection) =>
    (killTargetsOf(sessionId(c)) ?? []).map((b) => ({ port: Number(b.server.params.port), threadId: b.threadId }));

  before(async () => {
    k = await startRwsCluster({
      users: {
        app: 'ALL PRIVILEGES ON *.*',
        weak: 'SELECT, INSERT ON shop.*',
        victim: 'SELECT ON shop.*',
      },
      database: 'shop',
      schema: [
        'CREATE DATABASE shop',
        'CREATE TABLE shop.items (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(50))',
        "INSERT INTO shop.items (name) VALUES ('apple'), ('pear'), ('plum')",
      ],
      services: SERVICES,
      // The same servers again under other names, with ranks: k2 is a secondary.
      extraConfig: (topo) =>
        serverSection('k1', topo.primary.port) +
        serverSection('k2', topo.replicas[0]!.port).replace('\n\n', '\nrank=secondary\n\n') +
        serverSection('k3', topo.replicas[1]!.port) +
        monitorSection('Ranks', ['k1', 'k2', 'k3'], 200),
    });
    ({ topo, t, ports } = k);
    const core = t.weir.context.core;
    await waitFor('the Ranks monitor to find the primary and replicas', async () => {
      await t.weir.context.monitors.get('Ranks')!.nextTick();
      return (
        core.get('server', 'k1').runtime.facts.flags.includes('master') &&
        ['k2', 'k3'].every((n) => core.get('server', n).runtime.facts.flags.includes('slave'))
      );
    });
  });
  after(async () => {
    await k?.close();
  });

  // ---- ranks (§5.5) ----

  test('ranks: reads go only to replicas of the primary rank, never to the secondary one', async () => {
    const c = await client('Ranked');
    const ids = new Set<number>();
    for (let i = 0; i < 12; i++) ids.add(await serverId(c));
    assert.deepEqual([...ids], [3]);
  });

  test('ranks: with only a secondary replica beside the primary, reads go to the primary', async () => {
    const c = await client('RankedTwo');
    const ids = new Set<number>();
    for (let i = 0; i < 6; i++) ids.add(await serverId(c));
    assert.deepEqual([...ids], [1]);
    // The secondary is not even connected for reads: its rank is not the session's.
    await c.query('SET @r = 1');
    assert.equal(Number((await one(c, 'SELECT @r AS r')).r), 1);
  });

  // ---- the query classifier cache (§2.9) ----

  test('the classifier cache: a SELECT form routed through readwritesplit is classified once, listed with its hits; cache_size 0 empties it and routing goes on', async () => {
    const c = await client();
    const cacheNow = async () => (await asAdmin(t.http.get('/maxscale/query_classifier')).expect(200)).body;
    const before = await cacheNow();
    for (let i = 1; i <= 5; i++) await c.query(`SELECT name FROM items WHERE id = ${i} AND name <> 'qc-marker'`);
    const after = await cacheNow();
    assert.equal(after.cache.misses - before.cache.misses, 1, 'the first statement of the form is classified');
    assert.equal(after.cache.hits - before.cache.hits, 4, 'the next four are found in the cache');
    assert.ok(after.cache.entries > 0 && after.cache.size > 0);
    const top = (await asAdmin(t.http.get('/maxscale/query_classifier/cache?top=10000')).expect(200)).body;
    const form = top.find((e: any) => e.canonical === 'SELECT name FROM items WHERE id = ? AND name <> ?');
    assert.ok(form, JSON.stringify(top.map((e: any) => e.canonical)));
    assert.equal(form.hits, 4);
    assert.equal(form.classification.type_mask, 'QUERY_TYPE_READ');
    assert.deepEqual(form.classification.tables, ['items']);
    for (let i = 1; i < top.length; i++) assert.ok(top[i - 1].hits >= top[i].hits, 'most hits first');
    assert.equal((await asAdmin(t.http.get('/maxscale/query_classifier/cache?top=1')).expect(200)).body.length, 1);

    const off = await asAdmin(t.http.patch('/maxscale/query_classifier'))
      .type('application/merge-patch+json')
      .send({ cache_size: 0 })
      .expect(200);
    assert.deepEqual([off.body.cache_size, off.body.cache.entries, off.body.cache.size], [0, 0, 0]);
    assert.deepEqual((await asAdmin(t.http.get('/maxscale/query_classifier/cache')).expect(200)).body, []);
    // Without a cache every statement is classified afresh, and still goes to a replica.
    const ids = new Set<number>();
    for (let i = 0; i < 4; i++) ids.add(await serverId(c));
    assert.ok(
      [...ids].every((id) => id === 2 || id === 3),
      [...ids].join(),
    );
    const offNow = await cacheNow();
    assert.equal(offNow.cache.inserts, off.body.cache.inserts, 'nothing is kept');
    assert.equal(offNow.cache.misses - off.body.cache.misses, 4);
    await asAdmin(t.http.patch('/maxscale/query_classifier'))
      .type('application/json-patch+json')
      .send([{ op: 'replace', path: '/cache_size', value: before.cache_size }])
      .expect(200);
  });

  // ---- KILL (§2.8, scenario 19) ----

  test('19: KILL QUERY <Weir session id> from another session aborts only the running statement', async () => {
    const victim = await client();
    const killer = await client();
    const sleeping = victim.query('SELECT SLEEP(600) AS s').then(
      ([rows]) => ({ ok: true as const, value: Number((rows as any)[0].s) }),
      (err: any) => ({ ok: false as const, code: err.errno as number }),
    );
    await waitFor('the SLEEP to run on a server', async () => {
      for (const b of backendsOf(victim)) {
        const [row] = await byPort(b.port).query(
          `SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID = ${b.threadId} AND INFO LIKE 'SELECT SLEEP%'`,
        );
        if (Number(row.n) > 0) return true;
      }
      return false;
    });
    await killer.query(`KILL QUERY ${sessionId(victim)}`);
    const outcome = await sleeping;
    // An interrupted SLEEP returns 1 (or the statement fails with 1317): either way it ended.
    assert.ok(outcome.ok ? outcome.value === 1 : outcome.code === 1317, JSON.stringify(outcome));
    assert.equal(Number((await one(victim, 'SELECT 7 AS x')).x), 7, 'the victim session goes on');
  });

  test('19: KILL QUERY through readwritesplit of a readconnroute session aborts its running statement', async () => {
    const victim = await client('Conn');
    const killer = await client();
    const sleeping = victim.query('SELECT SLEEP(600) AS s').then(
      ([rows]) => Number((rows as any)[0].s),
      (err: any) => err.errno as number,
    );
    const [th] = backendsOf(victim);
    assert.ok(th, 'the readconnroute session publishes its server thread');
    await waitFor('the SLEEP to run', async () => {
      const [row] = await byPort(th.port).query(
        `SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID = ${th.threadId} AND INFO LIKE 'SELECT SLEEP%'`,
      );
      return Number(row.n) > 0;
    });
    await killer.query(`KILL QUERY ${sessionId(victim)}`);
    assert.ok([1, 1317].includes(await sleeping));
    assert.equal(Number((await one(victim, 'SELECT 6 AS x')).x), 6);
  });

  test('19: KILL <Weir session id> closes that session and its server threads; KILL CONNECTION as well', async () => {
    for (const statement of ['KILL', 'KILL CONNECTION']) {
      const victim = await client();
      await victim.query('SET @v = 1');
      const threads = backendsOf(victim);
      assert.equal(threads.length, 3, 'the victim has a primary and two replicas');
      const killer = await client();
      await killer.query(`${statement} ${sessionId(victim)}`);
      for (const th of threads)
        await waitFor(
          `thread ${th.threadId} on ${th.port} to be gone`,
          async () => !(await threadAlive(th.port, th.threadId)),
        );
      await assert.rejects(victim.query('SELECT 1'));
      assert.equal(t.weir.context.core.sessions.get(sessionId(victim)), undefined);
      assert.equal(Number((await one(killer, 'SELECT 8 AS x')).x), 8);
    }
  });

  test('19: COM_PROCESS_KILL of a Weir session id; unknown ids get 1094; KILL QUERY of its own id is an OK', async () => {
    const victim = await client();
    await victim.query('SELECT 1');
    const threads = backendsOf(victim);
    const raw = await RawClient.login(ports.RWS!, 'app', 'app-pw');
    const id = Buffer.alloc(4);
    id.writeUInt32LE(sessionId(victim));
    raw.command(Buffer.concat([Buffer.from([0x0c]), id]));
    const answer = await raw.next();
    assert.equal(answer?.payload[0], 0x00, answer ? readErr(answer.payload).message : 'closed');
    for (const th of threads)
      await waitFor(`thread ${th.threadId} to be gone`, async () => !(await threadAlive(th.port, th.threadId)));
    raw.destroy();

    const c = await client();
    await assert.rejects(c.query('KILL 987654'), (err: any) => err.errno === 1094);
    await c.query(`KILL QUERY ${sessionId(c)}`);
    assert.equal(Number((await one(c, 'SELECT 9 AS x')).x), 9);
  });

  test('19: a user without the privilege cannot kill another user’s session: the server’s error, nothing killed', async () => {
    const victim = await client();
    await victim.query('SELECT 1');
    const weak = await client('RWS', { user: 'weak', password: 'weak-pw' });
    await assert.rejects(weak.query(`KILL ${sessionId(victim)}`), (err: any) => err.errno === 1095);
    assert.equal(Number((await one(victim, 'SELECT 5 AS x')).x), 5);
  });

  test('KILL USER closes every Weir session of that user and their server threads, and no other', async () => {
    const victims = [
      await client('RWS', { user: 'victim', password: 'victim-pw' }),
      await client('RWS', { user: 'victim', password: 'victim-pw' }),
    ];
    const bystander = await client();
    const threads = [];
    for (const v of victims) {
      await v.query('SELECT 1');
      threads.push(...backendsOf(v));
    }
    const killer = await client();
    await killer.query("KILL USER 'victim'");
    for (const th of threads)
      await waitFor(`thread ${th.threadId} to be gone`, async () => !(await threadAlive(th.port, th.threadId)));
    for (const v of victims) await assert.rejects(v.query('SELECT 1'));
    assert.equal(Number((await one(bystander, 'SELECT 4 AS x')).x), 4);
    assert.equal(Number((await one(killer, 'SELECT 4 AS x')).x), 4);
  });

  test('KILL CONNECTION of its own id closes the session with 1927', async () => {
    const c = await client();
    await assert.rejects(c.query(`KILL ${sessionId(c)}`), (err: any) => err.errno === 1927);
  });

  // ---- connection_keepalive ----

  test('connection_keepalive pings idle backends: they outlive the servers’ wait_timeout, without it they do not', async () => {
    const kept = await client('Keepalive');
    const control = await client('NoKeepalive');
    for (const c of [kept, control]) await c.query('SET wait_timeout = 3');
    const keptThreads = backendsOf(kept);
    const controlThreads = backendsOf(control);
    assert.equal(keptThreads.length, 3);
    // Both sessions idle: the servers close the control's connections after 3 s.
    for (const th of controlThreads)
      await waitFor(
        `the control's thread ${th.threadId} to time out`,
        async () => !(await threadAlive(th.port, th.threadId)),
      );
    for (const th of keptThreads)
      assert.ok(await threadAlive(th.port, th.threadId), `thread ${th.threadId} on ${th.port} survived`);
    const row = await one(kept, 'SELECT CONNECTION_ID() AS cid, @@server_id AS id FROM items LIMIT 1 FOR UPDATE');
    assert.equal(Number(row.id), 1);
    assert.equal(Number(row.cid), keptThreads.find((th) => th.port === topo.primary.port)!.threadId);
  });

  // ---- reuse_prepared_statements ----

  test('reuse_prepared_statements: a repeated PREPARE is answered by Weir; without it every PREPARE reaches the servers', async () => {
    const prepares = async () =>
      Number((await topo.primary.query("SHOW GLOBAL STATUS LIKE 'Com_stmt_prepare'"))[0].Value);
    const sql = 'SELECT name, @@server_id AS id FROM items WHERE id = ?';
    const counts: Record<string, number> = {};
    for (const service of ['Reuse', 'RWS']) {
      const before = (await stats(service)).prepared_statements_reused;
      const c = await client(service);
      const start = await prepares();
      for (let i = 0; i < 5; i++) {
        const st = await c.prepare(sql);
        const [rows] = (await st.execute([1])) as any;
        assert.equal(rows[0].name, 'apple');
        // unprepare: COM_STMT_CLOSE and out of mysql2's own statement cache, so the next prepare is sent.
        c.unprepare(sql);
        void st;
      }
      await c.query('SELECT 1');
      counts[service] = (await prepares()) - start;
      if (service === 'Reuse') assert.equal((await stats(service)).prepared_statements_reused - before, 4);
    }
    assert.equal(counts.Reuse, 1, 'one PREPARE reached the primary');
    assert.equal(counts.RWS, 5);
  });

  // ---- COM_CHANGE_USER is checked by Weir ----

  test('COM_CHANGE_USER through readwritesplit is checked by Weir: a wrong password is refused, root too', async () => {
    const c = await client();
    await assert.rejects(c.changeUser({ user: 'app', password: 'nope' }), (err: any) => err.errno === 1045);
    const d = await client();
    await assert.rejects(d.changeUser({ user: 'root', password: '' }), (err: any) => err.errno === 1045);
  });

  // ---- metrics ----

  test('reply times and statement counts are labelled with the server that answered, not the session’s first backend', async () => {
    const sample = async () => {
      const text = (await asAdmin(t.http.get('/metrics')).expect(200)).text;
      const value = (metric: string, server: string) => {
        const line = text.split('\n').find((l) => l.startsWith(`${metric}{server="${server}"}`));
        return line ? Number(line.split(' ').pop()) : 0;
      };
      const of = (metric: string) => ({
        primary: value(metric, 'db1'),
        replicas: value(metric, 'db2') + value(metric, 'db3'),
      });
      return { times: of('weir_server_response_time_seconds_count'), statements: of('weir_server_statements_total') };
    };
    const before = await sample();
    const c = await client();
    for (let i = 0; i < 10; i++) assert.notEqual(await serverId(c), 1);
    await c.query("INSERT INTO items (name) VALUES ('metric')");
    const after = await sample();
    const seen = JSON.stringify({ before, after });
    for (const kind of ['times', 'statements'] as const) {
      assert.ok(after[kind].replicas - before[kind].replicas >= 10, `${kind} on the replicas: ${seen}`);
      assert.ok(after[kind].primary - before[kind].primary < 10, `${kind} on the primary: ${seen}`);
    }
  });

  // ---- the mariadb command-line client ----

  test('the mariadb CLI: SELECT, INSERT, a transaction, USE, SET, PREPARE/EXECUTE', async () => {
    // A row the replicas already have, for the read of the prepared statement (a replica may
    // not have the CLI's own inserts yet: reads outside transactions are not read-your-writes).
    await topo.primary.query('CREATE TABLE shop.cli (id INT PRIMARY KEY, v VARCHAR(10))');
    await topo.primary.query("INSERT INTO shop.cli VALUES (1, 'one')");
    for (const r of topo.replicas)
      await waitFor(
        `${r.name} to have the row`,
        async () => (await r.query('SELECT COUNT(*) AS n FROM shop.cli'))[0].n == 1,
      );
    const script = [
      'SELECT @@server_id <> 1 AS on_replica;',
      "INSERT INTO cli VALUES (2, 'two');",
      'BEGIN;',
      "INSERT INTO cli VALUES (3, 'three');",
      'SELECT COUNT(*), @@server_id FROM cli;',
      'COMMIT;',
      'USE mysql;',
      'SELECT DATABASE(), @@server_id <> 1;',
      'USE shop;',
      'SET @x = 41;',
      'SELECT @x + 1, @@server_id <> 1;',
      "PREPARE s FROM 'SELECT v FROM cli WHERE id = ?';",
      'SET @id = 1;',
      'EXECUTE s USING @id;',
      'DEALLOCATE PREPARE s;',
      'SELECT @@server_id FROM cli WHERE id = 1 FOR UPDATE;',
    ].join('\n');
    const child = execFile(
      '/usr/bin/mariadb',
      ['--no-defaults', '-h127.0.0.1', `-P${ports.RWS}`, '-uapp', '-papp-pw', 'shop', '-N', '-B'],
      { timeout: 60_000 },
    );
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.stdin!.end(script);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0, stderr);
    assert.deepEqual(stdout.trim().split('\n'), ['1', '3\t1', 'mysql\t1', '42\t1', 'one', '1']);
    const [{ n }] = await topo.primary.query('SELECT COUNT(*) AS n FROM shop.cli');
    assert.equal(Number(n), 3);
  });

  // ---- numbered scenarios ----

  test('14: SET autocommit=1; INSERT in one packet, backends killed: the INSERT is not replayed', async () => {
    await topo.primary.query('CREATE TABLE IF NOT EXISTS shop.s14 (id INT)');
    const c = await client('RWS', { multipleStatements: true });
    await c.query('SET autocommit=1; INSERT INTO s14 VALUES (1);');
    const threads = backendsOf(c);
    for (const th of threads) await byPort(th.port).query(`KILL ${th.threadId}`);
    for (const th of threads) await waitFor('the kill', async () => !(await threadAlive(th.port, th.threadId)));
    // The session may survive (reconnecting) or not; the row must not be doubled either way.
    const d = await client();
    await d.query('INSERT INTO s14 VALUES (2)');
    await c.query('SELECT 1').catch(() => undefined);
    await c.query('INSERT INTO s14 VALUES (3)').catch(() => undefined);
    const [{ n }] = await topo.primary.query('SELECT COUNT(*) AS n FROM shop.s14 WHERE id = 1');
    assert.equal(Number(n), 1);
  });

  test('17: strict_tmp_tables: losing the primary while a temporary table exists closes the session', async () => {
    const lose = async (c: Connection) => {
      const p = backendsOf(c).find((b) => b.port === topo.primary.port)!;
      await topo.primary.query(`KILL ${p.threadId}`);
      await waitFor(
        'the primary connection to be gone',
        async () => !backendsOf(c).some((b) => b.threadId === p.threadId),
      );
    };
    // Temporary table exists, strict (the default): the next query fails.
    const strict = await client();
    await strict.query('CREATE TEMPORARY TABLE tmp17 (id INT)');
    await lose(strict);
    await assert.rejects(strict.query('SELECT 1'));
    // Created and dropped: the session goes on (a write reaches the primary again).
    const dropped = await client();
    await dropped.query('CREATE TEMPORARY TABLE tmp17 (id INT)');
    await dropped.query('DROP TEMPORARY TABLE tmp17');
    await lose(dropped);
    assert.equal(await serverId(dropped, ' FROM items LIMIT 1 FOR UPDATE'), 1);
    // strict_tmp_tables=false: the session goes on too.
    const loose = await client('Loose');
    await loose.query('CREATE TEMPORARY TABLE tmp17 (id INT)');
    await lose(loose);
    assert.equal(await serverId(loose, ' FROM items LIMIT 1 FOR UPDATE'), 1);
  });

  test('24: SET TRANSACTION READ ONLY applies to the next transaction only', async () => {
    const c = await client();
    await c.query('SET TRANSACTION READ ONLY');
    await c.query('START TRANSACTION');
    await assert.rejects(c.query("INSERT INTO items (name) VALUES ('ro24')"), (err: any) => err.errno === 1792);
    await c.query('COMMIT');
    await c.query('START TRANSACTION');
    await c.query("INSERT INTO items (name) VALUES ('rw24')");
    await c.query('COMMIT');
    const [{ n }] = await topo.primary.query("SELECT COUNT(*) AS n FROM shop.items WHERE name = 'rw24'");
    assert.equal(Number(n), 1);
  });

  test('25: SET SESSION TRANSACTION READ ONLY: transactions read on a replica; READ WRITE ones write on the primary', async () => {
    const c = await client();
    await c.query('SET SESSION TRANSACTION READ ONLY');
    await c.query('START TRANSACTION');
    assert.notEqual(await serverId(c), 1);
    await c.query('COMMIT');
    await c.query('START TRANSACTION READ WRITE');
    await c.query("INSERT INTO items (name) VALUES ('rw25')");
    assert.equal(await serverId(c), 1);
    await c.query('COMMIT');
    await c.query('SET SESSION TRANSACTION READ WRITE');
  });

  test('26: SERIALIZABLE pins reads to the primary; REPEATABLE READ frees them again', async () => {
    const c = await client();
    await c.query('SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE');
    for (let i = 0; i < 3; i++) assert.equal(await serverId(c), 1);
    await c.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
    assert.notEqual(await serverId(c), 1);
  });

  test('37: a replica in use is lost: the next read elsewhere sees every SET of the session', async () => {
    const c = await client();
    for (let i = 0; i < 5; i++) await c.query(`SET @a${i} = ${i}`);
    const id = await serverId(c);
    assert.notEqual(id, 1);
    const replica = id === 2 ? topo.replicas[0]! : topo.replicas[1]!;
    const th = backendsOf(c).find((b) => b.port === replica.port)!;
    await replica.query(`KILL ${th.threadId}`);
    // By port too: each server numbers its threads from 1, and two replicas often hand out the same id.
    await waitFor(
      'the replica connection to be gone',
      async () => !backendsOf(c).some((b) => b.port === th.port && b.threadId === th.threadId),
    );
    const row = await one(c, 'SELECT CONCAT(@a0, @a1, @a2, @a3, @a4) AS v, @@server_id AS id');
    assert.equal(row.v, '01234');
  });

  test('37: with max_sescmd_history=10 (pruned), a replica reconnected after 20 SETs has only the last 10', async () => {
    const c = await client('Pruned');
    for (let i = 0; i < 20; i++) await c.query(`SET @p${i} = ${i}`);
    const replica = topo.replicas[0]!;
    const th = backendsOf(c).find((b) => b.port === replica.port)!;
    await replica.query(`KILL ${th.threadId}`);
    // By port too, as above.
    await waitFor(
      'the replica connection to be gone',
      async () => !backendsOf(c).some((b) => b.port === th.port && b.threadId === th.threadId),
    );
    const row = await one(c, 'SELECT @p0 AS first, @p9 AS tenth, @p10 AS eleventh, @p19 AS last, @@server_id AS id');
    assert.equal(Number(row.id), 2, 'a new connection to the replica');
    assert.deepEqual([row.first, row.tenth, Number(row.eleventh), Number(row.last)], [null, null, 10, 19]);
    // The primary kept its connection, and with it every value.
    const p = await one(c, 'SELECT @p0 AS first, @@server_id AS id FROM items LIMIT 1 FOR UPDATE');
    assert.deepEqual([Number(p.first), Number(p.id)], [0, 1]);
  });

  test('38: max_sescmd_history=2 without pruning: after 5 SETs a lost primary cannot be replaced', async () => {
    const c = await client('Hist2');
    for (let i = 0; i < 5; i++) await c.query(`SET @h${i} = ${i}`);
    await c.query('BEGIN');
    const p = backendsOf(c).find((b) => b.port === topo.primary.port)!;
    await topo.primary.query(`KILL ${p.threadId}`);
    await assert.rejects(c.query("INSERT INTO items (name) VALUES ('h38')"));
  });

  test('41: COM_CHANGE_USER clears the history: 40 rounds of SETs never exceed max_sescmd_history=10', async () => {
    const c = await client('Hist10');
    for (let round = 0; round < 40; round++) {
      await c.query(`SET @a = ${round}`);
      await c.query('USE shop');
      await c.query(`SET @b = ${round}`);
      await c.query("PREPARE ps FROM 'SELECT @a'");
      await c.query('EXECUTE ps');
      await c.query('BEGIN');
      await c.query('SELECT @a');
      await c.query('COMMIT');
      await c.changeUser({ user: 'app', password: 'app-pw', database: 'shop' });
    }
    await c.query('SET @a = 77');
    const replica = await one(c, 'SELECT @a AS a, @@server_id AS id');
    const primary = await one(c, 'SELECT @a AS a, @@server_id AS id FROM items LIMIT 1 FOR UPDATE');
    assert.notEqual(Number(replica.id), 1);
    assert.equal(Number(primary.id), 1);
    assert.deepEqual([Number(replica.a), Number(primary.a)], [77, 77]);
  });

  test('20: LOAD DATA LOCAL INFILE of a few MB lands on the primary, also inside a transaction; the session goes on', async () => {
    await topo.primary.query('CREATE TABLE IF NOT EXISTS shop.loaded (id INT PRIMARY KEY, pad VARCHAR(100))');
    const rows = 60_000;
    const file = () =>
      Readable.from(
        (function* () {
          for (let i = 0; i < rows; i += 1000) {
            let chunk = '';
            for (let j = i; j < i + 1000; j++) chunk += `${j}\t${'x'.repeat(40)}\n`;
            yield Buffer.from(chunk);
          }
        })(),
      );
    const c = await client('RWS', { flags: ['+LOCAL_FILES'], infileStreamFactory: () => file() } as any);
    const [res] = (await c.query({
      sql: "LOAD DATA LOCAL INFILE 'rows.tsv' INTO TABLE loaded",
      infileStreamFactory: () => file(),
    } as any)) as any;
    assert.equal(res.affectedRows, rows);
    assert.notEqual(await serverId(c), 1, 'reads go to replicas again');
    await c.query('BEGIN');
    await c.query('DELETE FROM loaded');
    const [res2] = (await c.query({
      sql: "LOAD DATA LOCAL INFILE 'rows.tsv' INTO TABLE loaded",
      infileStreamFactory: () => file(),
    } as any)) as any;
    assert.equal(res2.affectedRows, rows);
    assert.equal(Number((await one(c, 'SELECT COUNT(*) AS n FROM loaded')).n), rows);
    await c.query('COMMIT');
    const [{ n }] = await topo.primary.query('SELECT COUNT(*) AS n FROM shop.loaded');
    assert.equal(Number(n), rows);
    // Server-side LOAD DATA INFILE (no LOCAL) is the server's business: its error, and the session goes on.
    await assert.rejects(c.query("LOAD DATA INFILE '/nonexistent/weir.tsv' INTO TABLE loaded"));
    assert.equal(Number((await one(c, 'SELECT 3 AS x')).x), 3);
  });

  test('31: a cursor: every COM_STMT_FETCH is answered by the server that ran the EXECUTE', async () => {
    const raw = await RawClient.login(ports.RWS!, 'app', 'app-pw', 'shop');
    const sql = 'SELECT @@server_id, id FROM items ORDER BY id';
    raw.command(Buffer.concat([Buffer.from([0x16]), Buffer.from(sql)]));
    const prepared = (await raw.next())!;
    if (prepared.payload[0] !== 0x00) assert.fail(readErr(prepared.payload).message);
    const stmt = prepared.payload.readUInt32LE(1);
    const columns = prepared.payload.readUInt16LE(5);
    const params = prepared.payload.readUInt16LE(7);
    for (let i = 0; i < columns + params; i++) await raw.next(); // definitions (DEPRECATE_EOF: no EOFs)
    const execute = Buffer.alloc(10);
    execute[0] = 0x17;
    execute.writeUInt32LE(stmt, 1);
    execute[5] = 0x01; // CURSOR_TYPE_READ_ONLY
    execute.writeUInt32LE(1, 6);
    raw.command(execute);
    const count = (await raw.next())!;
    if (count.payload[0] === 0xff) assert.fail(readErr(count.payload).message);
    assert.equal(count.payload[0], columns);
    for (let i = 0; i < columns; i++) await raw.next();
    const eof = (await raw.next())!;
    assert.equal(eof.payload[0], 0xfe);
    assert.ok(eof.payload.readUInt16LE(3) & 0x40, 'SERVER_STATUS_CURSOR_EXISTS');
    const ids = new Set<number>();
    let fetched = 0;
    for (let round = 0; round < 20; round++) {
      const fetch = Buffer.alloc(9);
      fetch[0] = 0x1c;
      fetch.writeUInt32LE(stmt, 1);
      fetch.writeUInt32LE(1, 5);
      raw.command(fetch);
      let last: boolean;
      for (;;) {
        const p = (await raw.next())!;
        assert.notEqual(
          p.payload[0],
          0xff,
          `fetch ${round}: ${p.payload[0] === 0xff ? readErr(p.payload).message : ''}`,
        );
        if (p.payload[0] === 0xfe) {
          last = (p.payload.readUInt16LE(3) & 0x80) !== 0; // SERVER_STATUS_LAST_ROW_SENT
          break;
        }
        // A binary row: header, one NULL-bitmap byte, then @@server_id (8 bytes).
        ids.add(Number(p.payload.readBigUInt64LE(2)));
        fetched++;
      }
      if (last) break;
    }
    const [{ n }] = await topo.replicas[0]!.query('SELECT COUNT(*) AS n FROM shop.items');
    assert.equal(fetched, Number(n));
    assert.equal(ids.size, 1, `every row from one server: ${[...ids]}`);
    assert.notEqual([...ids][0], 1, 'a read-only cursor runs on a replica');
    raw.destroy();
  });

  test('33: a replica restarted: its new connection gets the PREPARE replayed and answers EXECUTEs', async () => {
    const c = await client('Two');
    const st = await c.prepare('SELECT @@server_id AS id, name FROM items WHERE id = ?');
    const [before] = (await st.execute([1])) as any;
    assert.deepEqual([Number(before[0].id), before[0].name], [2, 'apple']);
    const replica = topo.replicas[0]!;
    const core = t.weir.context.core;
    await replica.stop();
    await waitFor(
      'Weir to see db2 down',
      async () => !core.get('server', 'db2').runtime.facts.flags.includes('running'),
    );
    // Meanwhile reads fall back on the primary.
    const [during] = (await st.execute([2])) as any;
    assert.deepEqual([Number(during[0].id), during[0].name], [1, 'pear']);
    await replica.restart();
    await replica.query('START SLAVE');
    await waitFor('Weir to see db2 as a replica again', async () =>
      core.get('server', 'db2').runtime.facts.flags.includes('slave'),
    );
    const seen = new Set<number>();
    for (let i = 0; i < 5; i++) {
      const [rows] = (await st.execute([3])) as any;
      assert.equal(rows[0].name, 'plum');
      seen.add(Number(rows[0].id));
    }
    assert.deepEqual([...seen], [2], 'the executes run on the reconnected replica');
    await st.close();
  });

  test('52: optimistic_trx: a transaction starts on a replica; its first write moves it to the primary, its reads replayed there; a read-only one ends on the replica', async () => {
    const c = await client('Optimistic');
    const counters = async () => {
      const d = await stats('Optimistic');
      return { master: d.route_master, slave: d.route_slave, replayed: d.replayed_transactions };
    };
    const c0 = await counters();
    await c.query('BEGIN');
    const [rows] = (await c.query('SELECT id, name FROM items WHERE id <= 3 ORDER BY id')) as any;
    assert.equal(rows.length, 3);
    const c1 = await counters();
    assert.equal(c1.master - c0.master, 0, 'nothing went to the primary yet');
    assert.equal(c1.slave - c0.slave, 2, 'BEGIN and the read went to a replica');
    await c.query("INSERT INTO items (name) VALUES ('optimistic-1')");
    assert.equal(await serverId(c), 1, 'the transaction runs on the primary now');
    const [[mine]] = (await c.query("SELECT COUNT(*) AS n FROM items WHERE name = 'optimistic-1'")) as any;
    assert.equal(Number(mine.n), 1, 'it reads its own write');
    await c.query('COMMIT');
    const c2 = await counters();
    assert.equal(c2.replayed - c1.replayed, 1, 'the transaction was replayed on the primary once');
    const [committed] = await topo.primary.query("SELECT COUNT(*) AS n FROM shop.items WHERE name = 'optimistic-1'");
    assert.equal(Number(committed.n), 1);

    // A transaction that only reads begins and ends on its replica.
    await c.query('BEGIN');
    const sid = await serverId(c);
    assert.notEqual(sid, 1);
    assert.equal(await serverId(c), sid, 'every statement on the same replica');
    await c.query('COMMIT');
    assert.equal((await counters()).replayed, c2.replayed, 'nothing replayed');

    // SET autocommit=0 starts a transaction too.
    await c.query('SET autocommit=0');
    const c3 = await counters();
    await c.query('SELECT name FROM items WHERE id = 2');
    assert.equal((await counters()).master, c3.master, 'the first read is on a replica');
    await c.query("INSERT INTO items (name) VALUES ('optimistic-2')");
    assert.equal(await serverId(c), 1);
    await c.query('COMMIT');
    await c.query('SET autocommit=1');
    assert.equal((await counters()).replayed - c3.replayed, 1);
    const [inserted] = await topo.primary.query("SELECT COUNT(*) AS n FROM shop.items WHERE name = 'optimistic-2'");
    assert.equal(Number(inserted.n), 1);
    await topo.primary.query("DELETE FROM shop.items WHERE name LIKE 'optimistic-%'");
  });

  test('52: optimistic_trx: when the primary answers the replayed reads differently (the replica lagged), the session ends at the move', async () => {
    const held = await Promise.all(topo.replicas.map((r) => freeze(r)));
    try {
      await topo.primary.query("INSERT INTO shop.items (name) VALUES ('optimistic-lag')");
      const c = await client('Optimistic');
      await c.query('BEGIN');
      const [[seen]] = (await c.query("SELECT COUNT(*) AS n FROM items WHERE name = 'optimistic-lag'")) as any;
      assert.equal(Number(seen.n), 0, 'the replica has not applied the insert yet');
      await assert.rejects(
        c.query("UPDATE items SET name = 'never' WHERE name = 'optimistic-lag'"),
        (err: any) => err.errno === 1927 || /closed/i.test(err.message),
      );
    } finally {
      await Promise.all(held.map((h) => h.thaw()));
    }
    const [row] = await topo.primary.query("SELECT COUNT(*) AS n FROM shop.items WHERE name = 'never'");
    assert.equal(Number(row.n), 0, 'the write never ran');
    await topo.primary.query("DELETE FROM shop.items WHERE name = 'optimistic-lag'");
  });

  test('52: optimistic_trx: the replica lost in the middle of the transaction: the primary takes it over, replayed', async () => {
    const c = await client('OptimisticTwo');
    await c.query('BEGIN');
    await c.query('SELECT name FROM items WHERE id = 1');
    // db2 is the service's only replica: the transaction's.
    const [thread] = backendsOf(c).filter((b) => b.port === topo.replicas[0]!.port);
    assert.ok(thread, 'the transaction runs on db2');
    const replayed = (await stats('OptimisticTwo')).replayed_transactions;
    await byPort(thread.port).query(`KILL CONNECTION ${thread.threadId}`);
    await waitFor('Weir to take the transaction to the primary', async () =>
      backendsOf(c).every((b) => b.port !== thread.port),
    );
    const [[row]] = (await c.query('SELECT name, @@server_id AS sid FROM items WHERE id = 1')) as any;
    assert.equal(Number(row.sid), 1, 'the transaction goes on on the primary');
    await c.query('COMMIT');
    assert.equal((await stats('OptimisticTwo')).replayed_transactions, replayed + 1);
  });

  test('a replica lost in the middle of a read-only transaction ends the session (its snapshot is gone), as MaxScale does without replay', async () => {
    const c = await client();
    await c.query('START TRANSACTION READ ONLY');
    const sid = await serverId(c);
    assert.notEqual(sid, 1, 'the read-only transaction runs on a replica');
    const replica = topo.replicas.find(
      (r) => r.port === Number(t.weir.context.core.get('server', `db${sid}`).params.port),
    )!;
    const [thread] = backendsOf(c).filter((b) => b.port === replica.port);
    await replica.query(`KILL CONNECTION ${thread!.threadId}`);
    await waitFor('Weir to see the connection gone', async () => backendsOf(c).every((b) => b.port !== replica.port));
    await assert.rejects(c.query('SELECT 1'), (err: any) => err.errno === 2013 || /closed/i.test(err.message));
    const other = await client();
    assert.equal(Number((await one(other, 'SELECT 8 AS x')).x), 8, 'other sessions go on');
  });

  test('maintenance with force=yes closes every connection to the server now, where plain maintenance waits for safe points', async () => {
    const core = t.weir.context.core;
    const db2Port = Number(core.get('server', 'db2').params.port);
    const c = await client();
    const inTrx = await client();
    const onDb2 = await client('ConnDb2');
    const elsewhere = await client('Conn');
    const ids = new Set<number>();
    for (let i = 0; i < 6; i++) ids.add(await serverId(c));
    assert.equal(ids.size, 2, 'the session reads on both replicas');
    // A read-only transaction on db2: its connection is not at a safe point until it ends.
    for (let tries = 0; ; tries++) {
      await inTrx.query('START TRANSACTION READ ONLY');
      if ((await serverId(inTrx)) === 2) break;
      await inTrx.query('COMMIT');
      assert.ok(tries < 4, 'a read-only transaction lands on db2');
    }
    const [trxThread] = backendsOf(inTrx).filter((b) => b.port === db2Port);
    const connectionsToDb2 = async () =>
      (await asAdmin(t.http.get('/servers/db2/connections')).expect(200)).body.map((x: any) => x.session).sort();
    const patch = (query: string, ops: object[]) =>
      asAdmin(t.http.patch(`/servers/db2${query}`))
        .type('application/json-patch+json')
        .send(ops);
    // force=yes is for a patch that leaves the server in maintenance: otherwise 422, nothing changed.
    await patch('?force=yes', [{ op: 'replace', path: '/port', value: db2Port }]).expect(422);
    assert.ok(!core.get('server', 'db2').params.state?.toString().includes('maintenance'));
    try {
      await patch('', [{ op: 'add', path: '/state/-', value: 'maintenance' }]).expect(200);
      // Plain maintenance: the idle session lets go of db2 at once, the transaction and the
      // readconnroute session keep theirs.
      await waitFor('the idle session to close its connection to db2', async () =>
        backendsOf(c).every((b) => b.port !== db2Port),
      );
      assert.deepEqual(
        await connectionsToDb2(),
        [`/sessions/${sessionId(inTrx)}`, `/sessions/${sessionId(onDb2)}`].sort(),
      );
      const state = (await asAdmin(t.http.get('/servers/db2')).expect(200)).body.state as string[];
      await patch('?force=yes', [
        { op: 'test', path: `/state/${state.indexOf('maintenance')}`, value: 'maintenance' },
      ]).expect(200);
      assert.deepEqual(await connectionsToDb2(), [], 'forced: every connection closed at once');
      await waitFor(
        'the transaction’s server thread on db2 to end',
        async () => !(await threadAlive(db2Port, trxThread!.threadId)),
      );
      await assert.rejects(onDb2.query('SELECT 1'), 'the readconnroute session on db2 ended');
      await assert.rejects(inTrx.query('SELECT 1'), 'the transaction on db2 cannot go on');
      const after = new Set<number>();
      for (let i = 0; i < 4; i++) after.add(await serverId(c));
      assert.equal(after.size, 1, 'reads go on, on the other replica');
      assert.ok(!after.has(1) && [...after].every((id) => ids.has(id)));
      assert.equal(Number((await one(elsewhere, 'SELECT 5 AS x')).x), 5, 'a session on another server is untouched');
    } finally {
      const state = (await asAdmin(t.http.get('/servers/db2')).expect(200)).body.state as string[];
      if (state.includes('maintenance'))
        await patch('', [{ op: 'remove', path: `/state/${state.indexOf('maintenance')}` }]).expect(200);
    }
  });

  test('44: fail_on_write: the primary goes down while the session is idle: reads go on, a new session opens, the next write closes the session', async () => {
    const c = await client();
    await c.query('SET @x = 1');
    await topo.primary.kill();
    const core = t.weir.context.core;
    await waitFor(
      'Weir to see db1 down',
      async () => !core.get('server', 'db1').runtime.facts.flags.includes('running'),
    );
    // MaxScale's default slave_conditions: the replicas keep their role while their IO threads
    // try to reach the dead primary, so reads carry on.
    assert.ok(core.get('server', 'db2').runtime.facts.flags.includes('slave'), 'db2 is still a replica');
    const [[read]] = (await c.query('SELECT @x AS x, @@server_id AS sid')) as any;
    assert.equal(Number(read.x), 1, 'the session variable is on the replica too');
    assert.notEqual(Number(read.sid), 1);
    const other = await client();
    const [[one]] = (await other.query('SELECT 1 AS n')) as any;
    assert.equal(Number(one.n), 1, 'a new session opens on the replicas alone');
    await other.end();
    await assert.rejects(c.query("INSERT INTO items (name) VALUES ('nowhere')"), (err: any) => err.errno === 2003);
    await assert.rejects(c.query('SELECT 1'), 'the session is closed');
  });
});
