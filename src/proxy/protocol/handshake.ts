/**
 * The connection phase: Initial Handshake Packet (protocol 10), the client's
 * Handshake Response (or SSLRequest), and AuthSwitchRequest, as the MariaDB docs lay them out.
 */
import { Capability, Cursor, packet, ProtocolError, Writer } from './packets.ts';

export interface InitialHandshake {
  connectionId: number;
  serverVersion: string;
  scramble: Buffer;
  capabilities: number;
  /** MariaDB's extended capabilities (the CLIENT_CACHE_METADATA bit and others). */
  extendedCapabilities?: number;
  charset: number;
  status: number;
  authPlugin: string;
}

/** Initial Handshake Packet, sequence 0. The MariaDB extended capabilities are left empty. */
export function writeInitialHandshake(h: InitialHandshake): Buffer {
  const w = new Writer()
    .int1(10)
    .nulString(h.serverVersion)
    .int4(h.connectionId)
    .bytes(h.scramble.subarray(0, 8))
    .int1(0)
    .int2(h.capabilities & 0xffff)
    .int1(h.charset)
    .int2(h.status)
    .int2((h.capabilities >>> 16) & 0xffff)
    .int1(h.scramble.length + 1)
    .zeros(6)
    .int4(0) // MariaDB extended capabilities
    .bytes(h.scramble.subarray(8))
    .int1(0)
    .nulString(h.authPlugin);
  return packet(0, w.build());
}

export function readInitialHandshake(payload: Buffer): InitialHandshake {
  const c = new Cursor(payload);
  const protocol = c.int1();
  if (protocol === 0xff) throw new ProtocolError('the server refused the connection');
  if (protocol !== 10) throw new ProtocolError(`unsupported handshake protocol ${protocol}`);
  const serverVersion = c.nulString();
  const connectionId = c.int4();
  const part1 = c.bytes(8);
  c.int1();
  let capabilities = c.int2();
  const charset = c.int1();
  const status = c.int2();
  capabilities |= c.int2() << 16;
  const authLength = c.int1();
  c.bytes(6);
  // MariaDB's extended capabilities, when the server does not claim CLIENT_MYSQL (bit 0).
  const extended = c.int4();
  const extendedCapabilities = capabilities & 1 ? 0 : extended;
  const part2Length = Math.max(13, authLength - 8);
  const part2 = c.bytes(part2Length);
  const scramble = Buffer.concat([part1, part2.subarray(0, part2Length - 1)]);
  const authPlugin = capabilities & Capability.PLUGIN_AUTH && c.remaining > 0 ? c.nulString() : 'mysql_native_password';
  return {
    connectionId,
    serverVersion,
    scramble,
    capabilities: capabilities >>> 0,
    extendedCapabilities: extendedCapabilities >>> 0,
    charset,
    status,
    authPlugin,
  };
}

export interface HandshakeResponse {
  capabilities: number;
  /** MariaDB's extended capabilities (Weir offers none, so it passes none on). */
  extendedCapabilities?: number;
  maxPacketSize: number;
  charset: number;
  user: string;
  authResponse: Buffer;
  database: string | null;
  authPlugin: string | null;
  /** The raw connection attributes block, passed on to the backend. */
  attributes: Buffer | null;
}

/** An SSLRequest is the first 32 bytes of a Handshake Response with the SSL flag. */
export function isSslRequest(payload: Buffer): boolean {
  return payload.length === 32 && (payload.readUInt32LE(0) & Capability.SSL) !== 0;
}

export function readHandshakeResponse(payload: Buffer): HandshakeResponse {
  const c = new Cursor(payload);
  const capabilities = c.int4();
  if (!(capabilities & Capability.PROTOCOL_41)) throw new ProtocolError('the client does not speak protocol 4.1');
  const maxPacketSize = c.int4();
  const charset = c.int1();
  c.bytes(19);
  const extendedCapabilities = c.int4() >>> 0; // MariaDB extended capabilities
  const user = c.nulString();
  let authResponse: Buffer;
  if (capabilities & Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA) authResponse = c.lenencBytes();
  else if (capabilities & Capability.SECURE_CONNECTION) authResponse = c.bytes(c.int1());
  else authResponse = Buffer.from(c.nulString(), 'utf8');
  const database = capabilities & Capability.CONNECT_WITH_DB && c.remaining > 0 ? c.nulString() : null;
  const authPlugin = capabilities & Capability.PLUGIN_AUTH && c.remaining > 0 ? c.nulString() : null;
  const attributes = capabilities & Capability.CONNECT_ATTRS && c.remaining > 0 ? c.lenencBytes() : null;
  return {
    capabilities: capabilities >>> 0,
    extendedCapabilities,
    maxPacketSize,
    charset,
    user,
    authResponse,
    database: database || null,
    authPlugin,
    attributes,
  };
}

export function writeHandshakeResponse(sequence: number, r: HandshakeResponse): Buffer {
  const w = new Writer().int4(r.capabilities).int4(r.maxPacketSize).int1(r.charset).zeros(19).int4(0).nulString(r.user);
  if (r.capabilities & Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA) w.lenencBytes(r.authResponse);
  else w.int1(r.authResponse.length).bytes(r.authResponse);
  if (r.capabilities & Capability.CONNECT_WITH_DB) w.nulString(r.database ?? '');
  if (r.capabilities & Capability.PLUGIN_AUTH) w.nulString(r.authPlugin ?? 'mysql_native_password');
  // A client may announce attributes and send none; the flag still promises the field.
  if (r.capabilities & Capability.CONNECT_ATTRS) w.lenencBytes(r.attributes ?? Buffer.alloc(0));
  return packet(sequence, w.build());
}

export function writeAuthSwitchRequest(sequence: number, plugin: string, data: Buffer): Buffer {
  return packet(sequence, new Writer().int1(0xfe).nulString(plugin).bytes(data).int1(0).build());
}

export function readAuthSwitchRequest(payload: Buffer): { plugin: string; data: Buffer } {
  const c = new Cursor(payload, 1);
  const plugin = c.nulString();
  let data = c.rest();
  if (data.length && data[data.length - 1] === 0) data = data.subarray(0, -1);
  return { plugin, data };
}
