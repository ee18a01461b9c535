/**
 * Typed parameters, as MaxScale's modules declare them. A configuration file gives
 * every value as a string; the REST API gives JSON. Both are checked against the same
 * definition, and the canonical value (what the REST API shows) is a JSON value:
 * durations are numbers in the definition's unit, lists are arrays.
 */
import { compileRegex } from './regex.ts';

export type ParamType =
  | 'bool'
  | 'int'
  | 'count'
  | 'duration'
  | 'size'
  | 'enum'
  | 'enum_mask'
  | 'string'
  | 'password'
  | 'path'
  | 'regex'
  | 'serverlist'
  | 'filterlist'
  | 'service'
  | 'address'
  | 'port';

export type Value = string | number | boolean | string[] | null;

export interface ParamDef {
  name: string;
  type: ParamType;
  default: Value;
  mandatory?: boolean;
  modifiable?: boolean;
  description: string;
  enum_values?: string[];
  /** Unit of a duration's canonical (REST) value. */
  unit?: 'ms' | 's';
  /** Smallest allowed number (int, count, duration). */
  min?: number;
  /** Exclusive lower bound (durations that must be positive). */
  positive?: boolean;
}

const TRUE = new Set(['true', 'yes', 'on', '1']);
const FALSE = new Set(['false', 'no', 'off', '0']);

const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a value written in a configuration file. Throws a message (no key prefix) when invalid. */
export function parseConfigValue(def: ParamDef, raw: string): Value {
  const text = raw.trim();
  switch (def.type) {
    case 'bool': {
      const lower = text.toLowerCase();
      if (TRUE.has(lower)) return true;
      if (FALSE.has(lower)) return false;
      throw new Error(`'${raw}' is not a boolean (true/false, yes/no, on/off, 1/0)`);
    }
    case 'int':
    case 'count':
    case 'port':
      if (!/^-?\d+$/.test(text)) throw new Error(`'${raw}' is not an integer`);
      return checkNumber(def, Number(text));
    case 'size': {
      const m = /^(\d+)([kmgt]i?)?$/i.exec(text);
      if (!m) throw new Error(`'${raw}' is not a size (a number with an optional K, M, G or T suffix)`);
      const power = m[2] ? 'kmgt'.indexOf(m[2][0]!.toLowerCase()) + 1 : 0;
      const base = m[2]?.toLowerCase().endsWith('i') ? 1024 : 1000;
      return checkNumber(def, Number(m[1]) * base ** power);
    }
    case 'duration': {
      const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text);
      if (!m) throw new Error(`'${raw}' is not a duration (a number with an optional ms, s, m or h suffix)`);
      const unit = def.unit ?? 's';
      // Without a suffix the number is in the parameter's own unit, as MaxScale reads it.
      const ms = m[2] ? Number(m[1]) * DURATION_MS[m[2]]! : Number(m[1]) * DURATION_MS[unit]!;
      return checkNumber(def, ms / DURATION_MS[unit]!);
    }
    case 'enum_mask':
    case 'serverlist':
    case 'filterlist': {
      // MaxScale separates a service's filters with `|`; commas are accepted too.
      const separator = def.type === 'filterlist' ? /[|,]/ : ',';
      const items =
        text === ''
          ? []
          : text
              .split(separator)
              .map((s) => s.trim())
              .filter((s) => s !== '');
      return checkJsonValue(def, items);
    }
    case 'string':
    case 'password':
      // MaxScale lets a string be quoted, which is the only way to keep edge whitespace.
      return checkJsonValue(def, /^".*"$/s.test(text) && text.length >= 2 ? text.slice(1, -1) : text);
    default:
      return checkJsonValue(def, text);
  }
}

function checkNumber(def: ParamDef, n: number): number {
  if (!Number.isFinite(n)) throw new Error(`must be a finite number`);
  if ((def.type === 'int' || def.type === 'count' || def.type === 'port') && !Number.isInteger(n)) {
    throw new Error(`must be an integer`);
  }
  const min = def.min ?? (def.type === 'count' || def.type === 'size' || def.type === 'duration' ? 0 : undefined);
  if (def.type === 'port' && (n < 1 || n > 65535)) throw new Error(`must be a port number from 1 to 65535`);
  if (min !== undefined && n < min) throw new Error(`must be at least ${min}`);
  if (def.positive && n <= 0) throw new Error(`must be greater than 0`);
  return n;
}

/** Checks a JSON value given through the API (or produced by parseConfigValue). Throws a message when invalid. */
export function checkJsonValue(def: ParamDef, value: unknown): Value {
  if (value === null) {
    if (def.mandatory) throw new Error(`is mandatory and cannot be null`);
    return null;
  }
  switch (def.type) {
    case 'bool':
      if (typeof value !== 'boolean') throw new Error(`must be a boolean`);
      return value;
    case 'int':
    case 'count':
    case 'duration':
    case 'size':
    case 'port':
      if (typeof value !== 'number') throw new Error(`must be a number`);
      return checkNumber(def, value);
    case 'enum':
      if (typeof value !== 'string' || !def.enum_values!.includes(value)) {
        throw new Error(`must be one of ${def.enum_values!.join(', ')}`);
      }
      return value;
    case 'enum_mask': {
      const items = stringList(value);
      const bad = items.find((v) => !def.enum_values!.includes(v));
      if (bad !== undefined) throw new Error(`'${bad}' is not one of ${def.enum_values!.join(', ')}`);
      if (new Set(items).size !== items.length) throw new Error(`lists a value twice`);
      return items;
    }
    case 'serverlist':
    case 'filterlist': {
      const items = stringList(value);
      if (new Set(items.map((s) => s.toLowerCase())).size !== items.length) throw new Error(`lists a name twice`);
      return items;
    }
    case 'regex': {
      if (typeof value !== 'string') throw new Error(`must be a string`);
      assertWritable(def, value);
      // Checked again with the filter's `options` (core.ts); here it must compile either way.
      try {
        compileRegex(value, []);
      } catch (err) {
        try {
          compileRegex(value, ['extended']);
        } catch {
          throw err;
        }
      }
      return value;
    }
    default:
      if (typeof value !== 'string') throw new Error(`must be a string`);
      assertWritable(def, value);
      if (def.mandatory && value === '' && def.type !== 'password') throw new Error(`must not be empty`);
      return value;
  }
}

function stringList(value: unknown): string[] {
  // A comma-separated string is a list, as configuration files write it (`log_type=session,unified`).
  if (typeof value === 'string')
    return value
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean);
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw new Error(`must be an array of strings`);
  for (const v of value as string[]) {
    const problem = textProblem(v);
    if (problem) throw new Error(problem);
  }
  return value as string[];
}

/**
 * Why a configuration file cannot hold this text, or null: a file is lines of UTF-8, so
 * line breaks, other control characters and unpaired surrogates cannot survive it.
 */
export function textProblem(text: string): string | null {
  if (/[\r\n]/.test(text)) return 'contains a line break, which a configuration file cannot hold';
  // eslint-disable-next-line no-control-regex -- matching control characters is the point: a configuration file cannot hold them
  if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(text))
    return 'contains a control character, which a configuration file cannot hold';
  if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text))
    return 'contains an unpaired UTF-16 surrogate, which a configuration file cannot hold';
  return null;
}

/** Strings and passwords are written quoted when they need it; other text must fit a file as it is. */
function assertWritable(def: ParamDef, value: string): void {
  const problem = textProblem(value);
  if (problem) throw new Error(problem);
  if (def.type !== 'string' && def.type !== 'password' && value !== value.trim()) {
    throw new Error('has leading or trailing whitespace, which a configuration file cannot hold');
  }
}

/** Writes a canonical value back in configuration-file form. */
export function formatConfigValue(def: ParamDef, value: Value): string {
  if (value === null) return '';
  if (Array.isArray(value)) return value.join(def.type === 'filterlist' ? '|' : ',');
  if (def.type === 'duration') return `${value}${def.unit ?? 's'}`;
  const text = String(value);
  if ((def.type === 'string' || def.type === 'password') && (text !== text.trim() || /^".*"$/s.test(text)))
    return `"${text}"`;
  return text;
}
