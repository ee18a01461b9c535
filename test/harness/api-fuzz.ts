/**
 * A fuzzer of the admin REST API, driven by generated/openapi.json: every operation, with
 * bodies derived from its request schema and then mutated (wrong types, nulls, huge
 * strings, deep nesting, unicode, prototype keys), random path parameters (existing names,
 * percent-encoding junk, dot segments), query parameters and headers (Content-Type,
 * Content-Encoding, Accept, If-Match), sent as an admin to an in-process Weir.
 *
 * What it checks after each request: no 5xx (except a 503 the operation documents); every
 * 4xx has the spec's Error body; a refused request changed nothing (the configuration,
 * users and log settings are compared before and after). At the end, Weir still serves.
 * Deterministic for a seed: the same seed sends the same requests.
 */
import { request as httpRequest } from 'node:http';
import { readFileSync } from 'node:fs';
import { deflateSync, gzipSync, brotliCompressSync } from 'node:zlib';
import type { WeirContext } from '../../src/context.ts';
import { schemaValidator } from '../../src/http/schemas.ts';

type Schema = Record<string, any>;
const SPEC = JSON.parse(readFileSync(new URL('../../generated/openapi.json', import.meta.url), 'utf8')) as Schema;

export interface FuzzOptions {
  baseUrl: string;
  context: WeirContext;
  auth: { user: string; password: string };
  seed: number;
  count: number;
  /** Stop early after this long (the count is then not reached). */
  maxMs?: number;
}

export interface FuzzReport {
  requests: number;
  ms: number;
  statuses: Record<number, number>;
  operations: number;
  findings: string[];
}

interface Operation {
  id: string;
  method: string;
  template: string;
  params: Schema[];
  body: { types: string[]; schema: Schema } | null;
  statuses: Set<number>;
}

/** mulberry32: small, fast, good enough to pick cases; seeded for reproducibility. */
class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

function resolve(schema: Schema | undefined): Schema {
  let s = schema ?? {};
  for (let i = 0; i < 20 && typeof s.$ref === 'string'; i++) {
    s = s.$ref
      .split('/')
      .slice(1)
      .reduce((o: Schema, k: string) => o?.[k.replace(/~1/g, '/').replace(/~0/g, '~')], SPEC);
  }
  return s ?? {};
}

export function operations(): Operation[] {
  const out: Operation[] = [];
  for (const [template, item] of Object.entries(SPEC.paths as Record<string, Schema>)) {
    const shared = (item.parameters ?? []).map(resolve);
    for (const method of ['get', 'put', 'post', 'patch', 'delete']) {
      const op = item[method];
      if (!op?.operationId) continue;
      const rb = op.requestBody ? resolve(op.requestBody) : null;
      const types = rb ? Object.keys(rb.content ?? {}) : [];
      out.push({
        id: op.operationId,
        method: method.toUpperCase(),
        template,
        params: [...shared, ...(op.parameters ?? []).map(resolve)],
        body: rb ? { types, schema: resolve(rb.content[types[0]!].schema) } : null,
        statuses: new Set(Object.keys(op.responses).map(Number)),
      });
    }
  }
  return out;
}

const NASTY_STRINGS = [
  '',
  ' ',
  '  padded  ',
  '007',
  'true',
  'null',
  '-1',
  '1e309',
  'NaN',
  '"quoted"',
  "'",
  '\\',
  '%',
  '%00',
  '%E0%A4%A',
  '..',
  '.',
  '../etc/passwd',
  '.weir-tmp-x',
  '__proto__',
  'constructor',
  'prototype',
  'maxscale',
  'a\nb',
  'a\r\nb',
  'nul\u0000x',
  '\u0007bell',
  'tab\there',
  '\uD800',
  '\uDFFF',
  'ü',
  '名前',
  '🙂',
  '\u202Eevil',
  '\uFEFFbom',
  '\u2028',
  '#comment',
  ';semi',
  '[section]',
  'a=b',
  'a,b',
  'a|b',
  '${x}',
  '$(id)',
  '<script>',
  'x'.repeat(300),
];

const JUNK_SEGMENTS = [
  '%E0%A4%A',
  '%',
  '%zz',
  '%00',
  '%2e%2e',
  '..',
  '.',
  '%2F',
  '%C0%AF',
  '__proto__',
  'constructor',
  '~',
  '-',
  '%F0%9F%99%82',
  'a%20b',
  '%FF',
];

/** A value of the schema's type, mostly valid, built from its own constraints. */
function instance(rng: Rng, schemaIn: Schema, names: string[], depth = 0): unknown {
  const schema = resolve(schemaIn);
  if (schema.const !== undefined) return schema.const;
  if (schema.enum) return rng.pick(schema.enum);
  const variants = schema.oneOf ?? schema.anyOf;
  if (variants) return instance(rng, rng.pick(variants), names, depth + 1);
  if (schema.allOf) return Object.assign({}, ...schema.allOf.map((s: Schema) => instance(rng, s, names, depth + 1)));
  const type = Array.isArray(schema.type)
    ? rng.pick(schema.type)
    : (schema.type ?? (schema.properties ? 'object' : 'string'));
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      const props = schema.properties ?? {};
      for (const [k, v] of Object.entries(props)) {
        if ((schema.required ?? []).includes(k) || rng.chance(0.5))
          out[k] = depth > 6 ? null : instance(rng, v as Schema, names, depth + 1);
      }
      if (schema.additionalProperties && typeof schema.additionalProperties === 'object' && rng.chance(0.3)) {
        out[`p${rng.int(100)}`] = instance(rng, schema.additionalProperties, names, depth + 1);
      }
      return out;
    }
    case 'array': {
      const n = rng.int(3) + (schema.minItems ?? 0);
      return Array.from({ length: n }, () => instance(rng, schema.items ?? {}, names, depth + 1));
    }
    case 'integer':
      return rng.pick([0, 1, 3306, 65535, 65536, -1, rng.int(100_000), schema.minimum ?? 0, schema.maximum ?? 10]);
    case 'number':
      return rng.pick([0, 1.5, -2, 1e21, rng.next() * 1000]);
    case 'boolean':
      return rng.chance(0.5);
    case 'null':
      return null;
    default: {
      // Links (`/servers/NAME`) and names get existing names often, so deeper code runs.
      const example = typeof schema.example === 'string' ? schema.example : null;
      if (example?.startsWith('/') && names.length && rng.chance(0.5))
        return `/${example.split('/')[1]}/${rng.pick(names)}`;
      if (rng.chance(0.3) && names.length) return rng.pick(names);
      if (rng.chance(0.3) && example) return example;
      return rng.chance(0.5) ? `f${rng.int(1_000_000)}` : rng.pick(NASTY_STRINGS);
    }
  }
}

/** A mutation of a (mostly valid) value: every kind of wrong the report found. */
function mutate(rng: Rng, value: unknown): unknown {
  const wrong = [
    null,
    0,
    -1,
    1.5,
    true,
    '',
    'x',
    [],
    {},
    'x'.repeat(100_000),
    { __proto__x: 1 },
    ['a', 1, null],
    rng.pick(NASTY_STRINGS),
  ];
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const obj = { ...(value as Record<string, unknown>) };
    const keys = Object.keys(obj);
    switch (rng.int(6)) {
      case 0:
        if (keys.length) obj[rng.pick(keys)] = rng.pick(wrong);
        break;
      case 1:
        if (keys.length) delete obj[rng.pick(keys)];
        break;
      case 2:
        obj[rng.pick(['__proto__', 'constructor', 'prototype', 'extra', '', 'ü'])] = rng.pick(wrong);
        break;
      case 3:
        if (keys.length) obj[rng.pick(keys)] = mutate(rng, obj[rng.pick(keys)]);
        break;
      case 4:
        return rng.pick(wrong);
      default:
        if (keys.length) obj[rng.pick(keys)] = nest(rng.pick([10, 100, 1000]));
        break;
    }
    return obj;
  }
  if (Array.isArray(value)) {
    const arr = [...value];
    if (arr.length && rng.chance(0.5)) arr[rng.int(arr.length)] = mutate(rng, arr[rng.int(arr.length)]);
    else arr.push(rng.pick(wrong));
    return arr;
  }
  return rng.pick(wrong);
}

function nest(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/** JSON Patch documents against a resource's fields, with the report's hostile paths. */
function patchBody(rng: Rng, names: string[]): unknown {
  const paths = [
    '',
    '/',
    '/port',
    '/address',
    '/parameters',
    '/parameters/x',
    '/parameters/rank',
    '/servers',
    '/servers/0',
    '/servers/-',
    '/filters',
    '/password',
    '/user',
    '/state',
    '/name',
    '/__proto__/polluted',
    '/constructor/prototype/polluted',
    '/a~1b',
    '/~2',
    '/log_levels/info',
    '/log_throttling',
    '/role',
    '/monitor_interval',
    '/nope/deeper',
    '/0',
  ];
  const ops = ['add', 'remove', 'replace', 'move', 'copy', 'test', 'bogus'];
  const n = rng.int(4) + 1;
  return Array.from({ length: n }, () => {
    const op: Record<string, unknown> = { op: rng.pick(ops), path: rng.pick(paths) };
    if (rng.chance(0.8))
      op.value = rng.chance(0.7)
        ? instance(rng, { type: rng.pick(['string', 'integer', 'boolean', 'array', 'object']) }, names)
        : mutate(rng, {});
    if (op.op === 'move' || op.op === 'copy') op.from = rng.pick(paths);
    return rng.chance(0.1) ? mutate(rng, op) : op;
  });
}

interface Planned {
  op: Operation;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer | null;
  label: string;
}

/** Percent-encodes a segment; a lone surrogate (no UTF-8 form) becomes the bytes of one, which do not decode. */
function encodeSegment(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return '%ED%A0%80';
  }
}

function plan(rng: Rng, op: Operation, names: string[]): Planned {
  let path = op.template;
  for (const p of op.params.filter((x) => x.in === 'path')) {
    const r = rng.next();
    const value =
      r < 0.55 && names.length
        ? encodeSegment(rng.pick(names))
        : r < 0.75
          ? rng.pick(JUNK_SEGMENTS)
          : r < 0.85 && p.schema?.type === 'integer'
            ? String(rng.pick([0, 1, -1, 99999999999, 1.5]))
            : encodeSegment(rng.pick(NASTY_STRINGS) || 'x');
    path = path.replace(`{${p.name}}`, value);
  }
  if (rng.chance(0.05)) path = path.replace(/\/([^/]+)$/, '/./$1');
  if (rng.chance(0.03)) path = `/v1${path}`;
  const query: string[] = [];
  for (const p of op.params.filter((x) => x.in === 'query')) {
    if (rng.chance(0.3))
      query.push(
        `${encodeURIComponent(p.name)}=${rng.pick(['yes', 'no', 'name', 'name,state', '0-1', '5-2', 'x', '%E0%A4%A', '', '__proto__', '-1'])}`,
      );
  }
  if (rng.chance(0.05)) query.push(rng.pick(['unknown=1', 'fields=__proto__', 'range=1-', '%zz=1']));
  if (query.length) path += `?${query.join('&')}`;

  const headers: Record<string, string> = {};
  let body: Buffer | null = null;
  let label = `${op.method} ${path}`;
  if (op.body || rng.chance(0.05)) {
    const schema = op.body?.schema ?? {};
    const isPatch = op.method === 'PATCH';
    let value = isPatch ? patchBody(rng, names) : instance(rng, schema, names);
    if (rng.chance(0.35)) value = mutate(rng, value);
    let text = rng.chance(0.03) ? `${'['.repeat(10_000)}${']'.repeat(10_000)}` : JSON.stringify(value);
    if (rng.chance(0.03)) text = text.slice(0, Math.max(1, text.length >> 1)); // torn JSON
    headers['Content-Type'] = rng.chance(0.9)
      ? (op.body?.types[0] ?? 'application/json')
      : rng.pick([
          'text/plain',
          'application/xml',
          'application/json; charset=latin1',
          'application/json; charset=utf-16',
          'multipart/form-data',
          '',
          '*/*',
        ]);
    let raw = Buffer.from(text);
    const encoding = rng.chance(0.85)
      ? null
      : rng.pick(['gzip', 'deflate', 'br', 'identity', 'zstd', 'gzip, gzip', 'x-junk']);
    if (encoding) {
      headers['Content-Encoding'] = encoding;
      const honest = rng.chance(0.5);
      if (honest && encoding === 'gzip') raw = gzipSync(raw);
      if (honest && encoding === 'deflate') raw = deflateSync(raw);
      if (honest && encoding === 'br') raw = brotliCompressSync(raw);
    }
    body = raw;
    label += ` ${headers['Content-Encoding'] ? `[${headers['Content-Encoding']}] ` : ''}${text.slice(0, 200)}`;
  }
  if (rng.chance(0.1)) headers.Accept = rng.pick(['text/html', 'application/xml', '*/*', 'application/json;q=0', '']);
  if (rng.chance(0.1)) headers['If-Match'] = rng.pick(['*', '"abc"', 'W/"x"', 'garbage', '""']);
  if (rng.chance(0.05)) headers['If-None-Match'] = rng.pick(['*', '"abc"']);
  if (rng.chance(0.05)) headers['If-Unmodified-Since'] = rng.pick(['Thu, 01 Jan 1970 00:00:00 GMT', 'not a date']);
  return { op, method: op.method, path, headers, body, label };
}

function send(
  baseUrl: string,
  auth: FuzzOptions['auth'],
  p: Planned,
): Promise<{ status: number; contentType: string; text: string }> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method: p.method,
        path: p.path,
        headers: {
          ...p.headers,
          Authorization: `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}`,
          ...(p.body ? { 'Content-Length': String(p.body.length) } : {}),
        },
        timeout: 15_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers['content-type'] ?? ''),
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 15 s')));
    req.on('error', reject);
    if (p.body) req.write(p.body);
    req.end();
  });
}

/** What a refused request must not change: every object's configuration, the users, the log settings. */
function snapshot(ctx: WeirContext): string {
  const objects = (['server', 'service', 'listener', 'monitor', 'filter'] as const).flatMap((k) =>
    ctx.core.list(k).map((o) => ({ k, name: o.name, params: o.params, custom: o.custom })),
  );
  return JSON.stringify({
    objects,
    users: ctx.users.list().map((u) => [u.name, u.role]),
    levels: ctx.log.levels,
    throttling: ctx.log.throttling,
  });
}

function knownNames(ctx: WeirContext, auth: FuzzOptions['auth']): string[] {
  const names = (['server', 'service', 'listener', 'monitor', 'filter'] as const).flatMap((k) =>
    ctx.core.list(k).map((o) => o.name),
  );
  names.push(
    ...ctx.users
      .list()
      .map((u) => u.name)
      .filter((n) => n !== auth.user),
    'mariadbmon',
    'readconnroute',
    'qlafilter',
    '1',
    '0',
  );
  return names;
}

export async function fuzzAdminApi(options: FuzzOptions): Promise<FuzzReport> {
  const rng = new Rng(options.seed);
  const ops = operations();
  const errorShape = schemaValidator('Error');
  const findings: string[] = [];
  const statuses: Record<number, number> = {};
  const started = Date.now();
  let requests = 0;
  for (let i = 0; i < options.count; i++) {
    if (options.maxMs && Date.now() - started > options.maxMs) break;
    // Round-robin first, so that every operation is exercised even in a short run.
    const op = i < ops.length ? ops[i]! : rng.pick(ops);
    const planned = plan(rng, op, knownNames(options.context, options.auth));
    const before = snapshot(options.context);
    let res: Awaited<ReturnType<typeof send>>;
    const sentAt = Date.now();
    try {
      res = await send(options.baseUrl, options.auth, planned);
    } catch (err) {
      findings.push(`#${i} ${planned.label}: ${(err as Error).message}`);
      continue;
    } finally {
      requests++;
    }
    statuses[res.status] = (statuses[res.status] ?? 0) + 1;
    if (process.env.WEIR_FUZZ_VERBOSE)
      console.log(`# ${Date.now() - sentAt} ms ${res.status} ${planned.label.slice(0, 160)}`);
    const documented503 = res.status === 503 && op.statuses.has(503);
    if (res.status >= 500 && !documented503)
      findings.push(
        `#${i} ${planned.label}: ${res.status} ${res.text.slice(0, Number(process.env.WEIR_FUZZ_TEXT ?? 300))}`,
      );
    if (res.status >= 400) {
      let body: unknown = null;
      try {
        body = JSON.parse(res.text);
      } catch {
        // reported below
      }
      if (!/^application\/json/.test(res.contentType) || !errorShape(body)) {
        findings.push(
          `#${i} ${planned.label}: ${res.status} without the Error body: ${res.contentType} ${res.text.slice(0, 200)}`,
        );
      }
      const after = snapshot(options.context);
      if (after !== before) findings.push(`#${i} ${planned.label}: ${res.status} but the configuration changed`);
    }
    if (res.status === 401) {
      findings.push(`#${i} ${planned.label}: 401 for the fuzzing admin; stopping`);
      break;
    }
  }
  const alive = await send(options.baseUrl, options.auth, {
    op: ops[0]!,
    method: 'GET',
    path: '/maxscale',
    headers: {},
    body: null,
    label: 'GET /maxscale',
  }).catch((err: Error) => ({ status: 0, contentType: '', text: err.message }));
  if (alive.status !== 200)
    findings.push(`Weir no longer serves: GET /maxscale answered ${alive.status} ${alive.text.slice(0, 200)}`);
  return { requests, ms: Date.now() - started, statuses, operations: ops.length, findings };
}
