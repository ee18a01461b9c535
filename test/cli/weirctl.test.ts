/**
 * weirctl against a real Weir (in-process, with response validation on): maxctrl's
 * commands and output shapes, its global flags, environment and configuration file, and
 * the API's own error with a non-zero exit for what the API refuses. One test runs the
 * installed bin as a child process.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { weirctl } from '../../src/cli/weirctl.ts';
import { classifyStatement } from '../../src/proxy/routing/readwritesplit/classifier-cache.ts';
import { ADMIN, asAdmin, removeDir, startTestWeir, tempDir, type TestWeir } from '../harness/weir.ts';

const BIN = fileURLToPath(new URL('../../bin/weirctl.js', import.meta.url));

describe('weirctl', () => {
  let t: TestWeir;
  let host: string;
  let dir: string;
  before(async () => {
    t = await startTestWeir();
    host = t.weir.adminUrl.replace('http://', '');
    dir = tempDir('weirctl-');
  });
  after(async () => {
    await t.stop();
    removeDir(t.datadir);
    removeDir(dir);
  });

  /** Runs weirctl in-process: exit code, stdout and stderr. */
  async function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const code = await weirctl(['-h', host, ...args], {
      out: (s) => (out += s),
      err: (s) => (err += s),
      env: { WEIRCTL_CONFIG: join(dir, 'none.cnf'), ...env },
    });
    return { code, out, err };
  }
  const ok = async (...args: string[]) => {
    const r = await run(args);
    assert.equal(r.code, 0, `weirctl ${args.join(' ')}: ${r.err}`);
    return r.out;
  };
  const server = async (name: string) => (await asAdmin(t.http.get(`/servers/${name}`)).expect(200)).body;

  test("list servers: maxctrl's columns as a table, --tsv rows and --json the API's body", async () => {
    const table = await ok('list', 'servers');
    const lines = table.split('\n');
    assert.match(lines[1]!, /│ Server +│ Address +│ Port +│ Connections +│ State +│ GTID +│ Monitor +│/);
    assert.match(table, /│ server1 +│ 127\.0\.0\.1 +│ 1 +│ 0 +│ down +│ +│ Cluster-Monitor +│/);
    const tsv = (await ok('--tsv', 'list', 'servers'))
      .trim()
      .split('\n')
      .map((l) => l.split('\t'));
    assert.deepEqual(
      tsv.map((r) => r[0]),
      ['server1', 'server2'],
    );
    assert.equal(tsv[0]!.length, 7);
    const json = JSON.parse(await ok('--json', 'list', 'servers'));
    assert.deepEqual(json, (await asAdmin(t.http.get('/servers')).expect(200)).body);
  });

  test('list services, listeners, monitors, filters, sessions, users', async () => {
    assert.match(await ok('list', 'services'), /│ RW-Service +│ readconnroute +│ 0 +│ 0 +│ server1, server2 +│/);
    assert.match(await ok('list', 'listeners'), /│ RW-Listener +│ \d+ +│ 127\.0\.0\.1 +│ \w+ +│ RW-Service +│/);
    assert.match(await ok('list', 'monitors'), /│ Cluster-Monitor +│ mariadbmon +│ running +│ server1, server2 +│/);
    assert.match(await ok('list', 'filters'), /│ QLA +│ +│ qlafilter +│/);
    assert.match(await ok('list', 'sessions'), /│ Id +│ User +│ Host +│ Connected +│ Idle +│ Service +│/);
    assert.match(await ok('list', 'users'), /│ admin +│ inet +│ admin +│/);
  });

  test("show: one object's fields", async () => {
    const out = await ok('show', 'server', 'server1');
    assert.match(out, /│ address +│ 127\.0\.0\.1 +│/);
    assert.match(out, /│ monitors +│ \/monitors\/Cluster-Monitor +│/);
    assert.match(await ok('show', 'maxscale'), /│ version +│/);
    assert.equal(JSON.parse(await ok('--json', 'show', 'monitor', 'Cluster-Monitor')).name, 'Cluster-Monitor');
  });

  test('classify and show qc_cache: the query classifier as maxctrl shows it', async () => {
    const out = await ok('classify', "SELECT c FROM sbtest1 WHERE id = 7 AND k = 'a b'");
    assert.match(out, /│ canonical +│ SELECT c FROM sbtest1 WHERE id = \? AND k = \? +│/);
    assert.match(out, /│ type_mask +│ QUERY_TYPE_READ +│/);
    assert.match(out, /│ tables +│ sbtest1 +│/);
    const json = JSON.parse(await ok('--json', 'classify', 'UPDATE t SET a = 1'));
    assert.deepEqual(
      json,
      (
        await asAdmin(t.http.get('/maxscale/query_classifier/classify'))
          .query({ sql: 'UPDATE t SET a = 1' })
          .expect(200)
      ).body,
    );
    const two = await run(['classify', 'SELECT', '1']);
    assert.equal(two.code, 1);
    assert.match(two.err, /as one argument/);
    // The cache as readwritesplit fills it (this Weir runs in this process).
    for (let i = 0; i < 4; i++) classifyStatement(`SELECT v FROM weirctl_qc WHERE id = ${i}`);
    assert.match(
      await ok('show', 'qc_cache'),
      /│ SELECT v FROM weirctl_qc WHERE id = \? +│ 3 +│ QUERY_TYPE_READ +│ weirctl_qc +│/,
    );
    assert.deepEqual(
      JSON.parse(await ok('--json', 'show', 'qc_cache', '1')),
      (await asAdmin(t.http.get('/maxscale/query_classifier/cache?top=1')).expect(200)).body,
    );
    assert.equal((await run(['show', 'qc_cache', 'all'])).code, 1);
  });

  test('set and clear server states', async () => {
    await ok('set', 'server', 'server2', 'maintenance');
    assert.ok((await server('server2')).state.includes('maintenance'));
    await ok('set', 'server', 'server2', 'drain');
    assert.ok((await server('server2')).state.includes('drained'), 'draining with no connections shows as drained');
    await ok('clear', 'server', 'server2', 'maintenance');
    await ok('clear', 'server', 'server2', 'drain');
    assert.deepEqual(
      (await server('server2')).state.filter((s: string) => ['maintenance', 'draining', 'drained'].includes(s)),
      [],
    );
    await ok('set', 'server', 'server2', 'maintenance', '--force');
    assert.ok((await server('server2')).state.includes('maintenance'));
    const forcedClear = await run(['clear', 'server', 'server2', 'maintenance', '--force']);
    assert.equal(forcedClear.code, 1);
    assert.match(forcedClear.err, /--force goes with set server NAME maintenance only/);
    await ok('clear', 'server', 'server2', 'maintenance');
    const refused = await run(['set', 'server', 'server2', 'master']);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /Only maintenance and drain/);
  });

  test('create, alter, link, unlink and destroy', async () => {
    await ok('create', 'server', 'db9', '127.0.0.1', '3399', 'rank=secondary');
    assert.equal((await server('db9')).port, 3399);
    await ok('alter', 'server', 'db9', 'port', '3400');
    assert.equal((await server('db9')).port, 3400);
    await ok(
      'create',
      'service',
      'Svc9',
      'readconnroute',
      'user=u',
      'password=p',
      'router_options=slave,master',
      '--servers',
      'db9',
    );
    const svc = (await asAdmin(t.http.get('/services/Svc9')).expect(200)).body;
    assert.deepEqual(svc.servers, ['/servers/db9']);
    assert.deepEqual(svc.router_options, ['slave', 'master']);
    await ok('link', 'service', 'Svc9', 'server1', 'QLA');
    const linked = (await asAdmin(t.http.get('/services/Svc9')).expect(200)).body;
    assert.deepEqual(linked.servers, ['/servers/db9', '/servers/server1']);
    assert.deepEqual(linked.filters, ['/filters/QLA']);
    await ok('unlink', 'service', 'Svc9', 'db9', 'QLA');
    const unlinked = (await asAdmin(t.http.get('/services/Svc9')).expect(200)).body;
    assert.deepEqual([unlinked.servers, unlinked.filters], [['/servers/server1'], []]);
    await ok('alter', 'service', 'Svc9', 'max_connections', '7');
    assert.equal((await asAdmin(t.http.get('/services/Svc9')).expect(200)).body.max_connections, 7);
    await ok('create', 'user', 'ops', 'ops-pw', '--type', 'admin');
    assert.equal((await asAdmin(t.http.get('/users/ops')).expect(200)).body.role, 'admin');
    await ok('destroy', 'user', 'ops');
    await ok('destroy', 'service', 'Svc9');
    await ok('destroy', 'server', 'db9');
    await asAdmin(t.http.get('/servers/db9')).expect(404);
  });

  test('start and stop services and monitors; rotate logs', async () => {
    await ok('stop', 'service', 'RW-Service');
    assert.equal((await asAdmin(t.http.get('/services/RW-Service')).expect(200)).body.state, 'stopped');
    await ok('start', 'service', 'RW-Service');
    assert.equal((await asAdmin(t.http.get('/services/RW-Service')).expect(200)).body.state, 'started');
    await ok('stop', 'monitor', 'Cluster-Monitor');
    assert.equal((await asAdmin(t.http.get('/monitors/Cluster-Monitor')).expect(200)).body.state, 'stopped');
    await ok('start', 'monitor', 'Cluster-Monitor');
    assert.equal((await ok('rotate', 'logs')).trim(), 'OK');
  });

  test('call command readwritesplit reset-gtid SERVICE', async () => {
    const refused = await run(['call', 'command', 'readwritesplit', 'reset-gtid', 'RW-Service']);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /readwritesplit command.*\(422/);
    assert.equal((await run(['call', 'command', 'readwritesplit', 'reset-gtid'])).code, 1);
    await ok('create', 'service', 'Gtid-Split', 'readwritesplit', 'user=u', 'password=p');
    assert.equal(await ok('call', 'command', 'readwritesplit', 'reset-gtid', 'Gtid-Split'), 'OK\n');
    await ok('destroy', 'service', 'Gtid-Split');
  });

  test('api get, patch and post', async () => {
    const got = JSON.parse(await ok('api', 'get', '/servers/server1', '--fields', 'name,port'));
    assert.deepEqual(got, { name: 'server1', port: 1 });
    await ok('api', 'patch', '/servers/server2', '[{"op":"replace","path":"/port","value":4242}]');
    assert.equal((await server('server2')).port, 4242);
    await ok('api', 'post', '/servers', '{"name":"db8","address":"127.0.0.1","port":3308}');
    assert.equal((await server('db8')).port, 3308);
    await ok('destroy', 'server', 'db8');
  });

  test('what the API refuses: its error on stderr and exit code 1', async () => {
    const missing = await run(['show', 'server', 'nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /There is no server named 'nope'\. \(404 Not Found\)/);
    const inUse = await run(['destroy', 'server', 'server1']);
    assert.equal(inUse.code, 1);
    assert.match(inUse.err, /in use.*\(409 Conflict\)/);
    const switchover = await run(['call', 'command', 'mariadbmon', 'switchover', 'Cluster-Monitor']);
    assert.equal(switchover.code, 1);
    assert.match(switchover.err, /\((422|409) /);
    const badAlter = await run(['alter', 'server', 'server1', 'port', 'not-a-port']);
    assert.equal(badAlter.code, 1);
    assert.match(badAlter.err, /\(4\d\d /);
    assert.equal((await server('server1')).port, 1, 'a refused change changes nothing');
    const usage = await run(['frobnicate']);
    assert.equal(usage.code, 1);
    assert.match(usage.err, /Unknown command 'frobnicate'/);
  });

  test('credentials from flags, the environment and a configuration file', async () => {
    await asAdmin(t.http.post('/users')).send({ name: 'reader', password: 'r3ad' }).expect(201);
    const wrong = await run(['-u', 'admin', '-p', 'wrong', 'list', 'servers']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.err, /Wrong user name or password.*\(401 Unauthorized\)/);
    // A basic user reads but may not change anything.
    const env = { WEIRCTL_USER: 'reader', WEIRCTL_PASSWORD: 'r3ad' };
    assert.equal((await run(['list', 'servers'], env)).code, 0);
    const denied = await run(['set', 'server', 'server1', 'maintenance'], env);
    assert.equal(denied.code, 1);
    assert.match(denied.err, /\(403 Forbidden\)/);
    const file = join(dir, 'weirctl.cnf');
    writeFileSync(file, `[weirctl]\nuser=reader\npassword=wrong-in-file\n`);
    const fromFile = await run(['list', 'servers'], { WEIRCTL_CONFIG: file });
    assert.equal(fromFile.code, 1, "the file's wrong password is used");
    assert.equal(
      (await run(['-p', 'r3ad', 'list', 'servers'], { WEIRCTL_CONFIG: file })).code,
      0,
      'a flag beats the file',
    );
  });

  test("the installed bin: output on stdout, the API's error and exit 1 on a bad request", async () => {
    const env = {
      ...process.env,
      WEIRCTL_HOST: host,
      WEIRCTL_USER: ADMIN.user,
      WEIRCTL_PASSWORD: ADMIN.password,
      WEIRCTL_CONFIG: join(dir, 'none.cnf'),
    };
    const { stdout } = await promisify(execFile)(process.execPath, [BIN, '--tsv', 'list', 'monitors'], { env });
    assert.match(stdout, /^Cluster-Monitor\tmariadbmon\t/);
    const failed = await promisify(execFile)(process.execPath, [BIN, 'show', 'service', 'nope'], { env }).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(failed?.code, 1);
    assert.match(failed!.stderr, /There is no service named 'nope'/);
  });
});
