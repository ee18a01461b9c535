/** Which client packets are a KILL Weir runs itself (kill-request.ts), as the pass-through path sees them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firstWord, killRequest, MAYBE_KILL, NOT_KILL, UNDECIDED } from '../../src/proxy/routing/kill-request.ts';
import { packet } from '../../src/proxy/protocol/packets.ts';

const query = (sql: string) => packet(0, Buffer.concat([Buffer.from([0x03]), Buffer.from(sql)]));
const word = (sql: string, complete = true) => firstWord(Buffer.from(sql), 0, Buffer.byteLength(sql), complete);

test('the first word, past blanks and comments as the classifier skips them', () => {
  for (const sql of [
    'KILL 5',
    'kill query 5',
    '  \n\tKiLL 5',
    '/* x */ KILL 5',
    '# x\nKILL 5',
    '-- x\nKILL 5',
    '/*!KILL 5 */',
  ])
    assert.equal(word(sql), MAYBE_KILL, sql);
  for (const sql of ['/*!50100 KILL 5 */', '/*M!100100 KILL 5*/', '/*!*/ KILL 5', '/**/KILL 5'])
    assert.equal(word(sql), MAYBE_KILL, sql);
  for (const sql of [
    'SELECT 1',
    'KIL',
    '--KILL 5',
    '-x',
    '/x',
    "'KILL 5'",
    '(KILL 5)',
    '',
    '/* KILL 5 */',
    '-- KILL 5',
  ])
    assert.equal(word(sql), NOT_KILL, sql);
});

test('bytes that end before the first word is seen: undecided, unless the statement ends there', () => {
  for (const sql of ['', '  ', 'KI', '/', '/*', '/* x', '-', '--', '# x', '/*!501'])
    assert.equal(word(sql, false), UNDECIDED, sql);
  assert.equal(word('SELEC', false), NOT_KILL);
  assert.equal(word('KILx', false), NOT_KILL);
});

test('killRequest: KILL <id>, KILL QUERY, KILL USER, COM_PROCESS_KILL; anything else is not one', () => {
  assert.deepEqual(killRequest(query('KILL 7')), { id: 7, query: false });
  assert.deepEqual(killRequest(query('KILL 7;')), { id: 7, query: false });
  assert.deepEqual(killRequest(query('/* c */ KILL HARD QUERY 7')), { id: 7, query: true });
  assert.deepEqual(killRequest(query("KILL USER 'bob'")), { id: -1, user: 'bob', query: false });
  const id = Buffer.alloc(4);
  id.writeUInt32LE(9);
  assert.deepEqual(killRequest(packet(0, Buffer.concat([Buffer.from([0x0c]), id]))), { id: 9, query: false });
  for (const sql of ['KILL QUERY ID 7', 'SELECT 7', 'KILL (SELECT 1)'])
    assert.equal(killRequest(query(sql)), null, sql);
});
