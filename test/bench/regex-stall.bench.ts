/**
 * How long one hostile statement stalls everyone else, on this commit and on a checkout of
 * the commit before the linear-time regex engine (--before): a basic user watches the query
 * feed with `(a+)+$`, a client sends a statement with a run of --length `a`s, and meanwhile
 * another client's `SELECT 1` through Weir and an admin `GET /maxscale` are timed.
 *
 *   node --import tsx test/bench/regex-stall.bench.ts [--length 26] [--before de505c3]
 */
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mysql from 'mysql2/promise';
import request from 'supertest';
import { createUser, freePort, startMariaDB, waitFor } from '../harness/mariadb.ts';
import { createProxyUser, oneServerConfig } from '../harness/config.ts';
import { ADMIN, exited, removeDir, spawnWeir, tempDir } from '../harness/weir.ts';
import { checkoutCommit, removeCheckout } from './lib.ts';

const { values: args } = parseArgs({
  options: { length: { type: 'string', default: '26' }, before: { type: 'string', default: 'de505c3' } },
});
const LENGTH = Number(args.length);

const db = await startMariaDB();
await createProxyUser(db);
await createUser(db, 'app', 'app-pw', 'ALL PRIVILEGES ON *.*');
const dir = tempDir('weir-regex-stall-bench-');
const before = join(dir, 'before');
const children: ChildProcess[] = [];

async function measure(root: string | undefined, label: string): Promise<void> {
  const datadir = join(dir, label);
  const port = await freePort();
  const { mkdirSync } = await import('node:fs');
  mkdirSync(datadir, { recursive: true });
  writeFileSync(
    join(datadir, 'weir.cnf'),
    oneServerConfig(db, { services: { Shop: port }, globals: 'users_refresh_time=0s' }),
  );
  const weir = await spawnWeir(
    ['--config', join(datadir, 'weir.cnf'), '--datadir', datadir, '--admin-port', '0'],
    {},
    root,
  );
  children.push(weir.child);
  const http = request(weir.url);
  await http
    .post('/users')
    .auth(ADMIN.user, ADMIN.password)
    .send({ name: 'viewer', password: 'viewer-pw', role: 'basic' })
    .expect(201);
  const connect = () => mysql.createConnection({ host: '127.0.0.1', port, user: 'app', password: 'app-pw' });
  let victim: mysql.Connection | null = null;
  await waitFor('logins through Weir', async () => {
    victim = await connect();
    return true;
  });
  const bystander = await connect();
  const { sessionId } = (await http.post('/api').auth('viewer', 'viewer-pw').send({ action: 'init_session' })).body;
  await http
    .post('/api')
    .auth('viewer', 'viewer-pw')
    .send({ action: 'async_exec', sessionId, command: "watch queries --match '(a+)+$'" });
  // Both bystanders repeat their request until the hostile statement is answered; the
  // slowest of each is the stall it caused.
  let done = false;
  const started = performance.now();
  const hostile = victim!.query(`SELECT 1 AS ${'a'.repeat(LENGTH)} LIMIT 1`).then(() => {
    done = true;
    return performance.now() - started;
  });
  const slowest = async (request: () => Promise<unknown>) => {
    let worst = 0;
    do {
      const t = performance.now();
      await request();
      worst = Math.max(worst, performance.now() - t);
    } while (!done);
    return worst;
  };
  const [hostileMs, selectMs, getMs] = await Promise.all([
    hostile,
    slowest(() => bystander.query('SELECT 1')),
    slowest(() => http.get('/maxscale').auth(ADMIN.user, ADMIN.password)),
  ]);
  console.log(
    `${label}: a run of ${LENGTH} a's answered in ${hostileMs.toFixed(0)} ms; meanwhile the slowest SELECT 1 of another client took ${selectMs.toFixed(0)} ms, the slowest admin GET /maxscale ${getMs.toFixed(0)} ms`,
  );
  await victim!.end();
  await bystander.end();
  weir.child.kill('SIGTERM');
  await exited(weir.child);
}

try {
  await measure(checkoutCommit(args.before, before), `before (${args.before})`);
  await measure(undefined, 'this commit');
} finally {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  removeCheckout(before);
  await db.destroy();
  removeDir(dir);
}
