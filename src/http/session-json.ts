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
  servers: string[];
  defaultDb: string | null;
  statements: number;
  bytesIn: number;
  bytesOut: number;
  /** UTF-8 bytes: a listing is copied together from them, never re-encoded. */
  head: Buffer;
  tail: Buffer;
}

const fragments = new WeakMap<Session, Fragment>();
const EMPTY = Buffer.alloc(0);
const utf8 = (text: string) => Buffer.from(text, 'utf8');
/** A session's connect time never changes: formatted once (toISOString was a third of a listing's time). */
const connectedText = new WeakMap<Session, string>();

function connected(s: Session): string {
  let text = connectedText.get(s);
  if (text === undefined) connectedText.set(s, (text = s.connected.toISOString()));
  return text;
}

const idleSeconds = (s: Session, now: number) => Math.max(0, (now - s.lastActivity) / 1000);

function sameServers(f: Fragment, s: Session): boolean {
  if (f.backends !== s.backends || f.servers.length !== s.backends.length) return false;
  for (let i = 0; i < f.servers.length; i++) if (f.servers[i] !== s.backends[i]!.server) return false;
  return true;
}

function fragment(s: Session): Fragment {
  let f = fragments.get(s);
  const headValid = f !== undefined && f.state === s.state && f.user === s.user && sameServers(f, s);
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
      servers: [],
      defaultDb: null,
      statements: 0,
      bytesIn: 0,
      bytesOut: 0,
      head: EMPTY,
      tail: EMPTY,
    };
    fragments.set(s, f);
  }
  if (!headValid) {
    f.state = s.state;
    f.user = s.user;
    f.backends = s.backends;
    f.servers = s.backends.map((b) => b.server);
    f.head = utf8(
      `{"id":${s.id},"state":${JSON.stringify(s.state)},"user":${JSON.stringify(s.user)},` +
        `"address":${JSON.stringify(s.address)},"port":${s.port},` +
        `"service":${JSON.stringify(link('service', s.service))},` +
        `"servers":${JSON.stringify(f.servers.map((n) => link('server', n)))},` +
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
  return f;
}

/** One session's JSON text at `now` (epoch ms). */
export function sessionJson(s: Session, now: number): Buffer {
  return sessionsJson([s], now).subarray(1, -1);
}

/**
 * The JSON array of `list` at `now`, as UTF-8: each session's kept bytes copied into one
 * buffer, with its `idle` written between them (String(n) is JSON's rendering of a finite
 * number, ASCII). Joining strings was no cheaper than JSON.stringify; copying bytes is.
 */
export function sessionsJson(list: readonly Session[], now: number): Buffer {
  const n = list.length;
  const frags = new Array<Fragment>(n);
  const idles = new Array<string>(n);
  // A router's live view of its session (readwritesplit) changes with every statement: written per request.
  const routed = new Array<Buffer | undefined>(n);
  let length = 2 + Math.max(0, n - 1);
  for (let i = 0; i < n; i++) {
    const s = list[i]!;
    const f = (frags[i] = fragment(s));
    const idle = (idles[i] = String(idleSeconds(s, now)));
    const state = s.routerState?.();
    if (state) routed[i] = utf8(`,"router_diagnostics":${JSON.stringify(state)}}`);
    length += f.head.length + idle.length + f.tail.length + (routed[i] ? routed[i]!.length - 1 : 0);
  }
  const out = Buffer.allocUnsafe(length);
  let o = 0;
  out[o++] = 0x5b; // [
  for (let i = 0; i < n; i++) {
    if (i > 0) out[o++] = 0x2c; // ,
    // TypedArray set and a byte loop: no call into C++ per piece (Buffer#copy/#write made one each).
    const f = frags[i]!;
    out.set(f.head, o);
    o += f.head.length;
    const idle = idles[i]!;
    for (let k = 0; k < idle.length; k++) out[o++] = idle.charCodeAt(k);
    const extra = routed[i];
    // With router diagnostics the session's closing brace comes after them.
    const tail = extra ? f.tail.subarray(0, -1) : f.tail;
    out.set(tail, o);
    o += tail.length;
    if (extra) {
      out.set(extra, o);
      o += extra.length;
    }
  }
  out[o] = 0x5d; // ]
  return out;
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
