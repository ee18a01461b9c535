/**
 * HTTP Basic authentication of admin users, the `basic` role's read-only rule, and the
 * slow-down of repeated failed logins: after FREE_FAILURES failures from one address,
 * every further attempt from it waits `admin_auth_failure_delay` ms, doubling with each
 * failure up to MAX_DELAY_MS, until a login from that address succeeds.
 */
import type { RequestHandler } from 'express';
import { setTimeout as sleep } from 'node:timers/promises';
import { WeirError } from '../core/errors.ts';
import type { WeirContext } from '../context.ts';
import { sendError } from './errors.ts';

export const FREE_FAILURES = 5;
const MAX_DELAY_MS = 10_000;
const FORGET_AFTER_MS = 15 * 60_000;

export class LoginThrottle {
  private readonly failures = new Map<string, { count: number; last: number }>();
  constructor(private readonly baseDelayMs: () => number) {}

  delayFor(address: string): number {
    const f = this.failures.get(address);
    if (!f || f.count < FREE_FAILURES) return 0;
    return Math.min(this.baseDelayMs() * 2 ** (f.count - FREE_FAILURES), MAX_DELAY_MS);
  }
  failed(address: string): void {
    const f = this.failures.get(address) ?? { count: 0, last: 0 };
    f.count++;
    f.last = Date.now();
    this.failures.set(address, f);
  }
  succeeded(address: string): void {
    this.failures.delete(address);
  }
  /** Scheduled: forget addresses that stopped trying. */
  purge(): void {
    const cutoff = Date.now() - FORGET_AFTER_MS;
    for (const [addr, f] of this.failures) if (f.last < cutoff) this.failures.delete(addr);
  }
}

const unauthorized = (why: string) => new WeirError(401, `${why} Send HTTP Basic credentials of a Weir admin user.`);

export function authenticate(weir: WeirContext, throttle: LoginThrottle): RequestHandler {
  return async (req, res, next) => {
    const header = req.get('Authorization');
    const m = header ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header) : null;
    if (!m) return sendError(res, unauthorized(header ? 'The Authorization header is not HTTP Basic.' : 'Authentication is required.'));
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const [name, password] = colon < 0 ? [decoded, ''] : [decoded.slice(0, colon), decoded.slice(colon + 1)];
    const address = req.socket.remoteAddress ?? 'unknown';
    const delay = throttle.delayFor(address);
    if (delay > 0) await sleep(delay);
    const user = weir.users.authenticate(name, password);
    if (!user) {
      throttle.failed(address);
      weir.log.logger.warning({ user: name, address }, 'admin login failed');
      return sendError(res, unauthorized('Wrong user name or password.'));
    }
    throttle.succeeded(address);
    res.locals.user = user;
    const reads = req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS';
    // The command API decides per command: a basic user may run the read-only ones.
    const commandApi = req.method === 'POST' && req.path === '/api'; // `/v1/api` was rewritten before this
    if (!reads && !commandApi && user.role !== 'admin') {
      return sendError(res, new WeirError(403, `Administrative access required: '${user.name}' has the basic role, which may only read.`));
    }
    next();
  };
}
