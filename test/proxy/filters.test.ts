/**
 * The filter chain with real clients through Weir to a real MariaDB: qlafilter,
 * regexfilter, topfilter and throttlefilter doing what MaxScale documents, and the filter
 * resource changing them live.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql, { type Connection } from 'mysql2/promise';
import { createUser, freePort, startMariaDB, waitFor, type MariaDBServer } from '../harness/mariadb.ts';
import {
  asAdmin,
  exited,
  removeDir,
  runWeir,
  spawnWeir,
  startTestWeir,
  tempDir,
  type TestWeir,
} from '../harness/weir.ts';
import { createProxyUser, oneServerConfig } from '../harness/config.ts';

const JSON_PATCH = 'application/json-patch+json';
const SERVICES = ['Plain', 'Logged', 'Rewritten', 'Top', 'Throttled', 'Cut-Off', 'Canon'] as const;
type ServiceName = (typeof SERVICES)[number];

describe('filters in the live query path', () => {
  let db: MariaDBServer;
  let t: TestWeir;
  let logs: string;
  const ports = {} as Record<ServiceName, number>;

  const connect = (service: ServiceName, user = 'app', password = 'app-pw', extra: { port?: number } = {}) =>
    mysql.createConnection({ host: '127.0.0.1', port: ports[service], user, password, database: 'shop', ...extra });
  /** Weir's id for the newest session of a service. */
  async function sessionId(service: ServiceName): Promise<number> {
    const links = (await asAdmin(t.http.get(`/services/${service}/sessions`)).expect(200)).body as string[];
    return Math.max(...links.map((l) => Number(l.split('/').pop())));
  }
  /** Closes a client and waits until Weir has closed its session (and the filters have finished with it). */
  async function closeAndWait(c: Connection, id: number): Promise<void> {
    await c.end();
    await waitFor(`session ${id} to close`, async () => (await asAdmin(t.http.get(`/sessions/${id}`))).status === 404);
  }
  /** The lines a filter file holds once they have been written. */
  async function linesOf(file: string, atLeast: number): Promise<string[]> {
    let lines: string[] = [];
    await waitFor(`${atLeast} lines in ${file}`, async () => {
      lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
      return lines.length >= atLeast;
    });
    return lines;
  }

  before(async () => {
    db = await startMariaDB();
    await createProxyUser(db);
    await createUser(db, 'app', 'app-pw', 'ALL PRIVILEGES ON *.*');
    await createUser(db, 'other', 'other-pw', 'ALL PRIVILEGES ON *.*');
    await db.query('CREATE DATABASE shop');
    await db.query('CREATE TABLE shop.fruits (id INT PRIMARY KEY, name TEXT)');
    await db.query("INSERT INTO shop.fruits VALUES (1, 'apple'), (2, 'pear'), (3, 'plum')");
    logs = tempDir();
    for (const s of SERVICES) ports[s] = await freePort();
    const filtersOf: Record<ServiceName, string> = {
      Plain: '',
      Logged: 'QLA-Session|QLA-Unified',
      Rewritten: 'Rewrite',
      Top: 'Slowest',
      Throttled: 'Throttle',
      'Cut-Off': 'Throttle-Short|Slowest',
      Canon: 'QLA-Canon',
    };
    t = await startTestWeir({
      config: oneServerConfig(db, {
        services: Object.fromEntries(SERVICES.map((s) => [s, ports[s]])),
        filters: filtersOf,
        globals: 'users_refresh_time=0s\nlog_info=true',
        extra: `
[QLA-Session]
type=filter
module=qlafilter
filebase=${logs}/session
log_type=session

[QLA-Unified]
type=filter
module=qlafilter
filebase=${logs}/all
log_type=unified
log_data=service,session,user,query,default_db,num_rows,reply_size,num_warnings,error_msg
separator=|
newline_replacement=\\n
exclude=/^SELECT @@/
user=app

[QLA-Canon]
type=filter
module=qlafilter
filebase=${logs}/canon
log_type=unified
log_data=user,query,reply_time
use_canonical_form=true
duration_unit=microseconds
user_exclude=/^oth/

[Rewrite]
type=filter
module=regexfilter
match=/FROM (\\w+)_old/
replace=FROM $1
user=app
log_file=${logs}/rewrites.log
log_trace=true

[Slowest]
type=filter
module=topfilter
filebase=${logs}/top
count=2

[Throttle]
type=filter
module=throttlefilter
max_qps=20
throttling_duration=60000ms

[Throttle-Short]
type=filter
module=throttlefilter
max_qps=20
throttling_duration=500ms

`,
      }),
      serversRunning: true,
    });
  });
  after(async () => {
    await t?.stop();
    if (t) removeDir(t.datadir);
    if (logs) removeDir(logs);
    await db?.destroy();
  });

  test('qlafilter, session files: a header and one line per statement of the session, as it was routed', async () => {
    const c = await connect('Logged');
    const id = await sessionId('Logged');
    await c.query('SELECT name FROM fruits WHERE id = 1');
    await c.query('SELECT * FROM nope').catch(() => undefined);
    await closeAndWait(c, id);
    const lines = await linesOf(join(logs, `session.${id}`), 3);
    assert.equal(lines[0], 'Date,User@Host,Query');
    assert.match(lines[1]!, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,app@127\.0\.0\.1,SELECT name FROM fruits WHERE id = 1$/);
    assert.match(lines[2]!, /,app@127\.0\.0\.1,SELECT \* FROM nope$/);
  });

  test('qlafilter, unified file: reply columns, separator, newline replacement, exclude and user', async () => {
    const c = await connect('Logged');
    const id = await sessionId('Logged');
    await c.query('SELECT @@version'); // excluded
    await c.query('SELECT name\nFROM fruits ORDER BY id');
    await c.query('SELECT * FROM nope').catch(() => undefined);
    await c.query("INSERT IGNORE INTO fruits VALUES (1, 'again')");
    const [rows] = await c.execute('SELECT name FROM fruits WHERE id > ?', [1]);
    assert.equal((rows as unknown[]).length, 2);
    const other = await connect('Logged', 'other', 'other-pw');
    await other.query('SELECT 1'); // another user: not logged by a filter with user=app
    await other.end();
    await closeAndWait(c, id);

    const lines = (await linesOf(join(logs, 'all.unified'), 5)).filter(
      (l) => l.startsWith(`Logged|${id}|`) || l.startsWith('Service'),
    );
    assert.equal(lines[0], 'Service|Session|User@Host|Query|Default_DB|Num_rows|Reply_size|Num_warnings|Error_msg');
    const [select, error, insert, execute, ...rest] = lines.slice(1).map((l) => l.split('|'));
    assert.deepEqual(rest, [], 'nothing else from this session (the @@ query is excluded)');
    assert.deepEqual(select!.slice(0, 7).concat(select!.slice(7)), [
      'Logged',
      String(id),
      'app@127.0.0.1',
      'SELECT name\\nFROM fruits ORDER BY id',
      'shop',
      '3',
      select![6]!,
      '0',
      '',
    ]);
    assert.ok(Number(select![6]) > 0, 'reply size in bytes');
    assert.equal(error![3], 'SELECT * FROM nope');
    assert.equal(error![8], "Table 'shop.nope' doesn't exist");
    assert.equal(insert![7], '1', 'the duplicate key warning');
    assert.equal(execute![3], 'SELECT name FROM fruits WHERE id > ?', 'an execute is logged with its prepared text');
    assert.equal(execute![5], '2');
    assert.ok(!readFileSync(join(logs, 'all.unified'), 'utf8').includes('other@'), 'the other user is not logged');
  });

  test('qlafilter use_canonical_form, duration_unit=microseconds and user_exclude', async () => {
    const c = await connect('Canon');
    await c.query("SELECT name FROM fruits WHERE id = 3 AND name = 'plum'");
    await c.end();
    const other = await connect('Canon', 'other', 'other-pw');
    await other.query('SELECT 77');
    await other.end();
    const lines = await linesOf(join(logs, 'canon.unified'), 2);
    assert.equal(lines[0], 'User@Host,Reply_time,Query', "MaxScale's column order, whatever the order in log_data");
    assert.match(
      lines[1]!,
      /^app@127\.0\.0\.1,\d+,SELECT name FROM fruits WHERE id = \? AND name = \?$/,
      'the time in whole microseconds, literals as ?',
    );
    assert.ok(!lines.some((l) => l.startsWith('other@')), 'user_exclude keeps the other user out');
  });

  test('qlafilter append=false truncates, flush=true writes before the statement is routed, log_type=stdout prints', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'fresh.unified'), 'an old line\n');
    const listener = await freePort();
    const file = join(dir, 'weir.cnf');
    writeFileSync(
      file,
      oneServerConfig(db, {
        services: { Plain: listener },
        filters: { Plain: 'Fresh|Out' },
        globals: 'users_refresh_time=0s',
        extra: `
[Fresh]
type=filter
module=qlafilter
filebase=${dir}/fresh
log_type=unified
append=false
flush=true
log_data=query

[Out]
type=filter
module=qlafilter
filebase=${dir}/out
log_type=stdout
log_data=user,query

`,
      }),
    );
    const weir = await spawnWeir(['--config', file, '--datadir', dir, '--admin-port', '0']);
    try {
      await waitFor('the listener to route', async () => {
        const c = await connect('Plain', 'app', 'app-pw', { port: listener });
        await c.end();
        return true;
      });
      const c = await connect('Plain', 'app', 'app-pw', { port: listener });
      await c.query('SELECT 31337');
      // flush=true: on disk before the statement went on, so before its result came back.
      assert.deepEqual(readFileSync(join(dir, 'fresh.unified'), 'utf8').split('\n').filter(Boolean), [
        'Query',
        'SELECT 31337',
      ]);
      await c.end();
      await waitFor('the stdout line', async () => weir.output().includes('app@127.0.0.1,SELECT 31337'));
    } finally {
      weir.child.kill('SIGTERM');
      await exited(weir.child);
      removeDir(dir);
    }
  });

  test('qlafilter files are reopened by POST /maxscale/logs/flush (log rotation)', async () => {
    const file = join(logs, 'all.unified');
    await linesOf(file, 1);
    renameSync(file, `${file}.1`);
    await asAdmin(t.http.post('/maxscale/logs/flush')).expect(204);
    const c = await connect('Logged');
    await c.query('SELECT id FROM fruits WHERE id = 2');
    await c.end();
    const lines = await linesOf(file, 2);
    assert.match(lines[0]!, /^Service\|Session/, 'a new file starts with its header');
    assert.match(lines[1]!, /\|SELECT id FROM fruits WHERE id = 2\|/);
  });

  test("regexfilter: the client gets the rewritten statement's result; other users are left alone; rewrites are logged", async () => {
    const c = await connect('Rewritten');
    const [rows] = await c.query('SELECT name FROM fruits_old WHERE id = 3');
    assert.deepEqual(rows, [{ name: 'plum' }]);
    const [prepared] = await c.execute('SELECT name FROM fruits_old WHERE id = ?', [2]);
    assert.deepEqual(prepared, [{ name: 'pear' }]);
    await c.end();
    const other = await connect('Rewritten', 'other', 'other-pw');
    await assert.rejects(other.query('SELECT name FROM fruits_old'), /Table 'shop.fruits_old' doesn't exist/);
    await other.end();
    const log = await linesOf(join(logs, 'rewrites.log'), 2);
    assert.match(
      log[0]!,
      /session \d+ app@127\.0\.0\.1: \[SELECT name FROM fruits_old WHERE id = 3\] -> \[SELECT name FROM fruits WHERE id = 3\]$/,
    );
    // log_trace: matches and misses in Weir's own log, at the info level.
    const weirLog = readFileSync(t.weir.context.log.file, 'utf8');
    assert.match(
      weirLog,
      /"level":"info".*regexfilter 'Rewrite': matched: \[SELECT name FROM fruits_old WHERE id = 3\] -> \[SELECT name FROM fruits WHERE id = 3\]/,
    );
  });

  test('topfilter: the slowest statements of a session, slowest first, written when it closes', async () => {
    const c = await connect('Top');
    const id = await sessionId('Top');
    // Which statements are the slowest is made certain, not left to timing: Weir times a
    // statement within the client's round trip, so what the client measured bounds it from
    // above, and a SLEEP(x) takes at least x. Each sleep is made longer than every earlier
    // statement's round trip, so on a loaded machine too the two slowest are the last two.
    const roundTrip = async (sql: string) => {
      const started = performance.now();
      await c.query(sql);
      return (performance.now() - started) / 1000;
    };
    const longerThan = (seconds: number) => Math.ceil((seconds + 0.1) * 1000) / 1000;
    const fast = await roundTrip('SELECT 1');
    const short = await roundTrip('SELECT SLEEP(0.1)');
    const second = longerThan(Math.max(fast, short));
    const slowest = longerThan(await roundTrip(`SELECT SLEEP(${second.toFixed(3)})`));
    await c.query(`SELECT SLEEP(${slowest.toFixed(3)})`);
    assert.equal(existsSync(join(logs, `top.${id}`)), false, 'nothing is written while the session is open');
    await closeAndWait(c, id);
    const report = readFileSync(join(logs, `top.${id}`), 'utf8');
    assert.match(report, /^Top 2 longest running queries in session\./);
    const queries = [...report.matchAll(/^\s+(\d+\.\d{3}) \| {2}(.*)$/gm)].map((m) => [Number(m[1]), m[2]]);
    assert.deepEqual(
      queries.map((q) => q[1]),
      [`SELECT SLEEP(${slowest.toFixed(3)})`, `SELECT SLEEP(${second.toFixed(3)})`],
      'the slowest first',
    );
    assert.ok(
      (queries[0]![0] as number) >= slowest && (queries[1]![0] as number) >= second,
      `the times Weir measured: ${JSON.stringify(queries)}`,
    );
    assert.match(report, /Total of 4 statements executed\./);
    assert.match(report, /Username {8}app/);
  });

  test('throttlefilter: a session over max_qps is slowed to it; throttled past throttling_duration, it is disconnected', async () => {
    const statements = 30;
    const run = async (service: ServiceName) => {
      const c = await connect(service);
      const started = performance.now();
      for (let i = 0; i < statements; i++) await c.query('SELECT 1');
      const seconds = (performance.now() - started) / 1000;
      await c.end();
      return seconds;
    };
    // Unthrottled, 30 statements take milliseconds. Held at 20 per second, no 250 ms window routes
    // more than 6 (5, and one held statement landing in it), so they take at least 24 / 24 s.
    // A lower bound only: a loaded machine makes it longer, never shorter.
    const throttled = await run('Throttled');
    assert.ok(throttled >= (statements - 6) / 24, `throttled run took ${throttled.toFixed(2)} s`);

    const c = await connect('Cut-Off');
    const id = await sessionId('Cut-Off');
    let error: Error | null = null;
    for (let i = 0; i < 200 && !error; i++) await c.query('SELECT 1').catch((e: Error) => (error = e));
    assert.match(String(error), /exceeded max_qps \(20\) for longer than 500 ms \(throttling_duration\)/);
    c.destroy();
    // The session's other filters were closed with it: topfilter wrote its report.
    await waitFor(`session ${id} to close`, async () => (await asAdmin(t.http.get(`/sessions/${id}`))).status === 404);
    assert.match(readFileSync(join(logs, `top.${id}`), 'utf8'), /^Top 2 longest running queries in session\./);
  });

  test('the filter resource is live: PATCH applies to new sessions, services show their filters, bad filters are refused', async () => {
    // A new session sees the changed parameters; a running one keeps those it started with.
    const before = await connect('Logged');
    const beforeId = await sessionId('Logged');
    await asAdmin(t.http.patch('/filters/QLA-Unified'))
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/parameters/log_data/value', value: ['session', 'query'] }])
      .expect(200);
    const after = await connect('Logged');
    const afterId = await sessionId('Logged');
    await before.query('SELECT 11');
    await after.query('SELECT 22');
    await closeAndWait(before, beforeId);
    await closeAndWait(after, afterId);
    const unified = await linesOf(join(logs, 'all.unified'), 3);
    assert.ok(
      unified.some((l) => l.startsWith(`Logged|${beforeId}|app@127.0.0.1|SELECT 11|`)),
      unified.join('\n'),
    );
    assert.ok(unified.includes(`${afterId}|SELECT 22`), unified.join('\n'));

    // A filter added to a service applies to its next sessions.
    await asAdmin(t.http.patch('/services/Plain'))
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/filters', value: ['/filters/Rewrite'] }])
      .expect(200);
    const plain = await connect('Plain');
    assert.deepEqual((await plain.query('SELECT name FROM fruits_old WHERE id = 1'))[0], [{ name: 'apple' }]);
    await plain.end();
    const filter = (await asAdmin(t.http.get('/filters/Rewrite')).expect(200)).body;
    assert.deepEqual(filter.services.sort(), ['/services/Plain', '/services/Rewritten']);
    assert.equal((await asAdmin(t.http.delete('/filters/Rewrite')).expect(409)).body.error, 'Conflict');

    // Bad filters: 422 naming the parameter, nothing created.
    const refused = async (body: object, key: string) => {
      const res = await asAdmin(t.http.post('/filters')).send(body).expect(422);
      assert.ok(
        res.body.errors.some((e: { path: string }) => e.path === `/${key}`),
        JSON.stringify(res.body),
      );
      await asAdmin(t.http.get(`/filters/${(body as { name: string }).name}`)).expect(404);
    };
    await refused(
      { name: 'Bad-Regex', module: 'regexfilter', parameters: { match: 'SELECT (', replace: 'x' } },
      'match',
    );
    await refused({ name: 'No-Replace', module: 'regexfilter', parameters: { match: 'x' } }, 'replace');
    await refused(
      { name: 'No-Dir', module: 'qlafilter', parameters: { filebase: '/nonexistent-weir-dir/qla' } },
      'filebase',
    );
    const modules = (await asAdmin(t.http.get('/maxscale/modules/throttlefilter')).expect(200)).body;
    assert.deepEqual(
      modules.parameters.find((p: { name: string }) => p.name === 'max_qps'),
      {
        name: 'max_qps',
        type: 'count',
        default: null,
        mandatory: true,
        modifiable: true,
        description: 'Most statements per second.',
      },
    );
  });

  test('a filter with an unwritable filebase in the configuration stops the start, naming file, line and key', async () => {
    const dir = tempDir();
    const file = join(dir, 'bad.cnf');
    writeFileSync(
      file,
      '[maxscale]\nadmin_host=127.0.0.1\n\n[Q]\ntype=filter\nmodule=qlafilter\nfilebase=/nonexistent-weir-dir/qla\n',
    );
    const res = await runWeir(['--validate', file, '--datadir', dir]);
    assert.equal(res.code, 1);
    assert.match(res.output, new RegExp(`${file}:\\d+: \\[Q\\] key 'filebase'.*/nonexistent-weir-dir' does not exist`));
    removeDir(dir);
    assert.deepEqual(
      readdirSync(logs).filter((f) => f.startsWith('nonexistent')),
      [],
    );
  });
});
