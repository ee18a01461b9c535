/**
 * The slow-down of password guessing at the admin API, per client address AND per user
 * name: a guesser is held back by whichever of the two has failed more.
 *
 * Each key allows FREE_FAILURES attempts without delay; after that, attempts are spaced
 * out, the gap after the n-th counted attempt being `admin_auth_failure_delay` ms doubled
 * for every attempt beyond FREE_FAILURES, up to MAX_DELAY_MS. An attempt is counted when it
 * is admitted, before its password is verified, so concurrent requests cannot race past
 * the limit: they get successive slots. One that would have to wait longer than
 * MAX_DELAY_MS for its slot is refused at once (retry later) instead of holding a
 * connection. So one address, or one user name, gets at most one guess per MAX_DELAY_MS
 * once throttled.
 *
 * A success forgives only the user name that succeeded (the right password was shown for
 * it), never the address and never another user's name: a basic user's valid logins do not
 * buy guesses at the admin's password. Keys that stop failing are forgotten after
 * FORGET_AFTER_MS; at most MAX_KEYS keys of each kind are kept (the least recently used go).
 */
export const FREE_FAILURES = 5;
export const MAX_DELAY_MS = 10_000;
export const FORGET_AFTER_MS = 15 * 60_000;
export const MAX_KEYS = 10_000;

interface Failures {
  /** Failed attempts, plus `pending` attempts being verified, are the count. */
  failed: number;
  pending: number;
  /** When the next attempt may start verifying. */
  notBefore: number;
  lastSeen: number;
}

export type Admission =
  { admitted: true; waitMs: number; attempt: Attempt } | { admitted: false; retryAfterMs: number };

/** One admitted attempt; exactly one of its methods is called when it ends. */
export interface Attempt {
  succeeded(): void;
  failed(): void;
  /** Not verified after all (the client went away, or the verifier was busy). */
  abandoned(): void;
}

export class LoginThrottle {
  private readonly byAddress = new Map<string, Failures>();
  private readonly byUser = new Map<string, Failures>();

  constructor(
    private readonly baseDelayMs: () => number,
    private readonly now: () => number = Date.now,
  ) {}

  admit(address: string, userName: string): Admission {
    const now = this.now();
    const keys = [this.entry(this.byAddress, address, now), this.entry(this.byUser, userName.toLowerCase(), now)];
    const start = Math.max(now, ...keys.map((k) => k.notBefore));
    if (start - now > MAX_DELAY_MS) return { admitted: false, retryAfterMs: start - now - MAX_DELAY_MS };
    for (const k of keys) {
      k.pending++;
      k.notBefore = start + this.gapAfter(k.failed + k.pending);
    }
    let ended = false;
    const end = (outcome: 'succeeded' | 'failed' | 'abandoned') => {
      if (ended) return;
      ended = true;
      const seen = this.now();
      for (const k of keys) {
        k.pending--;
        k.lastSeen = seen;
        if (outcome === 'failed') k.failed++;
      }
      if (outcome === 'succeeded') {
        const user = keys[1]!;
        user.failed = 0;
        user.notBefore = 0;
      }
    };
    return {
      admitted: true,
      waitMs: start - now,
      attempt: { succeeded: () => end('succeeded'), failed: () => end('failed'), abandoned: () => end('abandoned') },
    };
  }

  /** Scheduled: forget keys that stopped failing. */
  purge(): void {
    const cutoff = this.now() - FORGET_AFTER_MS;
    for (const map of [this.byAddress, this.byUser]) {
      for (const [key, f] of map) if (f.pending === 0 && f.lastSeen < cutoff) map.delete(key);
    }
  }

  /** Keys remembered, for tests. */
  size(): { addresses: number; users: number } {
    return { addresses: this.byAddress.size, users: this.byUser.size };
  }

  private gapAfter(counted: number): number {
    if (counted < FREE_FAILURES) return 0;
    return Math.min(this.baseDelayMs() * 2 ** (counted - FREE_FAILURES), MAX_DELAY_MS);
  }

  /** The key's record, moved to the most recently used end; the least recently used idle one goes when full. */
  private entry(map: Map<string, Failures>, key: string, now: number): Failures {
    const found = map.get(key);
    if (found) {
      map.delete(key);
      map.set(key, found);
      return found;
    }
    if (map.size >= MAX_KEYS) {
      for (const [old, f] of map) {
        if (f.pending === 0) {
          map.delete(old);
          break;
        }
      }
    }
    const created: Failures = { failed: 0, pending: 0, notBefore: 0, lastSeen: now };
    map.set(key, created);
    return created;
  }
}
