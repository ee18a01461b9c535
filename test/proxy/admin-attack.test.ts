/**
 * An attack on the admin port is not felt by the data plane, against a real MariaDB:
 * - a flood of wrong-password requests (distinct user names from distinct loopback
 *   addresses, so no throttle stops them and every one wants a scrypt) while a client runs
 *   SELECT 1 through Weir: the SELECTs keep completing during the flood and the event loop
 *   never stalls;
 * - connections beyond admin_max_connections are refused while clients still log in;
 * - 10,000 failed client logins with distinct user names stay within log_throttling and
 *   leave the throttling state bounded.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import mysql, { type Connection } from 'mysql2/promise';
import { readInitialHandshake, writeHandshakeResponse } from '../../src/proxy/protocol/handshake.ts';
import { Capability, SERVER_CAPABILITIES } from '../../src/proxy/protocol/packets.ts';
import { THROTTLE_KEYS } from '../../src/log/logger.ts';
import { createUser, freePort, startMariaDB, waitFor, type MariaDBServer } from '../harness/mariadb.ts';
import { ADMIN, asAdmin, removeDir, startTestWeir, type TestWeir } from '../harness/weir.ts';
import { createProxyUser, oneServerConfig } from '../harness/config.ts';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const LOG_LIMIT = 5;
const FLOOD = fileURLToPath(new URL('../harness/admin-flood.ts', import.meta.url));

/** One admin API request from `localAddress`; resolves with its status (0 when the connection failed). */
function adminRequest(port: number, localAddress: string, authorization: string): Promise<number> {
  return new Promise((resolve) => {
    const req = httpRequest(
      {
        port,
        host: '127.0.0.1',
        localAddress,
        path: '/servers',
        agent: false,
        headers: { Authorization: authorization },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      },
    );
    req.on('error', () => resolve(0));
    req.end();
  });
}

/** A client login as `user` with a wrong password, on the raw protocol; resolves when Weir closed the connection. */
function failedLogin(port: number, user: string): Promise<void> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let greeted = false;
    s.on('data', (d) => {
      if (greeted) return;
      greeted = true;
      const hs = readInitialHandshake(d.subarray(4));
      s.write(
        writeHandshakeResponse(1, {
          capabilities: SERVER_CAPABILITIES & ~Capability.CONNECT_ATTRS & ~Capability.SSL,
          maxPacketSize: 1 << 24,
          charset: 45,
          user,
          authResponse: Buffer.alloc(20, 7),
          database: null,
          authPlugin: 'mysql_native_password',
          attributes: null,
        }),
      );
      void hs;
    });
    s.on('error', () => undefined);
    s.on('close', () => resolve());
  });
}

describe('an attack on the admin port is not felt by the data plane', () => {
  let db: MariaDBServer;
  let t: TestWeir;
  let capped: TestWeir;
  let port: number;
  let cappedPort: number;
  let client: Connection;

  before(async () => {
    db = await startMariaDB();
    await createProxyUser(db);
    await createUser(db, 'app', 'app-pw', 'SELECT ON *.*');
    port = await freePort();
    cappedPort = await freePort();
    t = await startTestWeir({
      config: oneServerConfig(db, {
        services: { Svc: port },
        globals: `log_throttling=${LOG_LIMIT}, 600000ms, 600000ms`,
      }),
    });
    capped = await startTestWeir({
      config: oneServerConfig(db, { services: { Capped: cappedPort }, globals: 'admin_max_connections=3' }),
    });
    await waitFor('a client can log in through Weir', async () => {
      try {
        client = await mysql.createConnection({ host: '127.0.0.1', port, user: 'app', password: 'app-pw' });
        return true;
      } catch {
        return false;
      }
    });
  });

  after(async () => {
    await client?.end();
    for (const w of [t, capped]) {
      await w?.stop();
      if (w) removeDir(w.datadir);
    }
    await db?.destroy();
  });

  test(
    'SELECT 1 keeps completing while 300 wrong-password requests that each want a scrypt hit the admin port',
    { timeout: 120_000 },
    async (ctx) => {
      const adminPort = Number(new URL(t.weir.adminUrl).port);
      // The admin scripting the API: verified once, then recognised without hashing.
      await asAdmin(t.http.get('/servers')).expect(200);

      let attacking = false;
      let selectsDuringAttack = 0;
      let stop = false;
      const selecting = (async () => {
        while (!stop) {
          await client.query('SELECT 1');
          if (attacking) selectsDuringAttack++;
        }
      })();
      const loop = monitorEventLoopDelay({ resolution: 10 });
      // From another process, all at once; distinct names from distinct addresses: neither throttle key holds them back.
      const flood = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          FLOOD,
          '--port',
          String(adminPort),
          '--count',
          '300',
          '--user',
          'guess',
          '--spread',
          '--progress',
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let output = '';
      let adminDuringAttack: Promise<number> | undefined;
      flood.stdout.on('data', (d) => {
        output += d;
        if (!attacking && output.startsWith('start')) {
          attacking = true;
          loop.enable();
        }
        // The admin asks once the flood holds fewer than half of admin_max_connections (100):
        // its connections beyond the cap have been refused and the guesses the hasher cannot
        // queue answered 429, while the queued ones are still being verified. Asked at `start`,
        // the admin's connection queued behind the burst's 300 and, on a loaded machine, met
        // the cap like any of them (refused, status 0).
        const open = [...output.matchAll(/^open (\d+)$/gm)].at(-1);
        if (attacking && !adminDuringAttack && open && Number(open[1]) < 50) {
          adminDuringAttack = adminRequest(adminPort, '127.0.0.1', basic(ADMIN.user, ADMIN.password));
        }
      });
      // 'close', not 'exit': the flood's last lines may still be in the pipe at exit.
      await new Promise((done) => flood.on('close', done));
      attacking = false;
      loop.disable();
      stop = true;
      await selecting;
      const { statuses } = JSON.parse(output.split('\n').find((line) => line.startsWith('{'))!) as {
        statuses: number[];
      };

      ctx.diagnostic(
        `${selectsDuringAttack} SELECTs during the attack; longest event loop stall ${(loop.max / 1e6).toFixed(0)} ms; ` +
          `${statuses.filter((s) => s === 401).length} guesses verified, ${statuses.filter((s) => s === 429).length} refused (429), ` +
          `${statuses.filter((s) => s === 0).length} connections refused`,
      );
      assert.equal(await adminDuringAttack, 200, 'the admin was served during the attack');
      // 0: closed unanswered beyond admin_max_connections (100).
      assert.ok(
        statuses.every((s) => s === 401 || s === 429 || s === 0),
        `every guess was answered or refused: ${[...new Set(statuses)].join(', ')}`,
      );
      assert.ok(statuses.includes(429), 'guesses beyond what the hasher queues are refused at once');
      // Counted in events, not time: while scrypt ran on the event loop, about one SELECT got through per verified guess.
      const verified = statuses.filter((s) => s === 401).length;
      assert.ok(
        selectsDuringAttack >= 10 * verified,
        `${selectsDuringAttack} SELECTs completed during the attack, ${verified} guesses verified`,
      );
      // Synchronous scrypt stalled the loop 40 ms per guess (more on a loaded machine), 12 s and more in all; off the loop it never stalls for long.
      assert.ok(loop.max / 1e6 < 5000, `longest event loop stall ${(loop.max / 1e6).toFixed(0)} ms`);
    },
  );

  test(
    'connections beyond admin_max_connections are refused while clients still log in and query',
    { timeout: 60_000 },
    async () => {
      const adminPort = Number(new URL(capped.weir.adminUrl).port);
      const held: Socket[] = [];
      for (let i = 0; i < 3; i++) {
        held.push(
          await new Promise<Socket>((resolve) => {
            const s = connect(adminPort, '127.0.0.1', () => resolve(s));
            s.on('error', () => undefined);
          }),
        );
      }
      // The fourth is closed as soon as it is accepted, without an answer.
      const fourth = await new Promise<{ closed: boolean; data: string }>((resolve) => {
        let data = '';
        const s = connect(adminPort, '127.0.0.1', () => s.write('GET /servers HTTP/1.1\r\nHost: weir\r\n\r\n'));
        s.on('data', (d) => (data += d));
        s.on('error', () => undefined);
        s.on('close', () => resolve({ closed: true, data }));
      });
      assert.equal(fourth.data, '');
      const c = await mysql.createConnection({ host: '127.0.0.1', port: cappedPort, user: 'app', password: 'app-pw' });
      const [[row]] = (await c.query('SELECT 1 AS one')) as any;
      assert.equal(row.one, 1);
      await c.end();
      for (const s of held) s.destroy();
      await waitFor(
        'the admin API to answer again',
        async () => (await adminRequest(adminPort, '127.0.0.1', basic(ADMIN.user, ADMIN.password))) === 200,
      );
      assert.match(readFileSync(capped.weir.context.log.file, 'utf8'), /admin_max_connections \(3\) reached/);
    },
  );

  test(
    '10,000 failed client logins with distinct user names stay within log_throttling and leave its state bounded',
    { timeout: 300_000 },
    async () => {
      const log = t.weir.context.log;
      const before = readFileSync(log.file, 'utf8').split('\n').length;
      const names = Array.from({ length: 10_000 }, (_, i) => `intruder${i}`);
      let next = 0;
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          while (next < names.length) await failedLogin(port, names[next++]!);
        }),
      );
      const lines = readFileSync(log.file, 'utf8')
        .split('\n')
        .slice(before - 1)
        .filter((l) => /Access denied for user 'intruder/.test(l));
      assert.ok(lines.length <= LOG_LIMIT, `${lines.length} lines about failed logins`);
      assert.ok(lines.length > 0, 'the first ones are logged');
      assert.ok(log.throttleKeys() <= THROTTLE_KEYS, `${log.throttleKeys()} throttling entries`);
      assert.ok(log.throttleKeys() < 100, `${log.throttleKeys()} throttling entries for one kind of message`);
      // Clients still get in.
      const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'app', password: 'app-pw' });
      await c.end();
    },
  );
});
