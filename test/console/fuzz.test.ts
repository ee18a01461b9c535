/**
 * The command API's parser and dispatcher, fuzzed through POST /api: random command lines
 * (the command words, option spellings, unicode, quotes left open, escapes, very long
 * tokens, `&`) and random actions, as a basic user and as an admin. Every reply must be a
 * 200 with the ApiResponse shape (the app validates responses against the spec, so a
 * reply that is not would be a 500), Weir must keep serving, and the basic user must have
 * changed nothing. Bounded to a few seconds; the seed is printed and WEIR_FUZZ_SEED replays
 * a run (WEIR_FUZZ_RUNS makes it longer).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import mysql from 'mysql2/promise';
import { createUser, freePort, startMariaDB, waitFor, type MariaDBServer } from '../harness/mariadb.ts';
import { asAdmin, removeDir, startTestWeir, type TestWeir } from '../harness/weir.ts';
import { createProxyUser, oneServerConfig } from '../harness/config.ts';

const SEED = Number(process.env.WEIR_FUZZ_SEED ?? 20261130);
const RUNS = Number(process.env.WEIR_FUZZ_RUNS ?? 120);
const BASIC: [string, string] = ['viewer', 'viewer-pw'];
const STATES = new Set(['SCHEDULED', 'SUCCEEDED', 'FAILED', 'REFUSED', 'INTERRUPTED']);
const RESPONSE_KEYS = new Set(['requestId', 'state', 'message', 'sessionId', 'consumerId', 'body']);

let db: MariaDBServer;
let t: TestWeir;
let port: number;

before(async () => {
  db = await startMariaDB();
  await createProxyUser(db);
  await createUser(db, 'app', 'app-pw', 'ALL PRIVILEGES ON *.*');
  port = await freePort();
  t = await startTestWeir({
    config: oneServerConfig(db, { services: { Shop: port }, globals: 'users_refresh_time=0s' }),
    serversRunning: true,
  });
  await asAdmin(t.http.post('/users')).send({ name: BASIC[0], password: BASIC[1], role: 'basic' }).expect(201);
});
after(async () => {
  await t?.stop();
  if (t) removeDir(t.datadir);
  await db?.destroy();
});

// Admins do not get `heapdump` and `profiler` from the vocabulary: a snapshot per run would
// make the test slow, not more thorough. Basic users get every command.
const COMMANDS = [
  'help',
  'list',
  'show',
  'set',
  'clear',
  'start',
  'stop',
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
  'watch',
  'monitor',
  'top',
  'dashboard',
  'jobs',
  'kill',
  'classify',
];
const WORDS = [
  'servers',
  'services',
  'server',
  'service',
  'monitor',
  'filter',
  'session',
  'maxscale',
  'queries',
  'logs',
  'db1',
  'Shop',
  'Monitor',
  'maintenance',
  'drain',
  'debug',
  'info',
  'port',
  '1',
  '0',
  '-1',
  '3306',
  'status',
  'start',
  'stop',
  'users',
  'modules',
  'qc_cache',
  'SELECT 1',
  "SELECT a FROM t WHERE b = 'x'",
];
const OPTIONS = [
  '--level',
  '-level',
  '--level=debug',
  '-level=info',
  '--level=',
  '-n',
  '-n=1',
  '--n',
  '--match',
  '--match=(a+)+$',
  '--match=(?=x)',
  '--match=\\1',
  '-c',
  '-d',
  '-i',
  '--service',
  '--session',
  '--user',
  '--duration',
  '--',
  '-',
  '---level',
  '-levelx',
];

const word = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...WORDS) },
  { weight: 4, arbitrary: fc.constantFrom(...OPTIONS) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 60_000 }).map((n) => 'x'.repeat(n)) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom("'", '"', '\\', '"\\"', "'\\'"), fc.string({ maxLength: 6 }), fc.boolean())
      .map(([q, s, close]) => `${q}${s}${close ? q : ''}`),
  },
);
/** The commands whose role depends on their words, with the words that decide it, spelled every way. */
const mixedRole = fc
  .tuple(
    fc.constantFrom(
      'logger --level debug',
      'logger -level debug',
      'logger --level=debug',
      'logger -level=info',
      'logger "--level" info',
      "logger '-level=debug'",
      'logger --lev\\el debug',
      'logger -level',
      'logger --level=',
      'logger --level=loud',
      'profiler start',
      'profiler start --duration 1',
      'profiler start -duration=1',
      'profiler stop',
      'profiler status',
      'kill session 1',
      'kill session',
      'kill 1',
      'kill session 99999',
      'kill "session" 1',
    ),
    fc.constantFrom('', '', '', '', ' &', ' x'),
  )
  .map(([words, tail]) => words + tail);
const anyLine = (commands: string[]) =>
  fc
    .tuple(
      fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...commands) }, { weight: 1, arbitrary: word }),
      fc.array(word, { maxLength: 6 }),
      fc.constantFrom(' ', '\t', '  ', '\n', ' \u00a0 '),
      fc.constantFrom('', '', '', ' &', '&'),
    )
    .map(([first, rest, gap, tail]) => [first, ...rest].join(gap) + tail);
const line = (commands: string[]) =>
  fc.oneof({ weight: 2, arbitrary: anyLine(commands) }, { weight: 1, arbitrary: mixedRole });
const request = (commands: string[]) =>
  fc.record({
    action: fc.oneof(
      { weight: 6, arbitrary: fc.constant('exec') },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          'async_exec',
          'EXEC',
          'join_session',
          'pull_results',
          'interrupt_job',
          'session_info',
          'close_session',
          'nope',
          '',
        ),
      },
    ),
    command: fc.oneof(
      { weight: 8, arbitrary: line(commands) },
      { weight: 1, arbitrary: fc.constantFrom<unknown>(42, null, ['x'], { a: 1 }, '') },
    ),
    // Mostly absent (a one-time session); JSON leaves undefined out.
    sessionId: fc.oneof(
      { weight: 6, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.constantFrom<unknown>('no-such-session', 7, '', null) },
    ),
    // Never the 30 s default (0 or less): a streaming command would hold the run that long.
    execTimeout: fc.constantFrom<unknown>(100, 100, 100, '100', 'soon', [1]),
  });

async function send(body: object, auth: [string, string] | null): Promise<void> {
  const req = t.http.post('/api');
  const res = await (auth ? req.auth(...auth) : asAdmin(req)).send(body);
  assert.equal(
    res.status,
    200,
    `${JSON.stringify(body).slice(0, 300)} -> ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`,
  );
  assert.ok(STATES.has(res.body.state), JSON.stringify(res.body).slice(0, 300));
  for (const key of Object.keys(res.body)) assert.ok(RESPONSE_KEYS.has(key), `unexpected key '${key}'`);
  if (res.body.message !== undefined) assert.equal(typeof res.body.message, 'string');
}

async function snapshot(): Promise<unknown> {
  const get = async (path: string) => (await asAdmin(t.http.get(path)).expect(200)).body;
  const durable = (o: any) => ({
    name: o.name,
    state: o.state,
    parameters: o.parameters,
    servers: o.servers,
    filters: o.filters,
  });
  const runtime = join(t.datadir, 'runtime');
  const logs = await get('/maxscale/logs');
  return {
    servers: (await get('/servers')).map(durable),
    services: (await get('/services')).map(durable),
    monitors: (await get('/monitors')).map(durable),
    filters: (await get('/filters')).map(durable),
    logs: [logs.log_levels, logs.log_throttling],
    sessions: (await get('/sessions')).map((s: any) => s.id),
    files: existsSync(runtime)
      ? Object.fromEntries(
          readdirSync(runtime)
            .sort()
            .map((f) => [f, readFileSync(join(runtime, f), 'utf8')]),
        )
      : {},
    diagnostics: existsSync(join(t.datadir, 'diagnostics')) ? readdirSync(join(t.datadir, 'diagnostics')) : [],
  };
}

test(
  `fuzzed command lines through POST /api: valid replies, Weir stays up, a basic user changes nothing (seed ${SEED})`,
  { timeout: 300_000 },
  async () => {
    console.log(`command API fuzz: seed ${SEED}, ${RUNS} runs per role (WEIR_FUZZ_SEED / WEIR_FUZZ_RUNS to change)`);
    const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'app', password: 'app-pw' });
    const before = await snapshot();
    const started = performance.now();
    await fc.assert(
      fc.asyncProperty(request(COMMANDS.concat('heapdump', 'profiler')), (body) => send(body, BASIC)),
      { seed: SEED, numRuns: RUNS },
    );
    assert.deepEqual(await snapshot(), before, 'a basic user changed something');
    // The client's session was never touched by the basic user's `kill session`s.
    assert.deepEqual(await c.query('SELECT 1 AS one').then(([rows]) => rows), [{ one: 1 }]);

    await fc.assert(
      fc.asyncProperty(request(COMMANDS), (body) => send(body, null)),
      { seed: SEED + 1, numRuns: RUNS },
    );
    console.log(`command API fuzz: ${2 * RUNS} requests in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    // Weir still serves both planes.
    await asAdmin(t.http.get('/maxscale')).expect(200);
    await c.end().catch(() => undefined); // an admin's random `kill session` may have closed it
    await waitFor('a client through Weir', async () => {
      for (const name of ['Shop']) await asAdmin(t.http.post(`/services/${name}/start`));
      const again = await mysql.createConnection({ host: '127.0.0.1', port, user: 'app', password: 'app-pw' });
      await again.query('SELECT 1');
      await again.end();
      return true;
    });
  },
);
