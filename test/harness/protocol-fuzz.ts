/**
 * Fuzz cases for the MariaDB protocol as a client can break it, shared by the bounded fuzz
 * test (test/proxy/fuzz-protocol.test.ts) and the long nightly run (test/bench/fuzz-protocol.ts):
 *
 * - after login, for every command byte 0x00..0xFF: random payloads, a bare command byte,
 *   length headers larger than what follows, 0xFFFFFF packets whose continuation never comes,
 *   wrong sequence ids, headers split across writes, a malformed command behind a good one;
 *   and hand-made malformations of the commands whose payload Weir or the server parses
 *   (COM_CHANGE_USER, COM_STMT_*, COM_FIELD_LIST, COM_BINLOG_DUMP, COM_INIT_DB, ...);
 * - the authentication step: handshake responses truncated at every field, bad length
 *   encodings, an authentication plugin switch answered with garbage, an SSLRequest on a
 *   plain listener, wrong sequence ids.
 *
 * Every case is built from a seeded generator, so a failing seed replays exactly.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql, { type Connection } from 'mysql2/promise';
import request from 'supertest';
import { Capability, packet } from '../../src/proxy/protocol/packets.ts';
import { createUser, freePort, startMariaDB, waitFor, type MariaDBServer } from './mariadb.ts';
import { CLIENT_CAPABILITIES, RawClient } from './raw-client.ts';
import { createProxyUser, monitorSection, serverSection, serviceSections } from './config.ts';
import { ADMIN, exited, removeDir, spawnWeir, tempDir } from './weir.ts';

/** A step: bytes to write, or 'answer': wait for Weir's next packet (or its close). */
export type Step = Buffer | 'answer';

export interface FuzzCase {
  name: string;
  steps: Step[];
}

/** mulberry32: small, fast and good enough to pick fuzz bytes; the same seed gives the same cases. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    bytes: (n) => Buffer.from(Array.from({ length: n }, () => Math.floor(next() * 256))),
    pick: (items) => items[Math.floor(next() * items.length)]!,
  };
}

export interface Random {
  next(): number;
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
  bytes(n: number): Buffer;
  pick<T>(items: readonly T[]): T;
}

/** A packet header claiming `length` bytes, followed by `body` (which may be shorter). */
export function frame(length: number, sequence: number, body: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUIntLE(length, 0, 3);
  h[3] = sequence & 0xff;
  return Buffer.concat([h, body]);
}

const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};
const u16 = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v & 0xffff);
  return b;
};
const z = (s: string) => Buffer.from(`${s}\0`, 'utf8');
const s = (text: string) => Buffer.from(text, 'utf8');
const b = (...bytes: number[]) => Buffer.from(bytes);
const cat = (...parts: Buffer[]) => Buffer.concat(parts);
const hex = (n: number) => `0x${n.toString(16).padStart(2, '0')}`;

const COM_PING = 0x0e;
const COM_CHANGE_USER = 0x11;

/** Variants every command byte gets some of, picked at random. */
const GENERIC: Array<(command: number, r: Random) => FuzzCase> = [
  (c, r) => ({ name: `${hex(c)} random payload`, steps: [packet(0, cat(b(c), r.bytes(r.int(0, 64)))), 'answer'] }),
  (c) => ({ name: `${hex(c)} bare command byte`, steps: [packet(0, b(c)), 'answer'] }),
  (c, r) => ({
    name: `${hex(c)} length header beyond what follows`,
    steps: [frame(r.int(64, 0xfffffe), 0, cat(b(c), r.bytes(r.int(0, 16))))],
  }),
  (c, r) => ({
    name: `${hex(c)} 0xFFFFFF packet cut short`,
    steps: [frame(0xffffff, 0, cat(b(c), r.bytes(r.int(0, 32))))],
  }),
  (c, r) => ({
    name: `${hex(c)} wrong sequence id`,
    steps: [packet(r.int(1, 255), cat(b(c), r.bytes(r.int(0, 16)))), 'answer'],
  }),
  (c, r) => {
    const p = packet(0, cat(b(c), r.bytes(r.int(0, 24))));
    const cut = r.int(1, 3);
    return { name: `${hex(c)} header split across writes`, steps: [p.subarray(0, cut), p.subarray(cut), 'answer'] };
  },
  (c, r) => ({
    name: `${hex(c)} behind a COM_PING in one write`,
    steps: [cat(packet(0, b(COM_PING)), packet(0, cat(b(c), r.bytes(r.int(0, 24))))), 'answer'],
  }),
  (c) => ({ name: `${hex(c)} only a partial header`, steps: [b(1, 0)] }),
  () => ({ name: 'an empty packet', steps: [frame(0, 0, Buffer.alloc(0)), 'answer'] }),
];

/** Malformed and odd payloads of the commands whose fields are parsed, by Weir or by the server. */
function structured(r: Random): FuzzCase[] {
  const cu = (name: string, payload: Buffer, extra: Step[] = ['answer']): FuzzCase => ({
    name: `COM_CHANGE_USER ${name}`,
    steps: [packet(0, cat(b(COM_CHANGE_USER), payload)), ...extra],
  });
  const token = r.bytes(20);
  const execute = (name: string, tail: Buffer): FuzzCase => ({
    name: `COM_STMT_EXECUTE ${name}`,
    steps: [packet(0, cat(b(0x16), s('SELECT ?, ?'))), 'answer', packet(0, cat(b(0x17), u32(1), tail)), 'answer'],
  });
  const cases: FuzzCase[] = [
    // COM_CHANGE_USER: Weir parses it itself (it must rewrite the token for the backend).
    cu('without the NUL after the user name', s('fuzz-user-without-nul')),
    cu('with only its command byte', Buffer.alloc(0)),
    cu('ending after the user name', z('fuzz')),
    cu('with an auth length beyond the packet', cat(z('fuzz'), b(20), b(1, 2, 3))),
    cu('with a database without its NUL', cat(z('fuzz'), b(20), token, s('fuzzdb'))),
    cu('with a one-byte character set', cat(z('fuzz'), b(20), token, z('fuzzdb'), b(45))),
    cu('with a plugin name without its NUL', cat(z('fuzz'), b(20), token, z(''), u16(45), s('mysql_native_password'))),
    cu(
      'with attributes of a bad length encoding',
      cat(z('fuzz'), b(20), token, z(''), u16(45), z('mysql_native_password'), b(0xff, 1, 2)),
    ),
    cu('with a well-formed wrong token', cat(z('fuzz'), b(20), token, z(''), u16(45), z('mysql_native_password'))),
    cu('to root', cat(z('root'), b(0), z(''), u16(45), z('mysql_native_password'))),
    cu('to a user name of 60000 bytes', cat(z('u'.repeat(60_000)), b(0), z(''))),
    cu('of random bytes', r.bytes(r.int(0, 80))),
    {
      name: 'COM_CHANGE_USER without NUL, its header split across writes',
      steps: [
        packet(0, cat(b(COM_CHANGE_USER), s('nonul'))).subarray(0, 2),
        packet(0, cat(b(COM_CHANGE_USER), s('nonul'))).subarray(2),
        'answer',
      ],
    },
    {
      name: 'COM_CHANGE_USER without NUL, its command byte in the next write',
      steps: [
        packet(0, cat(b(COM_CHANGE_USER), s('nonul'))).subarray(0, 4),
        packet(0, cat(b(COM_CHANGE_USER), s('nonul'))).subarray(4),
        'answer',
      ],
    },
    {
      name: 'COM_CHANGE_USER without NUL behind a COM_PING',
      steps: [cat(packet(0, b(COM_PING)), packet(0, cat(b(COM_CHANGE_USER), s('nonul')))), 'answer', 'answer'],
    },
    {
      name: 'COM_CHANGE_USER without NUL, then more commands',
      steps: [
        cat(
          packet(0, cat(b(COM_CHANGE_USER), s('nonul'))),
          packet(0, b(COM_PING)),
          packet(0, cat(b(0x03), s('SELECT 1'))),
        ),
        'answer',
      ],
    },
    {
      name: 'COM_CHANGE_USER with a length header beyond what follows',
      steps: [frame(0xfffffe, 0, cat(b(COM_CHANGE_USER), z('fuzz')))],
    },
    {
      name: 'COM_CHANGE_USER in a 0xFFFFFF packet cut short',
      steps: [frame(0xffffff, 0, cat(b(COM_CHANGE_USER), z('fuzz'), b(20)))],
    },
    { name: 'COM_CHANGE_USER with sequence id 3', steps: [packet(3, cat(b(COM_CHANGE_USER), s('nonul'))), 'answer'] },
    // Prepared statements: ids that do not exist, parameters shorter than announced.
    { name: 'COM_STMT_EXECUTE with only its command byte', steps: [packet(0, b(0x17)), 'answer'] },
    { name: 'COM_STMT_EXECUTE with a two-byte id', steps: [packet(0, b(0x17, 1, 0)), 'answer'] },
    {
      name: 'COM_STMT_EXECUTE of an unknown id',
      steps: [packet(0, cat(b(0x17), u32(0xffffffff), b(0), u32(1))), 'answer'],
    },
    execute('without flags and iteration count', Buffer.alloc(0)),
    execute('without the NULL bitmap', cat(b(0), u32(1))),
    execute('announcing types it does not send', cat(b(0), u32(1), b(0), b(1), b(0x08))),
    execute('with types and no values', cat(b(0), u32(1), b(0), b(1), b(0x08, 0, 0x0f, 0))),
    execute(
      'with a string value longer than the packet',
      cat(b(0), u32(1), b(0), b(1), b(0xfe, 0, 0xfe, 0), b(0xfc, 0xff, 0xff), s('x')),
    ),
    execute('with random parameters', cat(b(r.int(0, 255)), u32(r.int(0, 5)), r.bytes(r.int(0, 40)))),
    { name: 'COM_STMT_SEND_LONG_DATA with only its command byte', steps: [packet(0, b(0x18))] },
    { name: 'COM_STMT_SEND_LONG_DATA with a short id', steps: [packet(0, b(0x18, 1, 0))] },
    {
      name: 'COM_STMT_SEND_LONG_DATA to an unknown statement and parameter',
      steps: [packet(0, cat(b(0x18), u32(0xfffffff0), u16(0xffff), r.bytes(10))), packet(0, b(COM_PING)), 'answer'],
    },
    {
      name: "COM_STMT_SEND_LONG_DATA to a parameter beyond the statement's",
      steps: [
        packet(0, cat(b(0x16), s('SELECT ?'))),
        'answer',
        packet(0, cat(b(0x18), u32(1), u16(7), s('data'))),
        packet(0, cat(b(0x17), u32(1), b(0), u32(1), b(0), b(1), b(0xfe, 0))),
        'answer',
      ],
    },
    { name: 'COM_STMT_CLOSE with a short id', steps: [packet(0, b(0x19, 1)), packet(0, b(COM_PING)), 'answer'] },
    { name: 'COM_STMT_RESET of an unknown id', steps: [packet(0, cat(b(0x1a), u32(99))), 'answer'] },
    { name: 'COM_STMT_FETCH with a short row count', steps: [packet(0, cat(b(0x1c), u32(1), b(1))), 'answer'] },
    { name: 'COM_STMT_PREPARE of nothing', steps: [packet(0, b(0x16)), 'answer'] },
    // Commands the server parses.
    { name: 'COM_FIELD_LIST with only its command byte', steps: [packet(0, b(0x04)), 'answer'] },
    { name: 'COM_FIELD_LIST with a table name without its NUL', steps: [packet(0, cat(b(0x04), s('user'))), 'answer'] },
    {
      name: 'COM_FIELD_LIST with a wildcard of random bytes',
      steps: [packet(0, cat(b(0x04), z('t'), r.bytes(r.int(0, 30)))), 'answer'],
    },
    { name: 'COM_BINLOG_DUMP with only its command byte', steps: [packet(0, b(0x12)), 'answer'] },
    { name: 'COM_BINLOG_DUMP with a short position', steps: [packet(0, b(0x12, 4, 0)), 'answer'] },
    {
      name: 'COM_BINLOG_DUMP of a file that does not exist',
      steps: [packet(0, cat(b(0x12), u32(4), u16(0), u32(99), s('no-such-binlog.000001'))), 'answer'],
    },
    {
      name: 'COM_BINLOG_DUMP_GTID with random fields',
      steps: [packet(0, cat(b(0x1e), r.bytes(r.int(0, 40)))), 'answer'],
    },
    { name: 'COM_REGISTER_SLAVE with a short body', steps: [packet(0, cat(b(0x15), u32(5), b(200))), 'answer'] },
    { name: 'COM_INIT_DB of nothing', steps: [packet(0, b(0x02)), 'answer'] },
    {
      name: 'COM_INIT_DB of a database that does not exist',
      steps: [packet(0, cat(b(0x02), s('no_such_db'))), 'answer'],
    },
    { name: 'COM_SET_OPTION with a short option', steps: [packet(0, b(0x1b, 0)), 'answer'] },
    { name: 'COM_SET_OPTION of an unknown option', steps: [packet(0, b(0x1b, 7, 0)), 'answer'] },
    { name: 'COM_QUERY of nothing', steps: [packet(0, b(0x03)), 'answer'] },
    { name: 'COM_QUERY of invalid UTF-8', steps: [packet(0, cat(b(0x03), b(0xc3, 0x28, 0xff, 0xfe))), 'answer'] },
    { name: 'COM_PROCESS_KILL of an unknown thread', steps: [packet(0, cat(b(0x0c), u32(0xfffffff0))), 'answer'] },
    { name: 'COM_PROCESS_KILL with a short id', steps: [packet(0, b(0x0c, 1)), 'answer'] },
    { name: 'COM_QUIT with a payload', steps: [packet(0, cat(b(0x01), r.bytes(8))), 'answer'] },
  ];
  return cases;
}

/**
 * Cases after login: for each command byte 0x00..0xFF, `perCommand` variants picked at
 * random, and every structured case once.
 */
export function commandCases(seed: number, perCommand: number): FuzzCase[] {
  const r = seededRandom(seed);
  const cases: FuzzCase[] = [];
  for (let command = 0; command <= 0xff; command++) {
    for (let i = 0; i < perCommand; i++) {
      const c = r.pick(GENERIC)(command, r);
      // A command without a reply is followed by a COM_PING, whose answer the case waits for.
      const answer = c.steps.indexOf('answer');
      if (NO_REPLY.has(command) && answer >= 0) c.steps.splice(answer, 0, packet(0, b(COM_PING)));
      cases.push(c);
    }
  }
  cases.push(...structured(r));
  return cases;
}

const NO_REPLY = new Set([0x18, 0x19]);

/**
 * Runs cases on `concurrency` connections at a time. `open` gives each case its connection
 * (after checking whatever the caller checks before a case), `after` runs once it is over.
 * A failure names the case and the cases running beside it.
 */
export async function runCases(
  cases: FuzzCase[],
  concurrency: number,
  stats: FuzzStats,
  open: (previous: string) => Promise<RawClient>,
  after: (what: string) => Promise<void>,
): Promise<void> {
  let next = 0;
  const running = new Set<string>();
  const worker = async () => {
    let previous = 'the start';
    while (next < cases.length) {
      const c = cases[next++]!;
      const client = await open(previous);
      running.add(c.name);
      try {
        await playCase(client, c, stats);
        previous = `case '${c.name}'${
          running.size > 1
            ? ` (beside ${[...running]
                .filter((n) => n !== c.name)
                .map((n) => `'${n}'`)
                .join(', ')})`
            : ''
        }`;
        await after(previous);
      } finally {
        running.delete(c.name);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
}

/** Handshake Response fields, to build broken ones from. */
function response(caps: number, user: Buffer, auth: Buffer, rest: Buffer = Buffer.alloc(0)): Buffer {
  return cat(u32(caps), u32(1 << 24), b(45), Buffer.alloc(19), u32(0), user, auth, rest);
}

/** Cases of the authentication step, each on a fresh connection; `perKind` random responses too. */
export function authCases(seed: number, random: number): FuzzCase[] {
  const r = seededRandom(seed ^ 0x5eed);
  const C = CLIENT_CAPABILITIES;
  const LENENC = Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA;
  const SECURE = Capability.SECURE_CONNECTION;
  const noLenenc = C & ~LENENC;
  const hs = (name: string, payload: Buffer, sequence = 1): FuzzCase => ({
    name: `handshake response ${name}`,
    steps: [packet(sequence, payload), 'answer'],
  });
  const token = r.bytes(20);
  const cases: FuzzCase[] = [
    hs('of nothing', Buffer.alloc(0)),
    hs('of capabilities only', u32(C)),
    hs('without protocol 4.1', response(C & ~Capability.PROTOCOL_41, z('fuzz'), b(20), token)),
    hs('ending after the reserved bytes', response(C, Buffer.alloc(0), Buffer.alloc(0))),
    hs('without the NUL after the user name', response(C, s('fuzz'), Buffer.alloc(0))),
    hs('with a length-encoded auth of 2^56 bytes', response(C, z('fuzz'), b(0xfe, 0, 0, 0, 0, 0, 0, 0, 1))),
    hs('with an invalid length encoding (0xFF)', response(C, z('fuzz'), b(0xff))),
    hs('with a length-encoded auth longer than the packet', response(C, z('fuzz'), b(0xfc, 0xff, 0x00), token)),
    hs('with a one-byte auth length beyond the packet', response(noLenenc | SECURE, z('fuzz'), b(200), token)),
    hs('with an old-style auth without its NUL', response(noLenenc & ~SECURE, z('fuzz'), s('abc'))),
    hs(
      'with a database without its NUL',
      response(C | Capability.CONNECT_WITH_DB, z('fuzz'), cat(b(20), token), s('fuzzdb')),
    ),
    hs('with a plugin name without its NUL', response(C, z('fuzz'), cat(b(20), token), s('mysql_native_password'))),
    hs(
      'with attributes of a bad length encoding',
      response(
        C | Capability.CONNECT_ATTRS,
        z('fuzz'),
        cat(b(20), token),
        cat(z('mysql_native_password'), b(0xfd, 0xff)),
      ),
    ),
    hs(
      'with attributes longer than the packet',
      response(
        C | Capability.CONNECT_ATTRS,
        z('fuzz'),
        cat(b(20), token),
        cat(z('mysql_native_password'), b(0xfc, 0, 0x10), s('_client')),
      ),
    ),
    hs('with a wrong token', response(C, z('fuzz'), cat(b(20), token), z('mysql_native_password'))),
    hs('of an unknown user', response(C, z('no-such-user'), cat(b(20), token), z('mysql_native_password'))),
    hs(
      'with a user name of 60000 bytes',
      response(C, z('u'.repeat(60_000)), cat(b(20), token), z('mysql_native_password')),
    ),
    hs('with sequence id 0', response(C, z('fuzz'), cat(b(20), token), z('mysql_native_password')), 0),
    hs('with sequence id 200', response(C, z('fuzz'), cat(b(20), token), z('mysql_native_password')), 200),
    hs(
      'that is an SSLRequest on a listener without TLS',
      response(C | Capability.SSL, Buffer.alloc(0), Buffer.alloc(0)),
    ),
    {
      name: 'handshake response with a length header beyond what follows',
      steps: [frame(5000, 1, response(C, z('fuzz'), b(0)))],
    },
    { name: 'handshake response larger than any handshake', steps: [frame(0xffffff, 1, u32(C)), 'answer'] },
    { name: 'handshake response, only a partial header', steps: [b(0x40, 0)] },
    {
      name: 'handshake response split across writes',
      steps: [
        packet(1, response(C, s('nonul'), Buffer.alloc(0))).subarray(0, 3),
        packet(1, response(C, s('nonul'), Buffer.alloc(0))).subarray(3),
        'answer',
      ],
    },
    {
      name: 'handshake response followed by more packets in the same write',
      steps: [
        cat(packet(1, response(C, s('nonul'), Buffer.alloc(0))), packet(2, r.bytes(30)), packet(0, b(COM_PING))),
        'answer',
      ],
    },
  ];
  // Another plugin: Weir asks for mysql_native_password (AuthSwitchRequest) and gets garbage back.
  const switching = response(C, z('fuzz'), cat(b(20), token), z('caching_sha2_password'));
  for (const [name, answer] of [
    ['nothing', packet(3, Buffer.alloc(0))],
    ['a short token', packet(3, r.bytes(7))],
    ['a long token', packet(3, r.bytes(300))],
    ['a length header beyond what follows', frame(900, 3, r.bytes(10))],
    ['an oversized packet', frame(0xffffff, 3, r.bytes(10))],
  ] as const) {
    cases.push({
      name: `an authentication switch answered with ${name}`,
      steps: [packet(1, switching), 'answer', answer, ...(name.includes('beyond') ? [] : ['answer' as const])],
    });
  }
  for (let i = 0; i < random; i++) {
    const caps = r.next() < 0.5 ? C : r.int(0, 0xffffffff);
    cases.push(
      r.next() < 0.5
        ? hs(`of random bytes #${i}`, r.bytes(r.int(0, 120)), r.int(0, 3))
        : hs(
            `with random fields #${i}`,
            response(
              caps,
              r.next() < 0.7 ? z('fuzz') : r.bytes(r.int(0, 12)),
              r.bytes(r.int(0, 40)),
              r.bytes(r.int(0, 40)),
            ),
          ),
    );
  }
  return cases;
}

export interface FuzzStats {
  cases: number;
  /** Cases where Weir (or the server behind it) answered something. */
  answered: number;
  /** 'answer' steps that got nothing within the wait limit (the client then hangs up), by case. */
  unanswered: string[];
}

/**
 * Plays one case on a connection, then hangs up and waits until the connection is closed.
 * An 'answer' step waits for Weir's next packet or its close; a packet it does not get within
 * `answerLimitMs` is counted (never failed on: a server may lawfully wait for more bytes).
 */
export async function playCase(client: RawClient, c: FuzzCase, stats: FuzzStats, answerLimitMs = 2000): Promise<void> {
  stats.cases++;
  let answered = false;
  for (const step of c.steps) {
    if (!client.isOpen) break;
    if (step !== 'answer') {
      client.send(step);
      continue;
    }
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<'limit'>((resolve) => (timer = setTimeout(() => resolve('limit'), answerLimitMs)));
    const got = await Promise.race([client.next(), limit]);
    clearTimeout(timer);
    if (got === 'limit') stats.unanswered.push(c.name);
    else if (got) answered = true;
  }
  if (answered) stats.answered++;
  client.end();
  await client.closed;
}

export function newStats(): FuzzStats {
  return { cases: 0, answered: 0, unanswered: [] };
}

/** What Weir logs when its process-level backstop catches something: always a bug. */
const BACKSTOP = /unhandled promise rejection|uncaught exception/i;

/**
 * What the fuzzing runs against: a real MariaDB, Weir as a child process (a crash shows as
 * its exit), a session opened before the fuzzing (the bystander), and the checks run after
 * every case.
 */
export interface FuzzTarget {
  port: number;
  weir: Awaited<ReturnType<typeof spawnWeir>>;
  /** Logs in as the fuzzing user, who can harm nobody else: no SHUTDOWN, KILL, RELOAD or replication. */
  login(): Promise<RawClient>;
  /** Weir is alive, its backstop caught nothing, and the bystander still answers SELECT 1. */
  alive(what: string): Promise<void>;
  /** A session opened now logs in and answers SELECT 1; it is returned for the next case. */
  freshSession(what: string): Promise<RawClient>;
  /** alive() and freshSession(), the latter closed again. */
  stillServing(what: string): Promise<void>;
  /** Every fuzzed session is closed: only the bystander's is left. */
  onlyBystanderLeft(): Promise<void>;
  stop(): Promise<void>;
}

/** A child-process Weir on one MariaDB; `router` picks the service's router (readconnroute by default). */
export async function startFuzzTarget(
  seed: number,
  router: 'readconnroute' | 'readwritesplit' = 'readconnroute',
): Promise<FuzzTarget> {
  const db: MariaDBServer = await startMariaDB();
  const dir = tempDir();
  let weir: Awaited<ReturnType<typeof spawnWeir>> | undefined;
  let bystander: Connection | undefined;
  try {
    await createProxyUser(db);
    await db.query('CREATE DATABASE fuzzdb');
    await createUser(db, 'fuzz', 'fuzz-pw', 'SELECT ON fuzzdb.*');
    await createUser(db, 'app', 'app-pw');
    const port = await freePort();
    writeFileSync(
      join(dir, 'weir.cnf'),
      serverSection('db1', db.port) +
        monitorSection('Monitor', ['db1'], 200) +
        serviceSections('Svc', port, {
          servers: ['db1'],
          router,
          extra: router === 'readconnroute' ? '' : 'master_accept_reads=true\n',
        }),
    );
    const w = (weir = await spawnWeir(['--config', join(dir, 'weir.cnf'), '--datadir', dir, '--admin-port', '0']));
    // The router picks a server only once the monitor has seen it running.
    await waitFor('a first login through Weir', async () => {
      bystander = await mysql.createConnection({ host: '127.0.0.1', port, user: 'app', password: 'app-pw' });
      return true;
    });
    const other = bystander!;
    const login = () => RawClient.login(port, 'fuzz', 'fuzz-pw');
    const context = (what: string) =>
      `after ${what} (seed ${seed}); Weir's output ends with:\n${w.output().slice(-3000)}`;
    const alive = async (what: string) => {
      assert.equal(w.child.exitCode, null, `Weir exited ${context(what)}`);
      assert.equal(w.child.signalCode, null, `Weir was killed ${context(what)}`);
      assert.doesNotMatch(w.output(), BACKSTOP, `Weir's backstop caught an error ${context(what)}`);
      const [[row]] = (await other.query('SELECT 1 AS one')) as any;
      assert.equal(row.one, 1, `the session opened before the fuzzing ${context(what)}`);
    };
    const freshSession = async (what: string) => {
      const fresh = await login().catch((err: Error) =>
        assert.fail(`a new session cannot log in ${context(what)}: ${err.message}`),
      );
      assert.equal(await fresh.selectOne(), '1', `a new session ${context(what)}`);
      return fresh;
    };
    return {
      port,
      weir: w,
      login,
      alive,
      freshSession,
      async stillServing(what) {
        await alive(what);
        (await freshSession(what)).destroy();
      },
      onlyBystanderLeft: () =>
        waitFor(
          'every fuzzed session to be closed',
          async () => (await request(w.url).get('/sessions').auth(ADMIN.user, ADMIN.password)).body.length === 1,
        ),
      stop: () => cleanUp(),
    };
  } catch (err) {
    await cleanUp();
    throw err;
  }

  async function cleanUp(): Promise<void> {
    bystander?.destroy();
    weir?.child.kill('SIGTERM');
    if (weir) await exited(weir.child);
    await db.destroy();
    removeDir(dir);
  }
}

/** Packets of 16 MiB - 1 bytes whose continuation is cut short: for the long run only. */
export function bigCases(seed: number): FuzzCase[] {
  const r = seededRandom(seed ^ 0xb16);
  const full = (command: number, body: Buffer) =>
    frame(0xffffff, 0, cat(b(command), body, r.bytes(0xffffff - 1 - body.length)));
  return [
    {
      name: 'a 16 MiB COM_QUERY whose continuation is cut short',
      steps: [full(0x03, s('SELECT "')), frame(100, 1, s('x'))],
    },
    {
      name: 'a 16 MiB COM_CHANGE_USER without a NUL, its continuation cut short',
      steps: [full(COM_CHANGE_USER, Buffer.alloc(0)).fill(0x61, 5), frame(100, 1, s('x')), 'answer'],
    },
    {
      name: 'a 16 MiB COM_STMT_EXECUTE of an unknown statement, then an empty continuation',
      steps: [full(0x17, u32(77)), frame(0, 1, Buffer.alloc(0)), 'answer'],
    },
  ];
}
