/**
 * KILL of a Weir session id through readconnroute (readwritesplit reference §2.8, which
 * MaxScale does in its client protocol for every router). The id a client library kills
 * with is the one Weir's handshake gave it (mysql2 `threadId`); forwarded, the server reads
 * it as one of its own thread ids and kills an unrelated connection or answers 1094. Both
 * of readconnroute's paths: the pass-through one (no filters) and the framed one (a filter).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mysql, { type Connection } from 'mysql2/promise';
import { createUser, freePort, startMariaDB, waitFor, type MariaDBServer } from '../harness/mariadb.ts';
import { createProxyUser, oneServerConfig } from '../harness/config.ts';
import { removeDir, startTestWeir, type TestWeir } from '../harness/weir.ts';
import { RawClient, type Packet } from '../harness/raw-client.ts';
import { killTargetsOf } from '../../src/proxy/routing/kill.ts';
import { packet, readErr } from '../../src/proxy/protocol/packets.ts';

const SERVICES = ['Plain', 'Filtered'] as const;
type Service = (typeof SERVICES)[number];

describe('KILL of a Weir session id through readconnroute', () => {
  let db: MariaDBServer;
  let t: TestWeir;
  const ports = {} as Record<Service, number>;
  const open: Array<{ end(): Promise<unknown> } | RawClient> = [];

  const client = async (service: Service): Promise<Connection> => {
    const c = await mysql.createConnection({
      host: '127.0.0.1',
      port: ports[service],
      user: 'app',
      password: 'app-pw',
    });
    c.on('error', () => undefined);
    open.push(c);
    return c;
  };
  const raw = async (service: Service): Promise<RawClient> => {
    const r = await RawClient.login(ports[service], 'app', 'app-pw');
    open.push(r);
    return r;
  };
  const one = async (c: Connection, sql: string): Promise<string> => {
    const [[row]] = (await c.query(sql)) as any;
    return String(Object.values(row)[0]);
  };
  /** The server thread behind a readconnroute session. */
  const threadOf = (weirId: number): number => {
    const [target] = killTargetsOf(weirId) ?? [];
    assert.ok(target, `session ${weirId} has a server thread`);
    return target.threadId;
  };
  const threadAlive = async (id: number) =>
    Number((await db.query(`SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID = ${id}`))[0].n) > 0;

  /**
   * A session whose Weir id is not its server thread's id: forwarded as it is, a KILL of it
   * would then not reach its thread (what makes these tests fail without Weir's handling).
   */
  const victim = async (service: Service): Promise<{ c: Connection; id: number; thread: number }> => {
    for (;;) {
      const c = await client(service);
      await one(c, 'SELECT 1');
      const id = c.threadId;
      const thread = threadOf(id);
      if (id !== thread) return { c, id, thread };
      await c.end();
    }
  };

  /**
   * Starts a long SLEEP on `v` and waits until it runs on the server; `outcome` resolves once
   * it ends (wrapped: an async function would wait for a promise it returns).
   */
  const sleepOn = async (v: { c: Connection; thread: number }) => {
    const outcome = v.c.query('SELECT SLEEP(60) AS s').then(
      ([rows]) => ({ ok: true as const, value: Number((rows as any)[0].s) }),
      (err: any) => ({ ok: false as const, code: err.errno as number }),
    );
    await waitFor('the SLEEP to run', async () => {
      const [row] = await db.query(
        `SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID = ${v.thread} AND INFO LIKE 'SELECT SLEEP%'`,
      );
      return Number(row.n) > 0;
    });
    return { outcome };
  };
  /** An interrupted SLEEP returns 1, or the statement fails with 1317: either way it ended early. */
  const assertInterrupted = (outcome: { ok: true; value: number } | { ok: false; code: number }) =>
    assert.ok(outcome.ok ? outcome.value === 1 : outcome.code === 1317, `interrupted: ${JSON.stringify(outcome)}`);

  const query = (sql: string) => packet(0, Buffer.concat([Buffer.from([0x03]), Buffer.from(sql)]));
  const assertOk = (p: Packet | null) => {
    assert.ok(p, 'an answer');
    assert.equal(p.payload[0], 0x00, p.payload[0] === 0xff ? readErr(p.payload).message : 'an OK');
    assert.equal(p.sequence, 1);
  };
  /** The single value of a one-row, one-column text result set the client reads next. */
  const readValue = async (r: RawClient): Promise<string> => {
    const packets: Packet[] = [];
    for (;;) {
      const p = await r.next();
      assert.ok(p, 'the connection stays open');
      assert.notEqual(p.payload[0], 0xff, p.payload[0] === 0xff ? readErr(p.payload).message : '');
      packets.push(p);
      if (packets.length >= 3 && p.payload[0] === 0xfe) break;
    }
    const row = packets[packets.length - 2]!.payload;
    return row.toString('utf8', 1, 1 + row[0]!);
  };
  /** Sends `bytes` in writes cut at `cuts`, each only once Weir has read the one before. */
  const sendCut = async (r: RawClient, bytes: Buffer, cuts: number[]) => {
    const session = t.weir.context.core.sessions.list().find((s) => s.port === r.socket.localPort)!;
    let from = 0;
    for (const at of [...cuts, bytes.length]) {
      const before = session.bytesIn;
      r.send(bytes.subarray(from, at));
      if (at < bytes.length)
        await waitFor('Weir to read the part', async () => session.bytesIn >= before + at - from, 10_000);
      from = at;
    }
  };

  before(async () => {
    db = await startMariaDB({ name: 'rcr-kill' });
    await createProxyUser(db);
    await createUser(db, 'app', 'app-pw', 'ALL PRIVILEGES ON *.*');
    for (const s of SERVICES) ports[s] = await freePort();
    t = await startTestWeir({
      config: oneServerConfig(db, {
        services: ports,
        filters: { Filtered: 'Hints' },
        globals: 'users_refresh_time=0s',
        extra: '[Hints]\ntype=filter\nmodule=hintfilter\n\n',
      }),
      serversRunning: true,
    });
  });
  after(async () => {
    for (const c of open) {
      if (c instanceof RawClient) c.destroy();
      else await c.end().catch(() => undefined);
    }
    await t?.stop();
    if (t) removeDir(t.datadir);
    await db?.destroy();
  });

  for (const service of SERVICES) {
    test(`${service}: KILL QUERY <Weir id> interrupts that session's statement; both sessions go on`, async () => {
      const a = await victim(service);
      const b = await client(service);
      const sleeping = await sleepOn(a);
      await b.query(`KILL QUERY ${a.id}`);
      assertInterrupted(await sleeping.outcome);
      assert.equal(await one(a.c, 'SELECT 7'), '7');
      assert.equal(await one(b, 'SELECT 8'), '8');
    });

    test(`${service}: KILL <Weir id> closes that session and its server thread`, async () => {
      const a = await victim(service);
      const b = await client(service);
      await b.query(`KILL ${a.id}`);
      assert.equal(t.weir.context.core.sessions.get(a.id), undefined);
      await waitFor(`thread ${a.thread} to be gone`, async () => !(await threadAlive(a.thread)));
      await assert.rejects(a.c.query('SELECT 1'));
      assert.equal(await one(b, 'SELECT 8'), '8');
    });

    test(`${service}: KILL of an id no Weir session has is 1094, and the server thread of that number lives`, async () => {
      // A direct connection whose server thread id is no Weir session's id.
      let direct: Connection;
      for (;;) {
        direct = await mysql.createConnection({ host: '127.0.0.1', port: db.port, user: 'app', password: 'app-pw' });
        direct.on('error', () => undefined);
        open.push(direct);
        if (!t.weir.context.core.sessions.get(direct.threadId)) break;
      }
      const b = await client(service);
      await assert.rejects(b.query(`KILL ${direct.threadId}`), (err: any) => err.errno === 1094);
      await assert.rejects(b.query(`KILL QUERY ${direct.threadId}`), (err: any) => err.errno === 1094);
      assert.equal(await one(direct, 'SELECT 5'), '5', 'the direct connection was not killed');
      assert.equal(await one(b, 'SELECT 6'), '6');
    });

    test(`${service}: COM_PROCESS_KILL of a Weir id closes that session; the killer goes on`, async () => {
      const a = await victim(service);
      const r = await raw(service);
      const id = Buffer.alloc(4);
      id.writeUInt32LE(a.id);
      r.command(Buffer.concat([Buffer.from([0x0c]), id]));
      assertOk(await r.next());
      await waitFor(`thread ${a.thread} to be gone`, async () => !(await threadAlive(a.thread)));
      assert.equal(t.weir.context.core.sessions.get(a.id), undefined);
      assert.equal(await r.selectOne(), '1');
    });

    test(`${service}: a KILL QUERY cut across TCP writes is still Weir's`, async () => {
      const a = await victim(service);
      const r = await raw(service);
      const cases: Array<[string, number[]]> = [
        [`KILL QUERY ${a.id}`, [2]], // inside the header
        [`KILL QUERY ${a.id}`, [4]], // the header alone
        [`KILL QUERY ${a.id}`, [5, 7]], // the command byte, then two letters of KILL
        [`/* stop it */ KILL QUERY ${a.id}`, [10]], // inside a leading comment
        [`  kill\nquery ${a.id}`, [6, 9]], // in the leading blanks, then inside the word
      ];
      for (const [sql, cuts] of cases) {
        const sleeping = await sleepOn(a);
        await sendCut(r, query(sql), cuts);
        assertOk(await r.next());
        assertInterrupted(await sleeping.outcome);
      }
      // A statement whose leading comment was cut is the server's, whole.
      await sendCut(r, query('/* a comment */ SELECT 41 + 1'), [9]);
      assert.equal(await readValue(r), '42');
      assert.equal(await one(a.c, 'SELECT 7'), '7');
    });

    test(`${service}: a KILL QUERY and the next query in one write: the KILL's OK, then the query's rows`, async () => {
      const a = await victim(service);
      const r = await raw(service);
      const sleeping = await sleepOn(a);
      r.send(Buffer.concat([query(`KILL QUERY ${a.id}`), query('SELECT 40 + 3')]));
      assertOk(await r.next());
      assert.equal(await readValue(r), '43');
      assertInterrupted(await sleeping.outcome);
      // And a COM_PROCESS_KILL with a query after it, the KILL's packet cut in two.
      const id = Buffer.alloc(4);
      id.writeUInt32LE(a.id);
      await sendCut(r, Buffer.concat([packet(0, Buffer.concat([Buffer.from([0x0c]), id])), query('SELECT 44')]), [6]);
      assertOk(await r.next());
      assert.equal(await readValue(r), '44');
      await waitFor(`thread ${a.thread} to be gone`, async () => !(await threadAlive(a.thread)));
    });
  }
});
