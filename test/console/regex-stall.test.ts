/**
 * A user-chosen regular expression cannot stall Weir (issue 10, defect 2). A basic user
 * watches the query feed with the catastrophic-backtracking pattern `(a+)+$`, and a filter
 * configured with the same pattern sits in the service; a client then sends a statement
 * with a long run of `a`s. On a backtracking engine that one statement would hold the
 * event loop for hours (2^40 ways to split the run), so the `SELECT 1` of another client
 * and an admin GET would never be answered; on the linear-time engine they are, and the
 * watch goes on streaming. Weir runs as a child process so that a stall before the fix
 * fails this test by its timeout instead of freezing the test runner with it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import request from 'supertest';
import { createUser, freePort, startMariaDB, waitFor, type MariaDBServer } from '../harness/mariadb.ts';
import { ADMIN, exited, removeDir, spawnWeir, tempDir } from '../harness/weir.ts';
import { createProxyUser, oneServerConfig } from '../harness/config.ts';

let db: MariaDBServer;
let weir: Awaited<ReturnType<typeof spawnWeir>>;
let port: number;
const dir = tempDir('weir-regex-stall-');
const BASIC: [string, string] = ['viewer', 'viewer-pw'];

before(async () => {
  db = await startMariaDB();
  await createProxyUser(db);
  await createUser(db, 'app', 'app-pw', 'ALL PRIVILEGES ON *.*');
  port = await freePort();
  const hostileFilter = `[Hostile-QLA]\ntype=filter\nmodule=qlafilter\nfilebase=${dir}/qla\nlog_type=unified\nmatch=(a+)+$\n\n`;
  writeFileSync(
    join(dir, 'weir.cnf'),
    oneServerConfig(db, {
      services: { Shop: port },
      globals: 'users_refresh_time=0s',
      extra: hostileFilter,
      filters: { Shop: 'Hostile-QLA' },
    }),
  );
  weir = await spawnWeir(['--config', join(dir, 'weir.cnf'), '--datadir', dir, '--admin-port', '0']);
  await request(weir.url)
    .post('/users')
    .auth(ADMIN.user, ADMIN.password)
    .send({ name: BASIC[0], password: BASIC[1], role: 'basic' })
    .expect(201);
});

after(async () => {
  weir?.child.kill('SIGKILL');
  if (weir) await exited(weir.child);
  await db?.destroy();
  removeDir(dir);
});

const connect = () => mysql.createConnection({ host: '127.0.0.1', port, user: 'app', password: 'app-pw' });

test(
  'a catastrophic-backtracking pattern in watch --match and in a filter does not stall other clients or the admin API',
  { timeout: 180_000 },
  async () => {
    const http = request(weir.url);
    const api = async (body: object) =>
      (
        await http
          .post('/api')
          .auth(...BASIC)
          .send(body)
          .expect(200)
      ).body;
    let victim: mysql.Connection | null = null;
    await waitFor('logins through Weir', async () => {
      victim = await connect();
      return true;
    });
    const bystander = await connect();

    const { sessionId, consumerId } = await api({ action: 'init_session' });
    const scheduled = await api({ action: 'async_exec', sessionId, command: "watch queries --match '(a+)+$'" });
    assert.equal(scheduled.state, 'SCHEDULED', scheduled.message);

    // The hostile statement: its canonical form (what a basic user's --match sees) keeps the alias.
    const hostile = `SELECT 1 AS ${'a'.repeat(40)} LIMIT 1`;
    const hostileReply = victim!.query(hostile);
    // Another client and an admin are served while the pattern meets the statement.
    const [[one]] = (await bystander.query('SELECT 1 AS one')) as [Array<{ one: number }>, unknown];
    assert.equal(one!.one, 1);
    await http.get('/maxscale').auth(ADMIN.user, ADMIN.password).expect(200);
    await hostileReply;
    // And the watch is still alive and streaming: a matching statement reaches it.
    await bystander.query(`SELECT 1 AS ${'a'.repeat(40)}`);
    let seen: Array<{ type: string; sql?: string }> = [];
    for (let i = 0; i < 30 && !seen.some((r) => r.type === 'query'); i++) {
      seen = seen.concat((await api({ action: 'pull_results', sessionId, consumerId })).body.results);
    }
    const queries = seen.filter((r) => r.type === 'query').map((r) => r.sql);
    assert.deepEqual(
      queries,
      [`SELECT ? AS ${'a'.repeat(40)}`],
      'only the statement that ends in the run of a matches',
    );
    await api({ action: 'interrupt_job', sessionId });
    await victim!.end();
    await bystander.end();
  },
);
