/**
 * Issue 10, defects 9-12: what Weir acknowledges starts again unchanged, and a client's
 * mistake is a 4xx that changes nothing.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { freePort } from '../harness/mariadb.ts';
import { asAdmin, removeDir, startTestWeir, tempDir, useTestWeir, writeTestConfig } from '../harness/weir.ts';
import { startWeir } from '../../src/weir.ts';

const JSON_PATCH = 'application/json-patch+json';
/** A truncated UTF-8 sequence: not valid percent-encoding of any text. */
const BAD_PERCENT = '%E0%A4%A';
const ERROR_KEYS = new Set(['error', 'description', 'errors']);

/** The documented error body: {error, description, errors?}, JSON. */
function assertErrorBody(res: { status: number; headers: Record<string, string>; body: unknown }, label: string): void {
  assert.match(res.headers['content-type'] ?? '', /^application\/json/, `${label}: content type`);
  const body = res.body as Record<string, unknown>;
  assert.equal(typeof body.error, 'string', `${label}: error`);
  assert.equal(typeof body.description, 'string', `${label}: description`);
  assert.ok(
    Object.keys(body).every((k) => ERROR_KEYS.has(k)),
    `${label}: only error, description, errors`,
  );
}

function occupy(port: number, host = '127.0.0.1'): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, host, () => resolve(s));
  });
}

describe('defect 9: a listener configuration that is accepted starts again', () => {
  const box = useTestWeir();

  test('another spelling of a used socket is refused whatever the state of the listener using it (409 naming port)', async () => {
    const http = () => box.t.http;
    await asAdmin(http().post('/services'))
      .send({ name: 'Other-Service', router: 'readconnroute', user: 'u', password: 'p' })
      .expect(201);
    // The first listener is stopped: nothing is bound, so only the configuration can tell.
    await asAdmin(http().put('/services/RW-Service/stop')).expect(204);
    const port = box.t.listenerPort;
    for (const address of ['127.0.0.1', 'localhost', '127.1', '::ffff:127.0.0.1', '0.0.0.0', '::', '0x7f.0.0.1']) {
      const res = await asAdmin(http().post('/services/Other-Service/listeners')).send({ name: 'Twin', address, port });
      assert.equal(res.status, 409, `${address}: ${JSON.stringify(res.body)}`);
      assertErrorBody(res, address);
      assert.deepEqual(
        res.body.errors?.map((e: { path: string }) => e.path),
        ['/port'],
        address,
      );
      assert.match(res.body.description, /RW-Listener/);
    }
    // The admin API's own socket.
    const adminPort = Number(new URL(box.t.weir.adminUrl).port);
    const admin = await asAdmin(http().post('/services/Other-Service/listeners'))
      .send({ name: 'Twin', address: 'localhost', port: adminPort })
      .expect(409);
    assert.match(admin.body.description, /admin API/);
    // A different address on the same port is fine.
    await asAdmin(http().post('/services/Other-Service/listeners'))
      .send({ name: 'Twin', address: '127.0.0.2', port })
      .expect(201);
    await asAdmin(http().get('/services/Other-Service/listeners/Twin')).expect(200);
    await asAdmin(http().delete('/services/Other-Service/listeners/Twin')).expect(204);
    await asAdmin(http().put('/services/RW-Service/start')).expect(204);
  });

  test('a start whose listener cannot bind answers 422 with the reason, shows the listener failed, and leaves the rest working', async () => {
    const http = () => box.t.http;
    const port = await freePort();
    await asAdmin(http().post('/services/Other-Service/listeners'))
      .send({ name: 'Other-Listener', address: '127.0.0.1', port })
      .expect(201);
    await asAdmin(http().put('/services/Other-Service/stop')).expect(204);
    const squatter = await occupy(port);
    try {
      const res = await asAdmin(http().put('/services/Other-Service/start')).expect(422);
      assertErrorBody(res, 'start');
      assert.match(
        res.body.description,
        /listener 'Other-Listener' cannot listen on 127\.0\.0\.1 port \d+: the port is already in use/,
      );
      const listener = (await asAdmin(http().get('/services/Other-Service/listeners/Other-Listener')).expect(200)).body;
      assert.equal(listener.state, 'failed');
      assert.equal((await asAdmin(http().get('/services/Other-Service')).expect(200)).body.state, 'stopped');
      // The other service and its listener carry on.
      assert.equal(
        (await asAdmin(http().get('/services/RW-Service/listeners/RW-Listener')).expect(200)).body.state,
        'running',
      );
      await new Promise<void>((resolve, reject) => {
        const c = createServer().listen(box.t.listenerPort, '127.0.0.1');
        c.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve() : reject(err)));
        c.once('listening', () => c.close(() => reject(new Error('RW-Listener is not bound'))));
      });
    } finally {
      await new Promise((r) => squatter.close(r));
    }
    await asAdmin(http().put('/services/Other-Service/start')).expect(204);
    assert.equal(
      (await asAdmin(http().get('/services/Other-Service/listeners/Other-Listener')).expect(200)).body.state,
      'running',
    );
    // Everything acknowledged starts again.
    box.t = await box.t.restart();
    assert.equal(
      (await asAdmin(box.t.http.get('/services/Other-Service/listeners/Other-Listener')).expect(200)).body.state,
      'running',
    );
  });

  test("at Weir's start a listener that cannot bind stops the start, naming the listener and port (as MaxScale)", async () => {
    const dir = tempDir();
    const port = await freePort();
    const squatter = await occupy(port);
    try {
      const t = startTestWeir({ datadir: dir, listenerPort: port });
      await assert.rejects(
        t,
        /\[RW-Listener\] key 'port': cannot listen on 127\.0\.0\.1 port \d+: the port is already in use/,
      );
    } finally {
      await new Promise((r) => squatter.close(r));
      removeDir(dir);
    }
  });
});

describe('defect 10: names never collide with temporary files', () => {
  const box = useTestWeir();

  test('names that are hidden files, paths, reserved or too long are refused; temporary-looking names survive a restart', async () => {
    const bad = ['.weir-tmp-x', '.hidden', '../x', 'a/b', 'a b', '-x', '~x', 'ünï', 'x'.repeat(129), '', 'a\u0000b'];
    for (const name of bad) {
      const res = await asAdmin(box.t.http.post('/servers')).send({ name, address: '127.0.0.1' });
      assert.ok(res.status === 400 || res.status === 422, `${JSON.stringify(name)}: ${res.status}`);
      assertErrorBody(res, name);
    }
    const reserved = await asAdmin(box.t.http.post('/servers'))
      .send({ name: 'MaxScale', address: '127.0.0.1' })
      .expect(422);
    assert.match(reserved.body.description, /reserved/);
    const good = ['weir-tmp-x', 'x.tmp', '_weir-tmp-server1.cnf.1.tmp', 'y'.repeat(128), 'users', 'a.journal'];
    for (const name of good)
      await asAdmin(box.t.http.post('/servers')).send({ name, address: '127.0.0.1' }).expect(201);
    box.t = await box.t.restart();
    for (const name of good) await asAdmin(box.t.http.get(`/servers/${name}`)).expect(200);
    for (const name of bad.slice(0, 2))
      await asAdmin(box.t.http.get(`/servers/${encodeURIComponent(name)}`)).expect(404);
  });
});

describe('defect 11: values keep their type across a restart', () => {
  const box = useTestWeir();

  test('custom parameters "007", "true", quoted and padded strings, numbers and booleans come back as they were', async () => {
    const current = (await asAdmin(box.t.http.get('/servers/server2')).expect(200)).body.parameters;
    const parameters = {
      ...current,
      zeros: '007',
      yes: 'true',
      no: 'false',
      quoted: '"q"',
      padded: '  x ',
      empty: '',
      num: 7,
      neg: -2.5,
      big: 1e21,
      tiny: 1e-7,
      flag: true,
      text: 'hello world',
      hash: '#not a comment',
      semi: ';x',
      eq: 'a=b',
      numstr: '1e21',
      dot: '1.50',
    };
    const before = (
      await asAdmin(box.t.http.patch('/servers/server2'))
        .type(JSON_PATCH)
        .send([{ op: 'replace', path: '/parameters', value: parameters }])
        .expect(200)
    ).body;
    assert.deepEqual(before.parameters, parameters);
    box.t = await box.t.restart();
    const after = (await asAdmin(box.t.http.get('/servers/server2')).expect(200)).body;
    assert.deepEqual(after.parameters, before.parameters);
  });

  test('log throttling and durations the file cannot hold exactly are refused; the rest survives a restart', async () => {
    const logs = () => asAdmin(box.t.http.patch('/maxscale/logs')).type(JSON_PATCH);
    for (const window of [0.0004, 1e300]) {
      const res = await logs()
        .send([{ op: 'replace', path: '/log_throttling/window', value: window }])
        .expect(422);
      assertErrorBody(res, String(window));
    }
    const huge = await asAdmin(box.t.http.patch('/monitors/Cluster-Monitor'))
      .type(JSON_PATCH)
      .send([{ op: 'replace', path: '/monitor_interval', value: 1e300 }]);
    assert.ok(huge.status === 400 || huge.status === 422, `monitor_interval 1e300: ${huge.status}`);
    await logs()
      .send([{ op: 'replace', path: '/log_throttling/window', value: 0.25 }])
      .expect(200);
    box.t = await box.t.restart();
    assert.equal((await asAdmin(box.t.http.get('/maxscale/logs')).expect(200)).body.log_throttling.window, 0.25);
  });

  test('property: arbitrary values survive persist -> restart -> GET, or are refused with a 4xx that changes nothing', async () => {
    const seed = Number(process.env.WEIR_PROPERTY_SEED ?? 20261130);
    const runs = Number(process.env.WEIR_PROPERTY_RUNS ?? 60);
    console.log(`# property seed ${seed}, runs ${runs} (WEIR_PROPERTY_SEED / WEIR_PROPERTY_RUNS)`);
    const value = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 20 }),
      fc.string({ unit: 'binary', maxLength: 12 }),
      fc.constantFrom('007', 'true', 'false', '"x"', ' ', '1e3', '-0', '0x10', '\ttab', 'a\nb', 'nul\u0000'),
      fc.double({ noNaN: true }),
      fc.integer(),
      fc.boolean(),
    );
    const values = fc.sample(value, { seed, numRuns: runs });
    const accepted: Record<string, unknown> = {};
    let refused = 0;
    for (const [i, v] of values.entries()) {
      const key = `p${i}`;
      const res = await asAdmin(box.t.http.patch('/servers/server1'))
        .type(JSON_PATCH)
        .send([{ op: 'add', path: `/parameters/${key}`, value: v }]);
      if (res.status === 200) {
        accepted[key] = JSON.parse(JSON.stringify(v));
      } else {
        assert.ok(
          res.status === 400 || res.status === 422,
          `${JSON.stringify(v)}: ${res.status} ${JSON.stringify(res.body)}`,
        );
        assertErrorBody(res, JSON.stringify(v));
        refused++;
      }
      // Strings are also tried as a service's string parameter.
      if (typeof v === 'string') {
        const s = await asAdmin(box.t.http.patch('/services/RW-Service'))
          .type(JSON_PATCH)
          .send([{ op: 'replace', path: '/version_string', value: v }]);
        assert.ok([200, 400, 422].includes(s.status), `version_string ${JSON.stringify(v)}: ${s.status}`);
      }
    }
    const before = (await asAdmin(box.t.http.get('/servers/server1')).expect(200)).body;
    const svcBefore = (await asAdmin(box.t.http.get('/services/RW-Service')).expect(200)).body;
    for (const [k, v] of Object.entries(accepted)) assert.deepEqual(before.parameters[k], v, k);
    box.t = await box.t.restart();
    const after = (await asAdmin(box.t.http.get('/servers/server1')).expect(200)).body;
    assert.deepEqual(after.parameters, before.parameters);
    assert.equal(
      (await asAdmin(box.t.http.get('/services/RW-Service')).expect(200)).body.version_string,
      svcBefore.version_string,
    );
    console.log(`# property: ${Object.keys(accepted).length} values kept, ${refused} refused`);
  });
});

describe('defect 12: client mistakes are 4xx with the error body, and change nothing', () => {
  const box = useTestWeir();

  async function snapshot(): Promise<string> {
    const parts = await Promise.all(
      ['/servers', '/services', '/monitors', '/filters', '/users', '/maxscale/logs'].map(async (p) => {
        const body = (await asAdmin(box.t.http.get(p)).expect(200)).body;
        return JSON.stringify(body, (k, v) =>
          ['last_event', 'triggered_at', 'ticks', 'lastLogin', 'last_login', 'started'].includes(k) ? undefined : v,
        );
      }),
    );
    return parts.join('\n');
  }

  test('each mistake of the fuzz report', async () => {
    const start = await snapshot();
    const patchServer = (ops: unknown) =>
      asAdmin(box.t.http.patch('/servers/server1'))
        .type(JSON_PATCH)
        .send(typeof ops === 'string' ? ops : JSON.stringify(ops));
    const deep = `[{"op":"add","path":"/parameters/x","value":${'['.repeat(10_000)}1${']'.repeat(10_000)}}]`;
    const cases: Array<
      [string, () => Promise<{ status: number; headers: Record<string, string>; body: unknown }>, number[]]
    > = [
      [
        'gzip header, plain body',
        () =>
          asAdmin(box.t.http.post('/servers'))
            .set('Content-Type', 'application/json')
            .set('Content-Encoding', 'gzip')
            .send('{"name":"gz","address":"x"}'),
        [400],
      ],
      [
        'deflate header, gzip body',
        () =>
          asAdmin(box.t.http.post('/servers'))
            .set('Content-Type', 'application/json')
            .set('Content-Encoding', 'deflate')
            .send(gzipSync('{"name":"gz","address":"x"}')),
        [400],
      ],
      [
        'unsupported Content-Encoding',
        () =>
          asAdmin(box.t.http.post('/servers'))
            .set('Content-Type', 'application/json')
            .set('Content-Encoding', 'zstd')
            .send('{"name":"gz","address":"x"}'),
        [415],
      ],
      ['bad percent-encoding', () => asAdmin(box.t.http.get(`/servers/${BAD_PERCENT}`)), [400]],
      ['bad percent-encoding in a write', () => asAdmin(box.t.http.delete(`/servers/${BAD_PERCENT}`)), [400]],
      [
        'trailing space in an address',
        () => patchServer([{ op: 'replace', path: '/address', value: '127.0.0.1 ' }]),
        [422],
      ],
      ['newline in a custom value', () => patchServer([{ op: 'add', path: '/parameters/x', value: 'a\nb' }]), [422]],
      ['NUL in a custom value', () => patchServer([{ op: 'add', path: '/parameters/x', value: 'a\u0000b' }]), [422]],
      [
        'newline in a password',
        () =>
          asAdmin(box.t.http.patch('/services/RW-Service'))
            .type(JSON_PATCH)
            .send([{ op: 'replace', path: '/password', value: 'a\nb' }]),
        [422],
      ],
      ['value nested 10,000 deep', () => patchServer(deep), [400]],
      [
        'patch path through __proto__',
        () => patchServer([{ op: 'add', path: '/__proto__/polluted', value: 1 }]),
        [422],
      ],
      [
        'patch path through constructor/prototype',
        () => patchServer([{ op: 'add', path: '/constructor/prototype/polluted', value: 1 }]),
        [403, 422],
      ],
      [
        '__proto__ key in a body',
        () =>
          asAdmin(box.t.http.post('/servers'))
            .type('application/json')
            .send('{"name":"p","address":"x","__proto__":{"a":1}}'),
        [400],
      ],
      [
        'remove the root, then more',
        () =>
          patchServer([
            { op: 'remove', path: '' },
            { op: 'add', path: '/port', value: 1 },
          ]),
        [400, 422],
      ],
      ['remove the root', () => patchServer([{ op: 'remove', path: '' }]), [422]],
      ['replace the root with a number', () => patchServer([{ op: 'replace', path: '', value: 3 }]), [422]],
      [
        'body over 1 MiB',
        () =>
          asAdmin(box.t.http.post('/servers'))
            .type('application/json')
            .send(JSON.stringify({ name: 'big', address: 'x'.repeat(1_100_000) })),
        [413],
      ],
      ['wrong content type', () => asAdmin(box.t.http.post('/servers')).type('text/plain').send('name=x'), [415]],
      ['not JSON', () => asAdmin(box.t.http.post('/servers')).type('application/json').send('{"name":'), [400]],
    ];
    for (const [label, send, statuses] of cases) {
      const res = await send();
      assert.ok(statuses.includes(res.status), `${label}: ${res.status} ${JSON.stringify(res.body)}`);
      assertErrorBody(res, label);
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(await snapshot(), start, 'nothing changed');
  });
});

describe('runtime changes of several objects are one change; files are private', () => {
  test('log and runtime files are 0600 in 0700 directories', async () => {
    const t = await startTestWeir();
    try {
      await asAdmin(t.http.patch('/servers/server1'))
        .type(JSON_PATCH)
        .send([{ op: 'replace', path: '/port', value: 3307 }])
        .expect(200);
      const mode = (p: string) => statSync(p).mode & 0o777;
      assert.equal(mode(join(t.datadir, 'runtime')), 0o700);
      for (const f of readdirSync(join(t.datadir, 'runtime')))
        assert.equal(mode(join(t.datadir, 'runtime', f)), 0o600, f);
      assert.equal(mode(join(t.datadir, 'log')), 0o700);
      assert.equal(mode(join(t.datadir, 'log', 'weir.log')), 0o600);
    } finally {
      await t.stop();
      removeDir(t.datadir);
    }
  });

  test('a fresh data directory is created 0700', async () => {
    const parent = tempDir();
    const datadir = join(parent, 'weir-data');
    const weir = await startWeir({
      datadir,
      configFile: await writeTestConfig(parent),
      adminPort: 0,
      adminHost: '127.0.0.1',
      stdout: false,
    });
    try {
      assert.equal(statSync(datadir).mode & 0o777, 0o700);
    } finally {
      await weir.stop();
      removeDir(parent);
    }
  });
});
