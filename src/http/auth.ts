/**
 * HTTP Basic authentication of admin users and the `basic` role's read-only rule.
 *
 * Credentials verified in the last minute are recognised without hashing. Anything else
 * is first admitted by the LoginThrottle (per address and per user name, see
 * core/login-throttle.ts), then verified with scrypt off the event loop. A refusal —
 * throttled (429), too many verifications at once (429), wrong credentials (401) — is
 * answered without reading the request body, and closes the connection when a body was
 * still on its way, so a slow body cannot keep the connection open.
 */
import type { Request, RequestHandler, Response } from 'express';
import { setTimeout as sleep } from 'node:timers/promises';
import { WeirError } from '../core/errors.ts';
import { HasherBusy } from '../core/password-hasher.ts';
import type { LoginThrottle } from '../core/login-throttle.ts';
import type { WeirContext } from '../context.ts';
import { sendError } from './errors.ts';

const unauthorized = (why: string) => new WeirError(401, `${why} Send HTTP Basic credentials of a Weir admin user.`);

export function authenticate(weir: WeirContext, throttle: LoginThrottle): RequestHandler {
  return async (req, res, next) => {
    try {
      const header = req.get('Authorization');
      const m = header ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header) : null;
      if (!m)
        return refuse(
          req,
          res,
          unauthorized(header ? 'The Authorization header is not HTTP Basic.' : 'Authentication is required.'),
        );
      const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const [name, password] = colon < 0 ? [decoded, ''] : [decoded.slice(0, colon), decoded.slice(colon + 1)];
      const address = req.socket.remoteAddress ?? 'unknown';

      let user = weir.users.recentlyVerified(name, password);
      if (!user) {
        const admission = throttle.admit(address, name);
        if (!admission.admitted) {
          weir.log.logger.warning(
            { kind: 'admin-auth-throttled', user: name, address },
            'admin login refused: too many failed logins',
          );
          return refuse(
            req,
            res,
            tooMany('Too many failed logins from this address or for this user.', admission.retryAfterMs),
          );
        }
        const { attempt } = admission;
        try {
          if (admission.waitMs > 0) await sleep(admission.waitMs);
          // Gone while waiting: nobody would read the answer, so do not spend a hash on it.
          if (req.socket.destroyed) return attempt.abandoned();
          user = await weir.users.verify(name, password);
        } catch (err) {
          attempt.abandoned();
          if (err instanceof HasherBusy)
            return refuse(req, res, tooMany('Too many logins are being verified at once.', 1000));
          throw err;
        }
        if (!user) {
          attempt.failed();
          weir.log.logger.warning({ kind: 'admin-auth-failed', user: name, address }, 'admin login failed');
          return refuse(req, res, unauthorized('Wrong user name or password.'));
        }
        attempt.succeeded();
      }
      res.locals.user = user;
      const reads = req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS';
      // The command API decides per command: a basic user may run the read-only ones.
      const commandApi = req.method === 'POST' && req.path === '/api'; // `/v1/api` was rewritten before this
      if (!reads && !commandApi && user.role !== 'admin') {
        return refuse(
          req,
          res,
          new WeirError(403, `Administrative access required: '${user.name}' has the basic role, which may only read.`),
        );
      }
      next();
    } catch (err) {
      next(err);
    }
  };
}

function tooMany(why: string, retryAfterMs: number): WeirError & { retryAfterMs: number } {
  return Object.assign(new WeirError(429, `${why} Retry after the number of seconds in Retry-After.`), {
    retryAfterMs,
  });
}

/**
 * Answers without reading the body. If one is still coming, the connection closes after
 * the answer: otherwise Node would keep reading (and waiting for) a body nobody wants.
 */
function refuse(req: Request, res: Response, err: WeirError & { retryAfterMs?: number }): void {
  if (err.retryAfterMs !== undefined)
    res.setHeader('Retry-After', String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))));
  if (
    !req.complete &&
    (req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0)
  ) {
    res.setHeader('Connection', 'close');
  }
  sendError(res, err);
}
