/**
 * The admin API as the page sees it: an openapi-fetch client typed by generated/api.d.ts,
 * so a spec change that breaks a call the page makes fails `npm run typecheck`.
 * The browser re-sends the Basic credentials it used for the page itself.
 */
import createClient from 'openapi-fetch';
import type { components, paths } from '../../../generated/api.d.ts';

export type Schemas = components['schemas'];
export type Server = Schemas['Server'];
export type Service = Schemas['Service'];
export type Monitor = Schemas['Monitor'];
export type Session = Schemas['Session'];
export type Filter = Schemas['Filter'];
export type Listener = Schemas['Listener'];
export type ServiceStats = Schemas['ApiServiceStatsResult'];

export const api = createClient<paths>({ baseUrl: location.origin });

/** The API's own words for a refusal: `{error, description}`, or the status line when the body is not that. */
export function errorText(error: unknown, response: Response): string {
  const e = error as Partial<Schemas['Error']> | undefined;
  if (e && typeof e === 'object' && typeof e.description === 'string') {
    const details = (e.errors ?? []).map((d) => d.message).filter(Boolean);
    return `${response.status} ${e.error ?? response.statusText}: ${e.description}${details.length ? ` (${details.join('; ')})` : ''}`;
  }
  return `${response.status} ${response.statusText}`;
}

/** A read or an action's outcome: the data, or the text to show. */
export type Outcome<T> = { ok: true; data: T } | { ok: false; message: string };

/** Unwraps an openapi-fetch answer; a network failure becomes a message too. */
export async function outcome<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<Outcome<T>> {
  try {
    const { data, error, response } = await call;
    if (!response.ok) return { ok: false, message: errorText(error, response) };
    return { ok: true, data: data as T };
  } catch (err) {
    return { ok: false, message: `Cannot reach Weir: ${(err as Error).message}` };
  }
}

/** The last path segment of a link: `/servers/db1` -> `db1`. */
export const nameOf = (link: string) => link.slice(link.lastIndexOf('/') + 1);
