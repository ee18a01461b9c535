/** User-supplied regular expressions on RE2's linear-time engine (src/core/regex.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRegex } from '../../src/core/regex.ts';

test('catastrophic-backtracking patterns answer at once (a backtracking engine would take hours here)', () => {
  for (const [pattern, text] of [
    ['(a+)+$', `${'a'.repeat(5000)}!`],
    ['(a|aa)*c', 'a'.repeat(5000)],
    ['(x+x+)+y', 'x'.repeat(5000)],
    ['^(\\w+\\s?)*$', `${'word '.repeat(2000)}!`],
  ] as const) {
    assert.equal(compileRegex(pattern).test(text), false, pattern);
  }
});

test("MaxScale's forms: /slashes/, ignorecase, extended, inline flags", () => {
  assert.equal(compileRegex('/^select/').test('select 1'), true);
  assert.equal(compileRegex('^select').test('SELECT 1'), false);
  assert.equal(compileRegex('^select', ['ignorecase']).test('SELECT 1'), true);
  assert.equal(compileRegex('(?i)^select').test('SELECT 1'), true);
  assert.equal(compileRegex('^ select \\s+ 1  # a comment', ['extended']).test('select  1'), true);
  assert.equal(compileRegex('[[:digit:]]+').test('id = 42'), true);
  assert.equal(compileRegex('(?<=FROM )t1').test('SELECT * FROM t1'), true);
});

test('replaceAll expands $1, $<name>, $& and $$ as String.prototype.replace does', () => {
  const re = compileRegex('FROM (?P<table>\\w+)_old', ['ignorecase']);
  assert.equal(
    re.replaceAll('select 1 from a_old union select 2 from b_old', 'FROM $1'),
    'select 1 FROM a union select 2 FROM b',
  );
  assert.equal(re.replaceAll('from a_old', '$<table> [$&] $$'), 'a [from a_old] $');
});

test('PCRE features a linear-time engine cannot run are refused by name', () => {
  const refused: Array<[string, RegExp]> = [
    ['(a)\\1', /uses a backreference \(\\1\.\.\.\)/],
    ['(?<n>a)\\k<n>', /uses a named backreference/],
    ['foo(?=bar)', /uses lookahead/],
    ['foo(?!bar)', /uses lookahead/],
    ['(?>a+)b', /uses an atomic group/],
    ['a*+b', /uses a possessive quantifier/],
    ['(a|(?R))', /uses recursion/],
    ['a\\Z', /uses \\Z \(use \\z\)/],
  ];
  for (const [pattern, message] of refused) {
    assert.throws(
      () => compileRegex(pattern),
      (err: Error) => message.test(err.message) && /linear-time engine \(RE2 syntax\)/.test(err.message),
      pattern,
    );
  }
  assert.throws(() => compileRegex('('), /^Error: is not a valid regular expression: missing closing \)/);
  // A possessive-looking `*+` inside a class is just two characters.
  assert.equal(compileRegex('[*+]+').test('a*b'), true);
  assert.throws(() => compileRegex('a'.repeat(10_001)), /is longer than 10000 characters/);
});
