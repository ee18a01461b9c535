/**
 * Property tests of the packet parsers: whatever bytes arrive, they either parse or fail
 * with a ProtocolError — never another exception, never a hang — and what Weir writes
 * reads back the same.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readChangeUser, writeChangeUser } from '../../src/proxy/protocol/change-user.ts';
import {
  isSslRequest,
  readHandshakeResponse,
  readInitialHandshake,
  writeHandshakeResponse,
  writeInitialHandshake,
} from '../../src/proxy/protocol/handshake.ts';
import { Capability, PacketFramer, ProtocolError, SERVER_CAPABILITIES } from '../../src/proxy/protocol/packets.ts';

const onlyProtocolErrors = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
  }
};

test('arbitrary bytes never crash the handshake parsers', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      const b = Buffer.from(bytes);
      onlyProtocolErrors(() => readHandshakeResponse(b));
      onlyProtocolErrors(() => readInitialHandshake(b));
      onlyProtocolErrors(() => readChangeUser(b, SERVER_CAPABILITIES));
      isSslRequest(b);
    }),
    { numRuns: 5000 },
  );
});

test('the framer returns exactly the packets written, however the stream is cut', () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 70 }), { maxLength: 20 }),
      fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 10 }),
      (payloads, cuts) => {
        const stream = Buffer.concat(
          payloads.map((p, i) => {
            const h = Buffer.alloc(4);
            h.writeUIntLE(p.length, 0, 3);
            h[3] = i & 0xff;
            return Buffer.concat([h, Buffer.from(p)]);
          }),
        );
        const framer = new PacketFramer();
        const got: Buffer[] = [];
        let at = 0;
        for (let k = 0; at < stream.length; k++) {
          const size = cuts[k % cuts.length]!;
          framer.push(stream.subarray(at, at + size));
          at += size;
          for (let p = framer.next(); p; p = framer.next()) got.push(Buffer.from(p.payload));
        }
        assert.deepEqual(
          got,
          payloads.map((p) => Buffer.from(p)),
        );
        assert.equal(framer.pending, 0);
      },
    ),
    { numRuns: 2000 },
  );
});

test('a length beyond the limit is a ProtocolError, not a buffer that grows forever', () => {
  const framer = new PacketFramer(1024);
  framer.push(Buffer.from([0xff, 0xff, 0xff, 0x00]));
  assert.throws(() => framer.next(), ProtocolError);
});

test('handshake packets read back as written', () => {
  fc.assert(
    fc.property(
      fc.record({
        user: fc.stringMatching(/^[a-z0-9_]{1,16}$/),
        token: fc.uint8Array({ minLength: 0, maxLength: 20 }),
        database: fc.option(fc.stringMatching(/^[a-z0-9_]{1,16}$/), { nil: null }),
        charset: fc.integer({ min: 1, max: 255 }),
      }),
      ({ user, token, database, charset }) => {
        const capabilities = SERVER_CAPABILITIES | (database ? Capability.CONNECT_WITH_DB : 0);
        const written = writeHandshakeResponse(1, {
          capabilities,
          maxPacketSize: 1 << 24,
          charset,
          user,
          authResponse: Buffer.from(token),
          database,
          authPlugin: 'mysql_native_password',
          attributes: null,
        });
        const read = readHandshakeResponse(written.subarray(4));
        assert.deepEqual(
          [read.user, [...read.authResponse], read.database, read.charset, read.authPlugin],
          [user, [...token], database, charset, 'mysql_native_password'],
        );
        const cu = {
          user,
          token: Buffer.from(token.slice(0, 20)),
          database,
          charset,
          plugin: 'mysql_native_password',
          attributes: null,
        };
        const back = readChangeUser(writeChangeUser(0, cu, SERVER_CAPABILITIES).subarray(4), SERVER_CAPABILITIES);
        assert.deepEqual({ ...back, token: [...back.token] }, { ...cu, token: [...cu.token] });
      },
    ),
    { numRuns: 1000 },
  );
  const greeting = writeInitialHandshake({
    connectionId: 7,
    serverVersion: '5.5.5-10.11.0-MariaDB',
    scramble: Buffer.alloc(20, 0x41),
    capabilities: SERVER_CAPABILITIES,
    charset: 45,
    status: 2,
    authPlugin: 'mysql_native_password',
  });
  const parsed = readInitialHandshake(greeting.subarray(4));
  assert.deepEqual(
    [parsed.connectionId, parsed.serverVersion, parsed.scramble.toString(), parsed.authPlugin],
    [7, '5.5.5-10.11.0-MariaDB', 'A'.repeat(20), 'mysql_native_password'],
  );
});

test('the reply tracker never throws on whatever a server sends, and says when it lost track', async () => {
  const { ReplyTracker, Command } = await import('../../src/proxy/protocol/reply-tracker.ts');
  fc.assert(
    fc.property(
      fc.array(
        fc.constantFrom(
          Command.QUERY,
          Command.STMT_PREPARE,
          Command.STMT_EXECUTE,
          Command.PING,
          Command.FIELD_LIST,
          Command.STMT_FETCH,
        ),
        { minLength: 1, maxLength: 5 },
      ),
      fc.array(fc.uint8Array({ maxLength: 60 }), { maxLength: 20 }),
      fc.boolean(),
      (commands, chunks, deprecateEof) => {
        const replies: unknown[] = [];
        const tracker = new ReplyTracker(deprecateEof ? 1 << 24 : 0, 0, (r) => replies.push(r));
        for (const c of commands) tracker.expect(c);
        for (const chunk of chunks) tracker.feed(Buffer.from(chunk));
        assert.ok(replies.length <= commands.length, 'no more replies than commands');
        assert.ok(tracker.pending + replies.length === commands.length || tracker.lost);
      },
    ),
    { numRuns: 2000 },
  );
});
