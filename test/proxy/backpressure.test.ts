/**
 * A client that reads slowly while the server streams a result of hundreds of MiB: Weir
 * pauses the server (high-water events) and resumes it when the client catches up
 * (low-water events), and Weir's own memory stays bounded. Weir runs as a child process
 * so that its resident memory is its own.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import type { Connection as CallbackConnection } from 'mysql2';
import request from 'supertest';
import { createUser, freePort, startMariaDB, type MariaDBServer } from '../harness/mariadb.ts';
import { ADMIN, exited, removeDir, spawnWeir, tempDir } from '../harness/weir.ts';

const RESULT_MIB = 256;
let db: MariaDBServer;
let dir: string;
let weir: Awaited<ReturnType<typeof spawnWeir>>;
let port: number;

/** Resident and peak resident memory of a process, in bytes (Linux /proc). */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)![1]) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

before(async () => {
  db = await startMariaDB();
  await createUser(db, 'maxuser', 'max-pw', 'SELECT ON mysql.*');
  await db.query('GRANT REPLICA MONITOR ON *.* TO maxuser@`127.0.0.1`');
  await createUser(db, 'app', 'app-pw');
  dir = tempDir();
  port = await freePort();
  writeFileSync(
    join(dir, 'weir.cnf'),
    `
[db1]
type=server
address=127.0.0.1
port=${db.port}

[Monitor]
type=monitor
module=mariadbmon
servers=db1
user=maxuser
password=max-pw
monitor_interval=200ms

[Svc]
type=service
router=readconnroute
router_options=running
servers=db1
user=maxuser
password=max-pw

[Listener]
type=listener
service=Svc
address=127.0.0.1
port=${port}
`,
  );
  weir = await spawnWeir(['--config', join(dir, 'weir.cnf'), '--datadir', dir, '--admin-port', '0']);
});

after(async () => {
  weir?.child.kill('SIGTERM');
  if (weir) await exited(weir.child);
  await db?.destroy();
  removeDir(dir);
});

test(`a slow reader of a ${RESULT_MIB} MiB result: the backend is paused and resumed, Weir's memory stays bounded`, async () => {
  // The monitor must have seen the server running before the router will pick it.
  let conn: mysql.Connection | null = null;
  for (let i = 0; !conn; i++) {
    try {
      conn = await mysql.createConnection({
        host: '127.0.0.1',
        port,
        user: 'app',
        password: 'app-pw',
        database: 'mysql',
      });
    } catch (err) {
      if (i > 200 || (err as { errno?: number }).errno !== 2003) throw err;
      await sleep(50);
    }
  }
  const pid = weir.child.pid!;
  const http = request(weir.url);
  const [session] = (await http.get('/sessions').auth(ADMIN.user, ADMIN.password).expect(200)).body;
  const backendStats = async () =>
    (await http.get(`/sessions/${session.id}/connections`).auth(ADMIN.user, ADMIN.password).expect(200)).body[0]
      .statistics;
  const before = memory(pid);
  let bytes = 0;
  let stalled = false;
  const callbackApi = (conn as unknown as { connection: CallbackConnection }).connection;
  const stream = callbackApi
    .query(`SELECT REPEAT('x', 1048576) AS chunk FROM seq_1_to_${RESULT_MIB}`)
    .stream({ highWaterMark: 2 });
  for await (const row of stream as AsyncIterable<{ chunk: string }>) {
    bytes += row.chunk.length;
    if (!stalled) {
      // A reader that stops after the first row: whatever the server's speed, Weir must
      // pause it. Waits on Weir's own counter, not on a guessed time.
      stalled = true;
      for (let i = 0; (await backendStats()).high_water_events === 0; i++) {
        if (i > 600) assert.fail('Weir never paused the server while the client was not reading');
        await sleep(50);
      }
    }
    await sleep(2); // then a slow reader
  }
  assert.equal(bytes, RESULT_MIB * 1048576);
  const afterMem = memory(pid);
  const growth = afterMem.peak - before.rss;
  console.log(
    `weir rss before ${(before.rss / 1048576).toFixed(1)} MiB, peak after ${(afterMem.peak / 1048576).toFixed(1)} MiB`,
  );
  assert.ok(
    growth < 64 * 1048576,
    `Weir grew by ${(growth / 1048576).toFixed(1)} MiB while streaming ${RESULT_MIB} MiB`,
  );

  const stats = await backendStats();
  assert.ok(stats.high_water_events > 0, 'Weir paused the server');
  assert.ok(stats.low_water_events > 0, 'and resumed it');
  const [after] = (await http.get('/sessions').auth(ADMIN.user, ADMIN.password).expect(200)).body;
  assert.ok(after.bytes_out > RESULT_MIB * 1048576);
  await conn.end();
});
