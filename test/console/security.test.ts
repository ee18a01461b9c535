/**
 * What a basic user of the command API can and cannot do (issue 10), with real clients
 * through Weir to a real MariaDB:
 * - every admin command, in every spelling the parser accepts, is refused to a basic user
 *   and changes nothing (objects, log levels, runtime files, client sessions, files);
 * - a command API session is usable only by its creator or an admin;
 * - password literals reach no one: basic users watch canonical statements, admins see the
 *   literals masked, and neither qlafilter's file nor Weir's log holds them.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { createUser, freePort, startMariaDB, waitFor, type MariaDBServer } from '../harness/mariadb.ts';
import { asAdmin, removeDir, startTestWeir, tempDir, type TestWeir } from '../harness/weir.ts';
import { createProxyUser, oneServerConfig } from '../harness/config.ts';
import { rest } from '../../src/console/commands/rest.ts';
import type { CommandContext } from '../../src/console/commands/types.ts';

type Reply = { state: string; message?: string; sessionId?: string; consumerId?: string; body?: any };
type Result = { type: string; jobId: number; [k: string]: any };
const BASIC: [string, string] = ['viewer', 'viewer-pw'];
const ADMIN2: [string, string] = ['boss', 'boss-pw'];

describe('the command API and a basic user', () => {
  let db: MariaDBServer;
  let t: TestWeir;
  let port: number;
  let logs: string;

  const api = async (body: object, auth: [string, string] | null = null): Promise<Reply> => {
    const req = t.http.post('/api');
    const res = await (auth ? req.auth(auth[0], auth[1]) : asAdmin(req)).send(body).expect(200);
    return res.body as Reply;
  };
  const client = () => mysql.createConnection({ host: '127.0.0.1', port, user: 'app', password: 'app-pw' });
  async function pullUntil(
    auth: [string, string] | null,
    sessionId: string,
    consumerId: string,
    until: (all: Result[]) => boolean,
  ): Promise<Result[]> {
    const all: Result[] = [];
    for (let i = 0; i < 30 && !until(all); i++) {
      const r = await api({ action: 'pull_results', sessionId, consumerId }, auth);
      assert.equal(r.state, 'SUCCEEDED', r.message);
      all.push(...r.body.results);
    }
    assert.ok(until(all), `not seen: ${JSON.stringify(all)}`);
    return all;
  }

  /** What a basic user must not be able to change: objects, log settings, users, persisted files. */
  async function snapshot(): Promise<unknown> {
    const get = async (path: string) => (await asAdmin(t.http.get(path)).expect(200)).body;
    const durable = (o: any) => ({
      name: o.name,
      state: o.state,
      parameters: o.parameters,
      servers: o.servers,
      filters: o.filters,
      address: o.address,
      port: o.port,
    });
    const runtime = join(t.datadir, 'runtime');
    const files = existsSync(runtime)
      ? Object.fromEntries(
          readdirSync(runtime)
            .sort()
            .map((f) => [f, readFileSync(join(runtime, f), 'utf8')]),
        )
      : {};
    const logsBody = await get('/maxscale/logs');
    return {
      servers: (await get('/servers')).map(durable),
      services: (await get('/services')).map(durable),
      monitors: (await get('/monitors')).map(durable),
      filters: (await get('/filters')).map(durable),
      logs: { levels: logsBody.log_levels, throttling: logsBody.log_throttling },
      users: (await get('/users')).map((u: any) => [u.name, u.role]),
      sessions: (await get('/sessions')).map((s: any) => s.id),
      files,
      profiler:
        t.weir.context.commandApi &&
        (await api({ action: 'exec', command: 'profiler status' })).body.results[0].running,
    };
  }

  before(async () => {
    db = await startMariaDB();
    await createProxyUser(db);
    await createUser(db, 'app', 'app-pw', 'ALL PRIVILEGES ON *.*');
    port = await freePort();
    logs = tempDir('weir-security-logs-');
    const filters =
      `[Audit]\ntype=filter\nmodule=qlafilter\nfilebase=${logs}/audit\nlog_type=unified\nlog_data=user,query,error_msg\n\n` +
      `[Trace]\ntype=filter\nmodule=regexfilter\nmatch=/no_such_table_old/\nreplace=no_such_table\nlog_trace=true\nlog_file=${logs}/rewrites.log\n\n`;
    t = await startTestWeir({
      config: oneServerConfig(db, {
        services: { Shop: port },
        globals: 'users_refresh_time=0s\nlog_info=true',
        extra: filters,
        filters: { Shop: 'Audit|Trace' },
      }),
      serversRunning: true,
    });
    await asAdmin(t.http.post('/users')).send({ name: BASIC[0], password: BASIC[1], role: 'basic' }).expect(201);
    await asAdmin(t.http.post('/users')).send({ name: ADMIN2[0], password: ADMIN2[1], role: 'admin' }).expect(201);
  });
  after(async () => {
    await t?.stop();
    if (t) removeDir(t.datadir);
    if (logs) removeDir(logs);
    await db?.destroy();
  });

  test('every admin command, however spelled, is refused to a basic user and changes nothing', async () => {
    const c = await client();
    const [[{ id }]] = (await c.query('SELECT CONNECTION_ID() AS id')) as any;
    assert.ok(id);
    const weirSession = (await asAdmin(t.http.get('/sessions')).expect(200)).body[0].id as number;
    const heapFile = join(logs, 'stolen.heapsnapshot');
    const commands = [
      // logger: every spelling parseOptions accepts, plus quoting and escapes the tokenizer undoes.
      'logger --level debug',
      'logger -level debug',
      'logger --level=debug',
      'logger -level=debug',
      'logger "--level" debug',
      "logger '--level=debug'",
      'logger --lev\\el debug',
      'logger -level=info',
      'logger --level=error',
      'logger --level debug --level info',
      'set server db1 maintenance',
      'set server db1 drain',
      'clear server db1 maintenance',
      'set server DB1 maintenance',
      'stop service Shop',
      'stop monitor Monitor',
      'start service Shop',
      'start monitor Monitor',
      'create server intruder 127.0.0.1 3306',
      'create server intruder 127.0.0.1',
      'destroy server db1',
      'link service Shop db1',
      'unlink service Shop db1',
      'alter server db1 port 1',
      'alter service Shop max_connections 1',
      'alter monitor Monitor monitor_interval 1h',
      'alter filter Audit log_data query',
      'alter filter Audit match .',
      'switchover Monitor',
      'switchover Monitor db1',
      'failover Monitor',
      'rejoin Monitor db1',
      'rotate logs',
      `kill session ${weirSession}`,
      `heapdump ${heapFile}`,
      'heapdump',
      'profiler start',
      'profiler start --duration 1',
      'profiler stop',
    ];
    const before = await snapshot();
    for (const command of commands) {
      for (const how of ['exec', 'async_exec', 'background'] as const) {
        let reply: Reply;
        if (how === 'exec') reply = await api({ action: 'exec', command }, BASIC);
        else {
          const { sessionId } = await api({ action: 'init_session' }, BASIC);
          reply = await api(
            { action: 'async_exec', sessionId, command: how === 'background' ? `${command} &` : command },
            BASIC,
          );
          await api({ action: 'close_session', sessionId }, BASIC);
        }
        assert.equal(reply.state, 'FAILED', `${how} '${command}': ${JSON.stringify(reply)}`);
        assert.match(reply.message!, /needs an admin user; 'viewer' is a basic user/, `${how} '${command}'`);
      }
    }
    assert.deepEqual(await snapshot(), before);
    assert.equal(existsSync(heapFile), false);
    // The client's session was not closed.
    const [[{ still }]] = (await c.query('SELECT CONNECTION_ID() AS still')) as any;
    assert.equal(still, id);
    await c.end();
    // The same words as an admin do change things (the refusals above were not usage errors).
    const changed = await api({ action: 'exec', command: 'logger -level=debug' });
    assert.equal(changed.body.results[0].levels.debug, true);
    await api({ action: 'exec', command: 'logger --level info' }); // as configured (log_info=true)
    // A basic user keeps the read-only forms.
    const readOnly = await api({ action: 'exec', command: 'logger' }, BASIC);
    assert.equal(readOnly.body.results[0].type, 'logger');
    assert.equal((await api({ action: 'exec', command: 'profiler status' }, BASIC)).body.results[0].running, false);
  });

  test('the second line: a REST operation other than a GET, run for a basic user by any command, is refused', async () => {
    const user = {
      name: 'viewer',
      role: 'basic' as const,
      created: new Date(),
      lastModified: new Date(),
      lastLogin: null,
    };
    const ctx = { weir: t.weir.context, user } as unknown as CommandContext;
    const before = (await asAdmin(t.http.get('/maxscale/logs')).expect(200)).body.log_levels;
    await assert.rejects(
      rest(ctx, 'patchLogs', { body: [{ op: 'replace', path: '/log_levels/debug', value: true }] }),
      /Administrative access required: 'viewer' has the basic role/,
    );
    await assert.rejects(rest(ctx, 'stopService', { params: { name: 'Shop' } }), /Administrative access required/);
    assert.deepEqual((await asAdmin(t.http.get('/maxscale/logs')).expect(200)).body.log_levels, before);
    assert.equal((await asAdmin(t.http.get('/services/Shop')).expect(200)).body.state, 'started');
    // Reads are the basic user's.
    assert.equal((await rest(ctx, 'getService', { params: { name: 'Shop' } })).name, 'Shop');
  });

  test("a command API session is its creator's: a basic user cannot join, pull, use or close another's", async () => {
    const admin = await api({ action: 'init_session' });
    const scheduled = await api({ action: 'async_exec', sessionId: admin.sessionId, command: 'watch queries' });
    assert.equal(scheduled.state, 'SCHEDULED');
    const refusal = new RegExp(
      `session ${admin.sessionId} was created by another user; 'viewer' is a basic user, who may use only the sessions they created`,
    );
    for (const body of [
      { action: 'join_session', sessionId: admin.sessionId },
      { action: 'pull_results', sessionId: admin.sessionId, consumerId: admin.consumerId },
      { action: 'async_exec', sessionId: admin.sessionId, command: 'version &' },
      { action: 'exec', sessionId: admin.sessionId, command: 'version' },
      { action: 'session_info', sessionId: admin.sessionId },
      { action: 'interrupt_job', sessionId: admin.sessionId },
      { action: 'close_session', sessionId: admin.sessionId },
    ]) {
      const r = await api(body, BASIC);
      assert.equal(r.state, 'FAILED', `${body.action}: ${JSON.stringify(r)}`);
      assert.match(r.message!, refusal, body.action);
    }
    // Nothing happened to the admin's session: its job still runs, its consumer is the only one.
    const info = await api({ action: 'session_info', sessionId: admin.sessionId });
    assert.deepEqual(info.body.consumers, [admin.consumerId]);
    assert.equal(t.weir.context.commandApi.sessions.peek(admin.sessionId!)!.foreground?.status, 'RUNNING');
    // Another admin may join it; the basic user may use their own, and an admin may join that too.
    assert.equal((await api({ action: 'join_session', sessionId: admin.sessionId }, ADMIN2)).state, 'SUCCEEDED');
    const own = await api({ action: 'init_session' }, BASIC);
    assert.equal((await api({ action: 'join_session', sessionId: own.sessionId }, BASIC)).state, 'SUCCEEDED');
    assert.equal((await api({ action: 'join_session', sessionId: own.sessionId })).state, 'SUCCEEDED');
    await api({ action: 'close_session', sessionId: own.sessionId }, BASIC);
    await api({ action: 'close_session', sessionId: admin.sessionId });
  });

  test('password literals reach no one: canonical statements for basic users, masked for admins, not in qlafilter files or the log', async () => {
    const watch = async (auth: [string, string] | null) => {
      const s = await api({ action: 'init_session' }, auth);
      assert.equal(
        (await api({ action: 'async_exec', sessionId: s.sessionId, command: 'watch queries --service Shop' }, auth))
          .state,
        'SCHEDULED',
      );
      return s;
    };
    const basic = await watch(BASIC);
    const admin = await watch(null);
    const c = await client();
    const secrets = [
      "CREATE USER 'leaky'@'127.0.0.1' IDENTIFIED BY 'Sekr3t-create'",
      "ALTER USER 'leaky'@'127.0.0.1' IDENTIFIED BY 'Sekr3t-alter'",
      "SET PASSWORD FOR 'leaky'@'127.0.0.1' = PASSWORD('Sekr3t-set')",
      "GRANT SELECT ON *.* TO 'leaky'@'127.0.0.1' IDENTIFIED BY 'Sekr3t-grant'",
      "ALTER USER 'leaky'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('Sekr3t-via')",
      "select password('Sekr3t-fn') AS hashed",
      "SELECT * FROM no_such_table_old WHERE x = PASSWORD('Sekr3t-trace')",
    ];
    for (const sql of secrets) await c.query(sql).catch(() => undefined);
    // A statement that fails where its password is: MariaDB quotes it in the error message.
    await c.query("CREATE USER 'leaky2'@'%' IDENTIFIED BY 'Sekr3t-error' garbage").catch(() => undefined);
    await c.query('SELECT 1 AS done_marker');
    await c.query("DROP USER 'leaky'@'127.0.0.1'");
    const marker = (r: Result) => r.type === 'query' && /done_marker/.test(r.sql);
    const seenByBasic = (await pullUntil(BASIC, basic.sessionId!, basic.consumerId!, (all) => all.some(marker))).filter(
      (r) => r.type === 'query',
    );
    const seenByAdmin = (await pullUntil(null, admin.sessionId!, admin.consumerId!, (all) => all.some(marker))).filter(
      (r) => r.type === 'query',
    );
    const text = (rs: Result[]) => rs.map((r) => r.sql).join('\n');
    assert.doesNotMatch(text(seenByBasic), /Sekr3t/);
    assert.doesNotMatch(text(seenByAdmin), /Sekr3t/);
    // Basic users see no literal at all; admins see the statement with only its passwords masked.
    assert.ok(
      seenByBasic.some((r) => r.sql === 'CREATE USER ?@? IDENTIFIED BY ?'),
      text(seenByBasic),
    );
    assert.ok(
      seenByBasic.some((r) => r.sql === 'SELECT ? AS done_marker'),
      text(seenByBasic),
    );
    assert.ok(
      seenByAdmin.some((r) => r.sql === "CREATE USER 'leaky'@'127.0.0.1' IDENTIFIED BY '***'"),
      text(seenByAdmin),
    );
    assert.ok(
      seenByAdmin.some((r) => r.sql === "SET PASSWORD FOR 'leaky'@'127.0.0.1' = PASSWORD('***')"),
      text(seenByAdmin),
    );
    // --match sees what its user sees: a basic user cannot probe for a literal with a regex.
    const probe = await api({ action: 'exec', command: 'watch queries --match Sekr3t -n 1', execTimeout: 1 }, BASIC);
    assert.ok(!probe.body.results.some((r: Result) => r.type === 'query'));
    await c.end();

    // qlafilter's file (the query and the error message) and Weir's own log (regexfilter's trace).
    const audit = join(logs, 'audit.unified');
    await waitFor(
      'the audit file to have the marker',
      async () => existsSync(audit) && readFileSync(audit, 'utf8').includes('done_marker'),
    );
    const file = readFileSync(audit, 'utf8');
    assert.doesNotMatch(file, /Sekr3t/);
    assert.match(file, /IDENTIFIED BY '\*\*\*'/);
    assert.match(file, /You have an error in your SQL syntax.*near '\*\*\*' at line 1/);
    await waitFor('the trace of the last statement in the log', async () =>
      readFileSync(t.weir.context.log.file, 'utf8').includes('done_marker'),
    );
    const weirLog = readFileSync(t.weir.context.log.file, 'utf8');
    assert.match(
      weirLog,
      /regexfilter 'Trace': matched: \[SELECT \* FROM no_such_table_old WHERE x = PASSWORD\('\*\*\*'\)\]/,
    );
    assert.doesNotMatch(weirLog, /Sekr3t/);
    assert.doesNotMatch(readFileSync(join(logs, 'rewrites.log'), 'utf8'), /Sekr3t/);
    await api({ action: 'close_session', sessionId: basic.sessionId }, BASIC);
    await api({ action: 'close_session', sessionId: admin.sessionId });
  });
});
