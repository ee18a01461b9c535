/**
 * The command API (POST /api) driven with supertest against a Weir in front of a real
 * MariaDB: Arthas's actions and semantics, the admin commands acting through the same core
 * as the REST API, the streaming diagnostics watching real client traffic, and bad input.
 * Every reply is checked against the spec's ApiResponse by the app itself (tests run with
 * response validation on).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import mysql from 'mysql2/promise';
import { createUser, freePort, startMariaDB, waitFor, type MariaDBServer } from '../harness/mariadb.ts';
import { asAdmin, removeDir, startTestWeir, type TestWeir } from '../harness/weir.ts';
import { createProxyUser, oneServerConfig } from '../harness/config.ts';
import type { ConfigObject } from '../../src/core/objects.ts';
import { classifyStatement } from '../../src/proxy/routing/readwritesplit/classifier-cache.ts';

type Reply = {
  state: string;
  message?: string;
  sessionId?: string;
  consumerId?: string;
  body?: any;
  requestId?: string;
};
type Result = { type: string; jobId: number; [k: string]: any };

describe('the command API', () => {
  let db: MariaDBServer;
  let t: TestWeir;
  let port: number;

  const api = async (body: object, auth: [string, string] | null = null): Promise<Reply> => {
    const req = t.http.post('/api');
    const res = await (auth ? req.auth(auth[0], auth[1]) : asAdmin(req)).send(body).expect(200);
    return res.body as Reply;
  };
  const exec = (command: string, extra: object = {}) => api({ action: 'exec', command, ...extra });
  const results = (r: Reply): Result[] => r.body.results;
  /** Pulls until `until` holds for everything pulled so far (each pull is a long poll, not a sleep). */
  async function pullUntil(
    sessionId: string,
    consumerId: string,
    until: (all: Result[]) => boolean,
    pulls = 30,
  ): Promise<Result[]> {
    const all: Result[] = [];
    for (let i = 0; i < pulls && !until(all); i++) {
      const r = await api({ action: 'pull_results', sessionId, consumerId });
      assert.equal(r.state, 'SUCCEEDED', r.message);
      all.push(...r.body.results);
    }
    assert.ok(until(all), `not seen after ${pulls} pulls: ${JSON.stringify(all.map((x) => x.type))}`);
    return all;
  }
  const client = () => mysql.createConnection({ host: '127.0.0.1', port, user: 'app', password: 'app-pw' });
  const peek = (id: string) => t.weir.context.commandApi.sessions.peek(id);
  /**
   * Runs `reads` again until no server changed while it ran: the core announces every
   * change (a monitor round's new facts included) with a 'touched' event, so a pair of
   * reads with none between them saw the same servers.
   */
  async function unchangedServersWhile<T>(reads: () => Promise<T>, attempts = 20): Promise<T> {
    const { core } = t.weir.context;
    for (let i = 0; i < attempts; i++) {
      let changed = false;
      const onTouched = (obj: ConfigObject) => {
        if (obj.kind === 'server') changed = true;
      };
      core.on('touched', onTouched);
      try {
        const result = await reads();
        if (!changed) return result;
      } finally {
        core.off('touched', onTouched);
      }
    }
    throw new Error(`the servers changed during each of ${attempts} attempts to read them`);
  }

  before(async () => {
    db = await startMariaDB();
    await createProxyUser(db);
    await createUser(db, 'app', 'app-pw', 'ALL PRIVILEGES ON *.*');
    port = await freePort();
    t = await startTestWeir({
      config: oneServerConfig(db, { services: { Shop: port }, globals: 'users_refresh_time=0s' }),
      serversRunning: true,
    });
  });
  after(async () => {
    await t?.stop();
    if (t) removeDir(t.datadir);
    await db?.destroy();
  });

  test('exec runs a command in a one-time session and returns its results; requestId is echoed', async () => {
    const r = await api({ action: 'EXEC ', command: 'version', requestId: 'r-1' });
    assert.equal(r.state, 'SUCCEEDED');
    assert.equal(r.requestId, 'r-1');
    assert.equal(r.body.command, 'version');
    assert.equal(r.body.jobStatus, 'TERMINATED');
    assert.equal(r.body.timeExpired, false);
    const [version, status] = results(r);
    assert.equal(version!.type, 'version');
    assert.equal(version!.version, t.weir.context.info.version);
    assert.equal(version!.jobId, r.body.jobId);
    assert.deepEqual(status, { type: 'status', jobId: r.body.jobId, statusCode: 0 });
    // The one-time session is gone.
    assert.equal(
      (await api({ action: 'session_info', sessionId: r.sessionId })).message,
      `session not found: ${r.sessionId}`,
    );
    // Job ids are global.
    assert.equal((await exec('version')).body.jobId, r.body.jobId + 1);
  });

  test('classify and show qc_cache answer as the query classifier endpoints do', async () => {
    const sql = "SELECT a FROM t WHERE b = 'x y' AND c = 5";
    const [got] = results(await exec(`classify "${sql}"`));
    assert.equal(got!.type, 'classification');
    assert.deepEqual(
      got!.item,
      (await asAdmin(t.http.get('/maxscale/query_classifier/classify')).query({ sql }).expect(200)).body,
    );
    assert.equal(got!.item.canonical, 'SELECT a FROM t WHERE b = ? AND c = ?');
    const split = results(await exec(`classify SELECT a FROM t`))[0]!;
    assert.equal(split.statusCode, -10);
    assert.match(split.message, /one word/);
    // The cache as readwritesplit fills it (this Weir runs in this process).
    for (let i = 0; i < 3; i++) classifyStatement(`SELECT v FROM console_qc WHERE id = ${i}`);
    classifyStatement('SELECT w FROM console_qc_once WHERE id = 1');
    const [listed] = results(await exec('show qc_cache 2'));
    assert.equal(listed!.type, 'qc_cache');
    assert.deepEqual(
      listed!.items,
      (await asAdmin(t.http.get('/maxscale/query_classifier/cache?top=2')).expect(200)).body,
    );
    assert.deepEqual(
      listed!.items.map((e: any) => [e.canonical, e.hits]),
      [
        ['SELECT v FROM console_qc WHERE id = ?', 2],
        ['SELECT w FROM console_qc_once WHERE id = ?', 0],
      ],
    );
    assert.equal(results(await exec('show qc_cache many'))[0]!.statusCode, -10);
  });

  test('admin commands act through the same core as the REST API', async () => {
    // The same servers, field for field, as GET /servers shows: read as a pair that no
    // monitor round changed in between (a round may change a server's facts at any time).
    const { listed, got } = await unchangedServersWhile(async () => ({
      listed: results(await exec('list servers'))[0]!,
      got: (await asAdmin(t.http.get('/servers')).expect(200)).body,
    }));
    assert.equal(listed.type, 'servers');
    assert.deepEqual(listed.items, got);

    const set = results(await exec('set server db1 maintenance'))[0]!;
    assert.equal(set.type, 'server');
    assert.ok(set.item.state.includes('maintenance'));
    assert.ok((await asAdmin(t.http.get('/servers/db1')).expect(200)).body.state.includes('maintenance'));
    results(await exec('clear server db1 maintenance'));
    assert.ok(!(await asAdmin(t.http.get('/servers/db1')).expect(200)).body.state.includes('maintenance'));
    // --force closes the server's connections at once: this session's ends.
    const victim = await client();
    await victim.query('SELECT 1');
    assert.ok(results(await exec('set server db1 maintenance --force'))[0]!.item.state.includes('maintenance'));
    await assert.rejects(victim.query('SELECT 1'), 'the session on db1 was closed');
    assert.deepEqual((await asAdmin(t.http.get('/servers/db1/connections')).expect(200)).body, []);
    assert.equal(results(await exec('clear server db1 maintenance --force'))[0]!.statusCode, -10);
    assert.equal(results(await exec('set server db1 drain --force'))[0]!.statusCode, -10);
    results(await exec('clear server db1 maintenance'));
    assert.ok(!(await asAdmin(t.http.get('/servers/db1')).expect(200)).body.state.includes('maintenance'));

    assert.equal(results(await exec('alter monitor Monitor monitor_interval 400ms'))[0]!.item.monitor_interval, 400);
    assert.equal((await asAdmin(t.http.get('/monitors/Monitor')).expect(200)).body.monitor_interval, 400);
    const bad = results(await exec('alter monitor Monitor monitor_interval -5'));
    assert.equal(bad.length, 1);
    assert.equal(bad[0]!.type, 'status');
    assert.equal(bad[0]!.statusCode, 1);
    assert.match(bad[0]!.message, /monitor_interval/);
    assert.equal(
      (await asAdmin(t.http.get('/monitors/Monitor')).expect(200)).body.monitor_interval,
      400,
      'nothing changed',
    );

    assert.equal(results(await exec('create server db9 127.0.0.1 3399'))[0]!.item.port, 3399);
    await asAdmin(t.http.get('/servers/db9')).expect(200);
    assert.deepEqual(results(await exec('link service Shop db9'))[0]!.item.servers, ['/servers/db1', '/servers/db9']);
    const inUse = results(await exec('destroy server db9'))[0]!;
    assert.equal(inUse.statusCode, 1);
    assert.match(inUse.message, /in use/);
    results(await exec('unlink service Shop db9'));
    assert.equal(results(await exec('destroy server db9'))[0]!.message, "server 'db9' destroyed");
    await asAdmin(t.http.get('/servers/db9')).expect(404);

    const show = results(await exec('show service Shop'))[0]!;
    assert.equal(show.type, 'service');
    assert.equal(show.item.name, 'Shop');
    assert.equal(
      results(await exec('failover Monitor'))[0]!.statusCode,
      1,
      'a refused cluster operation is a failed status',
    );
  });

  test('bad input gets the documented FAILED replies and changes nothing', async () => {
    assert.deepEqual(await api({ action: 'nope' }), {
      state: 'FAILED',
      message:
        'unknown action: nope; the actions are exec, async_exec, pull_results, interrupt_job, join_session, close_session, session_info, init_session',
    });
    assert.equal((await api({})).message, 'parse request failed: request body is empty');
    assert.equal((await api({ command: 'version' })).message, "'action' is required");
    assert.equal((await api({ action: 'pull_results' })).message, "'sessionId' is required");
    assert.equal((await api({ action: 'pull_results', sessionId: 'nope' })).message, 'session not found: nope');
    const { sessionId, consumerId } = await api({ action: 'init_session' });
    assert.equal((await api({ action: 'pull_results', sessionId })).message, "'consumerId' is required");
    assert.match(
      (await api({ action: 'pull_results', sessionId, consumerId: 'x_9' })).message!,
      /^consumer not found: x_9/,
    );
    assert.equal((await exec('bogus')).message, "Exec command failed: 'bogus' is not a command; 'help' lists them");
    assert.equal((await exec("list 'servers")).message, "Exec command failed: unclosed ' at column 6");
    assert.equal(
      (await exec('version', { execTimeout: 'soon' })).message,
      `'execTimeout' must be a number of milliseconds, not "soon"`,
    );
    assert.equal((await exec('version', { execTimeout: '5000' })).state, 'SUCCEEDED', 'a numeric string is accepted');
    const badOption = results(await exec('watch queries -n abc'));
    assert.deepEqual(
      badOption.map((r) => [r.type, r.statusCode]),
      [['status', -10]],
    );
    assert.match(badOption[0]!.message, /option '-n' needs a number, not 'abc'/);
    const notJson = await asAdmin(t.http.post('/api'))
      .set('Content-Type', 'application/json')
      .send('{"action": ')
      .expect(400);
    assert.equal(notJson.body.error, 'Bad Request');
    assert.deepEqual(await api({ action: 'interrupt_job', sessionId }), {
      state: 'FAILED',
      sessionId,
      message: 'no foreground job is running',
    });
    // Two pulls at once on one consumer: the second does not steal results; it gives up first, empty-handed.
    const welcome = await pullUntil(sessionId!, consumerId!, (all) => all.some((r) => r.type === 'input_status'));
    assert.deepEqual(
      welcome.map((r) => r.type),
      ['message', 'welcome', 'input_status'],
      "a new session's first results",
    );
    const order: string[] = [];
    const long = api({ action: 'pull_results', sessionId, consumerId }).then((r) => (order.push('first'), r));
    const second = await api({ action: 'pull_results', sessionId, consumerId }).then((r) => (order.push('second'), r));
    assert.deepEqual(second.body.results, []);
    await long;
    assert.deepEqual(order, ['second', 'first']);
    // The session still works after all that.
    assert.equal((await api({ action: 'exec', sessionId, command: 'version' })).state, 'SUCCEEDED');
    await api({ action: 'close_session', sessionId });
  });

  test('a basic user may run read-only commands only', async () => {
    await asAdmin(t.http.post('/users')).send({ name: 'viewer', password: 'viewer-pw', role: 'basic' }).expect(201);
    const basic: [string, string] = ['viewer', 'viewer-pw'];
    assert.equal((await api({ action: 'exec', command: 'list servers' }, basic)).state, 'SUCCEEDED');
    assert.equal((await api({ action: 'exec', command: 'logger' }, basic)).state, 'SUCCEEDED');
    const refused = await api({ action: 'exec', command: 'set server db1 maintenance' }, basic);
    assert.equal(refused.state, 'FAILED');
    assert.match(refused.message!, /needs an admin user; 'viewer' is a basic user/);
    assert.equal((await api({ action: 'exec', command: 'logger --level debug' }, basic)).state, 'FAILED');
    assert.ok(!(await asAdmin(t.http.get('/servers/db1')).expect(200)).body.state.includes('maintenance'));
  });

  test('two consumers both receive a watch queries stream; interrupt ends it; a joiner gets the history', async () => {
    const { sessionId, consumerId: first } = await api({ action: 'init_session' });
    const { consumerId: second } = await api({ action: 'join_session', sessionId });
    assert.match(first!, /^[0-9a-f]{32}_1$/);
    assert.equal(second, first!.replace(/_1$/, '_2'));
    const started = await api({
      action: 'async_exec',
      sessionId,
      command: 'watch queries --service Shop --match "^SELECT 1[0-9]"',
    });
    assert.equal(started.state, 'SCHEDULED');
    assert.equal(started.body.jobStatus, 'READY');
    const jobId = started.body.jobId;
    // One foreground job per session.
    assert.equal(
      (await api({ action: 'async_exec', sessionId, command: 'version' })).message,
      'Another job is running.',
    );
    assert.equal((await api({ action: 'exec', sessionId, command: 'version' })).state, 'REFUSED');

    const c = await client();
    await c.query('SELECT 11');
    await c.query('SELECT 99'); // not matched by --match
    await c.query('SELECT 12');
    const isQuery = (sql: string) => (r: Result) => r.type === 'query' && r.sql === sql;
    const seen = await Promise.all(
      [first!, second!].map((consumer) => pullUntil(sessionId!, consumer, (all) => all.some(isQuery('SELECT 12')))),
    );
    for (const stream of seen) {
      const job = stream.filter((r) => r.jobId === jobId || r.type === 'input_status');
      const queries = job.filter((r) => r.type === 'query');
      assert.deepEqual(
        queries.map((q) => q.sql),
        ['SELECT 11', 'SELECT 12'],
      );
      assert.equal(queries[0]!.server, 'db1');
      assert.equal(queries[0]!.user, 'app');
      assert.ok(queries[0]!.durationMs >= 0);
    }
    const interrupted = await api({ action: 'interrupt_job', sessionId });
    assert.deepEqual(interrupted.body, { jobId, jobStatus: 'TERMINATED' });
    const tail = await pullUntil(sessionId!, first!, (all) =>
      all.some((r) => r.type === 'input_status' && r.inputStatus === 'ALLOW_INPUT'),
    );
    const status = tail.find((r) => r.type === 'status')!;
    assert.equal(status.statusCode, 0);
    // The job's whole stream in order, as the first consumer saw it.
    const stream = [...seen[0]!, ...tail];
    const from = stream.findIndex((r) => r.type === 'command' && r.jobId === jobId);
    const order = stream
      .slice(from)
      .filter((r) => r.jobId === jobId || r.type === 'input_status')
      .map((r) => (r.type === 'input_status' ? r.inputStatus : r.type));
    assert.deepEqual(order, ['command', 'ALLOW_INTERRUPT', 'query', 'query', 'status', 'ALLOW_INPUT']);
    await c.end();

    const { consumerId: joiner } = await api({ action: 'join_session', sessionId });
    const history = (await api({ action: 'pull_results', sessionId, consumerId: joiner })).body.results as Result[];
    assert.deepEqual(history[0], { type: 'input_status', jobId: 0, inputStatus: 'DISABLED' });
    assert.ok(history.some(isQuery('SELECT 11')), 'the history holds the stream');
    assert.deepEqual(history.at(-1), { type: 'input_status', jobId: 0, inputStatus: 'ALLOW_INPUT' });
    const info = await api({ action: 'session_info', sessionId });
    assert.equal(info.body.pid, process.pid);
    assert.equal(info.body.consumers.length, 3);
    await api({ action: 'close_session', sessionId });
    assert.equal((await api({ action: 'session_info', sessionId })).message, `session not found: ${sessionId}`);
  });

  test('exec of a streaming command returns at its -n count, or at execTimeout with the results so far', async () => {
    const c = await client();
    const pending = exec('watch queries --match "^SELECT 2[0-9]" -n 2', { execTimeout: 30000 });
    await waitFor('the watch to start', async () => t.weir.context.core.queries.active);
    await c.query('SELECT 21');
    await c.query('SELECT 22');
    const done = await pending;
    assert.equal(done.state, 'SUCCEEDED');
    assert.deepEqual(
      results(done).map((r) => (r.type === 'query' ? r.sql : r.type)),
      ['SELECT 21', 'SELECT 22', 'status'],
    );
    await c.end();

    const timed = await exec('watch queries', { execTimeout: 300 });
    assert.equal(timed.state, 'INTERRUPTED');
    assert.equal(timed.body.timeExpired, true);
    assert.equal(timed.body.timeout, 300);
    assert.equal(results(timed).at(-1)!.type, 'status');
  });

  test('background jobs: cmd & runs beside the foreground, jobs lists them, kill stops one', async () => {
    const { sessionId, consumerId } = await api({ action: 'init_session' });
    const bg = await api({ action: 'async_exec', sessionId, command: 'dashboard -i 50 &' });
    assert.equal(bg.state, 'SCHEDULED');
    const fg = await api({ action: 'exec', sessionId, command: 'jobs' });
    assert.equal(fg.state, 'SUCCEEDED', 'a background job leaves the foreground free');
    const listed = results(fg)[0]!.jobs.find((j: any) => j.jobId === bg.body.jobId);
    assert.deepEqual(listed, {
      jobId: bg.body.jobId,
      command: 'dashboard -i 50 &',
      status: 'RUNNING',
      background: true,
    });
    await pullUntil(sessionId!, consumerId!, (all) =>
      all.some((r) => r.type === 'dashboard' && r.jobId === bg.body.jobId),
    );
    const killed = results(await api({ action: 'exec', sessionId, command: `kill ${bg.body.jobId}` }));
    assert.equal(killed[0]!.message, `job ${bg.body.jobId} stopped`);
    const after = results(await api({ action: 'exec', sessionId, command: 'jobs' }))[0]!.jobs.find(
      (j: any) => j.jobId === bg.body.jobId,
    );
    assert.equal(after.status, 'TERMINATED');
    assert.match(
      results(await api({ action: 'exec', sessionId, command: 'kill 999999' }))[0]!.message,
      /this session has no job 999999/,
    );
    await api({ action: 'close_session', sessionId });
  });

  test('a job whose consumers all stopped pulling is interrupted, with a message saying why', async () => {
    const { sessionId, consumerId } = await api({ action: 'init_session' });
    const started = await api({ action: 'async_exec', sessionId, command: 'dashboard -i 10' });
    // Nobody pulls: after 50 queued results and a second without a pull, the job must stop.
    await waitFor('the job to be interrupted', async () => peek(sessionId!)?.foreground === null, 30_000);
    const all = await pullUntil(sessionId!, consumerId!, (got) => got.some((r) => r.type === 'status'));
    assert.ok(
      all.some(
        (r) =>
          r.type === 'message' && /stopped pulling and its queue is full, so job \d+ was interrupted/.test(r.message),
      ),
      JSON.stringify(all.map((r) => r.type)),
    );
    assert.ok(all.some((r) => r.type === 'status' && r.jobId === started.body.jobId));
    await api({ action: 'close_session', sessionId });
  });

  test('diagnostics: help, session, runtime, sysenv, logger, monitor services, top queries, profiler, heapdump', async () => {
    const help = results(await exec('help'))[0]!;
    const names = help.commands.map((c: any) => c.name);
    for (const n of [
      'list',
      'show',
      'set',
      'clear',
      'start',
      'stop',
      'kill',
      'create',
      'destroy',
      'link',
      'unlink',
      'alter',
      'switchover',
      'failover',
      'rejoin',
      'rotate',
      'version',
      'session',
      'runtime',
      'sysenv',
      'logger',
      'dashboard',
      'watch',
      'monitor',
      'top',
      'heapdump',
      'profiler',
      'jobs',
      'help',
    ]) {
      assert.ok(names.includes(n), `help lists ${n}`);
    }
    assert.equal(results(await exec('help watch'))[0]!.commands[0].streaming, true);

    const runtime = results(await exec('runtime'))[0]!;
    assert.equal(runtime.pid, process.pid);
    assert.ok(runtime.memory.heapUsed > 0);
    process.env.WEIR_TEST_PASSWORD = 'hunter2';
    const env = results(await exec('sysenv'))[0]!.env;
    assert.equal(env.WEIR_TEST_PASSWORD, '*****');
    delete process.env.WEIR_TEST_PASSWORD;
    const logger = results(await exec('logger --level info'))[0]!;
    assert.equal(logger.levels.info, true);
    assert.equal(logger.levels.debug, false);
    assert.equal((await asAdmin(t.http.get('/maxscale/logs')).expect(200)).body.log_levels.info, true);
    results(await exec('logger --level notice'));

    const c = await client();
    const stats = exec('monitor services -c 1 -n 1');
    const top = exec('top queries -n 2 -d 1');
    await waitFor('the watchers to start', async () => t.weir.context.core.queries.active);
    await c.query('SELECT SLEEP(0.2)');
    await c.query('SELECT 1');
    await c.query('SELECT SLEEP(0.1)');
    const shop = results(await stats)[0]!.services.find((s: any) => s.name === 'Shop');
    assert.ok(shop.statements >= 3, JSON.stringify(shop));
    assert.ok(shop.p99Ms >= 200);
    const slowest = results(await top)[0]!.queries.map((q: any) => q.sql);
    assert.deepEqual(slowest, ['SELECT SLEEP(0.2)', 'SELECT SLEEP(0.1)']);
    await c.end();

    assert.equal(results(await exec('profiler status'))[0]!.running, false);
    assert.equal(results(await exec('profiler start'))[0]!.running, true);
    await exec('list servers');
    const stopped = results(await exec('profiler stop'))[0]!;
    assert.ok(existsSync(stopped.file));
    const profile = JSON.parse(readFileSync(stopped.file, 'utf8'));
    assert.ok(Array.isArray(profile.nodes) && profile.nodes.length > 0, 'a profile Chrome DevTools can open');
    assert.match(results(await exec('profiler stop'))[0]!.message, /the profiler is not running/);

    const dump = results(await exec('heapdump'))[0]!;
    assert.ok(dump.bytes > 0 && statSync(dump.file).size === dump.bytes);
  });

  test('idle consumers and sessions are evicted after their configured timeouts, never a session with a running job', async () => {
    const g = t.weir.context.globals;
    const saved = { session: g.console_session_timeout, consumer: g.console_consumer_timeout };
    g.console_session_timeout = 1500;
    g.console_consumer_timeout = 1000;
    try {
      const idle = await api({ action: 'init_session' });
      const busy = await api({ action: 'init_session' });
      await api({ action: 'async_exec', sessionId: busy.sessionId, command: 'dashboard -i 200 &' });
      // (Both may go in the same round once both timeouts have passed.)
      await waitFor(
        'the idle consumer to be evicted',
        async () => !peek(idle.sessionId!)?.consumers.has(idle.consumerId!),
        20_000,
      );
      await waitFor('the idle session to be evicted', async () => peek(idle.sessionId!) === undefined, 20_000);
      assert.ok(peek(busy.sessionId!), 'a session with a running job stays');
      assert.equal(
        (await api({ action: 'pull_results', sessionId: busy.sessionId, consumerId: busy.consumerId })).state,
        'FAILED',
        'its idle consumer went',
      );
      await api({ action: 'close_session', sessionId: busy.sessionId });
    } finally {
      g.console_session_timeout = saved.session;
      g.console_consumer_timeout = saved.consumer;
    }
  });
});
