/**
 * readwritesplit with real clients (mysql2 text and prepared, the MariaDB Node connector)
 * through Weir to a real GTID primary (server_id 1) and two replicas (2, 3). Scenario
 * numbers refer to the readwritesplit reference's §12.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mysql, { type Connection } from 'mysql2/promise';
import * as mariadb from 'mariadb';
import { waitFor, type Topology } from '../harness/mariadb.ts';
import { asAdmin, type TestWeir } from '../harness/weir.ts';
import { startRwsCluster, type RwsCluster } from '../harness/rws-cluster.ts';
import { canonicalSelect, entryCost } from '../../src/proxy/routing/readwritesplit/classifier-cache.ts';

describe('readwritesplit', () => {
  let k: RwsCluster;
  let topo: Topology;
  let t: TestWeir;
  let ports: Record<string, number>;
  const client = (service = 'RWS', opts: Partial<mysql.ConnectionOptions> = {}): Promise<Connection> =>
    k.client(service, opts);
  const serverId = async (c: Connection, suffix = ''): Promise<number> => {
    const [[row]] = (await c.query(`SELECT @@server_id AS id${suffix}`)) as any;
    return Number(row.id);
  };
  const stats = (service = 'RWS') => k.diagnostics(service);
  const connectionsOf = async (id: number) =>
    (await asAdmin(t.http.get(`/sessions/${id}/connections`)).expect(200)).body as Array<Record<string, any>>;
  const sessionIdOf = async (c: Connection): Promise<number> => {
    // Weir's session id is what the client sees as its connection id.
    const id = (c as any).connection.connectionId as number;
    return id;
  };

  before(async () => {
    k = await startRwsCluster({
      users: { app: 'ALL PRIVILEGES ON *.*', other: 'ALL PRIVILEGES ON *.*' },
      database: 'shop',
      schema: [
        'CREATE DATABASE shop',
        'CREATE TABLE shop.items (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(50))',
        "INSERT INTO shop.items (name) VALUES ('apple'), ('pear'), ('plum')",
        'CREATE SEQUENCE shop.seq',
      ],
      services: {
        RWS: '',
        Lazy: 'lazy_connect=true\n',
        Lag: 'max_replication_lag=10s\n',
        Strict: 'strict_multi_stmt=true\nstrict_sp_calls=true\n',
        VarsMaster: 'use_sql_variables_in=master\n',
        ErrorOnWrite: 'master_failure_mode=error_on_write\n',
        Hinted: 'filters=Hints\n',
        Named: 'filters=ByName\n',
      },
      extraConfig: () =>
        '[Hints]\ntype=filter\nmodule=hintfilter\n\n' +
        '[ByName]\ntype=filter\nmodule=namedserverfilter\nmatch01=^SELECT .* FROM items WHERE id = 2\ntarget01=db3\n' +
        'match02=master_please\ntarget02=->master\nmatch03=everywhere_please\ntarget03=->all\nuser=app\n\n',
    });
    ({ topo, t, ports } = k);
  });
  after(async () => {
    await k?.close();
  });

  test('1, 2: autocommit reads go to the replicas, writes and DDL to the primary; the statistics count them', async () => {
    const before = await stats();
    const c = await client();
    const ids = new Set<number>();
    for (let i = 0; i < 10; i++) ids.add(await serverId(c));
    assert.ok(!ids.has(1), `reads went to ${[...ids]}`);
    await c.query("INSERT INTO items (name) VALUES ('fig')");
    await c.query("UPDATE items SET name = 'figs' WHERE name = 'fig'");
    await c.query("DELETE FROM items WHERE name = 'figs'");
    await c.query('CREATE TABLE IF NOT EXISTS other (id INT)');
    const after = await stats();
    assert.ok(after.route_slave - before.route_slave >= 10);
    assert.ok(after.route_master - before.route_master >= 4);
    const [{ n }] = await topo.primary.query("SELECT COUNT(*) AS n FROM shop.items WHERE name LIKE 'fig%'");
    assert.equal(Number(n), 0);
  });

  test('the query-classifier cache: SELECTs that differ only in literals are classified once, and /maxscale/threads counts it', async () => {
    const qc = async () =>
      (await asAdmin(t.http.get('/maxscale/threads')).expect(200)).body.threads[0].query_classifier_cache;
    const c = await client();
    const before = await qc();
    for (let i = 1; i <= 20; i++) {
      const [[row]] = (await c.query(
        `SELECT @@server_id AS id, name AS qc_probe FROM items WHERE id = ${(i % 3) + 1} AND name <> 'x${i}'`,
      )) as any;
      assert.notEqual(Number(row.id), 1, 'a cached classification still sends the read to a replica');
    }
    // Not cached (a comment may be executable): classified afresh, counted nowhere.
    await c.query('SELECT /* qc */ 1');
    // The same form with FOR UPDATE is another form, and a write.
    const [[locked]] = (await c.query(`SELECT @@server_id AS id FROM items WHERE id = 1 FOR UPDATE`)) as any;
    assert.equal(Number(locked.id), 1);
    const after = await qc();
    assert.equal(after.misses - before.misses, 2);
    assert.equal(after.hits - before.hits, 19);
    // `size` is in bytes, as MaxScale counts it: what the two new forms cost.
    const forms = [
      "SELECT @@server_id AS id, name AS qc_probe FROM items WHERE id = 1 AND name <> 'x'",
      'SELECT @@server_id AS id FROM items WHERE id = 1 FOR UPDATE',
    ].map((sql) => entryCost(Buffer.byteLength(canonicalSelect(sql)!)));
    assert.equal(after.size - before.size, forms[0]! + forms[1]!);
  });

  test('3-6: locking reads, LAST_INSERT_ID(), GET_LOCK() and sequences run on the primary', async () => {
    const c = await client();
    assert.equal(
      await serverId(c, ', id AS x FROM items WHERE id = 1 FOR UPDATE'.replace(', id AS x', ', id AS x')),
      1,
    );
    assert.equal(await serverId(c, ' FROM items WHERE id = 1 LOCK IN SHARE MODE'), 1);
    const [res] = (await c.query("INSERT INTO items (name) VALUES ('kiwi')")) as any;
    const [[row]] = (await c.query('SELECT LAST_INSERT_ID() AS last, @@server_id AS id')) as any;
    assert.deepEqual([Number(row.last), Number(row.id)], [res.insertId, 1]);
    assert.equal(await serverId(c, ", GET_LOCK('weir-test', 1) AS l"), 1);
    assert.equal(await serverId(c, ', NEXTVAL(seq) AS v'), 1);
  });

  test('9: SET @a goes to every server, the client gets one OK, and SELECT @a on a replica sees it', async () => {
    const before = await stats();
    const c = await client();
    await c.query('SET @a = 41 + 1');
    for (let i = 0; i < 4; i++) {
      const [[row]] = (await c.query('SELECT @a AS a, @@server_id AS id')) as any;
      assert.equal(Number(row.a), 42);
      assert.notEqual(Number(row.id), 1);
    }
    assert.equal((await stats()).route_all - before.route_all >= 1, true);
  });

  test('USE and COM_INIT_DB reach every backend', async () => {
    const c = await client('RWS', { database: undefined });
    await c.query('USE shop');
    const [[row]] = (await c.query('SELECT DATABASE() AS db, @@server_id AS id')) as any;
    assert.equal(row.db, 'shop');
    assert.notEqual(Number(row.id), 1);
  });

  test('COM_CHANGE_USER re-authenticates every backend and clears the session state', async () => {
    const c = await client();
    await c.query('SET @gone = 1');
    await c.changeUser({ user: 'app', password: 'app-pw', database: 'shop' });
    const [[row]] = (await c.query('SELECT @gone AS g, @@server_id AS id')) as any;
    assert.equal(row.g, null);
    assert.notEqual(Number(row.id), 1);
    assert.equal(await serverId(c, ', COUNT(*) AS n FROM items WHERE 1 FOR UPDATE'), 1);
  });

  test('21: BEGIN; SELECT; COMMIT runs on the primary and counts as a read-only transaction', async () => {
    const before = await stats();
    const c = await client();
    await c.query('BEGIN');
    assert.equal(await serverId(c), 1);
    await c.query('COMMIT');
    assert.notEqual(await serverId(c), 1);
    assert.equal((await stats()).ro_transactions - before.ro_transactions, 1);
  });

  test('read-your-writes inside a transaction', async () => {
    const c = await client();
    await c.query('START TRANSACTION');
    await c.query("INSERT INTO items (name) VALUES ('cherry')");
    const [[row]] = (await c.query("SELECT COUNT(*) AS n, @@server_id AS id FROM items WHERE name = 'cherry'")) as any;
    assert.deepEqual([Number(row.n), Number(row.id)], [1, 1]);
    await c.query('ROLLBACK');
  });

  test('22: START TRANSACTION READ ONLY keeps every statement on one replica', async () => {
    const c = await client();
    await c.query('START TRANSACTION READ ONLY');
    const ids = new Set<number>();
    for (let i = 0; i < 5; i++) ids.add(await serverId(c));
    await c.query('COMMIT');
    assert.equal(ids.size, 1);
    assert.ok(!ids.has(1));
  });

  test('23: after SET autocommit=0 everything goes to the primary until autocommit=1', async () => {
    const c = await client();
    await c.query('SET autocommit=0');
    assert.equal(await serverId(c), 1);
    await c.query('COMMIT');
    assert.equal(await serverId(c), 1);
    await c.query('SET autocommit=1');
    assert.notEqual(await serverId(c), 1);
  });

  test('27: an implicit commit (DDL inside a transaction) is noticed from the server status', async () => {
    const c = await client();
    await c.query('BEGIN');
    await c.query("INSERT INTO items (name) VALUES ('lime')");
    await c.query('CREATE TABLE IF NOT EXISTS implicit_commit (id INT)');
    assert.notEqual(await serverId(c), 1);
  });

  test('16: temporary tables are read on the primary; after DROP the name is a normal table again', async () => {
    const c = await client();
    await c.query('CREATE TEMPORARY TABLE tmp (id INT)');
    await c.query('INSERT INTO tmp VALUES (7)');
    const [[row]] = (await c.query('SELECT id, @@server_id AS sid FROM tmp')) as any;
    assert.deepEqual([row.id, Number(row.sid)], [7, 1]);
    const [[q]] = (await c.query('SELECT id, @@server_id AS sid FROM shop.tmp')) as any;
    assert.equal(Number(q.sid), 1);
    await c.query('DROP TABLE tmp');
    await assert.rejects(c.query('SELECT * FROM tmp'), (err: any) => err.errno === 1146);
  });

  test('7: FOUND_ROWS() goes where the previous statement ran', async () => {
    const c = await client();
    for (let i = 0; i < 4; i++) {
      const [[first]] = (await c.query('SELECT SQL_CALC_FOUND_ROWS @@server_id AS id, name FROM items LIMIT 1')) as any;
      const [[second]] = (await c.query('SELECT FOUND_ROWS() AS n, @@server_id AS id')) as any;
      assert.equal(Number(second.id), Number(first.id));
      assert.ok(Number(second.n) >= 3);
    }
  });

  test('13: a multi-statement goes to the primary; the next read to a replica; strict_multi_stmt pins to the primary', async () => {
    const c = await client('RWS', { multipleStatements: true });
    const [results] = (await c.query("INSERT INTO items (name) VALUES ('date'); SELECT @@server_id AS id")) as any;
    assert.equal(Number(results[1][0].id), 1);
    assert.notEqual(await serverId(c), 1);
    const s = await client('Strict', { multipleStatements: true });
    await s.query('SELECT 1; SELECT 2');
    assert.equal(await serverId(s), 1);
  });

  test('10: use_sql_variables_in=master reads user variables on the primary', async () => {
    const c = await client('VarsMaster');
    await c.query('SET @v = 5');
    const [[row]] = (await c.query('SELECT @v AS v, @@server_id AS id')) as any;
    assert.deepEqual([Number(row.v), Number(row.id)], [5, 1]);
    assert.notEqual(await serverId(c), 1);
  });

  test('29, 30: mysql2 prepared statements: reads execute on replicas, writes on the primary', async () => {
    const c = await client();
    const ids = new Set<number>();
    for (let i = 1; i <= 10; i++) {
      const [[row]] = (await c.execute('SELECT name, @@server_id AS id FROM items WHERE id = ?', [1 + (i % 3)])) as any;
      assert.ok(row.name);
      ids.add(Number(row.id));
    }
    assert.ok(!ids.has(1));
    const [res] = (await c.execute('INSERT INTO items (name) VALUES (?)', ['mango'])) as any;
    const [row] = await topo.primary.query(`SELECT name FROM shop.items WHERE id = ${res.insertId}`);
    assert.equal(row.name, 'mango');
  });

  test('32: 2,000 prepares and closes after SET @a=123 all answer 123, never "Unknown prepared statement"', async () => {
    const c = await client();
    await c.query('SET @a = 123');
    for (let i = 0; i < 2000; i++) {
      const sql = `SELECT @a AS a, ${i} AS i`;
      const [[row]] = (await c.execute(sql)) as any;
      assert.equal(Number(row.a), 123);
      c.unprepare(sql);
    }
  });

  test('35: text PREPARE/EXECUTE of a read runs on a replica', async () => {
    const c = await client();
    await c.query("PREPARE ps FROM 'SELECT @@server_id AS id'");
    const [[row]] = (await c.query('EXECUTE ps')) as any;
    assert.notEqual(Number(row.id), 1);
    await c.query('DEALLOCATE PREPARE ps');
  });

  test('the MariaDB connector: text and binary statements, parameter types re-sent to each replica', async () => {
    const conn = await mariadb.createConnection({
      host: '127.0.0.1',
      port: ports.RWS,
      user: 'app',
      password: 'app-pw',
      database: 'shop',
    });
    k.track(conn);
    const ids = new Set<number>();
    const stmt = await conn.prepare('SELECT name, @@server_id AS id FROM items WHERE id = ?');
    for (let i = 0; i < 12; i++) {
      const [row] = await stmt.execute([1 + (i % 3)]);
      assert.ok(row.name);
      ids.add(Number(row.id));
    }
    stmt.close();
    assert.equal(ids.size, 2, `executions ran on ${[...ids]}`);
    const rows = await conn.query('SELECT @@server_id AS id');
    assert.notEqual(Number(rows[0].id), 1);
    await conn.query('INSERT INTO items (name) VALUES (?)', ['papaya']);
  });

  test('40: lazy_connect opens nothing at first, then a replica for a read and the primary for a write', async () => {
    const c = await client('Lazy');
    const id = await sessionIdOf(c);
    assert.equal((await connectionsOf(id)).length, 0);
    assert.notEqual(await serverId(c), 1);
    assert.equal((await connectionsOf(id)).length, 1);
    await c.query("INSERT INTO items (name) VALUES ('lazy')");
    const servers = (await connectionsOf(id)).map((b) => b.server.split('/').pop());
    assert.ok(servers.includes('db1'));
  });

  test('GET /sessions/{id}/connections lists the primary and both replicas with their roles', async () => {
    const c = await client();
    const id = await sessionIdOf(c);
    const conns = await connectionsOf(id);
    const byServer = Object.fromEntries(conns.map((b) => [b.server.split('/').pop(), b.role]));
    assert.deepEqual(byServer, { db1: 'master', db2: 'slave', db3: 'slave' });
  });

  test('36: a session command that fails on one replica closes that replica, not the session', async () => {
    const c = await client();
    const id = await sessionIdOf(c);
    // A database only on db2: USE fails there, succeeds on the primary.
    // Outside the binlog, so db2 keeps replicating (a local GTID would break strict-mode replication).
    await topo.replicas[0]!.query('SET sql_log_bin = 0; CREATE DATABASE only_on_db2');
    await assert.rejects(c.query('USE only_on_db2'), (err: any) => err.errno === 1049);
    await waitFor(
      'db2 to be dropped from the session',
      async () => !(await connectionsOf(id)).some((b) => b.server.endsWith('/db2')),
    );
    for (let i = 0; i < 4; i++) assert.equal(await serverId(c), 3);
    await topo.replicas[0]!.query('SET sql_log_bin = 0; DROP DATABASE only_on_db2');
  });

  test('42: a replica killed mid-session: the next read goes elsewhere, the session carries on', async () => {
    const c = await client();
    const id = await sessionIdOf(c);
    await c.query('SET @kept = 9');
    const replica = topo.replicas[1]!;
    const threads = (await replica.query("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'app'")) as Array<{
      ID: number;
    }>;
    for (const th of threads) await replica.query(`KILL ${th.ID}`);
    await waitFor(
      'db3 to leave the session',
      async () => !(await connectionsOf(id)).some((b) => b.server.endsWith('/db3')),
    );
    for (let i = 0; i < 4; i++) {
      const [[row]] = (await c.query('SELECT @kept AS k, @@server_id AS id')) as any;
      assert.equal(Number(row.k), 9);
    }
  });

  test('42, prepared: a replica connection killed during an execute that sent nothing yet: it runs again elsewhere', async () => {
    const c = await client();
    const [[rows]] = (await Promise.all([
      c.execute('SELECT SLEEP(?) AS s, @@server_id AS id', [5]),
      (async () => {
        // The replica running the execute: its connection is killed while the SLEEP runs (once:
        // the execute run again elsewhere must not be killed too).
        await waitFor('the execute to run on a replica', async () => {
          for (const replica of topo.replicas) {
            const [running] = (await replica.query(
              "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'app' AND INFO LIKE 'SELECT SLEEP%'",
            )) as Array<{ ID: number }>;
            if (running) {
              await replica.query(`KILL ${running.ID}`);
              return true;
            }
          }
          return false;
        });
      })(),
    ])) as any;
    assert.equal(Number(rows[0].s), 0, 'the statement ran to its end somewhere');
    assert.equal((await serverId(c)) > 0, true, 'the session carries on');
  });

  test('47: max_replication_lag skips a replica whose SQL thread is stopped', async () => {
    const replica = topo.replicas[0]!;
    await replica.query('STOP SLAVE SQL_THREAD');
    const core = t.weir.context.core;
    try {
      await waitFor('the monitor to see db2 lag unknown', async () => {
        await t.weir.context.monitors.get('Monitor')!.nextTick();
        const lag = core.get('server', 'db2').runtime.facts.replication_lag;
        return lag === null || lag < 0;
      });
      const c = await client('Lag');
      for (let i = 0; i < 6; i++) assert.equal(await serverId(c), 3);
    } finally {
      await replica.query('START SLAVE SQL_THREAD');
    }
  });

  test('53: routing hints: master, server, slave, last; no hint from a tab or a quoted string; named and stacked hints', async () => {
    const c = await client('Hinted');
    assert.equal(await serverId(c, ' -- maxscale route to master'), 1);
    for (let i = 0; i < 3; i++) assert.equal(await serverId(c, ' /* maxscale route to server db3 */'), 3);
    await c.query("INSERT INTO items (name) VALUES ('hinted')");
    assert.notEqual(await serverId(c, ' # maxscale route to slave'), 1);
    const before = await serverId(c, ' -- maxscale route to server db2');
    assert.equal(await serverId(c, ' -- maxscale route to last'), before);
    assert.notEqual(await serverId(c, ' --\tmaxscale route to master'), 1);
    assert.notEqual(await serverId(c, ", '-- maxscale route to master' AS s"), 1);
    assert.notEqual(await serverId(c, ' -- MAXSCALE ROUTE TO MASTER'), 1);
    await c.query('SELECT 1 -- maxscale h1 prepare route to master');
    assert.notEqual(await serverId(c), 1);
    assert.equal(await serverId(c, ' -- maxscale h1 begin'), 1);
    assert.equal(await serverId(c), 1);
    await c.query('SELECT 1 -- maxscale end');
    assert.notEqual(await serverId(c), 1);
    assert.equal(await serverId(c, ' -- maxscale begin route to server db2'), 2);
    assert.equal(await serverId(c), 2);
    await c.query('SELECT 1 -- maxscale end');
  });

  test('28: inside a transaction a hint does not move a statement off the transaction server', async () => {
    const c = await client('Hinted');
    await c.query('BEGIN');
    assert.equal(await serverId(c, ' -- maxscale route to server db3'), 1);
    await c.query('COMMIT');
    assert.equal(await serverId(c, ' -- maxscale route to server db3'), 3);
  });

  test('hints in a prepared statement apply to its executions (mysql2 execute)', async () => {
    const c = await client('Hinted');
    for (let i = 0; i < 3; i++) {
      const [[row]] = (await c.execute('SELECT @@server_id AS id, ? AS x -- maxscale route to server db2', [i])) as any;
      assert.equal(Number(row.id), 2);
    }
  });

  test('54: namedserverfilter sends matching statements to their target, for its user only', async () => {
    // Earlier tests stop and kill replicas: the other user's session must find both back.
    const core = t.weir.context.core;
    await waitFor('both replicas to be replicas again', async () => {
      await t.weir.context.monitors.get('Monitor')!.nextTick();
      return ['db2', 'db3'].every((name) => {
        const facts = core.get('server', name).runtime.facts;
        return facts.flags.includes('slave') && facts.replication_lag !== null && facts.replication_lag >= 0;
      });
    });
    const c = await client('Named');
    for (let i = 0; i < 3; i++) assert.equal(await serverId(c, ' FROM items WHERE id = 2'), 3);
    assert.equal(await serverId(c, ", 'master_please' AS m"), 1);
    assert.notEqual(await serverId(c, ", 'everywhere_please' AS m"), 1);
    const other = await client('Named', { user: 'other', password: 'other-pw' });
    const ids = new Set<number>();
    for (let i = 0; i < 6; i++) ids.add(await serverId(other, ' FROM items WHERE id = 2'));
    const conns = (await connectionsOf(await sessionIdOf(other))).map((b) => b.server);
    assert.deepEqual(
      [...ids].sort(),
      [2, 3],
      `reads of another user went to ${[...ids]}; its connections: ${conns}; ` +
        `operations owed: db2 ${core.get('server', 'db2').runtime.activeOperations}, ` +
        `db3 ${core.get('server', 'db3').runtime.activeOperations}`,
    );
    // A matching PREPARE: its executions go to the target.
    const [[row]] = (await c.execute('SELECT @@server_id AS id FROM items WHERE id = 2 AND ? = ?', [1, 1])) as any;
    assert.equal(Number(row.id), 3);
  });

  test('a namedserverfilter with half a pair is refused, naming the key', async () => {
    const res = await asAdmin(t.http.post('/filters'))
      .send({ name: 'Half', module: 'namedserverfilter', parameters: { match01: 'x' } })
      .expect(422);
    assert.match(JSON.stringify(res.body), /target01/);
    const bad = await asAdmin(t.http.post('/services'))
      .send({
        name: 'Bad',
        router: 'readwritesplit',
        user: 'u',
        password: 'p',
        parameters: { master_failure_mode: 'sometimes' },
      })
      .expect(422);
    assert.match(JSON.stringify(bad.body), /master_failure_mode/);
  });

  test('43: master_failure_mode=error_on_write: without a primary a write gets 1290 and reads go on; with it back writes work', async () => {
    const c = await client('ErrorOnWrite');
    const core = t.weir.context.core;
    await asAdmin(t.http.patch('/servers/db1'))
      .set('Content-Type', 'application/json-patch+json')
      .send([{ op: 'add', path: '/state/-', value: 'maintenance' }])
      .expect(200);
    try {
      await waitFor(
        'db1 in maintenance',
        async () =>
          core.get('server', 'db1').params.state instanceof Array &&
          (core.get('server', 'db1').params.state as string[]).includes('maintenance'),
      );
      await assert.rejects(c.query("INSERT INTO items (name) VALUES ('no')"), (err: any) => err.errno === 1290);
      assert.notEqual(await serverId(c), 1);
    } finally {
      const state = (await asAdmin(t.http.get('/servers/db1')).expect(200)).body.state as string[];
      await asAdmin(t.http.patch('/servers/db1'))
        .set('Content-Type', 'application/json-patch+json')
        .send([{ op: 'remove', path: `/state/${state.indexOf('maintenance')}` }])
        .expect(200);
    }
    await waitFor(
      'db1 back as the primary',
      async () => !(core.get('server', 'db1').params.state as string[]).includes('maintenance'),
    );
    const [res] = (await c.query("INSERT INTO items (name) VALUES ('yes')")) as any;
    assert.ok(res.insertId > 0);
  });
});
