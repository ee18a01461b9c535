/**
 * Real clients (mysql2 and the `mariadb` command-line client) through Weir to a real
 * primary with one replica.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import mysql, { type Connection } from 'mysql2/promise';
import { createUser, freePort, startReplicationTopology, waitFor, type Topology } from '../harness/mariadb.ts';
import { asAdmin, removeDir, startTestWeir, tempDir, type TestWeir } from '../harness/weir.ts';

const run = promisify(execFile);
const JSON_PATCH = 'application/json-patch+json';

function config(topo: Topology, ports: { rw: number; ro: number }): string {
  return `
[maxscale]
admin_host=127.0.0.1
users_refresh_time=0s

[db1]
type=server
address=127.0.0.1
port=${topo.primary.port}

[db2]
type=server
address=127.0.0.1
port=${topo.replicas[0]!.port}

[Monitor]
type=monitor
module=mariadbmon
servers=db1,db2
user=maxuser
password=max-pw
monitor_interval=200ms

[RW]
type=service
router=readconnroute
router_options=master
servers=db1,db2
user=maxuser
password=max-pw

[RW-Listener]
type=listener
service=RW
address=127.0.0.1
port=${ports.rw}

[RO]
type=service
router=readconnroute
router_options=slave
servers=db1,db2
user=maxuser
password=max-pw

[RO-Listener]
type=listener
service=RO
address=127.0.0.1
port=${ports.ro}
`;
}

describe('clients through Weir', () => {
  let topo: Topology;
  let t: TestWeir;
  let ports: { rw: number; ro: number };
  const open: Connection[] = [];
  const client = async (port: number, opts: Partial<mysql.ConnectionOptions> = {}) => {
    const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'app', password: 'app-pw', ...opts });
    open.push(c);
    return c;
  };
  const sessions = async () => (await asAdmin(t.http.get('/sessions')).expect(200)).body as Array<Record<string, any>>;
  const untilSessions = (n: number) => waitFor(`${n} sessions`, async () => (await sessions()).length === n);

  before(async () => {
    topo = await startReplicationTopology(1);
    await createUser(topo.primary, 'maxuser', 'max-pw', 'SELECT ON mysql.*');
    await topo.primary.query('GRANT SHOW DATABASES, REPLICATION CLIENT, REPLICA MONITOR ON *.* TO maxuser@`127.0.0.1`');
    await createUser(topo.primary, 'app', 'app-pw', 'ALL PRIVILEGES ON *.*');
    await topo.primary.query('CREATE DATABASE shop');
    await topo.primary.query('CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(50))');
    await topo.primary.query("INSERT INTO shop.items VALUES (1, 'apple'), (2, 'pear')");
    await waitFor(
      'replica to catch up',
      async () => (await topo.replicas[0]!.query('SELECT COUNT(*) AS n FROM shop.items'))[0].n === 2,
    );
    ports = { rw: await freePort(), ro: await freePort() };
    t = await startTestWeir({ config: config(topo, ports) });
    const mon = t.weir.context.monitors.get('Monitor')!;
    await waitFor('the monitor to find the primary', async () => {
      await mon.nextTick();
      return t.weir.context.core.get('server', 'db1').runtime.facts.flags.includes('master');
    });
  });
  after(async () => {
    // destroy() returns nothing to await: wait for each client socket to close before Weir stops.
    await Promise.all(open.map(destroyed));
    await t?.stop();
    if (t) removeDir(t.datadir);
    await topo?.destroy();
  });

  test('a mysql2 client logs in through Weir and runs queries on the primary', async () => {
    const c = await client(ports.rw, { database: 'shop' });
    const [rows] = await c.query('SELECT name FROM items ORDER BY id');
    assert.deepEqual(rows, [{ name: 'apple' }, { name: 'pear' }]);
    const [[{ id }]] = (await c.query('SELECT @@server_id AS id')) as any;
    assert.equal(Number(id), 1);
    await c.query("INSERT INTO items VALUES (3, 'plum')");
    await c.end();
  });

  test('router_options=slave sends sessions to the replica', async () => {
    const c = await client(ports.ro);
    const [[{ id, ro }]] = (await c.query('SELECT @@server_id AS id, @@read_only AS ro')) as any;
    assert.deepEqual([Number(id), Number(ro)], [2, 1]);
    await c.end();
  });

  test('wrong credentials get error 1045 worded as MariaDB words it', async () => {
    await assert.rejects(
      client(ports.rw, { password: 'wrong' }),
      (err: any) =>
        err.errno === 1045 &&
        err.sqlState === '28000' &&
        err.sqlMessage === "Access denied for user 'app'@'127.0.0.1' (using password: YES)",
    );
    await assert.rejects(
      client(ports.rw, { user: 'ghost', password: '' }),
      (err: any) =>
        err.errno === 1045 &&
        /Access denied for user 'ghost'@'127\.0\.0\.1' \(using password: NO\)/.test(err.sqlMessage),
    );
  });

  test('an account created after the start is found by reloading the accounts (users_refresh_time=0 here)', async () => {
    await createUser(topo.primary, 'late', 'late-pw', 'SELECT ON shop.*');
    const c = await client(ports.rw, { user: 'late', password: 'late-pw', database: 'shop' });
    const [rows] = await c.query('SELECT COUNT(*) AS n FROM items');
    assert.equal(Number((rows as any)[0].n) >= 2, true);
    await c.end();
  });

  test('the mariadb command-line client works through Weir, multi-statements included', async () => {
    const { stdout } = await run(
      'mariadb',
      [
        '--no-defaults',
        '-h127.0.0.1',
        `-P${ports.rw}`,
        '-uapp',
        '-papp-pw',
        'shop',
        '-N',
        '-e',
        'SELECT COUNT(*) FROM items; SELECT name FROM items WHERE id = 1',
      ],
      { timeout: 30_000 },
    );
    assert.deepEqual(stdout.trim().split('\n'), ['3', 'apple']);
  });

  test('multi-statements, multi-result sets, prepared statements and ping pass through', async () => {
    const c = await client(ports.rw, { database: 'shop', multipleStatements: true });
    const [results] = (await c.query('SELECT 1 AS a; SELECT 2 AS b; UPDATE items SET name = name WHERE id = 1')) as any;
    assert.deepEqual([results[0], results[1]], [[{ a: 1 }], [{ b: 2 }]]);
    const [rows] = await c.execute('SELECT name FROM items WHERE id = ?', [2]);
    assert.deepEqual(rows, [{ name: 'pear' }]);
    await c.ping();
    await c.end();
  });

  test('the REST API shows the live session with its backend connection and real I/O counts', async () => {
    const c = await client(ports.rw, { database: 'shop' });
    await c.query('SELECT * FROM items');
    await c.query('SELECT 1');
    const [s] = await sessions();
    assert.equal(s!.user, 'app');
    assert.equal(s!.state, 'Session ready for routing');
    assert.equal(s!.service, '/services/RW');
    assert.equal(s!.default_db, 'shop');
    assert.equal(s!.address, '127.0.0.1');
    assert.ok(s!.statements_routed >= 2);
    assert.ok(s!.bytes_in > 0 && s!.bytes_out > 0);
    const conns = (await asAdmin(t.http.get(`/sessions/${s!.id}/connections`)).expect(200)).body;
    assert.equal(conns.length, 1);
    assert.equal(conns[0].server, '/servers/db1');
    assert.ok(conns[0].statistics.reads >= 2 && conns[0].statistics.writes >= 2);
    assert.deepEqual((await asAdmin(t.http.get('/services/RW/sessions')).expect(200)).body, [`/sessions/${s!.id}`]);
    assert.equal((await asAdmin(t.http.get('/servers/db1/connections')).expect(200)).body.length, 1);
    const svc = (await asAdmin(t.http.get('/services/RW')).expect(200)).body;
    assert.equal(svc.current_connections, 1);
    assert.ok(svc.total_connections >= 1);
    // DELETE closes the sockets: the client sees it.
    await asAdmin(t.http.delete(`/sessions/${s!.id}`)).expect(204);
    await assert.rejects(c.query('SELECT 1'));
    await untilSessions(0);
    assert.equal((await asAdmin(t.http.get('/services/RW')).expect(200)).body.current_connections, 0);
  });

  test('GET /sessions follows each session as it changes, and answers fields and range with only what was asked', async () => {
    const a = await client(ports.rw, { database: 'shop' });
    const b = await client(ports.ro);
    await untilSessions(2);
    const byId = async () => new Map((await sessions()).map((s) => [s.id as number, s]));
    const before = await byId();
    const [idA, idB] = [...before.keys()].sort((x, y) => x - y) as [number, number];
    await a.query('SELECT * FROM items');
    await a.query('SELECT 1');
    await b.changeUser({ user: 'late', password: 'late-pw' });
    const after = await byId();
    // A listing made before the change must not be served again (each session's text is kept between requests).
    assert.equal(after.get(idA)!.statements_routed, before.get(idA)!.statements_routed + 2);
    assert.ok(after.get(idA)!.bytes_out > before.get(idA)!.bytes_out);
    assert.equal(after.get(idB)!.user, 'late');
    assert.equal(after.get(idB)!.servers[0], '/servers/db2');
    const one = (await asAdmin(t.http.get(`/sessions/${idA}`)).expect(200)).body;
    assert.equal(one.statements_routed, after.get(idA)!.statements_routed);

    const picked = (await asAdmin(t.http.get('/sessions?fields=user,id')).expect(200)).text;
    assert.equal(picked, JSON.stringify([...after.values()].map((s) => ({ user: s.user, id: s.id }))));
    const second = (await asAdmin(t.http.get('/sessions?range=1-1&fields=id,servers')).expect(200)).body;
    assert.deepEqual(second, [{ id: idB, servers: ['/servers/db2'] }]);
    assert.deepEqual((await asAdmin(t.http.get('/sessions?range=5-9')).expect(200)).body, []);
    await asAdmin(t.http.get('/sessions?fields=nonsense')).expect(400);
    await Promise.all([a.end(), b.end()]);
    await untilSessions(0);
  });

  test("closing a service's or a server's sessions disconnects their clients", async () => {
    const a = await client(ports.rw);
    await asAdmin(t.http.delete('/services/RW/sessions')).expect(204);
    await assert.rejects(a.query('SELECT 1'));
    const b = await client(ports.rw);
    await asAdmin(t.http.delete('/servers/db1/connections')).expect(204);
    await assert.rejects(b.query('SELECT 1'));
    await untilSessions(0);
  });

  test('a stopped service refuses new clients while its sessions carry on; start resumes', async () => {
    const kept = await client(ports.rw);
    await asAdmin(t.http.put('/services/RW/stop')).expect(204);
    await assert.rejects(client(ports.rw), (err: any) => err.code === 'ECONNREFUSED');
    await kept.query('SELECT 1');
    await asAdmin(t.http.put('/services/RW/start')).expect(204);
    const again = await client(ports.rw);
    await again.query('SELECT 1');
    await kept.end();
    await again.end();
  });

  test('max_connections refuses the next client with error 1040', async () => {
    await asAdmin(t.http.patch('/services/RW'))
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/max_connections', value: 1 }])
      .expect(200);
    const first = await client(ports.rw);
    await assert.rejects(client(ports.rw), (err: any) => err.errno === 1040);
    await first.end();
    await untilSessions(0);
    await asAdmin(t.http.patch('/services/RW'))
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/max_connections', value: 0 }])
      .expect(200);
  });

  test('a server in maintenance gets no new sessions', async () => {
    await asAdmin(t.http.patch('/servers/db1'))
      .type(JSON_PATCH)
      .send([{ op: 'add', path: '/state/0', value: 'maintenance' }])
      .expect(200);
    await assert.rejects(
      client(ports.rw),
      (err: any) => err.errno === 2003 && /No server of service 'RW'/.test(err.sqlMessage),
    );
    await asAdmin(t.http.patch('/servers/db1'))
      .type(JSON_PATCH)
      .send([{ op: 'remove', path: '/state/0' }])
      .expect(200);
    (await client(ports.rw)).destroy();
  });

  test('garbage instead of a handshake ends that session with an error and leaves others alone', async () => {
    const good = await client(ports.rw);
    const reply = await new Promise<Buffer>((resolve) => {
      const s = connect(ports.rw, '127.0.0.1');
      let got = Buffer.alloc(0);
      s.on('data', (d) => {
        got = Buffer.concat([got, d]);
        // After the greeting, send a packet whose fields are nonsense.
        if (got.length > 0 && got[4] === 10 && !s.destroyed && got.length < 200)
          s.write(Buffer.from([5, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef, 0x00]));
      });
      s.on('close', () => resolve(got));
    });
    assert.match(reply.toString('latin1'), /Bad handshake/);
    const [[{ one }]] = (await good.query('SELECT 1 AS one')) as any;
    assert.equal(one, 1);
    await good.end();
    await untilSessions(0);
  });

  test('a listener created at runtime binds its port; deleting it unbinds it; a busy port is a 422', async () => {
    const port = await freePort();
    await asAdmin(t.http.post('/services/RW/listeners'))
      .send({ name: 'Extra', address: '127.0.0.1', port })
      .expect(201);
    assert.equal((await asAdmin(t.http.get('/services/RW/listeners/Extra')).expect(200)).body.state, 'running');
    const c = await client(port);
    await c.query('SELECT 1');
    await c.end();
    const busy = await asAdmin(t.http.post('/services/RO/listeners'))
      .send({ name: 'Busy', address: '127.0.0.1', port: topo.primary.port })
      .expect(422);
    assert.match(busy.body.description, /already in use/);
    await asAdmin(t.http.get('/services/RO/listeners/Busy')).expect(404);
    await asAdmin(t.http.delete('/services/RW/listeners/Extra')).expect(204);
    await assert.rejects(client(port), (err: any) => err.code === 'ECONNREFUSED');
  });

  test('connection_timeout closes idle sessions', async () => {
    await asAdmin(t.http.patch('/services/RW'))
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/connection_timeout', value: 1 }])
      .expect(200);
    const c = await client(ports.rw);
    const closed = new Promise<void>((resolve) => c.on('error', () => resolve()));
    await closed;
    await untilSessions(0);
    await asAdmin(t.http.patch('/services/RW'))
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/connection_timeout', value: 0 }])
      .expect(200);
  });

  test('COM_CHANGE_USER switches user through Weir; a wrong password is refused', async () => {
    const c = await client(ports.rw);
    await c.changeUser({ user: 'late', password: 'late-pw', database: 'shop' });
    const [[who]] = (await c.query('SELECT CURRENT_USER() AS u, DATABASE() AS db')) as any;
    assert.deepEqual([who.u, who.db], ['late@127.0.0.1', 'shop']);
    const [s] = (await sessions()).filter((x) => x.user === 'late');
    assert.equal(s!.default_db, 'shop');
    await assert.rejects(c.changeUser({ user: 'app', password: 'wrong' }), (err: any) => err.errno === 1045);
    await untilSessions(0);
  });

  test('COM_RESET_CONNECTION passes through: session variables are reset, the session stays', async () => {
    const c = await client(ports.rw);
    await c.query('SET @marker = 42');
    await c.reset();
    const [[{ marker }]] = (await c.query('SELECT @marker AS marker')) as any;
    assert.equal(marker, null);
    await c.end();
  });

  test('LOAD DATA LOCAL INFILE passes through', async () => {
    const c = await client(ports.rw, { database: 'shop', flags: ['+LOCAL_FILES'] });
    await c.query('CREATE TABLE loaded (id INT, name VARCHAR(20))');
    await c.query({
      sql: "LOAD DATA LOCAL INFILE 'items.csv' INTO TABLE loaded FIELDS TERMINATED BY ','",
      infileStreamFactory: () => Readable.from([Buffer.from('10,fig\n11,kiwi\n')]),
    } as any);
    const [rows] = await c.query('SELECT id, name FROM loaded ORDER BY id');
    assert.deepEqual(rows, [
      { id: 10, name: 'fig' },
      { id: 11, name: 'kiwi' },
    ]);
    await c.end();
  });

  test('a statement larger than 16 MiB (several protocol packets) passes through both ways', async () => {
    await topo.primary.query('SET GLOBAL max_allowed_packet = 67108864');
    const c = await client(ports.rw, { database: 'shop' });
    await c.query('CREATE TABLE blobs (id INT PRIMARY KEY, body LONGBLOB)');
    const body = Buffer.alloc(17 * 1024 * 1024 + 123, 'x');
    await c.query('INSERT INTO blobs VALUES (1, ?)', [body]);
    const [[row]] = (await c.query('SELECT LENGTH(body) AS n, body FROM blobs WHERE id = 1')) as any;
    assert.equal(Number(row.n), body.length);
    assert.ok(Buffer.compare(row.body, body) === 0);
    await c.end();
  });

  test('a TLS listener (ssl=true) accepts TLS clients and refuses plain ones with an error packet', async () => {
    const dir = tempDir('weir-tls-');
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ]);
    const port = await freePort();
    await asAdmin(t.http.post('/services/RW/listeners'))
      .send({
        name: 'TLS-Listener',
        address: '127.0.0.1',
        port,
        ssl: true,
        ssl_cert: join(dir, 'cert.pem'),
        ssl_key: join(dir, 'key.pem'),
      })
      .expect(201);
    const secure = await client(port, { ssl: { rejectUnauthorized: false } });
    const [[{ cipher }]] = (await secure.query("SELECT 'through TLS' AS cipher")) as any;
    assert.equal(cipher, 'through TLS');
    await secure.end();
    await assert.rejects(client(port), (err: any) => err.errno === 1045 && /requires TLS/.test(err.sqlMessage));
    const broken = await asAdmin(t.http.post('/services/RW/listeners'))
      .send({
        name: 'Bad-TLS',
        address: '127.0.0.1',
        port: await freePort(),
        ssl: true,
        ssl_cert: join(dir, 'missing.pem'),
        ssl_key: join(dir, 'key.pem'),
      })
      .expect(422);
    assert.match(broken.body.description, /TLS files cannot be used/);
    await asAdmin(t.http.delete('/services/RW/listeners/TLS-Listener')).expect(204);
    removeDir(dir);
  });

  test("a backend that dies closes its sessions with an error; the replica's sessions carry on", async () => {
    // The premise: the replica has applied everything the primary wrote (the test before
    // sent it a 17 MiB row, which a loaded replica may still be applying) and the monitor
    // sees it as a replica, so the RO session goes to it and not to the primary, the
    // fallback when no replica qualifies.
    const [{ pos }] = await topo.primary.query('SELECT @@global.gtid_binlog_pos AS pos');
    const [{ waited }] = await topo.replicas[0]!.query(`SELECT MASTER_GTID_WAIT('${pos}', 60) AS waited`);
    assert.equal(Number(waited), 0, `the replica reached the primary's position ${pos}`);
    const mon = t.weir.context.monitors.get('Monitor')!;
    await waitFor('the monitor to see the replica as one', async () => {
      await mon.nextTick();
      return t.weir.context.core.get('server', 'db2').runtime.facts.flags.includes('slave');
    });
    const onReplica = await client(ports.ro);
    const [[{ before }]] = (await onReplica.query('SELECT @@server_id AS `before`')) as any;
    assert.equal(Number(before), 2, 'the RO session is on the replica');
    const onPrimary = await client(ports.rw);
    const lost = new Promise<any>((resolve) => onPrimary.on('error', resolve));
    await topo.primary.kill();
    const err = await lost;
    assert.ok(err, 'the client saw the connection end');
    await waitFor('the primary session to be gone', async () =>
      (await sessions()).every((s) => s.service !== '/services/RW'),
    );
    const [[{ id }]] = (await onReplica.query('SELECT @@server_id AS id')) as any;
    assert.equal(Number(id), 2);
    await topo.primary.restart();
  });
});

/** Destroys a client connection and resolves once its socket has closed. */
function destroyed(c: Connection): Promise<unknown> {
  const socket = (c as unknown as { connection: { stream: Socket } }).connection.stream;
  const closed = socket.closed ? Promise.resolve() : once(socket, 'close');
  c.destroy();
  return closed;
}
