import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { ConfigError } from '../../src/config/ini.ts';
import { readConfiguration, startWeir } from '../../src/weir.ts';
import {
  ADMIN,
  exited,
  removeDir,
  runWeir,
  spawnWeir,
  tempDir,
  TEST_CONFIG as TEMPLATE,
  writeTestConfig,
} from '../harness/weir.ts';

const TEST_CONFIG = TEMPLATE.replaceAll('LISTENER_PORT', '4406');

const dirs: string[] = [];
const fresh = () => {
  const d = tempDir();
  dirs.push(d);
  return d;
};
after(() => dirs.forEach(removeDir));

/** Writes a config and returns the ConfigError that loading it throws. */
function configError(text: string): ConfigError {
  const dir = fresh();
  const file = join(dir, 'bad.cnf');
  writeFileSync(file, text);
  try {
    readConfiguration({ configFile: file, datadir: dir });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
    assert.ok(err.message.startsWith(`${file}:`), err.message);
    return err;
  }
  assert.fail('the configuration was accepted');
}

describe('configuration errors name the file, line, section and key', () => {
  test('a value of the wrong type', () => {
    const err = configError('[db1]\ntype=server\naddress=127.0.0.1\nport=abc\n');
    assert.deepEqual([err.line, err.section, err.key], [4, 'db1', 'port']);
    assert.match(err.message, /bad\.cnf:4: \[db1\] key 'port': 'abc' is not an integer/);
  });

  test('an unknown parameter of a module', () => {
    const err = configError(
      `${TEST_CONFIG}\n[Extra]\ntype=service\nrouter=readconnroute\nuser=u\npassword=p\ncolour=red\n`,
    );
    assert.equal(err.key, 'colour');
    assert.match(err.message, /\[Extra\] key 'colour': is not a parameter of module readconnroute/);
  });

  test('a link to an object that does not exist', () => {
    const err = configError('[svc]\ntype=service\nrouter=readconnroute\nuser=u\npassword=p\nservers=ghost\n');
    assert.deepEqual([err.line, err.key], [6, 'servers']);
    assert.match(err.message, /there is no server named 'ghost'/);
  });

  test('a missing mandatory key points at the section', () => {
    const err = configError('# comment\n\n[svc]\ntype=service\nrouter=readconnroute\npassword=p\n');
    assert.deepEqual([err.line, err.section, err.key], [3, 'svc', 'user']);
    assert.match(err.message, /is mandatory/);
  });

  test('an unknown object type, module, or [maxscale] setting', () => {
    assert.match(configError('[x]\ntype=router\n').message, /:2: \[x\] key 'type': 'router' is not an object type/);
    assert.match(
      configError('[m]\ntype=monitor\nmodule=galeramon\nuser=u\npassword=p\n').message,
      /:3: \[m\] key 'module': 'galeramon' is not a monitor module/,
    );
    assert.match(
      configError('[maxscale]\nadmin_colour=1\n').message,
      /:2: \[maxscale\] key 'admin_colour': is not a \[maxscale\] setting/,
    );
  });

  test('query_classifier_cache_size takes a size with a suffix; anything else names the line and key', () => {
    const err = configError('[maxscale]\nlog_info=false\nquery_classifier_cache_size=lots\n');
    assert.deepEqual([err.line, err.section, err.key], [3, 'maxscale', 'query_classifier_cache_size']);
    assert.match(err.message, /'lots' is not a size/);
    assert.match(configError('[maxscale]\nquery_classifier_cache_size=-5\n').message, /query_classifier_cache_size/);
    const dir = fresh();
    const file = join(dir, 'ok.cnf');
    writeFileSync(file, '[maxscale]\nquery_classifier_cache_size=100Mi\n');
    assert.equal(
      readConfiguration({ configFile: file, datadir: dir }).globals.query_classifier_cache_size,
      100 * 2 ** 20,
    );
  });

  test('a regular expression with a PCRE feature the linear-time engine lacks, or that only compiles with its options', () => {
    const qla = (lines: string) => `[Q]\ntype=filter\nmodule=qlafilter\nfilebase=${fresh()}/q\n${lines}`;
    const backref = configError(qla('options=ignorecase\nmatch=(a)\\1\n'));
    assert.deepEqual([backref.line, backref.section, backref.key], [6, 'Q', 'match']);
    assert.match(
      backref.message,
      /key 'match': uses a backreference \(\\1\.\.\.\), which Weir does not support: .*linear-time engine/,
    );
    const lookahead = configError(qla('user_match=^(?!root)\n'));
    assert.deepEqual([lookahead.line, lookahead.key], [5, 'user_match']);
    assert.match(lookahead.message, /uses lookahead/);
    // `extended` makes `# (` a comment; without it the same pattern does not compile.
    assert.match(
      configError(qla('exclude=select # (why\n')).message,
      /:5: \[Q\] key 'exclude': is not a valid regular expression: missing closing \)/,
    );
    const dir = fresh();
    const file = join(dir, 'ok.cnf');
    writeFileSync(file, qla('options=extended\nexclude=select # (why\n'));
    readConfiguration({ configFile: file, datadir: dir });
  });

  test('listeners on the same address and port', () => {
    const err = configError(
      `${TEST_CONFIG}\n[Twin]\ntype=listener\nservice=RW-Service\naddress=127.0.0.1\nport=4406\n`,
    );
    assert.match(err.message, /key 'port': listener '.*' already uses 127\.0\.0\.1 port 4406/);
  });

  test('MaxScale settings Weir does not use are accepted, so existing files load', () => {
    const dir = fresh();
    const file = join(dir, 'maxscale.cnf');
    writeFileSync(file, `[maxscale]\nthreads=auto\nsyslog=0\n${TEST_CONFIG.replace('[maxscale]\n', '')}`);
    const loaded = readConfiguration({ configFile: file, datadir: dir });
    assert.deepEqual(loaded.unused, ['threads', 'syslog']);
    assert.equal(loaded.core.list('server').length, 2);
  });
});

describe('the weir command', () => {
  test('--validate accepts a good file and names file, line and key of a bad one', async () => {
    const dir = fresh();
    const good = join(dir, 'good.cnf');
    writeFileSync(good, TEST_CONFIG);
    const ok = await runWeir(['--validate', good, '--datadir', dir]);
    assert.equal(ok.code, 0);
    assert.match(ok.output, /valid/);
    const bad = join(dir, 'bad.cnf');
    writeFileSync(bad, TEST_CONFIG.replace('port=2', 'port=two'));
    const res = await runWeir(['--validate', bad, '--datadir', dir]);
    assert.equal(res.code, 1);
    assert.match(res.output, new RegExp(`${bad}:13: \\[server2\\] key 'port': 'two' is not an integer`));
  });

  test('a bad configuration stops the start with the same message', async () => {
    const dir = fresh();
    const bad = join(dir, 'bad.cnf');
    writeFileSync(bad, '[a]\ntype=server\n');
    const res = await runWeir(['--config', bad, '--datadir', dir, '--admin-port', '0']);
    assert.equal(res.code, 1);
    assert.match(res.output, /bad\.cnf:1: \[a\] key 'address': is mandatory/);
  });

  test('refuses a non-loopback admin address while admin has the default password', async () => {
    const dir = fresh();
    const res = await runWeir(['--datadir', dir, '--admin-host', '0.0.0.0', '--admin-port', '0']);
    assert.equal(res.code, 1);
    assert.match(
      res.output,
      /refusing to serve the admin API on 0\.0\.0\.0 while the user 'admin' has the default password/,
    );
  });
});

describe('the built-in default configuration', () => {
  test('serves a readconnroute service on 127.0.0.1:4006 to 127.0.0.1:3306 with a monitor, user overridable, password never logged', async () => {
    const dir = fresh();
    const weir = await startWeir({
      datadir: dir,
      adminPort: 0,
      stdout: false,
      validateResponses: true,
      defaultUser: 'maxuser',
      defaultPassword: 'pw-not-in-logs',
    });
    try {
      const http = request(weir.adminUrl);
      assert.match(weir.adminUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
      const svc = (await http.get('/services/Read-Connection-Service').auth(ADMIN.user, ADMIN.password).expect(200))
        .body;
      assert.equal(svc.router, 'readconnroute');
      assert.equal(svc.user, 'maxuser');
      assert.deepEqual(svc.servers, ['/servers/server1']);
      const listener = (
        await http
          .get('/services/Read-Connection-Service/listeners/Read-Connection-Listener')
          .auth(ADMIN.user, ADMIN.password)
          .expect(200)
      ).body;
      assert.deepEqual([listener.address, listener.port], ['127.0.0.1', 4006]);
      const server = (await http.get('/servers/server1').auth(ADMIN.user, ADMIN.password).expect(200)).body;
      assert.deepEqual(
        [server.address, server.port, server.monitors],
        ['127.0.0.1', 3306, ['/monitors/MariaDB-Monitor']],
      );
      const monitor = (await http.get('/monitors/MariaDB-Monitor').auth(ADMIN.user, ADMIN.password).expect(200)).body;
      assert.equal(monitor.user, 'maxuser');
      const info = (await http.get('/maxscale').auth(ADMIN.user, ADMIN.password).expect(200)).body;
      assert.equal(info.config, null);
    } finally {
      await weir.stop();
    }
    const log = readFileSync(join(dir, 'log', 'weir.log'), 'utf8');
    assert.match(log, /Weir started/);
    assert.doesNotMatch(log, /pw-not-in-logs/);
  });
});

describe('persistence', () => {
  test('a crash in the middle of persisting a change leaves the previous state intact', async () => {
    const dir = fresh();
    const config = await writeTestConfig(dir);
    const args = ['--config', config, '--datadir', dir, '--admin-port', '0'];
    const patch = (url: string, port: number) =>
      request(url)
        .patch('/servers/server1')
        .auth(ADMIN.user, ADMIN.password)
        .type('application/json-patch+json')
        .send([{ op: 'replace', path: '/port', value: port }]);

    const first = await spawnWeir(args);
    await patch(first.url, 3307).expect(200);
    first.child.kill('SIGTERM');
    assert.equal((await exited(first.child)).code, 0);

    // This Weir dies (SIGKILL) half-way through writing its next change.
    const crashing = await spawnWeir(args, { WEIR_FAULT_CRASH_MID_WRITE: '1' });
    await assert.rejects(
      patch(crashing.url, 4000).then((r) => r),
      /socket hang up|ECONNRESET/,
    );
    assert.equal((await exited(crashing.child)).signal, 'SIGKILL');
    const runtime = join(dir, 'runtime');
    assert.match(readFileSync(join(runtime, 'server1.cnf'), 'utf8'), /^port=3307$/m);
    assert.ok(
      readdirSync(runtime).some((f) => f.startsWith('.weir-tmp-')),
      'the torn temporary file is left behind',
    );

    const third = await spawnWeir(args);
    try {
      const server = (await request(third.url).get('/servers/server1').auth(ADMIN.user, ADMIN.password).expect(200))
        .body;
      assert.equal(server.port, 3307);
      assert.ok(!readdirSync(runtime).some((f) => f.startsWith('.weir-tmp-')), 'the next start removes it');
    } finally {
      third.child.kill('SIGTERM');
      await exited(third.child);
    }
  });

  test('a hand-broken runtime file is reported with its own name and line', () => {
    const dir = fresh();
    const config = join(dir, 'weir.cnf');
    writeFileSync(config, TEST_CONFIG);
    readConfiguration({ configFile: config, datadir: dir });
    const file = join(dir, 'runtime', 'server1.cnf');
    writeFileSync(file, '[server1]\ntype=server\naddress=127.0.0.1\nport=-3\n');
    assert.ok(existsSync(file));
    assert.throws(
      () => readConfiguration({ configFile: config, datadir: dir }),
      (err: Error) => err instanceof ConfigError && err.message.startsWith(`${file}:4: [server1] key 'port'`),
    );
  });
});
