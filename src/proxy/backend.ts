/**
 * Opening a backend connection on behalf of an authenticated client: Weir reads the
 * server's handshake and answers it with the client's user, the SHA1 of the client's
 * password (recovered during client authentication) and the client's default database.
 */
import { connect, type Socket } from 'node:net';
import { readAuthSwitchRequest, readInitialHandshake, writeHandshakeResponse, type InitialHandshake } from './protocol/handshake.ts';
import { tokenFor } from './protocol/native-password.ts';
import { Capability, PacketFramer, ProtocolError, readErr } from './protocol/packets.ts';

export interface BackendLogin {
  host: string;
  port: number;
  user: string;
  passwordSha1: Buffer;
  database: string | null;
  /** The client's capabilities; the backend gets those both sides support. */
  capabilities: number;
  charset: number;
  attributes: Buffer | null;
  connectTimeoutMs: number;
}

/** The server answered with an error packet (wrong grants, unknown database, too many connections...). */
export class BackendError extends Error {
  constructor(readonly code: number, readonly sqlState: string, message: string) {
    super(message);
  }
}

export interface OpenBackend {
  socket: Socket;
  handshake: InitialHandshake;
  capabilities: number;
}

export function openBackend(login: BackendLogin): Promise<OpenBackend> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: login.host, port: login.port });
    socket.setNoDelay(true);
    const framer = new PacketFramer(1 << 20);
    let handshake: InitialHandshake | null = null;
    let capabilities = 0;
    let done = false;
    const timer = setTimeout(() => fail(new Error(`no answer from ${login.host}:${login.port} within ${login.connectTimeoutMs} ms`)), login.connectTimeoutMs);

    function fail(err: Error): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    }

    function onData(chunk: Buffer): void {
      framer.push(chunk);
      try {
        for (let p = framer.next(); p; p = framer.next()) {
          if (handshake === null) {
            if (p.payload[0] === 0xff) {
              const e = readErr(p.payload);
              return fail(new BackendError(e.code, e.sqlState, e.message));
            }
            handshake = readInitialHandshake(p.payload);
            capabilities = (login.capabilities & handshake.capabilities & ~Capability.SSL & ~Capability.COMPRESS)
              | Capability.PROTOCOL_41 | Capability.SECURE_CONNECTION | Capability.PLUGIN_AUTH;
            if (login.database) capabilities |= Capability.CONNECT_WITH_DB;
            else capabilities &= ~Capability.CONNECT_WITH_DB;
            socket.write(writeHandshakeResponse(p.sequence + 1, {
              capabilities, maxPacketSize: 0xffffff, charset: login.charset, user: login.user,
              authResponse: tokenFor(login.passwordSha1, handshake.scramble), database: login.database,
              authPlugin: 'mysql_native_password', attributes: capabilities & Capability.CONNECT_ATTRS ? login.attributes : null,
            }));
            continue;
          }
          const kind = p.payload[0];
          if (kind === 0x00) {
            done = true;
            clearTimeout(timer);
            socket.off('data', onData);
            socket.off('error', fail);
            socket.off('close', onClose);
            if (framer.pending) socket.unshift(framer.drain());
            return resolve({ socket, handshake, capabilities });
          }
          if (kind === 0xff) {
            const e = readErr(p.payload);
            return fail(new BackendError(e.code, e.sqlState, e.message));
          }
          if (kind === 0xfe) {
            const req = readAuthSwitchRequest(p.payload);
            if (req.plugin !== 'mysql_native_password') {
              return fail(new ProtocolError(`the server asks for authentication plugin '${req.plugin}', which Weir does not support for backends`));
            }
            const token = tokenFor(login.passwordSha1, req.data.subarray(0, 20));
            const out = Buffer.alloc(4 + token.length);
            out.writeUIntLE(token.length, 0, 3);
            out[3] = (p.sequence + 1) & 0xff;
            token.copy(out, 4);
            socket.write(out);
            continue;
          }
          return fail(new ProtocolError(`unexpected packet 0x${kind?.toString(16)} while authenticating to the server`));
        }
      } catch (err) {
        fail(err as Error);
      }
    }
    const onClose = () => fail(new Error(`${login.host}:${login.port} closed the connection during the handshake`));
    socket.on('data', onData);
    socket.on('error', fail);
    socket.on('close', onClose);
  });
}
