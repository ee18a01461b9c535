/**
 * No client can crash Weir: malformed packets after login, for every command byte, and
 * during authentication, each cost at most their own session. Weir runs as a child process,
 * so that a crash shows as its exit; after every case a session opened before the fuzzing
 * and a fresh one must both still run SELECT 1, and Weir's log must not show its
 * last-resort handler for an unhandled rejection or an uncaught exception.
 *
 * Bounded for `npm test`; the seed is printed. WEIR_FUZZ_SEED replays a seed,
 * WEIR_FUZZ_COUNT sets the random variants per command byte (default 1) and
 * WEIR_FUZZ_AUTH_COUNT the random handshake responses (default 40), WEIR_FUZZ_CONCURRENCY
 * the cases played at once (default 4). The long run is
 * test/bench/fuzz-protocol.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql, { type Connection } from 'mysql2/promise';
import request from 'supertest';
import { packet, readErr } from '../../src/proxy/protocol/packets.ts';
import { createUser, freePort, startMariaDB, waitFor, type MariaDBServer } from '../harness/mariadb.ts';
import { authCases, commandCases, newStats, runCases, type FuzzCase } from '../harness/protocol-fuzz.ts';
import { RawClient } from '../harness/raw-client.ts';
import { ADMIN, exited, removeDir, spawnWeir, tempDir } from '../harness/weir.ts';

const SEED = Number(process.env.WEIR_FUZZ_SEED ?? 20261130);
const PER_COMMAND = Number(process.env.WEIR_FUZZ_COUNT ?? 1);
const AUTH_RANDOM = Number(process.env.WEIR_FUZZ_AUTH_COUNT ?? 40);
/** Cases played at once, each on its own connection (WEIR_FUZZ_CONCURRENCY). */
const CONCURRENCY = Number(process.env.WEIR_FUZZ_CONCURRENCY ?? 4);
/** What Weir logs when its process-level backstop catches something: always a bug. */
const BACKSTOP = /unhandled promise rejection|uncaught exception/i;

describe('the MariaDB protocol fuzzed after login and during authentication', () => {
  let db: MariaDBServer;
  let dir: string;
  let weir: Awaited<ReturnType<typeof spawnWeir>>;
  let port: number;
  let bystander: Connection;

  const login = () => RawClient.login(port, 'fuzz', 'fuzz-pw');
  const context = (what: string) => `after ${what} (seed ${SEED}); Weir's output ends with:\n${weir.output().slice(-3000)}`;
  /** Weir is alive and the session opened before the fuzzing still answers SELECT 1. */
  const alive = async (what: string) => {
    assert.equal(weir.child.exitCode, null, `Weir exited ${context(what)}`);
    assert.equal(weir.child.signalCode, null, `Weir was killed ${context(what)}`);
    assert.doesNotMatch(weir.output(), BACKSTOP, `Weir's backstop caught an error ${context(what)}`);
    const [[row]] = (await bystander.query('SELECT 1 AS one')) as any;
    assert.equal(row.one, 1, `the session opened before the fuzzing ${context(what)}`);
  };
  /** A session opened now logs in and answers SELECT 1; it is returned for the next case. */
  const freshSession = async (what: string) => {
    const fresh = await login().catch((err: Error) => assert.fail(`a new session cannot log in ${context(what)}: ${err.message}`));
    assert.equal(await fresh.selectOne(), '1', `a new session ${context(what)}`);
    return fresh;
  };
  /** Weir is alive, and both an old session and a new one still answer SELECT 1. */
  const stillServing = async (what: string) => {
    await alive(what);
    (await freshSession(what)).destroy();
  };
  const onlyBystanderLeft = () => waitFor('every fuzzed session to be closed', async () =>
    (await request(weir.url).get('/sessions').auth(ADMIN.user, ADMIN.password)).body.length === 1);

  before(async () => {
    db = await startMariaDB();
    await createUser(db, 'maxuser', 'max-pw', 'SELECT ON mysql.*');
    await db.query('GRANT REPLICA MONITOR ON *.* TO maxuser@`127.0.0.1`');
    // The fuzzing user may do nothing that harms others: no SHUTDOWN, no KILL of other
    // users' connections, no RELOAD, no replication.
    await db.query('CREATE DATABASE fuzzdb');
    await createUser(db, 'fuzz', 'fuzz-pw', 'SELECT ON fuzzdb.*');
    await createUser(db, 'app', 'app-pw');
    dir = tempDir();
    port = await freePort();
    writeFileSync(join(dir, 'weir.cnf'), `
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
`);
    weir = await spawnWeir(['--config', join(dir, 'weir.cnf'), '--datadir', dir, '--admin-port', '0']);
    // The router picks a server only once the monitor has seen it running.
    await waitFor('a first login through Weir', async () => {
      bystander = await mysql.createConnection({ host: '127.0.0.1', port, user: 'app', password: 'app-pw' });
      return true;
    });
  });

  after(async () => {
    bystander?.destroy();
    weir?.child.kill('SIGTERM');
    if (weir) await exited(weir.child);
    await db?.destroy();
    if (dir) removeDir(dir);
  });

  test('regression: a COM_CHANGE_USER without the NUL after the user name gets an error and costs only its session', async () => {
    const client = await login();
    client.send(packet(0, Buffer.concat([Buffer.from([0x11]), Buffer.from('fuzz-user-without-nul')])));
    const answers = await client.untilClosed();
    await stillServing('the malformed COM_CHANGE_USER');
    assert.equal(answers.length, 1, 'Weir answers once, then closes the session');
    assert.equal(answers[0]!.payload[0], 0xff, 'with an ERR packet');
    const err = readErr(answers[0]!.payload);
    assert.equal(err.code, 1835);
    assert.match(err.message, /Malformed communication packet/);
    await onlyBystanderLeft();
  });

  test(`every command byte after login, random and malformed (seed ${SEED}, ${PER_COMMAND} per byte)`, async (t) => {
    const cases = commandCases(SEED, PER_COMMAND);
    t.diagnostic(`seed ${SEED} (WEIR_FUZZ_SEED), ${PER_COMMAND} random variants per command byte (WEIR_FUZZ_COUNT), ${cases.length} cases`);
    const stats = newStats();
    const started = performance.now();
    // Each case runs on a session opened after the previous case, which first proves that a
    // fresh session still logs in and answers SELECT 1.
    await runCases(cases, CONCURRENCY, stats, freshSession, alive);
    await stillServing('the last case');
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    t.diagnostic(`${stats.cases} cases in ${seconds} s: ${stats.answered} answered; waits without an answer: ${stats.unanswered.join(', ') || 'none'}`);
    assert.equal(stats.cases, cases.length);
    await onlyBystanderLeft();
  });

  test(`the authentication step (seed ${SEED}, ${AUTH_RANDOM} random)`, async (t) => {
    const cases: FuzzCase[] = authCases(SEED, AUTH_RANDOM);
    t.diagnostic(`seed ${SEED}, ${cases.length} cases (WEIR_FUZZ_AUTH_COUNT random ones: ${AUTH_RANDOM})`);
    const stats = newStats();
    const started = performance.now();
    await runCases(cases, CONCURRENCY, stats, async () => (await RawClient.open(port)).client, stillServing);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    t.diagnostic(`${stats.cases} cases in ${seconds} s: ${stats.answered} answered; waits without an answer: ${stats.unanswered.join(', ') || 'none'}`);
    await onlyBystanderLeft();
  });
});
