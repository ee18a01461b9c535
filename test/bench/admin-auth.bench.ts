/**
 * What an attack on the admin port costs the data plane, and how many password guesses an
 * attacker gets, for this checkout and an earlier commit (--before) side by side, on one
 * throw-away MariaDB:
 *   1. latency of SELECT 1 through Weir and of an admin GET (credentials verified before)
 *      with no attack, during a burst of --flood wrong-password requests from one address
 *      for the user admin (the shape of the report in issue 10), and during a burst with a
 *      distinct user name and loopback address per request (no throttle key holds it back);
 *   2. verified wrong guesses per second (answers 401; a 429 tells the attacker nothing) over
 *      --seconds, on a fresh Weir per shape: one address guessing in sequence; the same,
 *      logging in as a valid basic user before every guess; --workers guessing at once.
 *      A refused guess waits Retry-After before the next.
 *
 *   node --import tsx test/bench/admin-auth.bench.ts [--seconds 20] [--flood 200] [--workers 50] [--before de505c3]
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import { freePort, startMariaDB } from '../harness/mariadb.ts';
import { monitorSection, serverSection, serviceSections } from '../harness/config.ts';
import { ADMIN, exited, removeDir, spawnWeir, tempDir } from '../harness/weir.ts';
import { checkoutCommit, prepareBenchDatabase, removeCheckout, untilLoginWorks } from './lib.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    flood: { type: 'string', default: '200' },
    workers: { type: 'string', default: '50' },
    before: { type: 'string', default: 'de505c3' },
  },
});
const SECONDS = Number(args.seconds);
const FLOOD = fileURLToPath(new URL('../harness/admin-flood.ts', import.meta.url));
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const percentile = (xs: number[], p: number) =>
  xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]! : NaN;
const figures = (xs: number[]) =>
  `p50 ${percentile(xs, 50).toFixed(1).padStart(7)} ms  p99 ${percentile(xs, 99).toFixed(1).padStart(7)} ms  max ${Math.max(
    ...xs,
  )
    .toFixed(0)
    .padStart(6)} ms  (n=${xs.length})`;

const db = await startMariaDB();
const dir = tempDir('weir-admin-auth-bench-');
const beforeRoot = join(dir, 'before');
const children: ChildProcess[] = [];
try {
  await prepareBenchDatabase(db);
  checkoutCommit(args.before!, beforeRoot);
  const targets = [
    { name: `before (${args.before})`, root: undefined as string | undefined },
    { name: 'after (this checkout)', root: undefined as string | undefined },
  ];
  targets[0]!.root = beforeRoot;
  let n = 0;

  async function start(root: string | undefined) {
    const port = await freePort();
    const cnf = join(dir, `weir${++n}.cnf`);
    writeFileSync(
      cnf,
      `[maxscale]\n\n${serverSection('db1', db.port)}${monitorSection('Monitor', ['db1'], 1000)}` +
        serviceSections('Svc', port, { servers: ['db1'] }),
    );
    const w = await spawnWeir(['--config', cnf, '--datadir', join(dir, `data${n}`), '--admin-port', '0'], {}, root);
    children.push(w.child);
    await untilLoginWorks(port);
    const created = await fetch(`${w.url}/users`, {
      method: 'POST',
      headers: { Authorization: basic(ADMIN.user, ADMIN.password), 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'reader', password: 'r3ad', role: 'basic' }),
    });
    if (created.status !== 201) throw new Error(`creating the basic user: ${created.status}`);
    return {
      ...w,
      port,
      async stop() {
        w.child.kill('SIGTERM');
        await exited(w.child);
      },
    };
  }

  /** Runs SELECT 1 and admin GETs in loops until `until` settles; returns their latencies. */
  async function underLoad(session: { client: mysql.Connection; port: number }, url: string, until: Promise<unknown>) {
    let done = false;
    // Whether the attack ends well or badly, the loops stop (its rejection is the caller's to await).
    until.then(
      () => (done = true),
      () => (done = true),
    );
    const selects: number[] = [];
    const gets: number[] = [];
    let errors = 0;
    let getsRefused = 0;
    await Promise.all([
      (async () => {
        while (!done) {
          const t0 = performance.now();
          try {
            await session.client.query('SELECT 1');
            selects.push(performance.now() - t0);
          } catch {
            // A stalled Weir loses its session (its monitor timed out meanwhile): count it and log in again.
            errors++;
            for (;;) {
              try {
                session.client = await mysql.createConnection({
                  host: '127.0.0.1',
                  port: session.port,
                  user: 'sbtest',
                  password: 'sbtest-pw',
                  connectTimeout: 120_000,
                });
                break;
              } catch {
                await sleep(100); // until the monitor sees the server again
              }
            }
          }
        }
      })(),
      (async () => {
        while (!done) {
          const t0 = performance.now();
          try {
            const r = await fetch(`${url}/servers`, {
              headers: { Authorization: basic(ADMIN.user, ADMIN.password), Connection: 'close' },
            });
            await r.arrayBuffer();
            if (r.status === 200) gets.push(performance.now() - t0);
            else getsRefused++;
          } catch {
            // Closed at accept: admin_max_connections is taken by the attacker's connections.
            getsRefused++;
            await sleep(10);
          }
        }
      })(),
    ]);
    return { selects, gets, errors, getsRefused };
  }

  function flood(
    port: number,
    count: number,
    spread: boolean,
  ): { started: Promise<void>; finished: Promise<{ statuses: number[]; ms: number }> } {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        FLOOD,
        '--port',
        String(port),
        '--count',
        String(count),
        ...(spread ? ['--user', 'guess', '--spread'] : []),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    let started!: () => void;
    const startedP = new Promise<void>((r) => (started = r));
    child.stdout.on('data', (d) => {
      out += d;
      if (out.startsWith('start')) started();
    });
    const finished = exited(child).then(() => JSON.parse(out.split('\n')[1]!) as { statuses: number[]; ms: number });
    return { started: startedP, finished };
  }

  console.log(`\n1. Latency through Weir while the admin port is attacked (--flood ${args.flood})\n`);
  for (const t of targets) {
    const w = await start(t.root);
    const port = Number(new URL(w.url).port);
    await fetch(`${w.url}/servers`, { headers: { Authorization: basic(ADMIN.user, ADMIN.password) } });
    // Connected before any attack: a stalled Weir would time a new connection out.
    const session = {
      port: w.port,
      client: await mysql.createConnection({ host: '127.0.0.1', port: w.port, user: 'sbtest', password: 'sbtest-pw' }),
    };
    const quiet = await underLoad(session, w.url, sleep(3000));
    console.log(
      `${t.name}\n  no attack               SELECT 1  ${figures(quiet.selects)}\n                          admin GET ${figures(quiet.gets)}`,
    );
    for (const spread of [false, true]) {
      const f = flood(port, Number(args.flood), spread);
      await f.started;
      const during = await underLoad(session, w.url, f.finished);
      const { statuses, ms } = await f.finished;
      const count = (s: number) => statuses.filter((x) => x === s).length;
      console.log(
        `  ${spread ? 'distinct names+addrs' : 'one address, admin  '}    SELECT 1  ${figures(during.selects)}\n` +
          `                          admin GET ${figures(during.gets)}\n` +
          `                          attack: ${ms} ms; ${count(401)} verified (401), ${count(429)} refused (429), ${count(0)} connections refused; ` +
          `${during.errors} SELECT sessions lost, ${during.getsRefused} admin GETs refused`,
      );
    }
    await session.client.end();
    await w.stop();
  }

  console.log(`\n2. Wrong guesses verified per second (${SECONDS} s per shape, fresh Weir each)\n`);
  for (const t of targets) {
    const results: string[] = [];
    for (const shape of [
      'one address, sequential',
      'one address, valid basic login before each guess',
      `${args.workers} concurrent guessers`,
    ] as const) {
      const w = await start(t.root);
      const deadline = Date.now() + SECONDS * 1000;
      let guesses = 0;
      let refused = 0;
      let i = 0;
      const guesser = async () => {
        while (Date.now() < deadline) {
          if (shape.startsWith('one address, valid'))
            await (
              await fetch(`${w.url}/servers`, { headers: { Authorization: basic('reader', 'r3ad') } })
            ).arrayBuffer();
          const r = await fetch(`${w.url}/servers`, { headers: { Authorization: basic(ADMIN.user, `guess${i++}`) } });
          await r.arrayBuffer();
          if (r.status === 401) guesses++;
          else if (r.status === 429) {
            refused++;
            await sleep(Math.min(Number(r.headers.get('retry-after') ?? 1) * 1000, Math.max(0, deadline - Date.now())));
          } else throw new Error(`unexpected ${r.status}`);
        }
      };
      await Promise.all(Array.from({ length: shape.includes('concurrent') ? Number(args.workers) : 1 }, guesser));
      results.push(
        `  ${shape.padEnd(52)} ${(guesses / SECONDS).toFixed(2).padStart(7)} guesses/s  (${guesses} verified, ${refused} refused)`,
      );
      await w.stop();
    }
    console.log(`${t.name}\n${results.join('\n')}`);
  }
} finally {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  await Promise.all(children.map((c) => exited(c)));
  await db.destroy();
  removeCheckout(beforeRoot);
  removeDir(dir);
}
