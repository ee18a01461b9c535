/**
 * An idle client session for the benchmarks (as `sbtest` unless told otherwise).
 */
import { connect, type Socket } from 'node:net';
import { readInitialHandshake, writeHandshakeResponse } from '../../src/proxy/protocol/handshake.ts';
import { passwordSha1, tokenFor } from '../../src/proxy/protocol/native-password.ts';
import { PacketFramer, SERVER_CAPABILITIES } from '../../src/proxy/protocol/packets.ts';

/** Logs in and then just holds the socket (a mysql2 connection each would cost this process gigabytes). */
export function idleSession(port: number, user = 'sbtest', password = 'sbtest-pw'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const framer = new PacketFramer();
    let greeted = false;
    socket.on('error', reject);
    socket.on('data', (chunk) => {
      framer.push(chunk);
      for (let p = framer.next(); p; p = framer.next()) {
        if (!greeted) {
          greeted = true;
          const hs = readInitialHandshake(p.payload);
          socket.write(
            writeHandshakeResponse(1, {
              capabilities: SERVER_CAPABILITIES,
              maxPacketSize: 1 << 24,
              charset: 45,
              user,
              authResponse: tokenFor(passwordSha1(password), hs.scramble),
              database: null,
              authPlugin: 'mysql_native_password',
              attributes: null,
            }),
          );
        } else if (p.payload[0] === 0x00) {
          socket.removeAllListeners('data');
          resolve(socket);
        } else {
          reject(new Error(`login failed: ${p.payload.subarray(3).toString()}`));
        }
      }
    });
  });
}
