/**
 * The reply tracker on captured real traffic: a recording relay sits between real clients
 * (mysql2 and the `mariadb` command-line client, which read EOF packets, and the `mariadb`
 * Node.js connector, which negotiates DEPRECATE_EOF) and a real
 * MariaDB; the server's bytes are then replayed into the tracker, whole and in random
 * chunkings, and every reply must come out with the rows, result sets, errors and sizes
 * the statements produced.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect, createServer, type Server } from 'node:net';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import fc from 'fast-check';
import * as mariadb from 'mariadb';
import mysql from 'mysql2/promise';
import { createUser, startMariaDB, type MariaDBServer } from '../harness/mariadb.ts';
import { readHandshakeResponse, readInitialHandshake } from '../../src/proxy/protocol/handshake.ts';
import { Capability, PacketFramer } from '../../src/proxy/protocol/packets.ts';
import { CACHE_METADATA, ReplyTracker, type Reply } from '../../src/proxy/protocol/reply-tracker.ts';

const run = promisify(execFile);

interface Capture {
  events: Array<{ from: 'client' | 'server'; bytes: Buffer }>;
}

/** A TCP relay that records both directions, in order, of every connection through it. */
async function recordingRelay(target: number): Promise<{ port: number; captures: Capture[]; server: Server }> {
  const captures: Capture[] = [];
  const server = createServer((client) => {
    const capture: Capture = { events: [] };
    captures.push(capture);
    const backend = connect(target, '127.0.0.1');
    client.on('data', (b) => {
      capture.events.push({ from: 'client', bytes: Buffer.from(b) });
      backend.write(b);
    });
    backend.on('data', (b) => {
      capture.events.push({ from: 'server', bytes: Buffer.from(b) });
      client.write(b);
    });
    client.on('close', () => backend.destroy());
    backend.on('close', () => client.destroy());
    client.on('error', () => backend.destroy());
    backend.on('error', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as { port: number }).port, captures, server };
}

interface Replayed {
  deprecateEof: boolean;
  cacheMetadata: boolean;
  replies: Array<Reply & { sql: string }>;
  pending: number;
  lost: boolean;
}

/**
 * Replays a capture into a tracker as Weir would see it: the login is skipped (it ends with
 * the server's first OK), each client command is expected before the server's bytes that
 * follow it, and the server's bytes are cut where `cut` says.
 */
/** Cuts each chunk into pieces of the given sizes, in turn, carrying on across chunks. */
function cutter(sizes: number[]): (chunk: Buffer) => Buffer[] {
  let k = 0;
  return (chunk) => {
    const out: Buffer[] = [];
    for (let i = 0; i < chunk.length;) {
      const n = sizes[k++ % sizes.length]!;
      out.push(chunk.subarray(i, i + n));
      i += n;
    }
    return out;
  };
}

function replay(capture: Capture, cut: (chunk: Buffer) => Buffer[] = (c) => [c], reuseReadBuffer = false): Replayed {
  // As with Weir's static reads: every read lands in one buffer, overwritten once it is handled.
  const readBuffer = Buffer.alloc(64 * 1024);
  const feed = (piece: Buffer) => {
    if (!reuseReadBuffer) return tracker!.feed(piece);
    piece.copy(readBuffer);
    tracker!.feed(readBuffer.subarray(0, piece.length));
    readBuffer.fill(0xaa, 0, piece.length);
  };
  const clientFramer = new PacketFramer();
  const serverFramer = new PacketFramer();
  let serverCaps = 0;
  let serverExtended = 0;
  let caps = 0;
  let extended = 0;
  let loggedIn = false;
  const sqls: string[] = [];
  const replies: Array<Reply & { sql: string }> = [];
  let tracker: ReplyTracker | null = null;
  for (const e of capture.events) {
    if (!loggedIn) {
      const framer = e.from === 'client' ? clientFramer : serverFramer;
      framer.push(e.bytes);
      for (let p = framer.next(); p; p = framer.next()) {
        if (e.from === 'server' && p.sequence === 0) {
          const h = readInitialHandshake(p.payload);
          serverCaps = h.capabilities;
          serverExtended = h.extendedCapabilities ?? 0;
        } else if (e.from === 'client' && p.sequence === 1) {
          const h = readHandshakeResponse(p.payload);
          caps = h.capabilities & serverCaps;
          extended = (h.extendedCapabilities ?? 0) & serverExtended;
        } else if (e.from === 'server' && p.payload[0] === 0x00) {
          loggedIn = true;
          tracker = new ReplyTracker(caps, extended, (r) => replies.push({ ...r, sql: sqls.shift() ?? '' }));
          const rest = framer.drain();
          if (rest.length) throw new Error('bytes after the login OK in the same read');
        }
      }
      continue;
    }
    if (e.from === 'client') {
      clientFramer.push(e.bytes);
      for (let p = clientFramer.next(); p; p = clientFramer.next()) {
        if (p.sequence !== 0) continue; // LOCAL INFILE data, not a command
        const command = p.payload[0]!;
        tracker!.expect(command);
        if (command !== 0x01 && command !== 0x19 && command !== 0x18)
          sqls.push(command === 0x03 || command === 0x16 ? p.payload.toString('utf8', 1) : `#${command}`);
      }
    } else {
      for (const piece of cut(e.bytes)) feed(piece);
    }
  }
  return {
    deprecateEof: (caps & Capability.DEPRECATE_EOF) !== 0,
    cacheMetadata: (extended & CACHE_METADATA) !== 0,
    replies,
    pending: tracker?.pending ?? -1,
    lost: tracker?.lost ?? true,
  };
}

const summary = (r: Reply) => ({
  error: r.error?.code ?? null,
  rows: r.rows,
  resultSets: r.resultSets,
  affectedRows: r.affectedRows,
  warnings: r.warnings,
});

describe('reply tracker on captured MariaDB traffic', () => {
  let db: MariaDBServer;
  let relay: Awaited<ReturnType<typeof recordingRelay>>;
  let mysql2Capture: Capture;
  let cliCapture: Capture;
  let connectorCapture: Capture;

  before(async () => {
    db = await startMariaDB({ extraArgs: ['--max-allowed-packet=64M', '--local-infile=1'] });
    await createUser(db, 'cap', 'cap-pw');
    await db.query('CREATE DATABASE cap');
    await db.query('CREATE PROCEDURE cap.two_results() BEGIN SELECT 1 AS a; SELECT 2 AS b UNION SELECT 3; END');
    relay = await recordingRelay(db.port);

    const c = await mysql.createConnection({
      host: '127.0.0.1',
      port: relay.port,
      user: 'cap',
      password: 'cap-pw',
      database: 'cap',
      multipleStatements: true,
      infileStreamFactory: () => Readable.from([Buffer.from('10,fig\n11,kiwi\n')]),
    });
    await c.query("SELECT seq, REPEAT('x', seq) AS v FROM seq_1_to_500");
    await c.query('SELECT 1; SELECT 2, 3 UNION SELECT 4, 5; DO 1');
    await c.query('SELECT * FROM nope').catch(() => undefined);
    await c.query('CREATE TABLE t (id INT PRIMARY KEY, v TEXT)');
    await c.query("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')");
    await c.query("INSERT IGNORE INTO t VALUES (1, 'dup')");
    await c.query('SELECT * FROM t WHERE 0');
    await c.execute('SELECT id, v FROM t WHERE id > ?', [1]);
    await c.query("LOAD DATA LOCAL INFILE 'fruit.csv' INTO TABLE t FIELDS TERMINATED BY ','");
    await c.query('CALL two_results()');
    await c.query('SELECT 1; SELECT * FROM nope; SELECT 2').catch(() => undefined);
    await c.query("SELECT REPEAT('y', 17000000) AS big");
    await c.ping();
    await c.end();
    mysql2Capture = relay.captures.at(-1)!;

    await run('mariadb', [
      '--no-defaults',
      '-h127.0.0.1',
      `-P${relay.port}`,
      '-ucap',
      '-pcap-pw',
      'cap',
      '-e',
      "SELECT seq FROM seq_1_to_100; SELECT * FROM t ORDER BY id; SELECT 1 UNION SELECT 2; CALL two_results(); INSERT INTO t VALUES (20, 'cli'); SELECT * FROM t WHERE 0",
    ]);
    cliCapture = relay.captures.at(-1)!;

    const m = await mariadb.createConnection({
      host: '127.0.0.1',
      port: relay.port,
      user: 'cap',
      password: 'cap-pw',
      database: 'cap',
      multipleStatements: true,
      permitLocalInfile: true,
      infileStreamFactory: () => Readable.from([Buffer.from('30,plum\n31,pear\n')]),
    });
    await m.query("SELECT seq, REPEAT('x', seq) AS v FROM seq_1_to_300");
    await m.query('SELECT 1; SELECT 2, 3 UNION SELECT 4, 5; DO 1');
    await m.query('SELECT * FROM nope').catch(() => undefined);
    await m.query("INSERT IGNORE INTO t VALUES (1, 'dup')");
    await m.execute('SELECT id, v FROM t WHERE id > ?', [1]);
    await m.execute('SELECT id, v FROM t WHERE id > ?', [10]);
    await m.query("LOAD DATA LOCAL INFILE 'more.csv' INTO TABLE t FIELDS TERMINATED BY ','");
    await m.query('CALL two_results()');
    await m.query("SELECT REPEAT('y', 17000000) AS big");
    await m.end();
    connectorCapture = relay.captures.at(-1)!;
  });
  after(async () => {
    relay?.server.close();
    await db?.destroy();
  });

  test("mysql2 traffic (EOF packets): every statement's reply, in order", () => {
    const r = replay(mysql2Capture);
    assert.equal(r.deprecateEof, false);
    assert.equal(r.lost, false);
    assert.equal(r.pending, 0, 'no reply left open');
    const bySql = (sql: string) => {
      const found = r.replies.find((x) => x.sql === sql);
      assert.ok(found, `a reply for ${sql}`);
      return summary(found);
    };
    assert.deepEqual(bySql("SELECT seq, REPEAT('x', seq) AS v FROM seq_1_to_500"), {
      error: null,
      rows: 500,
      resultSets: 1,
      affectedRows: 0,
      warnings: 0,
    });
    assert.deepEqual(bySql('SELECT 1; SELECT 2, 3 UNION SELECT 4, 5; DO 1'), {
      error: null,
      rows: 3,
      resultSets: 2,
      affectedRows: 0,
      warnings: 0,
    });
    assert.deepEqual(bySql('SELECT * FROM nope'), {
      error: 1146,
      rows: 0,
      resultSets: 0,
      affectedRows: 0,
      warnings: 0,
    });
    assert.deepEqual(bySql("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')"), {
      error: null,
      rows: 0,
      resultSets: 0,
      affectedRows: 3,
      warnings: 0,
    });
    assert.deepEqual(bySql("INSERT IGNORE INTO t VALUES (1, 'dup')"), {
      error: null,
      rows: 0,
      resultSets: 0,
      affectedRows: 0,
      warnings: 1,
    });
    assert.deepEqual(bySql('SELECT * FROM t WHERE 0'), {
      error: null,
      rows: 0,
      resultSets: 1,
      affectedRows: 0,
      warnings: 0,
    });
    const prepared = r.replies.filter((x) => x.sql === 'SELECT id, v FROM t WHERE id > ?');
    assert.equal(prepared.length, 1, 'the prepare');
    assert.ok(prepared[0]!.statementId! > 0);
    const execute = r.replies[r.replies.indexOf(prepared[0]!) + 1]!;
    assert.equal(execute.sql, '#23', 'COM_STMT_EXECUTE follows');
    assert.deepEqual(summary(execute), { error: null, rows: 2, resultSets: 1, affectedRows: 0, warnings: 0 });
    assert.deepEqual(bySql("LOAD DATA LOCAL INFILE 'fruit.csv' INTO TABLE t FIELDS TERMINATED BY ','"), {
      error: null,
      rows: 0,
      resultSets: 0,
      affectedRows: 2,
      warnings: 0,
    });
    assert.deepEqual(bySql('CALL two_results()'), {
      error: null,
      rows: 3,
      resultSets: 2,
      affectedRows: 0,
      warnings: 0,
    });
    assert.deepEqual(bySql('SELECT 1; SELECT * FROM nope; SELECT 2'), {
      error: 1146,
      rows: 1,
      resultSets: 1,
      affectedRows: 0,
      warnings: 0,
    });
    const big = r.replies.find((x) => x.sql === "SELECT REPEAT('y', 17000000) AS big")!;
    assert.deepEqual(summary(big), { error: null, rows: 1, resultSets: 1, affectedRows: 0, warnings: 0 });
    assert.ok(big.size > 17_000_000, `size ${big.size}`);
    assert.equal(r.replies.at(-1)!.sql, '#14', 'COM_PING last');
    assert.equal(r.replies.at(-1)!.error, null);
    for (const x of r.replies) assert.ok(x.completedAt >= x.firstByteAt && x.firstByteAt > 0);
  });

  test("mariadb command-line client traffic: every statement's reply, in order", () => {
    const r = replay(cliCapture);
    assert.equal(r.lost, false);
    assert.equal(r.pending, 0);
    const bySql = (sql: string) => summary(r.replies.find((x) => x.sql === sql) ?? assert.fail(`a reply for ${sql}`));
    assert.deepEqual(bySql('SELECT seq FROM seq_1_to_100'), {
      error: null,
      rows: 100,
      resultSets: 1,
      affectedRows: 0,
      warnings: 0,
    });
    assert.deepEqual(bySql('SELECT * FROM t ORDER BY id'), {
      error: null,
      rows: 5,
      resultSets: 1,
      affectedRows: 0,
      warnings: 0,
    });
    assert.deepEqual(bySql('SELECT 1 UNION SELECT 2'), {
      error: null,
      rows: 2,
      resultSets: 1,
      affectedRows: 0,
      warnings: 0,
    });
    assert.deepEqual(bySql('CALL two_results()'), {
      error: null,
      rows: 3,
      resultSets: 2,
      affectedRows: 0,
      warnings: 0,
    });
    assert.deepEqual(bySql("INSERT INTO t VALUES (20, 'cli')"), {
      error: null,
      rows: 0,
      resultSets: 0,
      affectedRows: 1,
      warnings: 0,
    });
    assert.deepEqual(bySql('SELECT * FROM t WHERE 0'), {
      error: null,
      rows: 0,
      resultSets: 1,
      affectedRows: 0,
      warnings: 0,
    });
  });

  test("mariadb connector traffic (DEPRECATE_EOF: OK packets end result sets): every statement's reply, in order", () => {
    const r = replay(connectorCapture);
    assert.equal(r.deprecateEof, true, 'the connector negotiates DEPRECATE_EOF');
    assert.equal(r.cacheMetadata, true, 'and cached metadata: its second execute gets no column definitions');
    assert.equal(r.lost, false);
    assert.equal(r.pending, 0);
    const bySql = (sql: string) => summary(r.replies.find((x) => x.sql === sql) ?? assert.fail(`a reply for ${sql}`));
    assert.deepEqual(bySql("SELECT seq, REPEAT('x', seq) AS v FROM seq_1_to_300"), {
      error: null,
      rows: 300,
      resultSets: 1,
      affectedRows: 0,
      warnings: 0,
    });
    assert.deepEqual(bySql('SELECT 1; SELECT 2, 3 UNION SELECT 4, 5; DO 1'), {
      error: null,
      rows: 3,
      resultSets: 2,
      affectedRows: 0,
      warnings: 0,
    });
    assert.deepEqual(bySql('SELECT * FROM nope'), {
      error: 1146,
      rows: 0,
      resultSets: 0,
      affectedRows: 0,
      warnings: 0,
    });
    assert.deepEqual(bySql("INSERT IGNORE INTO t VALUES (1, 'dup')"), {
      error: null,
      rows: 0,
      resultSets: 0,
      affectedRows: 0,
      warnings: 1,
    });
    const prepare = r.replies.find((x) => x.sql === 'SELECT id, v FROM t WHERE id > ?')!;
    assert.ok(prepare.statementId! > 0);
    const execute = r.replies[r.replies.indexOf(prepare) + 1]!;
    assert.equal(execute.sql, '#23');
    assert.deepEqual(summary(execute), { error: null, rows: 5, resultSets: 1, affectedRows: 0, warnings: 0 });
    const executeAgain = r.replies[r.replies.indexOf(execute) + 1]!;
    assert.equal(executeAgain.sql, '#23', 'the cached statement runs again');
    assert.deepEqual(summary(executeAgain), { error: null, rows: 2, resultSets: 1, affectedRows: 0, warnings: 0 });
    assert.deepEqual(bySql("LOAD DATA LOCAL INFILE 'more.csv' INTO TABLE t FIELDS TERMINATED BY ','"), {
      error: null,
      rows: 0,
      resultSets: 0,
      affectedRows: 2,
      warnings: 0,
    });
    assert.deepEqual(bySql('CALL two_results()'), {
      error: null,
      rows: 3,
      resultSets: 2,
      affectedRows: 0,
      warnings: 0,
    });
    assert.deepEqual(bySql("SELECT REPEAT('y', 17000000) AS big"), {
      error: null,
      rows: 1,
      resultSets: 1,
      affectedRows: 0,
      warnings: 0,
    });
  });

  test("any chunking of the server's bytes gives the same replies", () => {
    for (const capture of [mysql2Capture, cliCapture, connectorCapture]) {
      // Whole reads take the tracker's one-pass path for a whole reply; cut reads never do.
      const whole = replay(capture).replies.map((x) => ({ ...summary(x), sql: x.sql, size: x.size, status: x.status }));
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 30 }), (sizes) => {
          const cut = cutter(sizes);
          const again = replay(capture, cut).replies.map((x) => ({
            ...summary(x),
            sql: x.sql,
            size: x.size,
            status: x.status,
          }));
          assert.deepEqual(again, whole);
        }),
        { numRuns: 30 },
      );
    }
  });

  test('a read buffer overwritten after each read (static reads) gives the same replies, errors included', () => {
    for (const capture of [mysql2Capture, cliCapture, connectorCapture]) {
      const whole = replay(capture).replies.map((x) => ({
        ...summary(x),
        message: x.error?.message ?? null,
        sql: x.sql,
      }));
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 20 }), (sizes) => {
          const cut = cutter(sizes);
          const again = replay(capture, cut, true).replies.map((x) => ({
            ...summary(x),
            message: x.error?.message ?? null,
            sql: x.sql,
          }));
          assert.deepEqual(again, whole);
        }),
        { numRuns: 20 },
      );
    }
  });
});
