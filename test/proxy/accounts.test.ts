/**
 * Loading the backends' accounts works whatever the server's collation: Debian's packaged
 * MariaDB sets collation-server=utf8mb4_general_ci, which made the account query fail with
 * "Illegal mix of collations" and every login through Weir be refused. Roles are not accounts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import mysql from 'mysql2/promise';
import { createUser, freePort, startMariaDB, type MariaDBServer } from '../harness/mariadb.ts';
import { removeDir, startTestWeir, type TestWeir } from '../harness/weir.ts';
import { createProxyUser, oneServerConfig } from '../harness/config.ts';

let db: MariaDBServer;
let t: TestWeir;
let port: number;

before(async () => {
  // As Debian's /etc/mysql/my.cnf: the system tables are created under this collation too.
  db = await startMariaDB({ installArgs: ['--character-set-server=utf8mb4', '--collation-server=utf8mb4_general_ci'] });
  await createProxyUser(db);
  await createUser(db, 'app', 'app-pw', 'SELECT ON *.*');
  await db.query('CREATE ROLE app_role');
  port = await freePort();
  t = await startTestWeir({
    config: oneServerConfig(db, { services: { Svc: port }, globals: 'users_refresh_time=0s' }),
    serversRunning: true,
  });
});

after(async () => {
  await t?.stop();
  if (t) removeDir(t.datadir);
  await db?.destroy();
});

test('a client logs in through Weir to a server with collation-server=utf8mb4_general_ci', async () => {
  const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'app', password: 'app-pw' });
  const [[row]] = (await c.query('SELECT CURRENT_USER() AS u')) as any;
  assert.equal(row.u, 'app@127.0.0.1');
  await c.end();
});

test('a role is not an account: logging in as one is refused like an unknown user', async () => {
  await assert.rejects(
    mysql.createConnection({ host: '127.0.0.1', port, user: 'app_role', password: '' }),
    (err: { errno?: number; sqlMessage?: string }) =>
      err.errno === 1045 && /Access denied for user 'app_role'@'127\.0\.0\.1'/.test(err.sqlMessage ?? ''),
  );
});
