/**
 * Follows the server's side of the MariaDB protocol, command by command, to know where
 * each reply ends and what it held: rows, result sets, the final OK's affected rows and
 * status, warnings, the error of an ERR packet, and the reply's size and timing. Filters
 * (and later readwritesplit) build on it.
 *
 * It reads the byte stream as the backend socket delivers it, in any chunking, without
 * copying rows: only the first bytes of the packets whose meaning depends on them (OK,
 * EOF, ERR, column counts, COM_STMT_PREPARE's answer) are kept. The replies it knows
 * (MariaDB protocol documentation, "Result set packets" and "COM_STMT_PREPARE"):
 *
 * - OK_Packet (0x00) | ERR_Packet (0xFF) | LOCAL INFILE request (0xFB: the client sends
 *   the file, the server answers OK/ERR) | a result set: a column count, that many column
 *   definitions, an EOF unless DEPRECATE_EOF, rows, and a terminator that is an EOF
 *   (or, with DEPRECATE_EOF, an OK with the 0xFE header) or an ERR;
 * - after any OK or terminator whose status has SERVER_MORE_RESULTS_EXIST, another result;
 * - COM_STMT_PREPARE: an OK with the statement id and parameter and column counts,
 *   followed by those definitions (each group closed by an EOF unless DEPRECATE_EOF);
 * - a binary result set (COM_STMT_EXECUTE) opening a cursor ends after its columns;
 * - COM_SET_OPTION: an EOF (or an ERR);
 * - COM_STATISTICS: one plain packet. COM_QUIT, COM_STMT_CLOSE and
 *   COM_STMT_SEND_LONG_DATA have no reply.
 *
 * A packet of 0xFFFFFF bytes is continued by the next one; continuations are part of the
 * same logical packet and never read as a new one.
 */
import { Capability, Cursor, readErr } from './packets.ts';
import { Command, expectsReply, MAX_PAYLOAD as MAX_PACKET, Status } from './commands.ts';
import { lastGtidOf, SESSION_STATE_CHANGED } from './session-track.ts';
// The global `performance` is a lazy getter: read per call on the hot path. The import is a plain binding.
import { performance } from 'node:perf_hooks';

export { Command } from './commands.ts';
const MORE_RESULTS = Status.MORE_RESULTS;
const CURSOR_EXISTS = Status.CURSOR_EXISTS;
export const IN_TRANSACTION = Status.IN_TRANS;
/** MARIADB_CLIENT_CACHE_METADATA (extended capability bit 4): a result set may skip its column definitions. */
export const CACHE_METADATA = 1 << 4;
/** How much of a packet is kept to read its fields (an ERR's message included). */
const KEEP = 16 * 1024;
const EMPTY = Buffer.alloc(0);

export interface Reply {
  command: number;
  /** The ERR that ended it, if one did. */
  error: { code: number; sqlState: string; message: string } | null;
  /** Rows of all its result sets. */
  rows: number;
  resultSets: number;
  /** Sum of the affected rows of its OK packets. */
  affectedRows: number;
  warnings: number;
  /** Server status flags of its last OK or EOF (IN_TRANSACTION, ...). */
  status: number;
  /** For a successful COM_STMT_PREPARE, the statement id the server gave and its parameter count. */
  statementId: number | null;
  parameters: number;
  /** The `last_gtid` a tracked-session-state OK reported (a write's GTID), if any. */
  lastGtid: string | null;
  /** Bytes of the reply, packet headers included. */
  size: number;
  /** performance.now() of its first and last byte. */
  firstByteAt: number;
  completedAt: number;
}

/** A reply to `command` before any of it has arrived. */
export function newReply(command: number): Reply {
  return {
    command,
    error: null,
    rows: 0,
    resultSets: 0,
    affectedRows: 0,
    warnings: 0,
    status: 0,
    statementId: null,
    parameters: 0,
    lastGtid: null,
    size: 0,
    firstByteAt: 0,
    completedAt: 0,
  };
}

/** The fields of a whole reply's last OK or EOF, read by wholeReply (one object, no allocation per reply). */
const whole = { affected: 0, status: 0, warnings: 0 };

/** What readInPlace did with a packet. */
const NOT_READ = 0;
const READ = 1;
const COMPLETE = 2;
type InPlace = typeof NOT_READ | typeof READ | typeof COMPLETE;

type Phase =
  | 'first' // the first packet of a result, or of the whole reply
  | 'columns' // column definitions left: `count`
  | 'columns-eof' // the EOF after the column definitions
  | 'rows'
  | 'prepare-params'
  | 'prepare-params-eof'
  | 'prepare-columns'
  | 'prepare-columns-eof'
  | 'single'; // one packet, whatever it holds (COM_STATISTICS)

interface Pending {
  command: number;
  reply: Reply;
  phase: Phase;
  count: number;
  /** Column count of a COM_STMT_PREPARE answer, read before its parameters. */
  prepareColumns: number;
}

export class ReplyTracker {
  private readonly queue: Pending[] = [];
  private readonly deprecateEof: boolean;
  private readonly cacheMetadata: boolean;
  // The packet being read: its header is gathered in numbers (a header split across reads
  // is 1-3 bytes), never in a Buffer.
  private headerLength = 0;
  private sequence = 0;
  private headerHave = 0;
  private left = 0;
  private packetLength = 0;
  private kept: Buffer[] = [];
  private keptLength = 0;
  private keeping = false;
  private continuation = false;
  /** The server sent something no command explains: stop interpreting rather than guess. */
  lost = false;
  /**
   * Set by an owner that answers a COM_CHANGE_USER's authentication switch request itself
   * (readwritesplit, which re-authenticates each backend with its own scramble).
   */
  onAuthSwitch: ((payload: Buffer, sequence: number) => void) | null = null;

  /** `capabilities` and `extendedCapabilities`: what client and server both have. */
  constructor(
    capabilities: number,
    extendedCapabilities: number,
    private readonly onReply: (reply: Reply, end: number) => void,
  ) {
    this.deprecateEof = (capabilities & Capability.DEPRECATE_EOF) !== 0;
    this.cacheMetadata = (extendedCapabilities & CACHE_METADATA) !== 0;
  }

  /** A command went to the server: its reply is the next one after those already expected. */
  expect(command: number): void {
    if (!expectsReply(command) || this.lost) return;
    this.queue.push({
      // COM_STMT_FETCH answers with rows straight away (the columns came with the execute).
      command,
      phase: command === Command.STATISTICS ? 'single' : command === Command.STMT_FETCH ? 'rows' : 'first',
      count: 0,
      prepareColumns: 0,
      reply: newReply(command),
    });
  }

  /** Replies the server still owes. */
  get pending(): number {
    return this.queue.length;
  }

  /**
   * Bytes from the server, as they arrived. Each completed reply is reported with `end`, the
   * offset in `chunk` just after its last byte, so an owner can cut the chunk at reply boundaries.
   */
  feed(chunk: Buffer): void {
    if (this.lost) return;
    const now = performance.now();
    // The usual read: one whole reply, nothing of it read before.
    if (this.left === 0 && this.headerHave === 0 && !this.continuation && this.queue.length !== 0)
      if (this.wholeReply(chunk, now)) return;
    // Kept parts before this index came from earlier reads (already copied).
    let fresh = this.kept.length;
    let i = 0;
    while (i < chunk.length && !this.lost) {
      if (this.left === 0 && this.headerHave < 4) {
        if (this.headerHave === 0 && i + 4 <= chunk.length) {
          // The usual case: the whole header is in this read.
          this.headerLength = chunk[i]! | (chunk[i + 1]! << 8) | (chunk[i + 2]! << 16);
          this.sequence = chunk[i + 3]!;
          i += 4;
        } else {
          for (; this.headerHave < 4 && i < chunk.length; this.headerHave++, i++) {
            if (this.headerHave < 3) this.headerLength |= chunk[i]! << (8 * this.headerHave);
            else this.sequence = chunk[i]!;
          }
          if (this.headerHave < 4) break;
        }
        this.startPacket(this.headerLength, now);
        fresh = 0; // a new packet: its kept parts are all from this read
        if (this.left === 0) this.endPacket(now, i);
        else if (this.keeping && i + this.left <= chunk.length && this.left < MAX_PACKET) {
          const read = this.readInPlace(chunk, i, this.left);
          if (read !== NOT_READ) {
            i += this.left;
            this.left = 0;
            this.keeping = false;
            this.continuation = false;
            if (read === COMPLETE) this.complete(this.queue[0]!, now, i);
          }
        }
        continue;
      }
      const n = Math.min(this.left, chunk.length - i);
      if (this.keeping) {
        if (this.keptLength === 0 && !this.continuation && !this.worthKeeping(chunk[i]!)) this.keeping = false;
        else {
          const take = Math.min(n, KEEP - this.keptLength);
          if (take > 0) {
            this.kept.push(chunk.subarray(i, i + take));
            this.keptLength += take;
          }
        }
      }
      this.left -= n;
      i += n;
      if (this.left === 0) this.endPacket(now, i);
    }
    // What is kept of a packet that continues in the next read must outlive this one (the
    // read buffer may be reused): copy the parts taken from this read, once each.
    if (this.left > 0) for (let k = fresh; k < this.kept.length; k++) this.kept[k] = Buffer.from(this.kept[k]!);
  }

  /**
   * A read that holds exactly one whole reply to the first pending command, the usual case:
   * a result set (column count, definitions, their EOF unless DEPRECATE_EOF, rows, EOF or OK
   * terminator) or an OK. Read in one pass over the packet headers, without the per-packet
   * steps of the general path. Anything else (an error, more results, session state, a
   * cursor, a packet cut by the read, a second reply after it...) returns false having
   * changed nothing, and the general path reads the chunk.
   */
  private wholeReply(chunk: Buffer, now: number): boolean {
    const p = this.queue[0]!;
    const n = chunk.length;
    if (p.phase !== 'first' || n < 5) return false;
    const command = p.command;
    let len = chunk[0]! | (chunk[1]! << 8) | (chunk[2]! << 16);
    const first = chunk[4]!;
    if (first === 0x00) {
      // An OK (a COM_STMT_PREPARE's is its statement's, a COM_FIELD_LIST's a column definition).
      if (4 + len !== n || command === Command.STMT_PREPARE || command === Command.FIELD_LIST) return false;
      if (!this.readOk(chunk, 5, n)) return false;
      return this.completeWhole(p, chunk, n, now, 0);
    }
    // A result set of fewer than 251 columns, to a statement.
    if (first >= 0xfb || len !== 1 || (command !== Command.QUERY && command !== Command.STMT_EXECUTE)) return false;
    let i = 5;
    for (let columns = first; columns > 0; columns--) {
      if (i + 4 > n) return false;
      len = chunk[i]! | (chunk[i + 1]! << 8) | (chunk[i + 2]! << 16);
      if (len >= MAX_PACKET) return false;
      i += 4 + len;
    }
    if (!this.deprecateEof) {
      if (i + 5 > n) return false;
      len = chunk[i]! | (chunk[i + 1]! << 8) | (chunk[i + 2]! << 16);
      if (chunk[i + 4] !== 0xfe || len >= 9 || i + 4 + len > n) return false;
      const status = len >= 5 ? chunk.readUInt16LE(i + 7) : 0;
      if (command === Command.STMT_EXECUTE && status & CURSOR_EXISTS) return false;
      i += 4 + len;
    }
    let rows = 0;
    for (;;) {
      if (i + 5 > n) return false;
      len = chunk[i]! | (chunk[i + 1]! << 8) | (chunk[i + 2]! << 16);
      if (len >= MAX_PACKET || i + 4 + len > n) return false;
      const b = chunk[i + 4]!;
      if (b === 0xff) return false;
      // The terminator (0xFE also starts a row too long for an EOF).
      if (b === 0xfe && (this.deprecateEof || len < 9)) break;
      rows++;
      i += 4 + len;
    }
    if (i + 4 + len !== n) return false;
    if (this.deprecateEof) {
      if (!this.readOk(chunk, i + 5, n)) return false;
    } else {
      if (len < 5) return false;
      whole.affected = 0;
      whole.warnings = chunk.readUInt16LE(i + 5);
      whole.status = chunk.readUInt16LE(i + 7);
      if (whole.status & MORE_RESULTS) return false;
    }
    return this.completeWhole(p, chunk, n, now, rows);
  }

  /** An OK's fields from `at` to `end` into `whole`; false when it is short or says more than wholeReply reads. */
  private readOk(chunk: Buffer, at: number, end: number): boolean {
    const c = new Cursor(chunk, at, end);
    let affected: number, status: number, warnings: number;
    try {
      affected = c.lenenc();
      c.lenenc(); // last insert id
      status = c.int2();
      warnings = c.int2();
    } catch {
      return false;
    }
    if (status & (SESSION_STATE_CHANGED | MORE_RESULTS)) return false;
    whole.affected = affected;
    whole.status = status;
    whole.warnings = warnings;
    return true;
  }

  private completeWhole(p: Pending, chunk: Buffer, n: number, now: number, rows: number): boolean {
    const r = p.reply;
    r.size += n;
    if (r.firstByteAt === 0) r.firstByteAt = now;
    if (chunk[4] !== 0x00) r.resultSets++;
    r.rows += rows;
    r.affectedRows += whole.affected;
    r.status = whole.status;
    r.warnings += whole.warnings;
    if (this.keptLength > 0) {
      this.kept = [];
      this.keptLength = 0;
    }
    this.complete(p, now, n);
    return true;
  }

  private startPacket(length: number, now: number): void {
    this.packetLength = length;
    this.left = length;
    this.headerHave = 0;
    this.headerLength = 0;
    const head = this.queue[0];
    if (head) {
      head.reply.size += 4 + length;
      if (head.reply.firstByteAt === 0) head.reply.firstByteAt = now;
    }
    this.keeping = !this.continuation;
    if (this.keptLength > 0) this.kept = [];
    this.keptLength = 0;
  }

  /** Rows are most of the traffic: a row packet's bytes are not kept. */
  private worthKeeping(firstByte: number): boolean {
    const phase = this.queue[0]?.phase;
    if (phase === 'rows') return firstByte === 0xfe || firstByte === 0xff;
    // Definitions are counted, never read.
    return phase !== 'columns' && phase !== 'prepare-params' && phase !== 'prepare-columns';
  }

  private endPacket(now: number, end: number): void {
    const wasContinuation = this.continuation;
    this.continuation = this.packetLength === MAX_PACKET;
    if (wasContinuation) return; // the rest of a packet already read
    const payload =
      this.keptLength === 0
        ? EMPTY
        : this.kept.length === 1
          ? this.kept[0]!
          : Buffer.concat(this.kept, this.keptLength);
    const current = this.queue[0];
    if (!current) {
      // Nothing was asked: the server may send an ERR before closing (a kill, a timeout).
      this.lost = true;
      return;
    }
    let complete: boolean;
    try {
      complete = this.interpret(current, payload, this.packetLength);
    } catch {
      // A packet that does not read as its place in the reply says: stop interpreting this
      // connection (its bytes still flow) rather than guess or take the process down.
      this.lost = true;
      return;
    }
    if (complete) this.complete(current, now, end);
  }

  private complete(current: Pending, now: number, end: number): void {
    current.reply.completedAt = now;
    this.queue.shift();
    this.onReply(current.reply, end);
  }

  /**
   * The packets of a result set (its column count, definitions, the EOF after them, rows and
   * terminator), read where they lie when the whole packet is in this read, the usual case:
   * no view of a packet (~80 ns each) and no general interpretation. Anything less common
   * (errors, prepares, cursors, session-state changes...) is left to the general path
   * (NOT_READ), before anything is changed.
   */
  private readInPlace(chunk: Buffer, at: number, length: number): InPlace {
    const p = this.queue[0];
    if (!p) return NOT_READ;
    const first = chunk[at]!;
    switch (p.phase) {
      case 'first':
        // A column count below 251 (one byte) of a statement's result set.
        if (first === 0 || first >= 0xfb || (p.command !== Command.QUERY && p.command !== Command.STMT_EXECUTE))
          return NOT_READ;
        if (this.cacheMetadata && length > 1) return NOT_READ;
        p.count = first;
        p.reply.resultSets++;
        p.phase = 'columns';
        return READ;
      case 'columns-eof': {
        if (first !== 0xfe || length >= 9) return NOT_READ;
        const status = length >= 5 ? chunk.readUInt16LE(at + 3) : 0;
        if (p.command === Command.STMT_EXECUTE && status & CURSOR_EXISTS) return NOT_READ;
        p.phase = 'rows';
        return READ;
      }
      case 'columns':
        // A column definition: counted, never read.
        if (--p.count === 0) p.phase = this.deprecateEof ? 'rows' : 'columns-eof';
        return READ;
      case 'rows': {
        if (first === 0xff) return NOT_READ;
        const r = p.reply;
        // A row (0xFE starts one too when it is too long to be an EOF).
        if (first !== 0xfe || (!this.deprecateEof && length >= 9)) {
          r.rows++;
          return READ;
        }
        if (!this.deprecateEof) {
          if (length < 5 || length >= 9) return NOT_READ;
          r.warnings += chunk.readUInt16LE(at + 1);
          r.status = chunk.readUInt16LE(at + 3);
          return this.more(r) ? COMPLETE : READ;
        }
        // An OK with the 0xFE header: affected rows, insert id, status, warnings.
        const c = new Cursor(chunk, at + 1, at + length);
        let affected: number, status: number, warnings: number;
        try {
          affected = c.lenenc();
          c.lenenc();
          status = c.int2();
          warnings = c.int2();
        } catch {
          return NOT_READ;
        }
        if (status & SESSION_STATE_CHANGED) return NOT_READ;
        r.affectedRows += affected;
        r.status = status;
        r.warnings += warnings;
        return this.more(r) ? COMPLETE : READ;
      }
      default:
        return NOT_READ;
    }
  }

  /** Reads one logical packet of the current reply; true when the reply is complete. */
  private interpret(p: Pending, payload: Buffer, length: number): boolean {
    const r = p.reply;
    const first = length > 0 ? payload[0]! : -1;
    switch (p.phase) {
      case 'single':
        return true;
      case 'first':
        if (first === 0xff) return this.error(r, payload);
        if (first === 0x00 && p.command === Command.STMT_PREPARE) {
          const c = new Cursor(payload, 1);
          r.statementId = c.int4();
          p.prepareColumns = c.int2();
          p.count = c.int2();
          r.parameters = p.count;
          c.int1();
          r.warnings += c.remaining >= 2 ? c.int2() : 0;
          return this.afterPrepareGroup(p, 'params');
        }
        if (p.command === Command.FIELD_LIST) {
          // Column definitions straight away, closed by an EOF (or OK with 0xFE).
          if (first === 0xfe) return true;
          return false;
        }
        if (first === 0xfe && p.command === Command.CHANGE_USER) {
          if (this.onAuthSwitch) {
            // The owner answers the switch itself; the OK or ERR that follows ends the reply.
            this.onAuthSwitch(Buffer.from(payload), this.sequence);
            return false;
          }
          // An authentication switch answered by the client: an exchange this tracker does not follow.
          this.lost = true;
          return true;
        }
        if (first === 0x00) return this.ok(r, payload);
        // COM_SET_OPTION is answered with an EOF packet (MariaDB, MySQL alike).
        if (first === 0xfe && p.command === Command.SET_OPTION) {
          if (payload.length >= 5) r.status = payload.readUInt16LE(3);
          return true;
        }
        if (first === 0xfb) return false; // LOCAL INFILE: the client sends the file, then comes an OK or ERR
        {
          const c = new Cursor(payload);
          p.count = c.lenenc();
          r.resultSets++;
          p.phase = 'columns';
          // With cached metadata the server may say the column definitions (and their EOF) do not follow.
          const metadataFollows = !this.cacheMetadata || c.remaining === 0 || c.int1() !== 0;
          if (!metadataFollows) p.phase = 'rows';
          else if (p.count === 0) p.phase = this.deprecateEof ? 'rows' : 'columns-eof';
        }
        return false;
      case 'columns':
        if (--p.count === 0) p.phase = this.deprecateEof ? 'rows' : 'columns-eof';
        return false;
      case 'columns-eof': {
        if (first === 0xff) return this.error(r, payload);
        const status = payload.length >= 5 ? payload.readUInt16LE(3) : 0;
        // A binary result set that opened a cursor sends its rows on COM_STMT_FETCH.
        if (p.command === Command.STMT_EXECUTE && status & CURSOR_EXISTS) {
          r.status = status;
          return true;
        }
        p.phase = 'rows';
        return false;
      }
      case 'rows':
        if (first === 0xff) return this.error(r, payload);
        if (first === 0xfe && length < MAX_PACKET && (this.deprecateEof || length < 9))
          return this.terminator(p, payload);
        r.rows++;
        return false;
      case 'prepare-params':
        if (--p.count === 0) return this.afterPrepareGroup(p, 'params-done');
        return false;
      case 'prepare-params-eof':
        p.count = p.prepareColumns;
        return this.afterPrepareGroup(p, 'columns');
      case 'prepare-columns':
        if (--p.count === 0) return this.afterPrepareGroup(p, 'columns-done');
        return false;
      case 'prepare-columns-eof':
        return true;
    }
  }

  /** Steps through a COM_STMT_PREPARE answer's parameter and column definition groups. */
  private afterPrepareGroup(p: Pending, where: 'params' | 'params-done' | 'columns' | 'columns-done'): boolean {
    if (where === 'params') {
      if (p.count > 0) return ((p.phase = 'prepare-params'), false);
      p.count = p.prepareColumns;
      where = 'columns';
    }
    if (where === 'params-done') {
      if (!this.deprecateEof) return ((p.phase = 'prepare-params-eof'), false);
      p.count = p.prepareColumns;
      where = 'columns';
    }
    if (where === 'columns') {
      if (p.count > 0) return ((p.phase = 'prepare-columns'), false);
      return true;
    }
    if (!this.deprecateEof) return ((p.phase = 'prepare-columns-eof'), false);
    return true;
  }

  private error(r: Reply, payload: Buffer): boolean {
    // Error code 0xFFFF is a progress report (MARIADB_CLIENT_PROGRESS), not the end.
    if (payload.length >= 3 && payload.readUInt16LE(1) === 0xffff) return false;
    try {
      r.error = readErr(payload);
    } catch {
      r.error = { code: 0, sqlState: 'HY000', message: 'unreadable error packet' };
    }
    return true;
  }

  /** OK_Packet: affected rows, last insert id, status, warnings. */
  private ok(r: Reply, payload: Buffer): boolean {
    const c = new Cursor(payload, 1);
    try {
      r.affectedRows += c.lenenc();
      c.lenenc();
      r.status = c.int2();
      r.warnings += c.int2();
      if (r.status & SESSION_STATE_CHANGED) r.lastGtid = lastGtidOf(payload) ?? r.lastGtid;
    } catch {
      return true; // a short OK (an old server's COM_CHANGE_USER answer): done all the same
    }
    return this.more(r);
  }

  /** The end of a result set's rows: an EOF, or with DEPRECATE_EOF an OK with the 0xFE header. */
  private terminator(p: Pending, payload: Buffer): boolean {
    const r = p.reply;
    if (this.deprecateEof) return this.ok(r, payload);
    r.warnings += payload.readUInt16LE(1);
    r.status = payload.readUInt16LE(3);
    return this.more(r);
  }

  private more(r: Reply): boolean {
    if (!(r.status & MORE_RESULTS)) return true;
    const p = this.queue[0]!;
    p.phase = 'first';
    return false;
  }
}
