/**
 * The process's last resort for errors nothing else caught: a promise rejected with nobody
 * awaiting it, an exception thrown out of an event handler. Each is a bug (every session
 * step and event handler catches its own errors, so that a bad packet costs its own session),
 * and each is logged loudly, at the error level with its stack, for it to be found and fixed.
 *
 * Neither ends the process. For an unhandled rejection that is plainly right: the promise's
 * work is over, nothing is half done by the rejection itself. For an uncaught exception
 * Node's advice is to exit, because the code that threw stopped halfway and may have left
 * shared state inconsistent. Weir chooses, as MaxScale does with its per-session error
 * handling, to log and keep serving: its shared state (the configuration core) changes
 * only through calls that validate before they write and persist atomically, so what an
 * escaping exception can leave half done is the connection or session it was handling,
 * which the session's own socket events then close; exiting instead would drop every
 * client of every service over one bad connection, which is the outage the data plane
 * exists to prevent. A supervisor restart would not repair anything a restart could.
 */
import type { WeirLogger } from './log/logger.ts';

let current: WeirLogger | null = null;
let installed = false;

/** Installs the handlers once; until `useLogger` is called they write to standard error. */
export function installBackstop(): void {
  if (installed) return;
  installed = true;
  process.on('unhandledRejection', (reason) => report('unhandled promise rejection', reason));
  process.on('uncaughtException', (err) => report('uncaught exception', err));
}

/** From now on the backstop reports through Weir's log. */
export function useLogger(logger: WeirLogger | null): void {
  current = logger;
}

function report(kind: string, reason: unknown): void {
  const err = reason instanceof Error ? reason : new Error(String(reason));
  const message = `${kind} (a bug in Weir; it keeps serving): ${err.message}`;
  try {
    if (current) {
      current.error({ err: err.stack ?? err.message, kind }, message);
      return;
    }
  } catch {
    // The log itself failed: fall through to standard error.
  }
  process.stderr.write(`weir: ${message}\n${err.stack ?? ''}\n`);
}
