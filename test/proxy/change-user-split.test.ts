/**
 * A COM_CHANGE_USER whose packet arrives split across TCP reads (in its header, or in its
 * body), on readconnroute's pass-through path. Weir must recognise it however it is cut and check it like any other
 * (root_user, the account's password), never forward it to the server as it is: the server
 * would accept a password-less root that Weir refuses.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createUser, freePort, startMariaDB, waitFor, type MariaDBServer } from '../harness/mariadb.ts';
import { createProxyUser, oneServerConfig } from '../harness/config.ts';
import { removeDir, startTestWeir, type TestWeir } from '../harness/weir.ts';
import { RawClient, CLIENT_CAPABILITIES } from '../harness/raw-client.ts';
import { writeChangeUser } from '../../src/proxy/protocol/change-user.ts';
import { passwordSha1, tokenFor } from '../../src/proxy/protocol/native-password.ts';
import { packet, readErr } from '../../src/proxy/protocol/packets.ts';

/** A COM_CHANGE_USER to `user` with `token`, as a client with CLIENT_CAPABILITIES sends it. */
function changeUserPacket(user: string, token: Buffer): Buffer {
  return writeChangeUser(
    0,
    { user, token, database: null, charset: 45, plugin: 'mysql_native_password', attributes: null },
    CLIENT_CAPABILITIES,
  );
}
describe('COM_CHANGE_USER split across reads (pass-through)', () => {
  let db: MariaDBServer;
  let t: TestWeir;
  let port: number;

  before(async () => {
    db = await startMariaDB({ name: 'cu-split' });
    await createProxyUser(db);
    await createUser(db, 'app', 'app-pw');
    // A root the server lets in without a password over TCP: only Weir's root_user check stops it.
    await db.query("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''");
    await db.query("GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1'");
    port = await freePort();
    t = await startTestWeir({
      config: oneServerConfig(db, { services: { Plain: port }, globals: 'users_refresh_time=0s' }),
      serversRunning: true,
    });
  });
  after(async () => {
    await t?.stop();
    if (t) removeDir(t.datadir);
    await db?.destroy();
  });

  /** Sends `bytes` in two writes, the second only once Weir has read the first. */
  const sendSplit = async (client: RawClient, bytes: Buffer, at: number) => {
    const core = t.weir.context.core;
    const session = () => core.sessions.list().find((s) => s.service === 'Plain' && s.user === 'app');
    const before = session()!.bytesIn;
    client.send(bytes.subarray(0, at));
    await waitFor('Weir to read the first part', async () => (session()?.bytesIn ?? 0) >= before + at, 10_000);
    client.send(bytes.subarray(at));
  };

  // 12: inside the body, once Weir knows the packet for what it is.
  for (const at of [2, 4, 12]) {
    test(`cut after ${at} bytes: a change to a password-less root is refused by Weir (root_user=false)`, async () => {
      const client = await RawClient.login(port, 'app', 'app-pw');
      assert.equal(await client.selectOne(), '1');
      const cu = changeUserPacket('root', Buffer.alloc(0));
      await sendSplit(client, cu, at);
      const answer = await client.next();
      assert.ok(answer, 'Weir answers');
      assert.equal(answer.payload[0], 0xff, 'with an error, not the server OK of an unchecked change');
      assert.equal(readErr(answer.payload).code, 1045);
      await client.closed;
    });
  }

  for (const at of [3, 12])
    test(`cut after ${at} bytes: a change to a valid account is checked and works, the session goes on`, async () => {
      const client = await RawClient.login(port, 'app', 'app-pw');
      assert.equal(await client.selectOne(), '1');
      const cu = changeUserPacket('app', tokenFor(passwordSha1('app-pw'), client.scramble));
      await sendSplit(client, cu, at);
      let answer = await client.next();
      if (answer?.payload[0] === 0xfe) {
        // The server asks to authenticate again with a new scramble (as MariaDB does on a change of user).
        const nul = answer.payload.indexOf(0, 1);
        const scramble = answer.payload.subarray(nul + 1, nul + 21);
        client.send(packet(answer.sequence + 1, tokenFor(passwordSha1('app-pw'), scramble)));
        answer = await client.next();
      }
      assert.equal(answer?.payload[0], 0x00, `an OK, not ${answer && readErr(answer.payload).message}`);
      assert.equal(await client.selectOne(), '1');
      client.destroy();
    });
});
