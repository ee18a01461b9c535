/**
 * GET /metrics against a Weir in front of a real MariaDB: the output passes promtool, every
 * metric the README documents is served, traffic moves the counters a user would graph,
 * labels never carry users, addresses or raw paths, a deleted object's series disappear,
 * and a large configuration stays under the series budget.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import { createUser, freePort, startMariaDB, waitFor, type MariaDBServer } from '../harness/mariadb.ts';
import { createProxyUser, oneServerConfig, serverSection, serviceSections } from '../harness/config.ts';
import { ADMIN, removeDir, startTestWeir, tempDir, type TestWeir } from '../harness/weir.ts';
import { CLOSE_REASONS, SQLSTATE_CLASSES } from '../../src/metrics/dataplane.ts';

/** A close text for each reason but client_quit (see closeReason). */
const CLOSE_TEXTS = [
  'client closed the connection',
  'client connection error',
  'Access denied',
  'idle for longer than connection_timeout',
  'killed by session 1',
  'Weir is stopping',
  "Lost connection to backend server 'x': gone",
  'Malformed packet: short',
  'internal error: boom',
  'a filter said no',
];

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
/** The metric names the README's table documents. */
export const DOCUMENTED = [
  ...(/<!-- metrics:begin[^]*?<!-- metrics:end -->/.exec(README)?.[0] ?? '').matchAll(/^\| `(weir_[a-z_]+)`/gm),
].map((m) => m[1]!);

const promtool = spawnSync('promtool', ['--version']).status === 0;

async function scrape(t: TestWeir, auth: { user: string; password: string } = ADMIN): Promise<string> {
  const res = await t.http.get('/metrics').auth(auth.user, auth.password).expect(200);
  assert.match(res.headers['content-type']!, /^text\/plain; version=0\.0\.4/);
  return res.text;
}

/** Sample lines as {name, labels, value}. */
function samples(text: string): Array<{ name: string; labels: Record<string, string>; value: number }> {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((line) => {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      assert.ok(m, `unparsable sample line: ${line}`);
      const labels: Record<string, string> = {};
      for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
      return { name: m[1]!, labels, value: Number(m[3]) };
    });
}

function value(text: string, name: string, labels: Record<string, string>): number | undefined {
  return samples(text).find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    ?.value;
}

describe('GET /metrics', () => {
  let db: MariaDBServer;
  let t: TestWeir;
  let port: number;
  /** A service with a filter: its sessions' replies are parsed (the other service's pass through). */
  let filteredPort: number;
  let topDir: string;
  before(async () => {
    db = await startMariaDB();
    await createProxyUser(db);
    await createUser(db, 'app', 'app-pw', 'ALL PRIVILEGES ON *.*');
    port = await freePort();
    filteredPort = await freePort();
    topDir = tempDir('weir-metrics-top-');
    t = await startTestWeir({
      config: oneServerConfig(db, {
        services: { Svc: port, Filtered: filteredPort },
        filters: { Filtered: 'Top' },
        extra: `[Top]\ntype=filter\nmodule=topfilter\nfilebase=${topDir}/top\n\n`,
        globals: 'users_refresh_time=0s',
      }),
    });
    await waitFor('db1 running', async () =>
      t.weir.context.core.get('server', 'db1').runtime.facts.flags.includes('running'),
    );
  });
  after(async () => {
    await t.stop();
    removeDir(t.datadir);
    removeDir(topDir);
    await db.destroy();
  });

  test('the README documents the metric set', () => {
    assert.ok(DOCUMENTED.length >= 30, `the README lists ${DOCUMENTED.length} metrics`);
  });

  test('traffic moves the service and server metrics; refused logins are counted by reason', async () => {
    const before = await scrape(t);
    const facts = () => JSON.stringify(t.weir.context.core.get('server', 'db1').runtime.facts);
    const client = await mysql
      .createConnection({ host: '127.0.0.1', port, user: 'app', password: 'app-pw' })
      .catch((err: Error) => assert.fail(`${err.message}; db1: ${facts()}`));
    for (let i = 0; i < 20; i++) await client.query('SELECT ?', [i]);
    await client.end();
    await assert.rejects(
      mysql.createConnection({ host: '127.0.0.1', port, user: 'app', password: 'wrong' }),
      /Access denied/,
    );
    await assert.rejects(
      mysql.createConnection({ host: '127.0.0.1', port, user: 'nobody', password: 'x' }),
      /Access denied/,
    );
    const text = await scrape(t);
    const delta = (name: string, labels: Record<string, string>) =>
      (value(text, name, labels) ?? 0) - (value(before, name, labels) ?? 0);
    assert.ok(delta('weir_service_statements_total', { service: 'Svc' }) >= 20);
    assert.ok(delta('weir_server_statements_total', { server: 'db1' }) >= 20);
    assert.ok(delta('weir_service_response_time_seconds_count', { service: 'Svc' }) >= 20);
    assert.ok(delta('weir_server_response_time_seconds_count', { server: 'db1' }) >= 20);
    assert.ok(delta('weir_service_bytes_total', { service: 'Svc', direction: 'client_out' }) > 0);
    assert.ok(delta('weir_server_bytes_total', { server: 'db1', direction: 'sent' }) > 0);
    assert.equal(delta('weir_service_sessions_created_total', { service: 'Svc' }), 3);
    assert.equal(delta('weir_listener_connections_accepted_total', { listener: 'Svc-Listener' }), 3);
    assert.equal(delta('weir_client_auth_failures_total', { service: 'Svc', reason: 'bad_password' }), 1);
    assert.equal(delta('weir_client_auth_failures_total', { service: 'Svc', reason: 'unknown_user' }), 1);
    assert.equal(value(text, 'weir_server_up', { server: 'db1' }), 1);
    assert.equal(value(text, 'weir_server_state', { server: 'db1', state: 'master' }), 1);
    assert.equal(value(text, 'weir_server_state', { server: 'db1', state: 'maintenance' }), 0);
    assert.equal(value(text, 'weir_server_read_only', { server: 'db1' }), 0);
  });

  test('server errors by SQLSTATE class (pass-through and parsed paths), per-filter statements, sessions closed by reason', async () => {
    const before = await scrape(t);
    const connect = (p: number) =>
      mysql.createConnection({ host: '127.0.0.1', port: p, user: 'app', password: 'app-pw' });
    // Svc passes bytes through (nothing parses its replies); Filtered's replies go through its filter chain.
    const plain = await connect(port);
    await assert.rejects(plain.query('SELECT * FROM test.no_such_table'), /doesn't exist/);
    await assert.rejects(plain.query("SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'raised'"), /raised/);
    await plain.query('SELECT 1');
    await plain.end(); // COM_QUIT
    const filtered = await connect(filteredPort);
    for (let i = 0; i < 5; i++) await filtered.query('SELECT ?', [i]);
    await assert.rejects(filtered.query('SELEC 1'), /syntax/);
    // Closed without COM_QUIT: the socket just goes away.
    filtered.destroy();
    await assert.rejects(
      mysql.createConnection({ host: '127.0.0.1', port, user: 'app', password: 'wrong' }),
      /Access denied/,
    );
    // An administrator closes a session.
    const victim = await connect(port);
    const [[{ id }]] = (await victim.query('SELECT CONNECTION_ID() AS id')) as unknown as [[{ id: number }]];
    assert.ok(id > 0);
    const sessions = (await t.http.get('/sessions').auth(ADMIN.user, ADMIN.password).expect(200)).body as Array<{
      id: number;
      service: string;
    }>;
    const mine = sessions.filter((s) => s.service === '/services/Svc');
    assert.equal(mine.length, 1, JSON.stringify(sessions));
    await t.http.delete(`/sessions/${mine[0]!.id}`).auth(ADMIN.user, ADMIN.password).expect(204);
    victim.destroy();

    const delta = (text: string, name: string, labels: Record<string, string>) =>
      (value(text, name, labels) ?? 0) - (value(before, name, labels) ?? 0);
    let text = '';
    const closed = (service: string, reason: string) => delta(text, 'weir_sessions_closed_total', { service, reason });
    // A session's close is counted as its socket closes: poll until all four have been.
    await waitFor(
      'the sessions are counted closed',
      async () => {
        text = await scrape(t);
        return (
          closed('Svc', 'client_quit') +
            closed('Filtered', 'client_closed') +
            closed('Svc', 'killed') +
            closed('Svc', 'login_failed') ===
          4
        );
      },
      10_000,
    ).catch(() => {});
    assert.equal(closed('Svc', 'client_quit'), 1);
    assert.equal(closed('Filtered', 'client_closed'), 1);
    assert.equal(closed('Svc', 'killed'), 1);
    assert.equal(closed('Svc', 'login_failed'), 1);
    // No table, a syntax error (both class 42) and SIGNAL's 45000.
    assert.equal(delta(text, 'weir_server_errors_total', { server: 'db1', sqlstate_class: '42' }), 2);
    assert.equal(delta(text, 'weir_server_errors_total', { server: 'db1', sqlstate_class: '45' }), 1);
    // The filter saw the filtered session's 6 statements (mysql2 sends them as COM_QUERY), nothing of Svc's.
    assert.equal(delta(text, 'weir_filter_statements_total', { filter: 'Top', module: 'topfilter' }), 6);
  });

  test('back-pressure: a client that stops reading pauses its server, and the metrics show it', async () => {
    const before = await scrape(t);
    const client = await mysql.createConnection({ host: '127.0.0.1', port, user: 'app', password: 'app-pw' });
    const socket = (client as unknown as { connection: { stream: import('node:net').Socket } }).connection.stream;
    socket.pause();
    // About 40 MB of reply: more than the kernel's buffers hold, so Weir's writes to the client back up.
    const reply = client.query(
      "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 200) SELECT REPEAT('x', 200000) AS v FROM s",
    );
    reply.catch(() => {}); // awaited below; a failure must not be an unhandled rejection meanwhile
    let text = '';
    await waitFor(
      'the server is paused',
      async () => {
        text = await scrape(t);
        return (value(text, 'weir_backpressure_paused_reads', { service: 'Svc', side: 'backend' }) ?? 0) === 1;
      },
      20_000,
    ).catch((err: Error) => {
      throw new Error(
        `${err.message}: ${text
          .split('\n')
          .filter((l) => l.startsWith('weir_backpressure'))
          .join('; ')}`,
      );
    });
    assert.ok((value(text, 'weir_backpressure_buffered_bytes', { service: 'Svc', side: 'client' }) ?? 0) > 0);
    assert.equal(value(text, 'weir_backpressure_paused_reads', { service: 'Filtered', side: 'backend' }), 0);
    socket.resume();
    const [rows] = (await reply) as unknown as [unknown[]];
    assert.equal(rows.length, 200);
    await client.end();
    const after = await scrape(t);
    assert.ok(
      (value(after, 'weir_backpressure_pauses_total', { service: 'Svc' }) ?? 0) >
        (value(before, 'weir_backpressure_pauses_total', { service: 'Svc' }) ?? 0),
    );
    assert.equal(value(after, 'weir_backpressure_paused_reads', { service: 'Svc', side: 'backend' }), 0);
  });

  test(
    'the output passes promtool check metrics',
    {
      skip: promtool
        ? false
        : 'promtool is not installed (Debian package prometheus; scripts/ensure-deps.sh installs it)',
    },
    async () => {
      const text = await scrape(t);
      const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      assert.equal(r.status, 0, `promtool: ${r.stdout}${r.stderr}`);
    },
  );

  test("every documented metric is served, with Node's process metrics beside them", async () => {
    // An event-driven counter has its TYPE line before its first event.
    const text = await scrape(t);
    const missing = DOCUMENTED.filter((name) => !text.includes(`# TYPE ${name} `));
    assert.deepEqual(missing, []);
    const served = new Set([...text.matchAll(/^# TYPE (weir_\S+)/gm)].map((m) => m[1]!));
    const undocumented = [...served].filter((n) => !DOCUMENTED.includes(n));
    assert.deepEqual(undocumented, [], 'served but not in the README');
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_p99_seconds',
      'nodejs_heap_size_used_bytes',
    ]) {
      assert.ok(text.includes(`# TYPE ${name} `), name);
    }
    assert.ok(!text.includes('nodejs_active_handles_total'), 'a gauge named _total is dropped');
  });

  test('labels are object names and small sets: no users, addresses or raw paths; admin requests by path template', async () => {
    await t.http.get('/servers/db1').auth(ADMIN.user, ADMIN.password).expect(200);
    await t.http.get('/servers/no-such-server').auth(ADMIN.user, ADMIN.password).expect(404);
    await t.http.get('/no/such/path').auth(ADMIN.user, ADMIN.password).expect(404);
    await t.http.get('/openapi.json').expect(200);
    const text = await scrape(t);
    assert.ok(
      (value(text, 'weir_admin_requests_total', { method: 'GET', route: '/openapi.json', code: '200' }) ?? 0) >= 1,
    );
    assert.ok(
      (value(text, 'weir_admin_requests_total', { method: 'GET', route: '/servers/{name}', code: '200' }) ?? 0) >= 1,
    );
    assert.ok(
      (value(text, 'weir_admin_requests_total', { method: 'GET', route: '/servers/{name}', code: '404' }) ?? 0) >= 1,
    );
    assert.ok((value(text, 'weir_admin_requests_total', { method: 'GET', route: 'unmatched', code: '404' }) ?? 0) >= 1);
    const labels = samples(text).flatMap((s) => Object.entries(s.labels));
    for (const [k, v] of labels) {
      assert.ok(!['user', 'address', 'host', 'session', 'sql', 'path'].includes(k), `label ${k}`);
      assert.ok(!/^(app|nobody|127\.0\.0\.1|\/servers\/db1|\/no\/such\/path)$/.test(v), `label ${k}="${v}"`);
    }
  });

  test('monitor events and cluster operations are counted by kind and result', async () => {
    const before = await scrape(t);
    await t.http
      .post('/monitors/Monitor/switchover')
      .auth(ADMIN.user, ADMIN.password)
      .send({ new_primary: 'no-such-server' })
      .expect(422);
    const text = await scrape(t);
    const refused = { monitor: 'Monitor', operation: 'switchover', result: 'refused' };
    assert.equal(
      (value(text, 'weir_cluster_operations_total', refused) ?? 0) -
        (value(before, 'weir_cluster_operations_total', refused) ?? 0),
      1,
    );
    assert.ok(
      (value(text, 'weir_cluster_operation_duration_seconds_count', { monitor: 'Monitor', operation: 'switchover' }) ??
        0) >= 1,
    );
    // db1 came up as the primary once Weir had started.
    assert.ok(
      samples(text).some(
        (s) => s.name === 'weir_monitor_events_total' && s.labels.monitor === 'Monitor' && s.value >= 1,
      ),
      'a monitor event was counted',
    );
    assert.ok((value(text, 'weir_monitor_ticks_total', { monitor: 'Monitor' }) ?? 0) >= 1);
  });

  test('a basic (read-only) user may scrape; without credentials it is a 401', async () => {
    await t.http
      .post('/users')
      .auth(ADMIN.user, ADMIN.password)
      .send({ name: 'prometheus', password: 'scrape-pw' })
      .expect(201);
    assert.match(await scrape(t, { user: 'prometheus', password: 'scrape-pw' }), /weir_server_up/);
    const res = await t.http.get('/metrics').expect(401);
    assert.equal(res.body.error, 'Unauthorized');
  });

  test("a deleted object's series disappear", async () => {
    const other = await freePort();
    const admin = (r: ReturnType<TestWeir['http']['get']>) => r.auth(ADMIN.user, ADMIN.password);
    await admin(t.http.post('/servers')).send({ name: 'gone-db', address: '127.0.0.1', port: db.port }).expect(201);
    await admin(t.http.post('/services'))
      .send({
        name: 'Gone-Svc',
        router: 'readconnroute',
        router_options: ['running'],
        servers: ['/servers/gone-db'],
        user: 'maxuser',
        password: 'max-pw',
      })
      .expect(201);
    await admin(t.http.post('/services/Gone-Svc/listeners'))
      .send({ name: 'Gone-Listener', address: '127.0.0.1', port: other })
      .expect(201);
    await admin(t.http.post('/monitors'))
      .send({
        name: 'Gone-Mon',
        module: 'mariadbmon',
        user: 'maxuser',
        password: 'max-pw',
        servers: ['/servers/gone-db'],
        monitor_interval: 200,
      })
      .expect(201);
    await waitFor('gone-db running', async () =>
      t.weir.context.core.get('server', 'gone-db').runtime.facts.flags.includes('running'),
    );
    await waitFor(
      'Gone-Listener bound',
      async () => t.weir.context.core.get('listener', 'Gone-Listener').runtime.listenerState === 'running',
    );
    const client = await mysql.createConnection({ host: '127.0.0.1', port: other, user: 'app', password: 'app-pw' });
    await client.query('SELECT 1');
    await client.end();
    await assert.rejects(
      mysql.createConnection({ host: '127.0.0.1', port: other, user: 'app', password: 'wrong' }),
      /Access denied/,
    );
    const names = /"(gone-db|Gone-Svc|Gone-Listener|Gone-Mon)"/;
    const withNames = (text: string) => text.split('\n').filter((l) => !l.startsWith('#') && names.test(l));
    const present = withNames(await scrape(t));
    for (const metric of [
      'weir_client_auth_failures_total',
      'weir_service_response_time_seconds_bucket',
      'weir_server_response_time_seconds_bucket',
      'weir_listener_connections_accepted_total',
      'weir_service_statements_total',
      'weir_server_connections_current',
      'weir_monitor_ticks_total',
      'weir_monitor_events_total',
    ]) {
      assert.ok(
        present.some((l) => l.startsWith(metric)),
        `${metric} has a series before the deletion`,
      );
    }
    await admin(t.http.delete('/services/Gone-Svc/listeners/Gone-Listener')).expect(204);
    await admin(t.http.delete('/services/Gone-Svc')).expect(204);
    await admin(t.http.patch('/monitors/Gone-Mon'))
      .set('Content-Type', 'application/json-patch+json')
      .send([{ op: 'replace', path: '/servers', value: [] }])
      .expect(200);
    await admin(t.http.delete('/monitors/Gone-Mon')).expect(204);
    await admin(t.http.delete('/servers/gone-db')).expect(204);
    // Removal of counted series runs as the deletion's event is handled: poll until it has.
    let left: string[] = [];
    await waitFor('the series are gone', async () => (left = withNames(await scrape(t))).length === 0, 10_000).catch(
      () => {},
    );
    assert.deepEqual(left, []);
  });
});

describe('series budget', () => {
  const BUDGET = 5_000;
  let t: TestWeir;
  before(async () => {
    // 20 servers, 2 monitors, 10 services with a listener each, 10 filters; nothing listens on the servers' ports.
    let config = '[maxscale]\nadmin_host=127.0.0.1\n\n';
    for (let i = 1; i <= 20; i++) config += serverSection(`srv${i}`, 1);
    config += `[MonA]\ntype=monitor\nmodule=mariadbmon\nservers=${Array.from({ length: 10 }, (_, i) => `srv${i + 1}`).join(',')}\nuser=u\npassword=p\nmonitor_interval=1000ms\n\n`;
    config += `[MonB]\ntype=monitor\nmodule=mariadbmon\nservers=${Array.from({ length: 10 }, (_, i) => `srv${i + 11}`).join(',')}\nuser=u\npassword=p\nmonitor_interval=1000ms\n\n`;
    for (let i = 1; i <= 10; i++)
      config += `[F${i}]\ntype=filter\nmodule=topfilter\nfilebase=/tmp/weir-metrics-top\n\n`;
    for (let i = 1; i <= 10; i++) {
      config += serviceSections(`Svc${i}`, await freePort(), {
        servers: Array.from({ length: 20 }, (_, j) => `srv${j + 1}`),
        filters: `F${i}`,
      });
    }
    t = await startTestWeir({ config });
  });
  after(async () => {
    await t.stop();
    removeDir(t.datadir);
  });

  test(`a large configuration with every histogram and reason in use stays under ${BUDGET} series`, async () => {
    const { core } = t.weir.context;
    // Every series the event-driven metrics can have: each service with each server, every reason.
    for (const s of core.list('service')) {
      for (const srv of core.list('server')) core.traffic.replyTimer(s.name, srv.name)(0.003);
      for (const reason of ['bad_password', 'unknown_user', 'root_refused', 'plugin', 'no_server'] as const)
        core.traffic.authFailed(s.name, reason);
      // One close text per reason label.
      for (const text of CLOSE_TEXTS) core.traffic.sessionClosed(s.name, text, false);
      core.traffic.sessionClosed(s.name, 'client closed the connection', true);
    }
    // Every SQLSTATE class from every server.
    for (const srv of core.list('server'))
      for (const c of [...SQLSTATE_CLASSES, 'other']) srv.runtime.errorsByClass.set(c, 1);
    for (const srv of core.list('server'))
      for (const reason of ['refused', 'timeout', 'auth', 'server_error', 'other'] as const)
        core.traffic.connectFailed(srv.name, reason);
    for (const l of core.list('listener')) {
      core.traffic.accepted(l.name);
      core.traffic.rejected(l.name, 'service_stopped');
    }
    // Admin requests on every collection and object path.
    for (const path of [
      '/servers',
      '/servers/srv1',
      '/services',
      '/services/Svc1',
      '/monitors',
      '/monitors/MonA',
      '/filters',
      '/filters/F1',
      '/services/Svc1/listeners',
      '/sessions',
      '/maxscale',
      '/maxscale/threads',
      '/users',
      '/nowhere',
    ]) {
      await t.http.get(path).auth(ADMIN.user, ADMIN.password);
    }
    const text = await scrape(t);
    const closeReasons = new Set(
      samples(text)
        .filter((x) => x.name === 'weir_sessions_closed_total')
        .map((x) => x.labels.reason),
    );
    assert.deepEqual([...closeReasons].sort(), [...CLOSE_REASONS].sort(), 'the fixture uses every close reason');
    const count = samples(text).length;
    console.log(
      `series for 10 services, 20 servers, 10 listeners, 10 filters, 2 monitors: ${count} (budget ${BUDGET})`,
    );
    assert.ok(count < BUDGET, `${count} series`);
    assert.ok(count > 500, `${count} series: the fixture did not fill the histograms`);
  });
});
