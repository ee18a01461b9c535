/**
 * RFC 6902 JSON Patch over a resource's JSON representation (fast-json-patch), with the
 * contract's rules: all-or-nothing, only modifiable fields may change (403 naming the
 * first other one), a failed `test` is a 409, and the result must still match the
 * resource's schema (422 listing every problem). Write-only fields (passwords) read as
 * null, so `replace` works on them and `test` can never reveal them.
 */
import fastJsonPatch from 'fast-json-patch';
import { schemaValidator as validator } from './schemas.ts';
import { badRequest, conflict, forbidden, unprocessable } from '../core/errors.ts';
import { mergePatchOperations } from './merge-patch.ts';

const { applyPatch, JsonPatchError } = fastJsonPatch;

export interface PatchOperation {
  op: string;
  path: string;
  value?: unknown;
}

export interface PatchRules {
  /** Component schema the result must match, e.g. 'Server'. */
  schema: string;
  /** Whether a changed JSON Pointer may change. */
  modifiable: (pointer: string) => boolean;
  /** Fields present in the patchable view as null (never returned by GET). */
  writeOnly?: string[];
}

/** `body` is a JSON Patch, or an RFC 7396 merge patch (an object). */
export function applyResourcePatch<T extends object>(
  resource: T,
  body: PatchOperation[] | Record<string, unknown>,
  rules: PatchRules,
): T & Record<string, unknown> {
  const view: Record<string, unknown> = structuredClone(resource) as Record<string, unknown>;
  for (const pointer of rules.writeOnly ?? []) setPointer(view, pointer, null);
  const ops = Array.isArray(body) ? body : mergePatchOperations(view, body);
  let result: Record<string, unknown>;
  try {
    result = applyPatch(view, ops as fastJsonPatch.Operation[], true, false).newDocument;
  } catch (err) {
    if (!(err instanceof JsonPatchError)) throw notApplicable(ops, err);
    const at = `operation ${Number(err.index ?? 0) + 1} (${err.operation?.op ?? '?'} ${err.operation?.path ?? ''})`;
    if (err.name === 'TEST_OPERATION_FAILED') throw conflict(`The test of ${at} failed; nothing was changed.`);
    if (
      err.name === 'OPERATION_PATH_UNRESOLVABLE' ||
      err.name === 'OPERATION_PATH_CANNOT_ADD' ||
      err.name === 'OPERATION_PATH_ILLEGAL_ARRAY_INDEX'
    ) {
      throw unprocessable(`${at} cannot be applied: ${firstLine(err.message)}; nothing was changed.`, [
        { path: err.operation?.path ?? '', message: firstLine(err.message) },
      ]);
    }
    throw badRequest(`${at} is not a valid JSON Patch operation: ${firstLine(err.message)}.`);
  }
  if (!isPlainObject(result)) {
    throw unprocessable(
      'The patch must leave the resource an object (it removed or replaced the whole of it); nothing was changed.',
      [{ path: '', message: 'must be an object' }],
    );
  }
  for (const pointer of changedPointers(view, result)) {
    if (!rules.modifiable(pointer)) throw forbidden(`Field ${pointer} is not modifiable; nothing was changed.`);
  }
  const validate = validator(rules.schema);
  const checked = structuredClone(result);
  for (const pointer of rules.writeOnly ?? [])
    if (getPointer(checked, pointer) === null) deletePointer(checked, pointer);
  if (!validate(checked)) {
    const errors = (validate.errors ?? []).map((e) => ({
      path: e.instancePath || '/',
      message: e.message ?? 'is invalid',
    }));
    throw unprocessable(
      `The patched resource is not valid: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}. Nothing was changed.`,
      errors,
    );
  }
  return result as T & Record<string, unknown>;
}

/**
 * An error fast-json-patch throws other than its own: a path through `__proto__`,
 * `constructor` or `prototype` (refused for safety), or an operation after one that
 * removed the whole document. The client's patch, so a 4xx.
 */
function notApplicable(ops: PatchOperation[], err: unknown): Error {
  const banned = ops.find(
    (o) => typeof o?.path === 'string' && /(^|\/)(__proto__|constructor|prototype)(\/|$)/.test(o.path),
  );
  if (banned)
    return unprocessable(
      `The path ${banned.path} goes through __proto__, constructor or prototype, which a patch may not touch; nothing was changed.`,
      [{ path: banned.path, message: 'may not go through __proto__, constructor or prototype' }],
    );
  return badRequest(
    `The patch cannot be applied: ${firstLine(String((err as Error)?.message ?? err))}; nothing was changed.`,
  );
}

/** JSON Pointers of every leaf (or whole array) that differs between a and b. */
export function changedPointers(a: unknown, b: unknown, prefix = ''): string[] {
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) => changedPointers(a[k], b[k], `${prefix}/${escape(k)}`));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix || '/'];
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const escape = (k: string) => k.replace(/~/g, '~0').replace(/\//g, '~1');
const firstLine = (s: string) => s.split('\n')[0]!.trim();

function segments(pointer: string): string[] {
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}
/** One step down a JSON document: a member of an object or an element of an array (by its index text). */
function child(o: unknown, k: string): unknown {
  return o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined;
}
function getPointer(doc: Record<string, unknown>, pointer: string): unknown {
  return segments(pointer).reduce<unknown>(child, doc);
}
function setPointer(doc: Record<string, unknown>, pointer: string, value: unknown): void {
  const keys = segments(pointer);
  const parent = keys.slice(0, -1).reduce<unknown>(child, doc);
  if (parent && typeof parent === 'object') (parent as Record<string, unknown>)[keys[keys.length - 1]!] = value;
}
function deletePointer(doc: Record<string, unknown>, pointer: string): void {
  const keys = segments(pointer);
  const parent = keys.slice(0, -1).reduce<unknown>(child, doc);
  if (parent && typeof parent === 'object') delete (parent as Record<string, unknown>)[keys[keys.length - 1]!];
}
