/**
 * A session whose server dies (SIGKILL) or freezes (SIGSTOP) ends with an error packet the
 * client can read, as MaxScale sends one: 2013 "Lost connection to backend server", both for
 * a client waiting on a statement and for an idle one, and never a bare close.
 *
 * A frozen server keeps its sockets open, so Weir learns of it from the monitor: its probe
 * runs into connect_timeout/read_timeout and marks the server down, which closes the
 * server's sessions. Weir has no read timeout of its own on a session's backend connection.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mysql from 'mysql2/promise';
import { readErr } from '../../src/proxy/protocol/packets.ts';
import { createUser, freePort, freeze, startMariaDB, waitFor, type MariaDBServer } from '../harness/mariadb.ts';
import { RawClient } from '../harness/raw-client.ts';
import { createProxyUser, monitorSection, serverSection, serviceSections } from '../harness/config.ts';
import { asAdmin, removeDir, startTestWeir, type TestWeir } from '../harness/weir.ts';

describe('sessions whose server is killed or frozen', () => {
  let db: MariaDBServer;
  let t: TestWeir;
  let port: number;
  let frozen = false;

  const client = () => mysql.createConnection({ host: '127.0.0.1', port, user: 'app', password: 'app-pw' });
  const sessions = async () => (await asAdmin(t.http.get('/sessions')).expect(200)).body as unknown[];
  const running = async () => {
    await t.weir.context.monitors.get('Monitor')!.nextTick();
    return t.weir.context.core.get('server', 'db1').runtime.facts.flags.includes('running');
  };
  /** An idle session's unsolicited packet: the error, then the close. */
  const lastWords = async (idle: RawClient) => {
    const packets = await idle.untilClosed();
    assert.equal(packets.length, 1, 'one packet, then the close');
    assert.equal(packets[0]!.payload[0], 0xff, 'an ERR packet');
    assert.equal(packets[0]!.sequence, 0, 'unsolicited: sequence 0');
    return readErr(packets[0]!.payload);
  };

  before(async () => {
    db = await startMariaDB();
    await createProxyUser(db);
    await createUser(db, 'app', 'app-pw');
    port = await freePort();
    t = await startTestWeir({
      config:
        serverSection('db1', db.port) +
        monitorSection('Monitor', ['db1'], 200, 'connect_timeout=1s\nread_timeout=1s\n') +
        serviceSections('Svc', port, { servers: ['db1'] }),
    });
    await waitFor('db1 to be running', running);
  });

  after(async () => {
    if (frozen) process.kill(db.pid, 'SIGCONT');
    await t?.stop();
    if (t) removeDir(t.datadir);
    await db?.destroy();
  });

  test('a frozen server: the monitor marks it down and its sessions get 2013 before the close', async () => {
    const waiting = await client();
    const idle = await RawClient.login(port, 'app', 'app-pw');
    frozen = true;
    await freeze(db.pid);
    try {
      const err = await waiting.query('SELECT 1').then(
        () => null,
        (e: any) => e,
      );
      assert.ok(err, 'the statement on the frozen server fails');
      assert.equal(err.errno, 2013, `an error packet, not a bare close (got ${err.code}: ${err.message})`);
      assert.match(err.sqlMessage, /Lost connection to backend server 'db1': the server is down/);
      const idleErr = await lastWords(idle);
      assert.equal(idleErr.code, 2013);
      assert.match(idleErr.message, /Lost connection to backend server 'db1'/);
      await waitFor('the sessions to be gone', async () => (await sessions()).length === 0);
    } finally {
      process.kill(db.pid, 'SIGCONT');
      frozen = false;
      waiting.destroy();
    }
    await waitFor('db1 to be running again', running);
  });

  test('a killed server: its sessions get 2013 before the close', async () => {
    const waiting = await client();
    const idle = await RawClient.login(port, 'app', 'app-pw');
    const sleeping = waiting.query('SELECT SLEEP(600)').then(
      () => null,
      (e: any) => e,
    );
    await waitFor(
      'the statement to be running on the server',
      async () =>
        (
          await db.query(
            "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(600)%'",
          )
        )[0].n > 0,
    );
    await db.kill();
    const err = await sleeping;
    assert.ok(err, 'the statement on the killed server fails');
    assert.equal(err.errno, 2013, `an error packet, not a bare close (got ${err.code}: ${err.message})`);
    assert.match(err.sqlMessage, /Lost connection to backend server 'db1'/);
    assert.equal((await lastWords(idle)).code, 2013);
    await waitFor('the sessions to be gone', async () => (await sessions()).length === 0);
    waiting.destroy();
  });
});
