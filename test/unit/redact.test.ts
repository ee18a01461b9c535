/** Password literals masked out of statements before they leave Weir (src/core/redact.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasSecrets, redactSecrets } from '../../src/core/redact.ts';

/** [statement, what may be shown]: every secret in these statements is the word `s3cr3t…`. */
const TABLE: Array<[string, string]> = [
  ["CREATE USER 'bob'@'%' IDENTIFIED BY 's3cr3t'", "CREATE USER 'bob'@'%' IDENTIFIED BY '***'"],
  ["create user bob identified by 's3cr3t'", "create user bob identified by '***'"],
  ['CrEaTe UsEr bob IdEnTiFiEd By "s3cr3t-dq"', "CrEaTe UsEr bob IdEnTiFiEd By '***'"],
  ["CREATE USER bob\n\tIDENTIFIED\r\n  BY\t's3cr3t'", "CREATE USER bob\n\tIDENTIFIED\r\n  BY\t'***'"],
  [
    "CREATE USER bob IDENTIFIED /* why */ BY -- really\n 's3cr3t'",
    "CREATE USER bob IDENTIFIED /* why */ BY -- really\n '***'",
  ],
  ["CREATE USER bob IDENTIFIED # hash comment\nBY 's3cr3t'", "CREATE USER bob IDENTIFIED # hash comment\nBY '***'"],
  ["CREATE USER bob IDENTIFIED BY 's3cr3t''quoted\\'escaped'", "CREATE USER bob IDENTIFIED BY '***'"],
  ["CREATE USER bob IDENTIFIED BY 's3cr3t unclosed", "CREATE USER bob IDENTIFIED BY '***'"],
  [
    "CREATE USER a IDENTIFIED BY 's3cr3t-a', b IDENTIFIED BY 's3cr3t-b' REQUIRE SSL",
    "CREATE USER a IDENTIFIED BY '***', b IDENTIFIED BY '***' REQUIRE SSL",
  ],
  ["CREATE USER bob /*!IDENTIFIED BY 's3cr3t'*/", "CREATE USER bob /*!IDENTIFIED BY '***'*/"],
  ["CREATE USER bob /*M!100100 IDENTIFIED BY 's3cr3t'*/", "CREATE USER bob /*M!100100 IDENTIFIED BY '***'*/"],
  ["CREATE USER bob IDENTIFIED BY PASSWORD '*S3CR3THASH'", "CREATE USER bob IDENTIFIED BY PASSWORD '***'"],
  ["ALTER USER 'bob'@'localhost' IDENTIFIED BY 's3cr3t'", "ALTER USER 'bob'@'localhost' IDENTIFIED BY '***'"],
  [
    "GRANT SELECT ON db.* TO bob@'%' IDENTIFIED BY 's3cr3t' WITH GRANT OPTION",
    "GRANT SELECT ON db.* TO bob@'%' IDENTIFIED BY '***' WITH GRANT OPTION",
  ],
  [
    "CREATE USER bob IDENTIFIED VIA ed25519 USING PASSWORD('s3cr3t')",
    "CREATE USER bob IDENTIFIED VIA ed25519 USING PASSWORD('***')",
  ],
  [
    "CREATE USER bob IDENTIFIED VIA ed25519 USING PASSWORD('s3cr3t') OR mysql_native_password USING 's3cr3tHASH'",
    "CREATE USER bob IDENTIFIED VIA ed25519 USING PASSWORD('***') OR mysql_native_password USING '***'",
  ],
  [
    "CREATE USER bob IDENTIFIED WITH caching_sha2_password AS 's3cr3tHASH'",
    "CREATE USER bob IDENTIFIED WITH caching_sha2_password AS '***'",
  ],
  ["SET PASSWORD = PASSWORD('s3cr3t')", "SET PASSWORD = PASSWORD('***')"],
  ["SET PASSWORD FOR 'bob'@'%' = PASSWORD('s3cr3t')", "SET PASSWORD FOR 'bob'@'%' = PASSWORD('***')"],
  ["set password for bob = 's3cr3tHASH'", "set password for bob = '***'"],
  ["SET PASSWORD FOR bob=OLD_PASSWORD( 's3cr3t' )", "SET PASSWORD FOR bob=OLD_PASSWORD( '***' )"],
  ["SELECT PASSWORD('s3cr3t'), 'visible'", "SELECT PASSWORD('***'), 'visible'"],
  ["SELECT password ( 's3cr3t' )", "SELECT password ( '***' )"],
  ["SELECT AES_ENCRYPT('data', 's3cr3t-key')", "SELECT AES_ENCRYPT('***', '***')"],
  [
    "CHANGE MASTER TO MASTER_HOST='db1', MASTER_USER='repl', MASTER_PASSWORD='s3cr3t'",
    "CHANGE MASTER TO MASTER_HOST='db1', MASTER_USER='repl', MASTER_PASSWORD='***'",
  ],
  [
    "CREATE SERVER s FOREIGN DATA WRAPPER mysql OPTIONS (USER 'u', PASSWORD 's3cr3t')",
    "CREATE SERVER s FOREIGN DATA WRAPPER mysql OPTIONS (USER 'u', PASSWORD '***')",
  ],
  ["CREATE USER bob IDENTIFIED BY X'73336372337400'", "CREATE USER bob IDENTIFIED BY '***'"],
  ["CREATE USER bob IDENTIFIED BY 's3cr3t'; SELECT 'kept'", "CREATE USER bob IDENTIFIED BY '***'; SELECT 'kept'"],
  [
    "SELECT 'kept'; SET PASSWORD FOR bob = 's3cr3tHASH'; SELECT 'kept too'",
    "SELECT 'kept'; SET PASSWORD FOR bob = '***'; SELECT 'kept too'",
  ],
  [
    "SET STATEMENT max_statement_time=10 FOR SET PASSWORD FOR 'bob'@'%' = 's3cr3tHASH'",
    "SET STATEMENT max_statement_time=10 FOR SET PASSWORD FOR 'bob'@'%' = '***'",
  ],
  ["/*!SET PASSWORD = 's3cr3tHASH'*/", "/*!SET PASSWORD = '***'*/"],
];

test('each password literal is masked, and nothing else changes', () => {
  for (const [sql, shown] of TABLE) {
    assert.equal(redactSecrets(sql), shown, sql);
    assert.ok(!/s3cr3t/i.test(redactSecrets(sql)), sql);
    assert.equal(hasSecrets(sql), true, sql);
  }
});

test('statements without password literals are returned as they are', () => {
  for (const sql of [
    'SELECT 1',
    "SELECT 'password' AS word",
    "SELECT * FROM users WHERE password_hash = 'abc'",
    "INSERT INTO t (identified) VALUES ('x')",
    'CREATE USER bob',
    "CREATE USER bob@'%' PASSWORD EXPIRE",
    "SELECT `password` FROM t WHERE name = 'a'",
    "-- IDENTIFIED BY 'x'\nSELECT 1",
    "SELECT 'IDENTIFIED BY ''x'''",
  ]) {
    assert.equal(redactSecrets(sql), sql, sql);
    assert.equal(hasSecrets(sql), false, sql);
  }
});
