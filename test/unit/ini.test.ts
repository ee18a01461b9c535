import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, formatIni, parseIni } from '../../src/config/ini.ts';

const values = (text: string, section = 0) =>
  Object.fromEntries(parseIni(text, 'x.cnf').sections[section]!.entries.map((e) => [e.key, e.value]));

function parseError(text: string): ConfigError {
  try {
    parseIni(text, 'x.cnf');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err;
  }
  assert.fail('parsed without an error');
}

describe('MaxScale-format configuration parser', () => {
  test('a dotted section name stays one flat name', () => {
    const doc = parseIni('[db.server-1]\ntype=server\n', 'x.cnf');
    assert.deepEqual(
      doc.sections.map((s) => s.name),
      ['db.server-1'],
    );
  });

  test('; and # inside a value are part of it: there are no trailing comments', () => {
    assert.deepEqual(values('[f]\nmatch=/^select;x#y/\npassword=ab;cd#ef\n'), {
      match: '/^select;x#y/',
      password: 'ab;cd#ef',
    });
  });

  test('whole-line comments with # and ; are ignored, also indented ones after a blank line', () => {
    assert.deepEqual(values('# top\n[s]\n; semi\na=1\n\n   # indented\nb=2\n'), { a: '1', b: '2' });
  });

  test('continuation lines join a comma list', () => {
    assert.deepEqual(values('[svc]\nservers=server1,\n    server2,\n\tserver3\nuser=u\n'), {
      servers: 'server1,server2,server3',
      user: 'u',
    });
  });

  test('values stay strings; empty values are empty strings; = inside a value is kept', () => {
    assert.deepEqual(values('[s]\nflag=false\nport=3306\npassword=\nreplace=a=b\n'), {
      flag: 'false',
      port: '3306',
      password: '',
      replace: 'a=b',
    });
  });

  test('CRLF line endings and a UTF-8 BOM are accepted, lines counted right', () => {
    const doc = parseIni('\uFEFF[s]\r\na=1\r\n\r\n[t]\r\nb=2\r\n', 'x.cnf');
    assert.deepEqual(
      doc.sections.map((s) => [s.name, s.line]),
      [
        ['s', 1],
        ['t', 4],
      ],
    );
    assert.equal(doc.sections[1]!.get('b')!.line, 5);
  });

  test('errors name the file, the line, the section and the key', () => {
    assert.equal(
      parseError('[s]\na=1\n[bad name]\n').message,
      "x.cnf:3: '[bad name]' is not a valid section name: use letters, digits and _ . ~ -",
    );
    assert.match(parseError('[@@x]\n').message, /x\.cnf:1: .*not starting with @@/);
    assert.equal(parseError('port=1\n').message, "x.cnf:1: key 'port': outside any section");
    assert.equal(
      parseError('[s]\n\njust words\n').message,
      "x.cnf:3: [s] 'just words' is neither a section, a key=value line nor a comment",
    );
    const dupSection = parseError('[Server1]\na=1\n[server1]\n');
    assert.deepEqual([dupSection.line, dupSection.section], [3, 'server1']);
    assert.match(dupSection.message, /duplicate section \(first defined at line 1 as \[Server1\]\)/);
    const dupKey = parseError('[s]\nport=1\nport=2\n');
    assert.equal(dupKey.message, "x.cnf:3: [s] key 'port': duplicate key (first set at line 2)");
    assert.equal(parseError('[s]\n=3\n').message, 'x.cnf:2: [s] empty key');
  });

  test('formatIni round-trips a realistic configuration', () => {
    const sections = [
      { name: 'maxscale', entries: [{ key: 'admin_host', value: '127.0.0.1' }] },
      {
        name: 'db.server-1',
        entries: [
          { key: 'type', value: 'server' },
          { key: 'address', value: '10.0.0.1' },
          { key: 'port', value: '3306' },
        ],
      },
      {
        name: 'Rewrite',
        entries: [
          { key: 'type', value: 'filter' },
          { key: 'match', value: '/^select;x#y = 1/' },
          { key: 'replace', value: 'a b=c' },
          { key: 'password', value: '' },
        ],
      },
    ];
    const text = formatIni(sections, 'Written by a test.\nSecond line.');
    assert.match(text, /^# Written by a test\.\n# Second line\.\n/);
    const doc = parseIni(text, 'x.cnf');
    assert.deepEqual(
      doc.sections.map((s) => ({ name: s.name, entries: s.entries.map(({ key, value }) => ({ key, value })) })),
      sections,
    );
  });

  test('formatIni refuses what a file cannot hold', () => {
    assert.throws(() => formatIni([{ name: 's', entries: [{ key: 'a', value: 'x\ny' }] }]), /newline/);
    assert.throws(() => formatIni([{ name: 's', entries: [{ key: 'a', value: ' x' }] }]), /whitespace/);
  });
});
