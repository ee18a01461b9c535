/**
 * delayed_retry (readwritesplit reference §6.6): a statement with no server to go to waits
 * for one. The wait follows the monitor's news of servers (the core's `touched` and
 * `changed` events), so a primary that appears is used at once, without polling.
 */
import type { Core } from '../../../core/core.ts';
import type { ConfigObject } from '../../../core/objects.ts';

export interface Wait<T> {
  /** Resolves with what `find` found, or null when the time ran out or the wait was cancelled. */
  readonly result: Promise<T | null>;
  cancel(): void;
}

/** Waits up to `timeoutMs` until `find()` returns something, checking on every server event. */
export function waitForServer<T>(core: Core, find: () => T | null, timeoutMs: number): Wait<T> {
  let cancel: () => void = () => undefined;
  const result = new Promise<T | null>((resolve) => {
    const now = find();
    if (now !== null) return resolve(now);
    const check = (obj: ConfigObject) => {
      if (obj.kind !== 'server') return;
      const found = find();
      if (found !== null) finish(found);
    };
    const timer = setTimeout(() => finish(null), Math.max(0, timeoutMs));
    function finish(value: T | null): void {
      clearTimeout(timer);
      core.off('touched', check);
      core.off('changed', check);
      resolve(value);
    }
    core.on('touched', check);
    core.on('changed', check);
    cancel = () => finish(null);
  });
  return { result, cancel: () => cancel() };
}

/**
 * Waits until the monitor reports a change of `server`'s state flags (a failed server seen
 * down), or at most `timeoutMs`: what a replay does after it could not connect to the server
 * the monitor still calls the primary, instead of trying it again at once.
 */
export function serverStateChange(core: Core, server: ConfigObject, timeoutMs: number): Wait<true> {
  const before = server.runtime.facts.flags.join(',');
  return waitForServer(core, () => (server.runtime.facts.flags.join(',') !== before ? true : null), timeoutMs);
}
