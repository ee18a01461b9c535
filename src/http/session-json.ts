/**
 * A session's representation (the Session schema), as objects and as JSON text.
 *
 * GET /sessions with thousands of sessions spent its time building one object per session
 * and serialising them all on every request, although an idle session's fields do not
 * change. Here each session's JSON text is made once and kept until a field it shows
 * changes; only `idle` (it moves with the clock) is written per request. The cache is
 * checked by comparing the fields themselves, so the data plane needs no hook to invalidate
 * it, and it goes with its session (a WeakMap).
 *
 * `sessionsJson(list, now)` equals `JSON.stringify(list.map((s) => sessionView(s, now)))`
 * byte for byte; the app checks that on every response while validating (in tests).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { components } from '../../generated/api.d.ts';
import type { Session } from '../core/sessions.ts';
import { link } from './links.ts';

export type SessionView = components['schemas']['Session'];
type Field = keyof SessionView;

/** The text around `idle`: everything before its value, and everything after it. */
interface Fragment {
  state: string;
  user: string;
  backends: Session['backends'];
  defaultDb: string | null;
  statements: number;
  bytesIn: number;
  bytesOut: number;
  /** UTF-8 bytes: a listing is copied together from them, never re-encoded. */
  head: Buffer;
  tail: Buffer;
  /**
   * Which head and tail these are: a new number (from one counter for all sessions) each time
   * either is rebuilt, so equal versions mean equal bytes. The listing's ETag hashes these
   * instead of the whole listing.
   */
  version: number;
  /** This listing's part of the session, between preparing and writing it. */
  idleMs: number;
  routed: Buffer | undefined;
}

const fragments = new WeakMap<Session, Fragment>();
const EMPTY = Buffer.alloc(0);
const utf8 = (text: string) => Buffer.from(text, 'utf8');
let versions = 0;
/** A connect time never changes: formatted once (toISOString was a third of a listing's time). */
const connectedText = new WeakMap<Session, string>();

function connected(s: Session): string {
  let text = connectedText.get(s);
  if (text === undefined) connectedText.set(s, (text = s.connected.toISOString()));
  return text;
}

const idleMsOf = (s: Session, now: number) => Math.max(0, now - s.lastActivity);
const idleSeconds = (s: Session, now: number) => idleMsOf(s, now) / 1000;

function fragment(s: Session): Fragment {
  let f = fragments.get(s);
  // The backends array is compared by identity: routers replace it whole (backendsChanged) and a
  // connection's server never changes, so the check touches no backend (each one a cache miss
  // with 9,000 sessions: this loop's cost is memory latency, not instructions).
  const headValid = f !== undefined && f.state === s.state && f.user === s.user && f.backends === s.backends;
  const tailValid =
    f !== undefined &&
    f.defaultDb === s.defaultDb &&
    f.statements === s.statementsRouted &&
    f.bytesIn === s.bytesIn &&
    f.bytesOut === s.bytesOut;
  if (headValid && tailValid) return f!;
  if (f === undefined) {
    f = {
      state: '',
      user: '',
      backends: [],
      defaultDb: null,
      statements: 0,
      bytesIn: 0,
      bytesOut: 0,
      head: EMPTY,
      tail: EMPTY,
      version: 0,
      idleMs: 0,
      routed: undefined,
    };
    fragments.set(s, f);
  }
  if (!headValid) {
    f.state = s.state;
    f.user = s.user;
    f.backends = s.backends;
    f.head = utf8(
      `{"id":${s.id},"state":${JSON.stringify(s.state)},"user":${JSON.stringify(s.user)},` +
        `"address":${JSON.stringify(s.address)},"port":${s.port},` +
        `"service":${JSON.stringify(link('service', s.service))},` +
        `"servers":${JSON.stringify(s.backends.map((b) => link('server', b.server)))},` +
        `"connected":"${connected(s)}","idle":`,
    );
  }
  if (!tailValid) {
    f.defaultDb = s.defaultDb;
    f.statements = s.statementsRouted;
    f.bytesIn = s.bytesIn;
    f.bytesOut = s.bytesOut;
    f.tail = utf8(
      `,"default_db":${JSON.stringify(s.defaultDb)},"statements_routed":${s.statementsRouted},` +
        `"bytes_in":${s.bytesIn},"bytes_out":${s.bytesOut}}`,
    );
  }
  f.version = ++versions;
  return f;
}

/**
 * Idle times are whole milliseconds (epoch ms apart), and String(ms / 1000) of a whole number of
 * ms is its decimal form with at most three decimals, trailing zeros dropped: written digit by
 * digit here, no string per session. Anything else (a fractional clock) goes through String().
 */
const DIGITS_SAFE = 1e12;

function idleLength(ms: number): number {
  if (!Number.isInteger(ms) || ms >= DIGITS_SAFE) return String(ms / 1000).length;
  let whole = Math.floor(ms / 1000);
  let frac = ms % 1000;
  let n = 1;
  while (whole >= 10) {
    whole = Math.floor(whole / 10);
    n++;
  }
  if (frac === 0) return n;
  n += 4; // the point and three digits, less the trailing zeros
  while (frac % 10 === 0) {
    frac /= 10;
    n--;
  }
  return n;
}

function writeIdle(out: Buffer, o: number, ms: number): number {
  if (!Number.isInteger(ms) || ms >= DIGITS_SAFE) {
    const text = String(ms / 1000);
    for (let k = 0; k < text.length; k++) out[o++] = text.charCodeAt(k);
    return o;
  }
  let whole = Math.floor(ms / 1000);
  let frac = ms % 1000;
  // The whole seconds, last digit first, written backwards from their end.
  let digits = 1;
  for (let w = whole; w >= 10; w = Math.floor(w / 10)) digits++;
  let p = o + digits;
  do {
    out[--p] = 0x30 + (whole % 10);
    whole = Math.floor(whole / 10);
  } while (whole > 0);
  o += digits;
  if (frac === 0) return o;
  out[o++] = 0x2e; // .
  let div = 100;
  while (frac > 0) {
    const d = Math.floor(frac / div);
    out[o++] = 0x30 + d;
    frac -= d * div;
    div /= 10;
  }
  return o;
}

/** One session's JSON text at `now` (epoch ms). */
export function sessionJson(s: Session, now: number): Buffer {
  return sessionsJson([s], now).subarray(1, -1);
}

/**
 * A listing of sessions at one instant: its ETag and its bytes, each made when first asked for.
 * Both are asked for within one synchronous send (src/http/app.ts), so no other listing can
 * touch the sessions' fragments in between.
 */
export interface SessionsListing {
  /** A strong ETag: equal only when the bytes are (see Fragment.version). */
  readonly etag: string;
  /** The JSON array, as UTF-8. */
  json(): Buffer;
  /** The bytes were sent (the response is closed): their memory may serve a later listing. */
  release(): void;
}

/**
 * Output buffers of sent listings, for the next ones. A fresh 2+ MB buffer per request was
 * external memory for V8 (each ~64 MB of it starts a full collection of a heap holding
 * thousands of sessions) and newly mapped pages for the kernel to fault in and zero.
 */
const spare: Buffer[] = [];
const SPARE_MAX = 4;

function outputBuffer(length: number): Buffer {
  for (let i = spare.length - 1; i >= 0; i--) if (spare[i]!.length >= length) return spare.splice(i, 1)[0]!;
  // Room for the listing to grow a little before a buffer is too small to reuse.
  return Buffer.allocUnsafeSlow(length + (length >> 3));
}

function giveBack(buffer: Buffer): void {
  spare.push(buffer);
  if (spare.length > SPARE_MAX) {
    spare.sort((a, b) => b.length - a.length);
    spare.length = SPARE_MAX;
  }
}

/** Differs per process: versions restart at 1 with each process, ETags must not repeat. */
const PROCESS_KEY = randomBytes(16);
/** The ETag's input, reused between listings (each is made synchronously). */
let keyScratch = Buffer.allocUnsafe(64 * 1024);
/** The listed sessions' fragments, reused likewise, so that a listing allocates its bytes only. */
let fragScratch: Fragment[] = [];
let listingsMade = 0;
/** How many entries of fragScratch the last listing filled. */
let lastListed = 0;

/**
 * A listing of `list` at `now`. Its ETag is computed from what its bytes are made of (the
 * process key, each fragment's version, its idle time and its router diagnostics), not from
 * the 2+ MB of bytes themselves, so a 304 or a `fields=` answer never builds them.
 */
export function sessionsListing(list: readonly Session[], now: number): SessionsListing {
  let prepared: { etag: string; length: number; token: number } | undefined;
  let bytes: Buffer | undefined;
  let whole: Buffer | undefined;
  const prepare = () => (prepared ??= prepareListing(list, now));
  return {
    get etag() {
      return prepare().etag;
    },
    json() {
      if (bytes) return bytes;
      let { length } = prepare();
      if (prepared!.token !== listingsMade) {
        // Another listing used the scratch since: prepared again, the same ETag means the same bytes.
        const again = prepareListing(list, now);
        if (again.etag !== prepared!.etag)
          throw new Error('the sessions changed between the ETag of a listing and its bytes');
        length = again.length;
      }
      whole = outputBuffer(length);
      bytes = write(whole, fragScratch, list.length, length);
      // Closed sessions' fragments are not kept alive by the scratch array.
      fragScratch.fill(undefined as never, 0, list.length);
      lastListed = 0;
      return bytes;
    },
    release() {
      if (whole) giveBack(whole);
      whole = undefined;
    },
  };
}

/** Brings each session's fragment up to date, notes its idle time and diagnostics, and hashes the ETag. */
function prepareListing(list: readonly Session[], now: number): { etag: string; length: number; token: number } {
  const n = list.length;
  if (fragScratch.length < n) fragScratch = new Array<Fragment>(n);
  const frags = fragScratch;
  // A listing that shrank drops the rest (a listing never written keeps its own until the next).
  if (lastListed > n) frags.fill(undefined as never, n, lastListed);
  lastListed = n;
  const token = ++listingsMade;
  let length = 2 + Math.max(0, n - 1);
  let k = PROCESS_KEY.copy(ensureKey(0, PROCESS_KEY.length), 0);
  for (let i = 0; i < n; i++) {
    const s = list[i]!;
    const f = (frags[i] = fragment(s));
    const idleMs = (f.idleMs = idleMsOf(s, now));
    // A router's live view of its session (readwritesplit) changes with every statement: written per request.
    const state = s.routerState?.();
    const routed = (f.routed = state ? utf8(`,"router_diagnostics":${JSON.stringify(state)}}`) : undefined);
    length += f.head.length + idleLength(idleMs) + f.tail.length + (routed ? routed.length - 1 : 0);
    const key = ensureKey(k, 20 + (routed ? routed.length : 0));
    key.writeDoubleLE(f.version, k);
    key.writeDoubleLE(idleMs, k + 8);
    key.writeUInt32LE(routed ? routed.length : 0, k + 16);
    k += 20;
    if (routed) k += routed.copy(key, k);
  }
  const etag = `"${createHash('sha1').update(keyScratch.subarray(0, k)).digest('hex')}"`;
  return { etag, length, token };
}

function ensureKey(at: number, more: number): Buffer {
  if (at + more > keyScratch.length) {
    const bigger = Buffer.allocUnsafe(Math.max(2 * keyScratch.length, at + more));
    keyScratch.copy(bigger, 0, 0, at);
    keyScratch = bigger;
  }
  return keyScratch;
}

/**
 * Each session's kept bytes copied into one buffer, with its `idle` written between them.
 * Joining strings was no cheaper than JSON.stringify; copying bytes is.
 */
function write(into: Buffer, frags: readonly Fragment[], n: number, length: number): Buffer {
  const out = into.subarray(0, length);
  let o = 0;
  out[o++] = 0x5b; // [
  for (let i = 0; i < n; i++) {
    if (i > 0) out[o++] = 0x2c; // ,
    // TypedArray set and a byte loop: no call into C++ per piece (Buffer#copy/#write made one each).
    const f = frags[i]!;
    out.set(f.head, o);
    o += f.head.length;
    o = writeIdle(out, o, f.idleMs);
    const extra = f.routed;
    // With router diagnostics the session's closing brace comes after them.
    const tail = extra ? f.tail.subarray(0, -1) : f.tail;
    out.set(tail, o);
    o += tail.length;
    if (extra) {
      out.set(extra, o);
      o += extra.length;
    }
    f.routed = undefined;
  }
  out[o++] = 0x5d; // ]
  if (o !== length) throw new Error(`a sessions listing came out ${o} bytes long, not ${length}`);
  return out;
}

/** The JSON array of `list` at `now`, as UTF-8: equal to JSON.stringify of their views. */
export function sessionsJson(list: readonly Session[], now: number): Buffer {
  return sessionsListing(list, now).json();
}

const BUILDERS: { [F in Field]: (s: Session, now: number) => SessionView[F] } = {
  id: (s) => s.id,
  state: (s) => s.state,
  user: (s) => s.user,
  address: (s) => s.address,
  port: (s) => s.port,
  service: (s) => link('service', s.service),
  servers: (s) => s.backends.map((b) => link('server', b.server)),
  connected: (s) => connected(s),
  idle: (s, now) => idleSeconds(s, now),
  default_db: (s) => s.defaultDb,
  statements_routed: (s) => s.statementsRouted,
  bytes_in: (s) => s.bytesIn,
  bytes_out: (s) => s.bytesOut,
  router_diagnostics: (s) => s.routerState?.() ?? undefined,
};
const ALL_FIELDS = Object.keys(BUILDERS) as Field[];

/** A session's representation at `now`. */
export function sessionView(s: Session, now = Date.now()): SessionView {
  return sessionFields(s, now, ALL_FIELDS) as SessionView;
}

/**
 * Only the named fields (what `fields=` asks for), in the order asked, building nothing else. Names that are not fields of a session are left out, as the generic
 * projection leaves out what a resource does not have.
 */
export function sessionFields(s: Session, now: number, fields: readonly string[]): Partial<SessionView> {
  const out: Record<string, unknown> = {};
  for (const name of fields) {
    const build = BUILDERS[name as Field] as ((s: Session, now: number) => unknown) | undefined;
    const value = build?.(s, now);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** The field names a `fields` projection asks for, in its order (null: one of them is nested). */
export function topLevelFields(paths: string[][]): string[] | null {
  return paths.every((p) => p.length === 1) ? paths.map((p) => p[0]!) : null;
}
