/**
 * RFC 7396 JSON Merge Patch, as the JSON Patch operations that do the same to `target`, so
 * a merge patch goes through exactly the checks a JSON Patch does (modifiable fields,
 * all-or-nothing, the resource's schema). Weir's representations list every member, an
 * unset one as null, so a null in the patch sets the member to null rather than deleting it.
 */
import type { PatchOperation } from './patch.ts';

export function mergePatchOperations(target: unknown, patch: Record<string, unknown>, prefix = ''): PatchOperation[] {
  const ops: PatchOperation[] = [];
  const current = isObject(target) ? target : {};
  for (const [key, value] of Object.entries(patch)) {
    const path = `${prefix}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    if (value === null) {
      // Weir's resources show every member, an unset one as null: null clears it.
      if (key in current && current[key] !== null) ops.push({ op: 'replace', path, value: null });
    } else if (isObject(value) && isObject(current[key])) {
      ops.push(...mergePatchOperations(current[key], value, path));
    } else {
      ops.push({ op: key in current ? 'replace' : 'add', path, value: isObject(value) ? withoutNulls(value) : value });
    }
  }
  return ops;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function withoutNulls(v: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(v)
      .filter(([, x]) => x !== null)
      .map(([k, x]) => [k, isObject(x) ? withoutNulls(x) : x]),
  );
}
