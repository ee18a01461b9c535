/**
 * ETag and Last-Modified on every resource, and the four conditional request headers.
 * The ETag is the SHA-1 of the resource's full JSON representation, so it changes
 * whenever the resource's configuration or state does. HTTP dates have 1 s resolution.
 */
import { createHash } from 'node:crypto';
import type { Request } from 'express';
import { WeirError } from '../core/errors.ts';

export const etagOfText = (json: string | Buffer) => `"${createHash('sha1').update(json).digest('hex')}"`;
export const etagOf = (body: unknown) => etagOfText(JSON.stringify(body));

const seconds = (d: Date) => Math.floor(d.getTime() / 1000);

function tags(header: string): string[] {
  return header
    .split(',')
    .map((t) => t.trim().replace(/^W\//, ''))
    .filter(Boolean);
}

function parseDate(header: string | undefined): Date | null {
  if (!header) return null;
  const d = new Date(header);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** For a GET: true when the client's copy is current (answer 304). */
export function notModified(req: Request, etag: string, lastModified: Date | undefined): boolean {
  const inm = req.get('If-None-Match');
  if (inm) return inm.trim() === '*' || tags(inm).includes(etag);
  const since = parseDate(req.get('If-Modified-Since'));
  return !!(since && lastModified && seconds(lastModified) <= seconds(since));
}

export const hasWritePreconditions = (req: Request) => !!(req.get('If-Match') || req.get('If-Unmodified-Since'));

/** Before a write: throws 412 when If-Match or If-Unmodified-Since does not hold. */
export function checkWritePreconditions(req: Request, etag: string, lastModified: Date | undefined): void {
  const im = req.get('If-Match');
  if (im && im.trim() !== '*' && !tags(im).includes(etag)) {
    throw new WeirError(412, `The resource's ETag ${etag} is not one of those in If-Match; nothing was changed.`);
  }
  const ius = req.get('If-Unmodified-Since');
  if (ius && !im) {
    const since = parseDate(ius);
    if (!since) throw new WeirError(412, `If-Unmodified-Since '${ius}' is not an HTTP date; nothing was changed.`);
    if (lastModified && seconds(lastModified) > seconds(since)) {
      throw new WeirError(
        412,
        `The resource changed at ${lastModified.toUTCString()}, after If-Unmodified-Since; nothing was changed.`,
      );
    }
  }
}
