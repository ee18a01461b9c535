/**
 * Which client packets are a KILL that Weir runs itself (kill.ts) instead of forwarding:
 * COM_PROCESS_KILL, and COM_QUERY whose statement is `KILL [HARD|SOFT] [CONNECTION|QUERY] <id>`
 * or `KILL ... USER name` (readwritesplit reference §2.8). The id a client names is a Weir
 * session id; forwarded, a server would read it as one of its own thread ids.
 *
 * readwritesplit classifies every statement anyway. The pass-through path does not, so it
 * first asks `firstWord` at each command start: only the statement's first word, past
 * whitespace and comments skipped as the classifier skips them, so that a forwarded statement
 * costs a byte or two; only a first word of KILL gets the classifier.
 */
import { Command, MAX_PAYLOAD } from '../protocol/commands.ts';
import { classify, Type, type Classification } from './readwritesplit/classify.ts';
import { parseKillUser } from './kill.ts';

/** KILL of Weir session `id`, or (with `user`) of every session of that user. */
export interface KillRequest {
  id: number;
  query: boolean;
  user?: string;
}

/** `firstWord` answers: certainly not a KILL; a first word of KILL (the classifier decides); not known from these bytes. */
export const NOT_KILL = 0;
export const MAYBE_KILL = 1;
export const UNDECIDED = 2;

const isSpace = (c: number) => c === 32 || (c >= 9 && c <= 13);
const lower = (c: number | undefined) => (c ?? 0) | 0x20;

/** The bytes a KILL statement's text may start with: K, k, blanks, and the starts and end of comments. */
const MAY_START = new Uint8Array(256);
for (const c of 'Kk#-/* \t\n\v\f\r') MAY_START[c.charCodeAt(0)] = 1;

/**
 * Whether SQL text whose first byte is `b[at]` may be a KILL; true when that byte has not
 * arrived. Small enough to be inlined where every statement passes by: most statements are
 * told apart by this one byte.
 */
export function mayStartKill(b: Buffer, at: number): boolean {
  return at >= b.length || MAY_START[b[at]!] === 1;
}

/** Where `*\/` starts in `b[i, end)`, or -1 (a loop: Buffer.indexOf with a string needle converts it on each call). */
function commentEnd(b: Buffer, i: number, end: number): number {
  for (; i + 1 < end; i++) if (b[i] === 0x2a && b[i + 1] === 0x2f) return i;
  return -1;
}

function lineEnd(b: Buffer, i: number, end: number): number {
  for (; i < end; i++) if (b[i] === 10) return i;
  return -1;
}

/**
 * Whether the SQL text in `b[i, end)` starts with the word KILL. `complete`: the text ends
 * at `end`; otherwise more of it is still to come, and bytes that end before the first word
 * can be seen give UNDECIDED.
 */
export function firstWord(b: Buffer, i: number, end: number, complete: boolean): number {
  const more = complete ? NOT_KILL : UNDECIDED;
  while (i < end) {
    const c = b[i]!;
    if (c === 0x4b || c === 0x6b /* K, k */) {
      if (end - i < 4) return more;
      return lower(b[i + 1]) === 0x69 && lower(b[i + 2]) === 0x6c && lower(b[i + 3]) === 0x6c ? MAYBE_KILL : NOT_KILL;
    }
    if (isSpace(c)) {
      i++;
    } else if (c === 0x23 /* # */ || c === 0x2d /* - */) {
      // `# ...` and `-- ...` (dashes then whitespace, or the end) run to the end of the line.
      if (c === 0x2d) {
        if (i + 2 >= end) return i + 1 < end && b[i + 1] !== 0x2d ? NOT_KILL : more;
        if (b[i + 1] !== 0x2d || !isSpace(b[i + 2]!)) return NOT_KILL;
      }
      const nl = lineEnd(b, i, end);
      if (nl < 0) return more;
      i = nl + 1;
    } else if (c === 0x2f /* / */) {
      if (i + 2 >= end) return i + 1 < end && b[i + 1] !== 0x2a ? NOT_KILL : more;
      if (b[i + 1] !== 0x2a /* * */) return NOT_KILL;
      let j = i + 2;
      if (b[j] === 0x21 /* ! */ || (b[j] === 0x4d /* M */ && b[j + 1] === 0x21)) {
        // An executable comment's text is SQL: skip its marker and version number only.
        j += b[j] === 0x21 ? 1 : 2;
        while (j < end && b[j]! >= 0x30 && b[j]! <= 0x39) j++;
        i = j;
        continue;
      }
      const close = commentEnd(b, j, end);
      if (close < 0) return more;
      i = close + 2;
    } else if (c === 0x2a /* * */ && i + 1 < end && b[i + 1] === 0x2f) {
      i += 2; // the end of an executable comment
    } else {
      return NOT_KILL;
    }
  }
  return more;
}

/** The KILL a classified statement is, if any: the classifier's `KILL <id>`, or KILL USER. */
export function killInSql(sql: string, c: Classification): KillRequest | null {
  if (c.kill) return c.kill;
  const byUser = c.type === Type.WRITE ? parseKillUser(sql) : null;
  return byUser ? { id: -1, ...byUser } : null;
}

/** The KILL a whole client command packet (header included) asks for, or null for any other packet. */
export function killRequest(packet: Buffer): KillRequest | null {
  const command = packet[4];
  if (command === Command.PROCESS_KILL) return { id: packet.length >= 9 ? packet.readUInt32LE(5) : -1, query: false };
  // A statement long enough to continue in another packet is no KILL.
  if (command !== Command.QUERY || packet.length - 4 >= MAX_PAYLOAD) return null;
  if (firstWord(packet, 5, packet.length, true) !== MAYBE_KILL) return null;
  const sql = packet.toString('utf8', 5);
  return killInSql(sql, classify(sql));
}
