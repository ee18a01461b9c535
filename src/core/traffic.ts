/**
 * What the data plane reports beyond the counters objects and sessions already keep: the
 * few events that leave no trace in live state (a refused login, a failed backend connect,
 * a statement's reply time). The core holds a no-op until the metrics module installs its
 * own; the data plane binds what it needs once per session, so a statement costs one
 * function call.
 */

/** Why a client login was refused (a small, fixed set: it becomes a metric label). */
export type AuthFailure = 'bad_password' | 'unknown_user' | 'root_refused' | 'plugin' | 'no_server';
/** Why a backend connection could not be opened. */
export type ConnectFailure = 'refused' | 'timeout' | 'auth' | 'server_error' | 'other';
/** Why a listener turned a client away before a session started. */
export type ListenerRejection = 'service_stopped' | 'max_connections';

export const AUTH_FAILURES: readonly AuthFailure[] = [
  'bad_password',
  'unknown_user',
  'root_refused',
  'plugin',
  'no_server',
];
export const CONNECT_FAILURES: readonly ConnectFailure[] = ['refused', 'timeout', 'auth', 'server_error', 'other'];
export const LISTENER_REJECTIONS: readonly ListenerRejection[] = ['service_stopped', 'max_connections'];

/** Records one statement's reply time, in seconds (bound to a session's service and server). */
export type ReplyTimer = (seconds: number) => void;

export interface TrafficObserver {
  authFailed(service: string, reason: AuthFailure): void;
  connectFailed(server: string, reason: ConnectFailure): void;
  accepted(listener: string): void;
  rejected(listener: string, reason: ListenerRejection): void;
  replyTimer(service: string, server: string): ReplyTimer;
  /** A client session closed: the reason it logs, and whether the client had sent COM_QUIT. */
  sessionClosed(service: string, reason: string, quit: boolean): void;
}

const ignore: ReplyTimer = () => {};

export const NO_TRAFFIC_OBSERVER: TrafficObserver = {
  authFailed: () => {},
  connectFailed: () => {},
  accepted: () => {},
  rejected: () => {},
  replyTimer: () => ignore,
  sessionClosed: () => {},
};

/** A failed backend connect's reason, from the error openBackend threw. */
export function connectFailure(err: unknown): ConnectFailure {
  // A socket error wrapped in the data plane's own error keeps the original as its cause.
  const inner = err instanceof Error && err.cause !== undefined ? err.cause : err;
  const e = inner as NodeJS.ErrnoException & { code?: unknown };
  if (e.code === 'ECONNREFUSED' || e.code === 'EHOSTUNREACH' || e.code === 'ENETUNREACH') return 'refused';
  if (e.code === 'ETIMEDOUT' || /timed? ?out/i.test(String(e.message))) return 'timeout';
  if (typeof e.code === 'number') return e.code === 1045 || e.code === 1044 ? 'auth' : 'server_error';
  return 'other';
}
