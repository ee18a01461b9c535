/**
 * Relative links between resources (`/servers/server1`), both ways.
 */
import { unprocessable } from '../core/errors.ts';
import { KIND_PLURAL } from '../core/core.ts';
import type { ObjectKind } from '../core/modules.ts';

export const link = (kind: ObjectKind, name: string) => `/${KIND_PLURAL[kind]}/${name}`;
export const links = (kind: ObjectKind, names: string[]) => names.map((n) => link(kind, n));
export const sessionLink = (id: number) => `/sessions/${id}`;
export const listenerLink = (service: string, listener: string) => `/services/${service}/listeners/${listener}`;

/** Names from links, checking that every link points at the right kind of resource. */
export function namesFromLinks(kind: ObjectKind, field: string, values: unknown): string[] {
  if (!Array.isArray(values)) throw unprocessable(`${field} must be an array of links like ${link(kind, 'NAME')}.`);
  const prefix = `/${KIND_PLURAL[kind]}/`;
  return values.map((v, i) => {
    if (
      typeof v !== 'string' ||
      !v.startsWith(prefix) ||
      v.length === prefix.length ||
      v.slice(prefix.length).includes('/')
    ) {
      throw unprocessable(`${field}[${i}] must be a link like ${link(kind, 'NAME')}, not ${JSON.stringify(v)}.`, [
        { path: `/${field}/${i}`, message: `must be a link to a ${kind}` },
      ]);
    }
    return v.slice(prefix.length);
  });
}

/** Dates in the API are RFC 3339. */
export const iso = (d: Date) => d.toISOString();
export const isoOrNull = (d: Date | null) => (d ? d.toISOString() : null);
