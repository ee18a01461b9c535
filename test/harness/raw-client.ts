/**
 * A MariaDB client that sends exactly the bytes a test gives it: for malformed packets,
 * broken handshakes and fuzzing, where a real driver would refuse to send them. It logs in
 * with mysql_native_password using Weir's own packet writers, then hands out the socket.
 */
import { connect, type Socket } from 'node:net';
import {
  readInitialHandshake,
  writeHandshakeResponse,
  type InitialHandshake,
} from '../../src/proxy/protocol/handshake.ts';
import { passwordSha1, tokenFor } from '../../src/proxy/protocol/native-password.ts';
import { Capability, PacketFramer, packet, readErr, SERVER_CAPABILITIES } from '../../src/proxy/protocol/packets.ts';

export interface Packet {
  sequence: number;
  payload: Buffer;
}

/** What a client that logs in with the plain protocol asks for: no TLS, no compression, no attributes. */
export const CLIENT_CAPABILITIES =
  (SERVER_CAPABILITIES | Capability.PLUGIN_AUTH) & ~Capability.CONNECT_ATTRS & ~Capability.CONNECT_WITH_DB;

export class RawClient {
  private readonly framer = new PacketFramer();
  private waiting: ((p: Packet | null) => void) | null = null;
  private isClosed = false;
  /** The scramble of the greeting it logged in with (for COM_CHANGE_USER tokens). */
  scramble: Buffer = Buffer.alloc(0);
  /** Resolves when the server (or the client) closed the connection. */
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => {
      this.framer.push(d);
      this.wake();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.isClosed = true;
        this.wake();
        resolve();
      }),
    );
  }

  /** Opens a TCP connection and reads the server's greeting. */
  static async open(
    port: number,
    host = '127.0.0.1',
  ): Promise<{ client: RawClient; greeting: InitialHandshake; greetingSequence: number }> {
    const socket = connect(port, host);
    const client = new RawClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    const first = await client.next();
    if (!first) throw new Error('the server closed the connection before its greeting');
    return { client, greeting: readInitialHandshake(first.payload), greetingSequence: first.sequence };
  }

  /** Logs in; throws with the server's error when it refuses. */
  static async login(port: number, user: string, password: string, database: string | null = null): Promise<RawClient> {
    const { client, greeting, greetingSequence } = await RawClient.open(port);
    client.send(
      writeHandshakeResponse(greetingSequence + 1, {
        capabilities: CLIENT_CAPABILITIES | (database ? Capability.CONNECT_WITH_DB : 0),
        maxPacketSize: 1 << 24,
        charset: 45,
        user,
        authResponse: tokenFor(passwordSha1(password), greeting.scramble),
        database,
        authPlugin: 'mysql_native_password',
        attributes: null,
      }),
    );
    const answer = await client.next();
    if (!answer) throw new Error('the server closed the connection during login');
    if (answer.payload[0] === 0xff) {
      client.destroy();
      throw new Error(`login refused: ${readErr(answer.payload).message}`);
    }
    if (answer.payload[0] !== 0x00) {
      client.destroy();
      throw new Error(`unexpected answer 0x${answer.payload[0]?.toString(16)} to the login`);
    }
    client.scramble = greeting.scramble;
    return client;
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  send(bytes: Buffer): void {
    if (!this.isClosed) this.socket.write(bytes);
  }

  /** Sends one command packet (sequence 0). */
  command(payload: Buffer): void {
    this.send(packet(0, payload));
  }

  /** The next packet from the server, or null once the connection is closed. */
  async next(): Promise<Packet | null> {
    for (;;) {
      const p = this.framer.next();
      if (p) return { sequence: p.sequence, payload: Buffer.from(p.payload) };
      if (this.isClosed) return null;
      await new Promise<Packet | null>((resolve) => (this.waiting = resolve as () => void));
    }
  }

  /** Every packet until the server closes the connection. */
  async untilClosed(): Promise<Packet[]> {
    const packets: Packet[] = [];
    for (let p = await this.next(); p; p = await this.next()) packets.push(p);
    return packets;
  }

  /** Half-closes: the server reads what was sent, then sees the end of the stream. */
  end(): void {
    if (!this.isClosed) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** COM_QUERY 'SELECT 1' and reads the single value of its single row (text protocol). */
  async selectOne(): Promise<string> {
    this.command(Buffer.concat([Buffer.from([0x03]), Buffer.from('SELECT 1', 'utf8')]));
    const packets: Packet[] = [];
    for (;;) {
      const p = await this.next();
      if (!p) throw new Error('the connection closed during SELECT 1');
      if (p.payload[0] === 0xff) throw new Error(`SELECT 1 failed: ${readErr(p.payload).message}`);
      packets.push(p);
      // column count, one column definition, (EOF,) the row, and the terminating EOF/OK (0xfe).
      if (packets.length >= 3 && p.payload[0] === 0xfe && p.payload.length < 0xffffff) break;
    }
    const row = packets[packets.length - 2]!.payload;
    return row.toString('utf8', 1, 1 + row[0]!);
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = null;
    w?.(null);
  }
}
