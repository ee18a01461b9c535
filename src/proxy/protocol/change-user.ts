/**
 * COM_CHANGE_USER: 0x11, user (NUL-terminated), auth data (1-byte length with
 * SECURE_CONNECTION), database (NUL-terminated), then with PROTOCOL_41 the character set
 * (2 bytes), with PLUGIN_AUTH the plugin name and with CONNECT_ATTRS the attributes.
 */
import { Capability, Cursor, packet, Writer } from './packets.ts';

export interface ChangeUser {
  user: string;
  token: Buffer;
  database: string | null;
  charset: number | null;
  plugin: string | null;
  attributes: Buffer | null;
}

export function readChangeUser(payload: Buffer, capabilities: number): ChangeUser {
  const c = new Cursor(payload, 1);
  const user = c.nulString();
  const token = capabilities & Capability.SECURE_CONNECTION ? c.bytes(c.int1()) : Buffer.from(c.nulString(), 'utf8');
  const database = c.remaining > 0 ? c.nulString() : '';
  const charset = capabilities & Capability.PROTOCOL_41 && c.remaining >= 2 ? c.int2() : null;
  const plugin = capabilities & Capability.PLUGIN_AUTH && c.remaining > 0 ? c.nulString() : null;
  const attributes = capabilities & Capability.CONNECT_ATTRS && c.remaining > 0 ? c.lenencBytes() : null;
  return { user, token, database: database || null, charset, plugin, attributes };
}

export function writeChangeUser(sequence: number, cu: ChangeUser, capabilities: number): Buffer {
  const w = new Writer().int1(0x11).nulString(cu.user);
  if (capabilities & Capability.SECURE_CONNECTION) w.int1(cu.token.length).bytes(cu.token);
  else w.bytes(cu.token).int1(0);
  w.nulString(cu.database ?? '');
  if (cu.charset !== null) w.int2(cu.charset);
  // The backend is always asked for mysql_native_password, which is what the token is.
  if (cu.plugin !== null) w.nulString('mysql_native_password');
  if (cu.attributes) w.lenencBytes(cu.attributes);
  return packet(sequence, w.build());
}
