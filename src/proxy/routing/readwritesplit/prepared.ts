/**
 * Prepared statements across several backends (readwritesplit reference §2.6): the client
 * sees ids Weir allocates; each backend connection maps them to the id its server gave.
 * Packets carrying a statement id (EXECUTE, FETCH, SEND_LONG_DATA, RESET, CLOSE) are
 * rewritten per backend on the way down, the PREPARE OK on the way up.
 *
 * Connectors send parameter types only with the first execution (new_params_bound=1); an
 * execution routed to a backend that has not seen them gets them spliced in.
 */
import type { Classification } from './classify.ts';

export interface PreparedStatement {
  id: number;
  sql: string;
  classification: Classification;
  parameters: number;
  /** The parameter types of the last execution that sent them. */
  types: Buffer | null;
}

/** A backend's view: the server's id for each client id, and whose types it has. */
export class BackendStatements {
  readonly ids = new Map<number, number>();
  readonly typesSent = new Set<number>();

  forget(id: number): void {
    this.ids.delete(id);
    this.typesSent.delete(id);
  }

  clear(): void {
    this.ids.clear();
    this.typesSent.clear();
  }
}

/** A copy of a packet with its statement id (bytes 5-8) replaced. */
export function withStatementId(packet: Buffer, id: number): Buffer {
  const out = Buffer.from(packet);
  if (out.length >= 9) out.writeUInt32LE(id >>> 0, 5);
  return out;
}

/** Where COM_STMT_EXECUTE's new_params_bound flag sits, or -1 when the packet is too short or has no parameters. */
function typesFlagOffset(packet: Buffer, parameters: number): number {
  if (parameters <= 0) return -1;
  // header(4) command(1) id(4) flags(1) iterations(4) null-bitmap
  const offset = 14 + ((parameters + 7) >> 3);
  return offset < packet.length ? offset : -1;
}

/** The parameter types an execution sends, when it sends them (a copy). */
export function readTypes(packet: Buffer, parameters: number): Buffer | null {
  const at = typesFlagOffset(packet, parameters);
  if (at < 0 || packet[at] !== 1) return null;
  const end = at + 1 + 2 * parameters;
  return end <= packet.length ? Buffer.from(packet.subarray(at + 1, end)) : null;
}

/** An execution without types, with `types` spliced in for a backend that never saw them. */
export function withTypes(packet: Buffer, parameters: number, types: Buffer): Buffer {
  const at = typesFlagOffset(packet, parameters);
  if (at < 0 || packet[at] !== 0 || packet.length - 4 + types.length >= 0xffffff) return packet;
  const out = Buffer.concat([packet.subarray(0, at), Buffer.from([1]), types, packet.subarray(at + 1)]);
  out.writeUIntLE(out.length - 4, 0, 3);
  return out;
}
