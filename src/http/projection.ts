/**
 * The `fields` and `range` request parameters of every GET.
 */
import { badRequest } from '../core/errors.ts';
import type { Route } from './spec.ts';

export interface Projection {
  fields: string[][] | null;
  range: [number, number] | null;
}

export function parseProjection(query: Record<string, unknown>, route: Route): Projection {
  let fields: string[][] | null = null;
  let range: [number, number] | null = null;
  if (typeof query.fields === 'string' && route.fields) {
    const names = query.fields.split(',').filter((f) => f !== '');
    const valid = route.fields;
    const unknown = names.filter((n) => !valid.exact.has(n) && !valid.open.some((p) => n.startsWith(p)));
    if (unknown.length) {
      throw badRequest(
        `Unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `'${u}'`).join(', ')}; valid fields are ${[...valid.exact].join(', ')}.`,
        unknown.map((u) => ({ path: 'fields', message: `unknown field '${u}'` })),
      );
    }
    fields = names.map((n) => n.split('.'));
  }
  if (typeof query.range === 'string') {
    const m = /^(\d+)-(\d+)$/.exec(query.range);
    if (!m)
      throw badRequest(`The range '${query.range}' is not START-END (for example 0-9).`, [
        { path: 'range', message: 'must be START-END' },
      ]);
    const [start, end] = [Number(m[1]), Number(m[2])];
    if (start > end)
      throw badRequest(`The range '${query.range}' ends before it starts.`, [
        { path: 'range', message: 'END must not be less than START' },
      ]);
    range = [start, end];
  }
  return { fields, range };
}

export function project(body: unknown, p: Projection): unknown {
  let out = body;
  if (p.range && Array.isArray(out)) out = out.slice(p.range[0], p.range[1] + 1);
  if (p.fields) {
    const pick = (obj: unknown) => pickFields(obj, p.fields!);
    out = Array.isArray(out) ? out.map(pick) : pick(out);
  }
  return out;
}

function pickFields(obj: unknown, fields: string[][]): unknown {
  if (typeof obj !== 'object' || obj === null) return obj;
  const out: Record<string, unknown> = {};
  for (const path of fields) {
    let src: unknown = obj;
    for (const key of path)
      src = src != null && typeof src === 'object' ? (src as Record<string, unknown>)[key] : undefined;
    if (src === undefined) continue;
    let dst = out;
    path.slice(0, -1).forEach((key) => (dst = (dst[key] ??= {}) as Record<string, unknown>));
    dst[path[path.length - 1]!] = src;
  }
  return out;
}
