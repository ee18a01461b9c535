/**
 * What the HTTP layer reads from the bundled spec: the path templates with their methods
 * and operationIds (for 404/405/Allow/Accept-Patch before the validator runs), and the
 * field names each GET can return (for `fields`).
 */
import { badRequest } from '../core/errors.ts';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const SPEC_PATH = fileURLToPath(new URL('../../generated/openapi.json', import.meta.url));
export const SPEC_YAML_PATH = fileURLToPath(new URL('../../generated/openapi.yaml', import.meta.url));

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the bundled spec is parsed JSON walked by OpenAPI keys ($ref, properties, items, content...); no OpenAPI type package is a dependency to name them
type Schema = Record<string, any>;
export interface Spec {
  paths: Record<string, Record<string, Schema>>;
  components: Record<string, Record<string, Schema>>;
}

export const METHODS = ['get', 'put', 'post', 'patch', 'delete'] as const;

export interface Route {
  template: string;
  regex: RegExp;
  params: string[];
  operations: Partial<Record<(typeof METHODS)[number], string>>;
  /** Path parameters whose schema is an integer (`/sessions/{id}`). */
  integerParams: Set<string>;
  /** Valid `fields` names of the GET's 200 body; `open` prefixes accept any sub-path. */
  fields: { exact: Set<string>; open: string[] } | null;
}

export function loadSpec(): Spec {
  return JSON.parse(readFileSync(SPEC_PATH, 'utf8')) as Spec;
}

export function buildRoutes(spec: Spec): Route[] {
  return Object.entries(spec.paths).map(([template, item]) => {
    const params: string[] = [];
    const pattern = template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{([^}]+)\}/g, (_, name: string) => {
      params.push(name);
      return '([^/]+)';
    });
    const operations: Route['operations'] = {};
    for (const m of METHODS) if (item[m]) operations[m] = item[m].operationId as string;
    const body = item.get?.responses?.['200']?.content?.['application/json']?.schema;
    const integerParams = new Set<string>(
      (item.parameters ?? [])
        .map((p: Schema) => resolveSchema(spec, p))
        .filter((p: Schema) => p.in === 'path' && p.schema?.type === 'integer')
        .map((p: Schema) => p.name as string),
    );
    return {
      template,
      regex: new RegExp(`^${pattern}/?$`),
      params,
      operations,
      integerParams,
      fields: body ? collectFields(spec, body) : null,
    };
  });
}

export function matchRoute(routes: Route[], path: string): { route: Route; params: Record<string, string> } | null {
  for (const route of routes) {
    const m = route.regex.exec(path);
    if (!m) continue;
    const params: Record<string, string> = {};
    route.params.forEach((name, i) => (params[name] = decodePathParam(name, m[i + 1]!)));
    return { route, params };
  }
  return null;
}

/** A path segment that is not valid percent-encoded UTF-8 (`%E0%A4%A`) is the client's mistake. */
function decodePathParam(name: string, raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw badRequest(`The path parameter '${name}' is not valid percent-encoded UTF-8: '${raw}'.`, [
      { path: `/${name}`, message: 'is not valid percent-encoding' },
    ]);
  }
}

/** Follows `$ref`s inside the bundled spec to the schema they name. */
export function resolveSchema(spec: Spec, schema: Schema): Schema {
  let s = schema;
  while (s && typeof s.$ref === 'string') {
    const [, section, name] = /^#\/components\/([^/]+)\/(.+)$/.exec(s.$ref) ?? [];
    s = spec.components[section!]?.[name!] as Schema;
  }
  return s ?? {};
}

function collectFields(spec: Spec, root: Schema): { exact: Set<string>; open: string[] } {
  const exact = new Set<string>();
  const open: string[] = [];
  const walk = (schema: Schema, prefix: string, depth: number) => {
    const s = resolveSchema(spec, schema);
    if (depth > 6) return;
    for (const alt of [...(s.oneOf ?? []), ...(s.anyOf ?? []), ...(s.allOf ?? [])]) walk(alt, prefix, depth + 1);
    for (const [name, sub] of Object.entries<Schema>(s.properties ?? {})) {
      const path = prefix ? `${prefix}.${name}` : name;
      exact.add(path);
      walk(sub, path, depth + 1);
    }
    if (prefix && s.additionalProperties && s.additionalProperties !== false) open.push(`${prefix}.`);
  };
  const top = resolveSchema(spec, root);
  walk(top.type === 'array' ? top.items : top, '', 0);
  return { exact, open };
}
