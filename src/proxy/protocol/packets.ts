/**
 * MariaDB packet framing and the packets Weir writes itself, named as the MariaDB
 * protocol documentation names them. A packet is a 3-byte little-endian payload length,
 * a 1-byte sequence id, and the payload; a payload of 0xffffff bytes continues in the
 * next packet.
 */
import { MAX_PAYLOAD } from './commands.ts';

export { MAX_PAYLOAD };

export const Capability = {
  LONG_PASSWORD: 1,
  FOUND_ROWS: 2,
  LONG_FLAG: 4,
  CONNECT_WITH_DB: 8,
  NO_SCHEMA: 16,
  COMPRESS: 32,
  ODBC: 64,
  LOCAL_FILES: 128,
  IGNORE_SPACE: 256,
  PROTOCOL_41: 512,
  INTERACTIVE: 1024,
  SSL: 2048,
  IGNORE_SIGPIPE: 4096,
  TRANSACTIONS: 8192,
  SECURE_CONNECTION: 32768,
  MULTI_STATEMENTS: 1 << 16,
  MULTI_RESULTS: 1 << 17,
  PS_MULTI_RESULTS: 1 << 18,
  PLUGIN_AUTH: 1 << 19,
  CONNECT_ATTRS: 1 << 20,
  PLUGIN_AUTH_LENENC_CLIENT_DATA: 1 << 21,
  SESSION_TRACK: 1 << 23,
  DEPRECATE_EOF: 1 << 24,
} as const;

/** What Weir offers clients: everything it can pass through, never compression. */
export const SERVER_CAPABILITIES =
  Capability.LONG_PASSWORD |
  Capability.FOUND_ROWS |
  Capability.LONG_FLAG |
  Capability.CONNECT_WITH_DB |
  Capability.NO_SCHEMA |
  Capability.ODBC |
  Capability.LOCAL_FILES |
  Capability.IGNORE_SPACE |
  Capability.PROTOCOL_41 |
  Capability.INTERACTIVE |
  Capability.IGNORE_SIGPIPE |
  Capability.TRANSACTIONS |
  Capability.SECURE_CONNECTION |
  Capability.MULTI_STATEMENTS |
  Capability.MULTI_RESULTS |
  Capability.PS_MULTI_RESULTS |
  Capability.PLUGIN_AUTH |
  Capability.CONNECT_ATTRS |
  Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA |
  Capability.SESSION_TRACK |
  Capability.DEPRECATE_EOF;

export class ProtocolError extends Error {}

/** Frames a payload (which must fit one packet) with its sequence id. */
export function packet(sequence: number, payload: Buffer): Buffer {
  if (payload.length >= MAX_PAYLOAD) throw new ProtocolError('payload too large for one packet');
  const out = Buffer.allocUnsafe(4 + payload.length);
  out.writeUIntLE(payload.length, 0, 3);
  out[3] = sequence & 0xff;
  payload.copy(out, 4);
  return out;
}

/**
 * Splits a byte stream into whole packets. `push` takes what the socket read; `next`
 * returns the next complete packet (header included) or null. Bytes are never copied
 * more than once.
 */
export class PacketFramer {
  private buffered: Buffer[] = [];
  private length = 0;

  constructor(private readonly maxPayload = Infinity) {}

  push(chunk: Buffer): void {
    this.buffered.push(chunk);
    this.length += chunk.length;
  }

  get pending(): number {
    return this.length;
  }

  next(): { sequence: number; payload: Buffer; raw: Buffer } | null {
    if (this.length < 4) return null;
    const head = this.peek(4);
    const size = head.readUIntLE(0, 3);
    if (size > this.maxPayload)
      throw new ProtocolError(`packet of ${size} bytes is larger than allowed here (${this.maxPayload})`);
    if (this.length < 4 + size) return null;
    const raw = this.take(4 + size);
    return { sequence: raw[3]!, payload: raw.subarray(4), raw };
  }

  /** Everything buffered, for the switch to plain forwarding. */
  drain(): Buffer {
    const all = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered, this.length);
    this.buffered = [];
    this.length = 0;
    return all;
  }

  private peek(n: number): Buffer {
    if (this.buffered[0]!.length >= n) return this.buffered[0]!.subarray(0, n);
    return Buffer.concat(this.buffered, this.length).subarray(0, n);
  }

  private take(n: number): Buffer {
    const all = this.drain();
    if (all.length > n) {
      this.buffered = [all.subarray(n)];
      this.length = all.length - n;
    }
    return all.subarray(0, n);
  }
}

/** Reads the integer and string encodings of the protocol from a payload. */
export class Cursor {
  /** `end`: where the packet ends when it is read inside a larger buffer (a socket read). */
  constructor(
    private readonly buf: Buffer,
    public offset = 0,
    private readonly end = buf.length,
  ) {}

  get remaining(): number {
    return this.end - this.offset;
  }
  private need(n: number): void {
    if (this.offset + n > this.end) throw new ProtocolError('packet is shorter than its fields');
  }
  int1(): number {
    this.need(1);
    return this.buf[this.offset++]!;
  }
  int2(): number {
    this.need(2);
    const v = this.buf.readUInt16LE(this.offset);
    this.offset += 2;
    return v;
  }
  int3(): number {
    this.need(3);
    const v = this.buf.readUIntLE(this.offset, 3);
    this.offset += 3;
    return v;
  }
  int4(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.offset);
    this.offset += 4;
    return v;
  }
  /** Length-encoded integer. */
  lenenc(): number {
    const first = this.int1();
    if (first < 0xfb) return first;
    if (first === 0xfc) return this.int2();
    if (first === 0xfd) return this.int3();
    if (first === 0xfe) {
      this.need(8);
      const v = Number(this.buf.readBigUInt64LE(this.offset));
      this.offset += 8;
      return v;
    }
    throw new ProtocolError(`0x${first.toString(16)} does not start a length-encoded integer`);
  }
  bytes(n: number): Buffer {
    this.need(n);
    const v = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }
  /** NUL-terminated string. */
  nulString(): string {
    const end = this.buf.indexOf(0, this.offset);
    if (end < 0 || end >= this.end) throw new ProtocolError('string is not NUL-terminated');
    const v = this.buf.toString('utf8', this.offset, end);
    this.offset = end + 1;
    return v;
  }
  lenencBytes(): Buffer {
    return this.bytes(this.lenenc());
  }
  rest(): Buffer {
    return this.bytes(this.remaining);
  }
}

/** Builds payloads. */
export class Writer {
  private parts: Buffer[] = [];
  int1(v: number): this {
    this.parts.push(Buffer.from([v & 0xff]));
    return this;
  }
  int2(v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v);
    this.parts.push(b);
    return this;
  }
  int4(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    this.parts.push(b);
    return this;
  }
  lenenc(v: number): this {
    if (v < 0xfb) return this.int1(v);
    if (v < 0x10000) return this.int1(0xfc).int2(v);
    if (v < 0x1000000) {
      const b = Buffer.alloc(4);
      b[0] = 0xfd;
      b.writeUIntLE(v, 1, 3);
      this.parts.push(b);
      return this;
    }
    const b = Buffer.alloc(9);
    b[0] = 0xfe;
    b.writeBigUInt64LE(BigInt(v), 1);
    this.parts.push(b);
    return this;
  }
  bytes(b: Buffer): this {
    this.parts.push(b);
    return this;
  }
  nulString(s: string): this {
    this.parts.push(Buffer.from(s, 'utf8'), Buffer.from([0]));
    return this;
  }
  string(s: string): this {
    this.parts.push(Buffer.from(s, 'utf8'));
    return this;
  }
  lenencBytes(b: Buffer): this {
    return this.lenenc(b.length).bytes(b);
  }
  zeros(n: number): this {
    this.parts.push(Buffer.alloc(n));
    return this;
  }
  build(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** ERR_Packet. */
export function errPacket(sequence: number, code: number, sqlState: string, message: string): Buffer {
  return packet(
    sequence,
    new Writer().int1(0xff).int2(code).string('#').string(sqlState.padEnd(5, '0').slice(0, 5)).string(message).build(),
  );
}

/** OK_Packet with no rows affected. */
export function okPacket(sequence: number, status = 0x0002): Buffer {
  return packet(sequence, new Writer().int1(0x00).lenenc(0).lenenc(0).int2(status).int2(0).build());
}

/** Reads an ERR_Packet's payload (the first byte 0xff). */
export function readErr(payload: Buffer): { code: number; sqlState: string; message: string } {
  const c = new Cursor(payload, 1);
  const code = c.int2();
  let sqlState = 'HY000';
  if (payload[3] === 0x23) {
    c.int1();
    sqlState = c.bytes(5).toString('latin1');
  }
  return { code, sqlState, message: c.rest().toString('utf8') };
}
