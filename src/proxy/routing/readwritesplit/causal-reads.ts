/**
 * readwritesplit's `causal_reads` (readwritesplit reference §7): a read that follows a write
 * sees that write, even when it goes to a replica.
 *
 * Where the GTID comes from: every backend connection tracks `last_gtid`
 * (`session_track_system_variables`), so the OK packet of a write on the primary carries the
 * GTID it was given. The session keeps the highest per domain (`local`, `fast`), the service
 * keeps the highest the primary reported to any session (`global`, `fast_global`), and the
 * universal modes ask the primary for `@@gtid_current_pos` before each read (a probe the
 * client never sees).
 *
 * What a read does with it:
 * - waiting modes (`local`, `global`, `universal`): the replica waits for the GTID with
 *   MASTER_GTID_WAIT before running the read. A COM_QUERY on a connection with
 *   multi-statements carries the wait in the same packet (a `SET` whose result is cut out of
 *   the reply and whose sequence numbers are taken off the rest); otherwise (COM_STMT_EXECUTE,
 *   or a client that did not enable multi-statements) a separate statement is pipelined
 *   before the read, and the read's result is dropped if the wait failed. A wait that times
 *   out sends the read to the primary (inside a read-only transaction: error 1792).
 * - `fast` modes: only replicas the monitor saw at or past the GTID take the read, else the
 *   primary; nothing waits.
 *
 * A client without CLIENT_SESSION_TRACK gives its backends no session tracking: the GTID of
 * its writes is unknown, so its reads after a write go to the primary (always correct).
 */
import type { ConfigObject, RouterStatistics } from '../../../core/objects.ts';
import type { Value } from '../../../core/params.ts';
import type { Backend } from '../../backend.ts';
import { Command, MAX_PAYLOAD } from '../../protocol/commands.ts';
import { CAUSAL_READS_MODES } from '../../../core/modules.ts';
import { Capability, packet } from '../../protocol/packets.ts';
import type { Reply } from '../../protocol/reply-tracker.ts';

export type CausalMode = (typeof CAUSAL_READS_MODES)[number];

const MODES: ReadonlySet<string> = new Set(CAUSAL_READS_MODES);
const LEGACY_ON = new Set(['true', 'on', '1', 'yes']);

/** The mode a `causal_reads` value names (MaxScale also takes the old booleans: true = local). */
export function causalMode(value: Value | undefined): CausalMode {
  const v = String(value ?? 'none').toLowerCase();
  if (MODES.has(v)) return v as CausalMode;
  return LEGACY_ON.has(v) ? 'local' : 'none';
}

/** domain → the highest sequence number seen in it (and the server id that wrote it). */
type Position = Map<number, { server: number; sequence: bigint }>;

function parsePosition(text: string | null | undefined): Position {
  const pos: Position = new Map();
  for (const part of (text ?? '').split(',')) {
    const m = /^\s*(\d+)-(\d+)-(\d+)\s*$/.exec(part);
    if (m) pos.set(Number(m[1]), { server: Number(m[2]), sequence: BigInt(m[3]!) });
  }
  return pos;
}

/** Raises `into` to `from` domain by domain; true when anything moved. */
function merge(into: Position, from: Position): boolean {
  let moved = false;
  for (const [domain, g] of from) {
    const have = into.get(domain);
    if (!have || g.sequence > have.sequence) {
      into.set(domain, g);
      moved = true;
    }
  }
  return moved;
}

function format(pos: Position): string {
  return [...pos].map(([d, g]) => `${d}-${g.server}-${g.sequence}`).join(',');
}

/** Whether `have` is at or past `need` in every domain of `need`. */
function reached(have: Position, need: Position): boolean {
  for (const [domain, g] of need) {
    const h = have.get(domain);
    if (!h || h.sequence < g.sequence) return false;
  }
  return true;
}

/** The service-wide GTIDs (`global` modes, and `last_gtid` of the diagnostics), by service statistics. */
const serviceGtids = new WeakMap<RouterStatistics, Position>();

/**
 * MaxScale's readwritesplit `reset-gtid` module command: forgets the service-wide GTIDs, which
 * otherwise only grow (a replication reset that moves GTIDs back would leave `global` reads
 * waiting for positions the servers will never reach).
 */
export function resetServiceGtids(stats: RouterStatistics): void {
  serviceGtids.delete(stats);
  stats.last_gtid = null;
}

/** Asks a backend to report `last_gtid` in its OK packets, keeping what it already tracks. */
const TRACK_LAST_GTID =
  'SET @@session.session_track_system_variables = IF(' +
  "@@session.session_track_system_variables = '*' OR FIND_IN_SET('last_gtid', @@session.session_track_system_variables) > 0, " +
  '@@session.session_track_system_variables, ' +
  "CONCAT_WS(',', NULLIF(@@session.session_track_system_variables, ''), 'last_gtid'))";

const PROBE = 'SELECT @@gtid_current_pos';

function query(sql: string): Buffer {
  return packet(0, Buffer.concat([Buffer.from([Command.QUERY]), Buffer.from(sql, 'utf8')]));
}

/** How a read waits on its replica (null: it does not). */
export interface CausalWait {
  /** What to write instead of the read's packet. */
  packet: Buffer;
  /** A statement written before the read (its reply discarded), or null. */
  sync: { packet: Buffer; done(reply: Reply): void } | null;
  /** Rewrites the read's reply on its way to the client. */
  filter: (part: Buffer) => Buffer;
  /** After the reply: the wait failed, nothing reached the client, the read must run elsewhere. */
  timedOut(): boolean;
  /** What the failed wait answered (for the log). */
  why(): string;
}

export class CausalReads {
  readonly mode: CausalMode;
  /** MASTER_GTID_WAIT's timeout, seconds. */
  private readonly timeout: number;
  /** GTIDs of this session's writes. */
  private readonly session: Position = new Map();
  /** The session wrote while its backend could not say the GTID: reads go to the primary. */
  private unknown = false;
  /** The client turned multi-statements off (COM_SET_OPTION): the wait cannot share the read's packet. */
  private multiStatementsOff = false;
  /** What the last probe answered (universal modes), for the read being routed. */
  private probed: Position | null = null;

  constructor(
    params: ConfigObject['params'],
    private readonly stats: RouterStatistics,
  ) {
    this.mode = causalMode(params.causal_reads);
    this.timeout = Math.max(0, Number(params.causal_reads_timeout ?? 10));
  }

  get enabled(): boolean {
    return this.mode !== 'none';
  }

  private get fast(): boolean {
    return this.mode === 'fast' || this.mode === 'fast_global' || this.mode === 'fast_universal';
  }

  get universal(): boolean {
    return this.mode === 'universal' || this.mode === 'fast_universal';
  }

  /** A new backend connection: it reports the GTID of each write (written before anything else). */
  onConnect(backend: Backend): void {
    if (!this.enabled) return;
    backend.write(query(TRACK_LAST_GTID), { command: Command.QUERY, sink: 'discard', done: () => {} });
  }

  /** The GTIDs of the session's own last writes (per domain), or null before the first or with causal_reads off. */
  get lastGtid(): string | null {
    return this.session.size ? format(this.session) : null;
  }

  /** A complete reply from `backend`; `wrote`: the statement was routed as a write. */
  observe(reply: Reply, backend: Backend, isPrimary: boolean, wrote: boolean): void {
    if (!this.enabled || !isPrimary) return;
    if (reply.lastGtid) {
      const pos = parsePosition(reply.lastGtid);
      merge(this.session, pos);
      this.unknown = false;
      let service = serviceGtids.get(this.stats);
      if (!service) serviceGtids.set(this.stats, (service = new Map()));
      if (merge(service, pos)) this.stats.last_gtid = format(service);
    } else if (wrote && reply.error === null && !(backend.capabilities & Capability.SESSION_TRACK)) {
      this.unknown = true;
    }
  }

  /** The GTIDs the read being routed must see, or null when it need not wait for any. */
  private requirement(): Position | null {
    switch (this.mode) {
      case 'local':
      case 'fast':
        return this.session.size ? this.session : null;
      case 'global':
      case 'fast_global': {
        const service = serviceGtids.get(this.stats);
        return service?.size ? service : null;
      }
      case 'universal':
      case 'fast_universal':
        return this.probed?.size ? this.probed : null;
      default:
        return null;
    }
  }

  /**
   * May `server` take the read being routed? In `fast` modes only if the monitor saw it at the
   * GTID; in every mode not when the session's last write has no known GTID.
   */
  acceptsReplica(server: ConfigObject): boolean {
    if (!this.enabled) return true;
    if (this.unknown && (this.mode === 'local' || this.mode === 'fast')) return false;
    if (!this.fast) return true;
    const need = this.requirement();
    return need === null || reached(parsePosition(server.runtime.facts.gtid_current_pos), need);
  }

  /** COM_SET_OPTION: MYSQL_OPTION_MULTI_STATEMENTS_ON (0) or _OFF (1). */
  setOption(command: Buffer): void {
    if (command.length >= 7) this.multiStatementsOff = command.readUInt16LE(5) === 1;
  }

  /** Universal modes: does this read need a probe of the primary first? */
  needsProbe(command: number): boolean {
    return this.universal && (command === Command.QUERY || command === Command.STMT_EXECUTE);
  }

  /** The probe's packet; `probeAnswered` takes its reply. */
  probePacket(): Buffer {
    this.stats.causal_read_probes++;
    return query(PROBE);
  }

  /** The primary answered the probe (`bytes`: the whole reply); false when it gave no GTID. */
  probeAnswered(reply: Reply, bytes: Buffer | null, backend: Backend): boolean {
    const text =
      reply.error === null && bytes
        ? firstTextValue(bytes, (backend.capabilities & Capability.DEPRECATE_EOF) !== 0)
        : null;
    if (text === null) {
      this.probed = null;
      return false;
    }
    this.probed = parsePosition(text);
    return true;
  }

  /** The read was routed (wherever it went): a probe answer serves one read only. */
  routed(): void {
    this.probed = null;
  }

  /**
   * How a read sent to replica `to` waits for the GTIDs, or null when it need not (no
   * GTID, a `fast` mode, not a read command).
   */
  waitFor(command: number, read: Buffer, to: Backend): CausalWait | null {
    if (!this.enabled || this.fast) return null;
    if (command !== Command.QUERY && command !== Command.STMT_EXECUTE) return null;
    const need = this.requirement();
    this.probed = null;
    if (!need) return null;
    const gtid = format(need);
    this.stats.causal_read_waits++;
    const timeout = this.timeout;
    if (command === Command.QUERY && to.capabilities & Capability.MULTI_STATEMENTS && !this.multiStatementsOff) {
      // A timed-out wait makes the SET fail (a subquery of two rows), so the read does not run.
      // No table in it: MaxScale's INFORMATION_SCHEMA.ENGINES fails at once for a client with
      // CLIENT_NO_SCHEMA, which makes the server drop the schema qualifier.
      const prefix =
        `SET @weir_causal_read=(SELECT CASE WHEN MASTER_GTID_WAIT('${gtid}', ${timeout}) = 0 ` +
        'THEN 1 ELSE (SELECT 1 UNION ALL SELECT 2) END);';
      const payloadLength = read.length - 4 + Buffer.byteLength(prefix);
      // A read that no longer fits one packet goes as it is (MaxScale does the same).
      if (payloadLength < MAX_PAYLOAD && read.length - 4 < MAX_PAYLOAD) {
        const hide = new HideFirstResult();
        return {
          packet: packet(0, Buffer.concat([read.subarray(4, 5), Buffer.from(prefix, 'utf8'), read.subarray(5)])),
          sync: null,
          filter: (part) => hide.push(part),
          timedOut: () => this.timedOut(hide.firstWasError === true),
          why: () => hide.error.slice(3).replace(/[^\x20-\x7e]/g, ''),
        };
      }
      this.stats.causal_read_waits--;
      return null;
    }
    // A statement of its own, pipelined: the read runs after it, and is dropped if it failed.
    let failed = false;
    let why = '';
    const sync = query(
      `IF (MASTER_GTID_WAIT('${gtid}', ${timeout}) <> 0) THEN ` +
        "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'Weir causal read timed out'; END IF",
    );
    return {
      packet: read,
      sync: {
        packet: sync,
        done: (reply) => {
          failed = reply.error !== null;
          why = reply.error ? `${reply.error.code} ${reply.error.message}` : '';
        },
      },
      filter: (part) => (failed ? EMPTY : part),
      timedOut: () => this.timedOut(failed),
      why: () => why,
    };
  }

  private timedOut(failed: boolean): boolean {
    if (failed) this.stats.causal_read_timeouts++;
    return failed;
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * Cuts the first packet (the causal `SET`'s OK, or its ERR on timeout) out of a reply stream
 * and numbers the packets after it from 1 again, in any chunking of the stream.
 */
export class HideFirstResult {
  /** The first packet was an ERR (the wait timed out): nothing else follows. */
  firstWasError: boolean | null = null;
  /** The start of that ERR packet (for the log). */
  error = '';
  private readonly header = Buffer.alloc(4);
  private have = 0;
  private left = 0;
  private index = 0;

  push(part: Buffer): Buffer {
    const out: Buffer[] = [];
    let i = 0;
    while (i < part.length) {
      if (this.left === 0 && this.have < 4) {
        const n = Math.min(4 - this.have, part.length - i);
        part.copy(this.header, this.have, i, i + n);
        this.have += n;
        i += n;
        if (this.have < 4) break;
        this.have = 0;
        this.left = this.header.readUIntLE(0, 3);
        if (this.index++ > 0) {
          const h = Buffer.from(this.header);
          h[3] = (h[3]! - 1) & 0xff;
          out.push(h);
        }
        continue;
      }
      const n = Math.min(this.left, part.length - i);
      if (this.index === 1) {
        if (this.firstWasError === null) this.firstWasError = part[i] === 0xff;
        if (this.firstWasError && this.error.length < 200) this.error += part.toString('latin1', i, i + n);
      } else out.push(part.subarray(i, i + n));
      this.left -= n;
      i += n;
    }
    // Parts are views of the socket's chunk, which the client write takes as it is elsewhere too.
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }
}

/** The first column of the first row of a text result set (the probe's answer), or null. */
export function firstTextValue(bytes: Buffer, deprecateEof: boolean): string | null {
  const packets: Buffer[] = [];
  for (let i = 0; i + 4 <= bytes.length;) {
    const len = bytes.readUIntLE(i, 3);
    packets.push(bytes.subarray(i + 4, i + 4 + len));
    i += 4 + len;
  }
  const columns = packets[0]?.[0];
  if (columns === undefined || columns === 0 || columns === 0xff || columns >= 0xfb) return null;
  const row = packets[1 + columns + (deprecateEof ? 0 : 1)];
  if (!row || row[0] === 0xfb || row[0] === 0xfe || row[0] === 0xff) return null;
  const first = row[0]!;
  // A GTID list is short: a one- or two-byte length prefix covers it.
  if (first < 0xfb) return row.toString('utf8', 1, 1 + first);
  if (first === 0xfc) return row.toString('utf8', 3, 3 + row.readUInt16LE(1));
  return null;
}
