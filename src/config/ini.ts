/**
 * A parser for MaxScale-format configuration files. The npm `ini` package corrupts them
 * (dotted section names become nested objects, `;` and `#` inside values start comments,
 * continuation lines become keys), so Weir follows MaxScale's own rules:
 *
 * - `[name]` sections; names are URL-safe (`A-Za-z0-9_.~-`), so `[db.server-1]` is one name,
 *   and must not start with `@@`.
 * - A comment is a whole line whose first non-blank character is `#` or `;`. There are no
 *   trailing comments: `password=ab;cd#ef` is the value `ab;cd#ef`.
 * - A line starting with whitespace continues the previous value (MaxScale's comma lists):
 *   its trimmed text is appended, so `servers=a,` + `  b` is `a,b`.
 * - Every value stays a string; typing is the parameter definitions' job.
 */
export interface IniEntry {
  key: string;
  value: string;
  line: number;
}

export interface IniSection {
  name: string;
  line: number;
  entries: IniEntry[];
  /** The entry of a key (keys are unique within a section). */
  get(key: string): IniEntry | undefined;
}

export interface IniDocument {
  file: string;
  sections: IniSection[];
}

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly detail: string,
    readonly section?: string,
    readonly key?: string,
  ) {
    super(formatConfigError(file, line, detail, section, key));
    this.name = 'ConfigError';
  }
}

export function formatConfigError(file: string, line: number, detail: string, section?: string, key?: string): string {
  return `${file}:${line}: ${section ? `[${section}] ` : ''}${key ? `key '${key}': ` : ''}${detail}`;
}

const SECTION = /^\[([^\]]*)\]$/;
const SECTION_NAME = /^[A-Za-z0-9_.~-]+$/;
const KEY = /^[A-Za-z0-9_.-]+$/;

export function parseIni(text: string, file: string): IniDocument {
  const sections: IniSection[] = [];
  const seen = new Map<string, IniSection>();
  let current: IniSection | null = null;
  let last: IniEntry | null = null;
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);

  lines.forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '') {
      last = null;
      return;
    }
    if (trimmed.startsWith('#') || trimmed.startsWith(';')) return;
    if (/^\s/.test(raw) && last) {
      // Continuation of the previous value.
      last.value += trimmed;
      return;
    }
    const header = SECTION.exec(trimmed);
    if (header) {
      const name = header[1]!.trim();
      if (!SECTION_NAME.test(name) || name.startsWith('@@')) {
        throw new ConfigError(
          file,
          line,
          `'[${header[1]}]' is not a valid section name: use letters, digits and _ . ~ -${name.startsWith('@@') ? ', not starting with @@' : ''}`,
        );
      }
      const previous = seen.get(name.toLowerCase());
      if (previous)
        throw new ConfigError(
          file,
          line,
          `duplicate section (first defined at line ${previous.line} as [${previous.name}])`,
          name,
        );
      current = newSection(name, line);
      seen.set(name.toLowerCase(), current);
      sections.push(current);
      last = null;
      return;
    }
    const eq = raw.indexOf('=');
    if (eq < 0)
      throw new ConfigError(
        file,
        line,
        `'${trimmed}' is neither a section, a key=value line nor a comment`,
        current?.name,
      );
    const key = raw.slice(0, eq).trim();
    const value = raw.slice(eq + 1).trim();
    if (!current) throw new ConfigError(file, line, 'outside any section', undefined, key || undefined);
    if (key === '') throw new ConfigError(file, line, 'empty key', current.name);
    if (!KEY.test(key))
      throw new ConfigError(file, line, 'is not a valid key: use letters, digits and _ . -', current.name, key);
    const existing = current.get(key);
    if (existing)
      throw new ConfigError(file, line, `duplicate key (first set at line ${existing.line})`, current.name, key);
    last = { key, value, line };
    current.entries.push(last);
  });
  return { file, sections };
}

function newSection(name: string, line: number): IniSection {
  const entries: IniEntry[] = [];
  return { name, line, entries, get: (key) => entries.find((e) => e.key === key) };
}

/** A value formatIni cannot write so that parseIni reads it back. */
export class UnwritableValue extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(message);
  }
}

/** Writes sections back in MaxScale form; every value must survive parseIni unchanged. */
export function formatIni(
  sections: Array<{ name: string; entries: Array<{ key: string; value: string }> }>,
  header?: string,
): string {
  const out: string[] = [];
  if (header) for (const l of header.split('\n')) out.push(`# ${l}`.trimEnd());
  for (const section of sections) {
    if (out.length) out.push('');
    out.push(`[${section.name}]`);
    for (const { key, value } of section.entries) {
      if (/[\r\n]/.test(value))
        throw new UnwritableValue(key, `contains a newline, which a configuration file cannot hold`);
      if (value !== value.trim())
        throw new UnwritableValue(key, `has leading or trailing whitespace, which a configuration file cannot hold`);
      out.push(`${key}=${value}`);
    }
  }
  return `${out.join('\n')}\n`;
}
