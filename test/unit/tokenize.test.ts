/**
 * Command lines are read like a shell's: quotes, escapes, a trailing & for background jobs,
 * and options with clear errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseOptions, tokenize } from '../../src/console/tokenize.ts';

test('words, quotes and escapes', () => {
  assert.deepEqual(tokenize('  list   servers ').words, ['list', 'servers']);
  assert.deepEqual(tokenize(`watch queries --match 'SELECT  \\d+' --user "o\\"neil"`).words, [
    'watch',
    'queries',
    '--match',
    'SELECT  \\d+',
    '--user',
    'o"neil',
  ]);
  assert.deepEqual(tokenize('alter server db1 address my\\ host').words, [
    'alter',
    'server',
    'db1',
    'address',
    'my host',
  ]);
  assert.deepEqual(tokenize(`a'b'"c d"e`).words, ['abc de']);
  assert.deepEqual(tokenize(`show server ''`).words, ['show', 'server', '']);
});

test('a trailing unquoted & asks for a background job', () => {
  assert.deepEqual(tokenize('dashboard -i 100 &'), { words: ['dashboard', '-i', '100'], background: true });
  assert.deepEqual(tokenize('dashboard&'), { words: ['dashboard'], background: true });
  assert.deepEqual(tokenize("watch queries --match '&'"), {
    words: ['watch', 'queries', '--match', '&'],
    background: false,
  });
  assert.equal(tokenize('version').background, false);
});

test('unclosed quotes and a dangling backslash are errors naming the column', () => {
  assert.throws(() => tokenize(`list 'servers`), /unclosed ' at column 6/);
  assert.throws(() => tokenize('list "servers'), /unclosed " at column 6/);
  assert.throws(() => tokenize('list \\'), /a backslash at the end of the line escapes nothing/);
});

test('options: --name value, --name=value, -x value, flags, and errors that say what is expected', () => {
  const spec = { service: 'string', n: 'number', all: 'flag' } as const;
  assert.deepEqual(parseOptions(['--service', 'Shop', '-n', '5', 'x', '--all'], spec), {
    options: { service: 'Shop', n: 5, all: true },
    args: ['x'],
  });
  assert.deepEqual(parseOptions(['--service=Read-Service'], spec).options, { service: 'Read-Service' });
  assert.throws(() => parseOptions(['-n', 'five'], spec), /option '-n' needs a number, not 'five'/);
  assert.throws(() => parseOptions(['--service'], spec), /option '--service' needs a value/);
  assert.throws(() => parseOptions(['--nope'], spec), /unknown option '--nope'; the options are --service, -n, --all/);
});
