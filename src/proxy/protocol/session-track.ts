/**
 * Session state change information in OK packets (CLIENT_SESSION_TRACK; MariaDB protocol
 * documentation, "OK_Packet"): after the status flags and warnings, the info string is
 * length-encoded and, when the status has SERVER_SESSION_STATE_CHANGED, a length-encoded
 * block of entries follows, each a type byte and a length-encoded data string. A tracked
 * system variable (type 0) holds a length-encoded name and a length-encoded value.
 *
 * readwritesplit's causal reads learn the GTID of a session's last write from the
 * `last_gtid` system variable tracked this way.
 */
import { Cursor } from './packets.ts';

/** SERVER_SESSION_STATE_CHANGED: the OK packet carries session state change information. */
export const SESSION_STATE_CHANGED = 0x4000;

/** Entry types of the session state information. */
export const SessionTrack = {
  SYSTEM_VARIABLES: 0,
  SCHEMA: 1,
  STATE_CHANGE: 2,
  GTIDS: 3,
  TRANSACTION_CHARACTERISTICS: 4,
  TRANSACTION_STATE: 5,
} as const;

/**
 * The system variables an OK packet's payload reports as changed (name → value), or null
 * when it reports none. `payload` starts with the OK header byte (0x00, or 0xFE for the OK
 * that ends a result set with DEPRECATE_EOF). A truncated or malformed block reads as none:
 * the state is an optimisation input, never a reason to fail the reply.
 */
export function trackedVariables(payload: Buffer): Map<string, string> | null {
  try {
    const c = new Cursor(payload, 1);
    c.lenenc(); // affected rows
    c.lenenc(); // last insert id
    const status = c.int2();
    c.int2(); // warnings
    if (!(status & SESSION_STATE_CHANGED) || c.remaining === 0) return null;
    c.lenencBytes(); // info
    const block = new Cursor(c.lenencBytes());
    let vars: Map<string, string> | null = null;
    while (block.remaining > 0) {
      const type = block.int1();
      const data = block.lenencBytes();
      if (type !== SessionTrack.SYSTEM_VARIABLES) continue;
      const d = new Cursor(data);
      const name = d.lenencBytes().toString('utf8');
      const value = d.lenencBytes().toString('utf8');
      (vars ??= new Map()).set(name.toLowerCase(), value);
    }
    return vars;
  } catch {
    return null;
  }
}

/** The `last_gtid` an OK packet reports (a non-empty GTID), or null. */
export function lastGtidOf(payload: Buffer): string | null {
  const v = trackedVariables(payload)?.get('last_gtid');
  return v ? v : null;
}
