/**
 * What client generators and hand-written clients send that the spec's strict shapes would
 * refuse, read the way it was meant, before the request validator sees it:
 *
 * - an optional member sent as `null` (quicktype's Go and Rust do) is absent, where the
 *   member's schema does not allow null itself;
 * - an array-of-strings member sent as a comma-separated string (as configuration files
 *   write lists: `"router_options": "slave,master"`) is that list, in a POST body, a merge
 *   patch or a JSON Patch operation's value;
 * - a PATCH sent as `application/json` (what most clients send) must be a JSON Patch array;
 *   an object gets a 415 pointing at `application/merge-patch+json` (RFC 7396).
 *
 * It walks the operation's request-body schema from the bundled spec; for a merge patch,
 * the resource's own schema (nulls there mean "remove", so they are kept).
 */
import type { RequestHandler } from 'express';
import { WeirError } from '../core/errors.ts';
import { sendError } from './errors.ts';
import { resolveSchema, type Route, type Spec } from './spec.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the bundled spec is parsed JSON walked by OpenAPI keys ($ref, properties, items, content...); no OpenAPI type package is a dependency to name them
type Schema = Record<string, any>;

export function lenientBodies(spec: Spec): RequestHandler {
  return (req, res, next) => {
    const route = res.locals.route as Route | undefined;
    const method = req.method.toLowerCase();
    const op = route ? spec.paths[route.template]?.[method] : undefined;
    if (!op || req.body === undefined || req.body === null || typeof req.body !== 'object') return next();
    const type = (req.get('Content-Type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (method === 'patch') {
      if (type === 'application/json' && !Array.isArray(req.body)) {
        return sendError(
          res,
          new WeirError(
            415,
            'A PATCH sent as application/json must be a JSON Patch (an array of operations); send an object as application/merge-patch+json (RFC 7396).',
          ),
        );
      }
      const resource = spec.paths[route!.template]?.get?.responses?.['200']?.content?.['application/json']?.schema;
      if (resource && Array.isArray(req.body)) normalisePatchOperations(spec, resource, req.body);
      else if (resource && type === 'application/merge-patch+json') normalise(spec, resource, req.body, false);
      return next();
    }
    const schema = op.requestBody?.content?.[type]?.schema ?? op.requestBody?.content?.['application/json']?.schema;
    if (schema) normalise(spec, schema, req.body, true);
    next();
  };
}

/** Rewrites `value` in place as `schema` means it; `dropNulls` removes optional non-nullable nulls. */
export function normalise(spec: Spec, schema: Schema, value: unknown, dropNulls: boolean, depth = 0): void {
  if (depth > 8 || typeof value !== 'object' || value === null || Array.isArray(value)) return;
  const s = pick(spec, resolveSchema(spec, schema), value as Record<string, unknown>);
  const obj = value as Record<string, unknown>;
  const required: string[] = s.required ?? [];
  for (const key of Object.keys(obj)) {
    const prop = memberSchema(s, key);
    if (!prop) continue;
    const p = resolveSchema(spec, prop);
    if (obj[key] === null) {
      if (dropNulls && !required.includes(key) && !allows(spec, p, 'null')) delete obj[key];
    } else if (typeof obj[key] === 'string' && isListOnly(spec, p)) {
      obj[key] = splitList(obj[key] as string);
    } else {
      normalise(spec, p, obj[key], dropNulls, depth + 1);
    }
  }
}

/**
 * A JSON Patch's string values that land where the resource holds only a list
 * (`{"op":"replace","path":"/servers","value":"/servers/a,/servers/b"}`) become that list,
 * as in a merge patch or a configuration file. The place is found by walking the
 * resource's schema along the operation's path. A parameter whose value may be a string
 * or a list (ParameterValue) is split by the parameter's own type check (core/params.ts).
 */
export function normalisePatchOperations(spec: Spec, resource: Schema, ops: unknown[]): void {
  for (const op of ops) {
    if (typeof op !== 'object' || op === null) continue;
    const o = op as Record<string, unknown>;
    if ((o.op !== 'add' && o.op !== 'replace') || typeof o.path !== 'string') continue;
    const at = schemaAt(spec, resource, o.path);
    if (!at) continue;
    if (typeof o.value === 'string' && isListOnly(spec, at)) o.value = splitList(o.value);
    else normalise(spec, at, o.value, false);
  }
}

/** The schema of the member a JSON Pointer names, or undefined where the schema does not say. */
function schemaAt(spec: Spec, schema: Schema, pointer: string): Schema | undefined {
  if (pointer !== '' && !pointer.startsWith('/')) return undefined;
  let s: Schema | undefined = resolveSchema(spec, schema);
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (!s) return undefined;
    const member: Schema | undefined =
      s.items && /^(\d+|-)$/.test(key) ? s.items : memberSchema(pick(spec, s, {}), key);
    s = member ? resolveSchema(spec, member) : undefined;
  }
  return s;
}

/** The schema of an object's member: its property, a matching patternProperties entry, or additionalProperties. */
function memberSchema(s: Schema, key: string): Schema | undefined {
  if (s.properties?.[key]) return s.properties[key];
  for (const [pattern, p] of Object.entries<Schema>(s.patternProperties ?? {})) {
    if (new RegExp(pattern, 'u').test(key)) return p;
  }
  return typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined;
}

/** A member that must be a list, so a string there can only be a comma-separated one. */
const isListOnly = (spec: Spec, s: Schema) => allows(spec, s, 'array') && !allows(spec, s, 'string');

// A comma-separated string is a list, as configuration files write it (`servers=server1,server2`).
const splitList = (text: string) =>
  text
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);

/** For a oneOf with a discriminator, the variant the body names; otherwise the schema itself (allOf merged). */
function pick(spec: Spec, s: Schema, value: Record<string, unknown>): Schema {
  if (s.oneOf && s.discriminator) {
    const tag = value[s.discriminator.propertyName];
    const ref = s.discriminator.mapping?.[String(tag)];
    if (ref) return resolveSchema(spec, { $ref: ref });
  }
  if (s.allOf) {
    const parts = s.allOf.map((p: Schema) => resolveSchema(spec, p));
    return {
      ...s,
      properties: Object.assign({}, s.properties, ...parts.map((p: Schema) => p.properties)),
      required: [...(s.required ?? []), ...parts.flatMap((p: Schema) => p.required ?? [])],
    };
  }
  return s;
}

/** Whether the schema admits a JSON value of this type. */
function allows(spec: Spec, s: Schema, type: string): boolean {
  if (s.type !== undefined) return Array.isArray(s.type) ? s.type.includes(type) : s.type === type;
  if (s.const !== undefined) return (s.const === null ? 'null' : typeof s.const) === type;
  const alts = [...(s.oneOf ?? []), ...(s.anyOf ?? [])];
  if (alts.length) return alts.some((a: Schema) => allows(spec, resolveSchema(spec, a), type));
  return !s.enum || s.enum.some((v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v) === type);
}
