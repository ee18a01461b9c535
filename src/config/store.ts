/**
 * Persists runtime changes in the data directory, one file per object:
 * `<datadir>/runtime/<name>.cnf` holds the object's whole definition as a MaxScale-format
 * section and replaces the static definition of the same name on the next start. An
 * object deleted at runtime leaves a file whose section says `weir_deleted=true`, so a
 * static object stays deleted. Global settings changed at runtime live in
 * `runtime/maxscale.cnf`.
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ObjectStore } from '../core/core.ts';
import type { ObjectKind } from '../core/modules.ts';
import { paramDefs, type ConfigObject } from '../core/objects.ts';
import { formatConfigValue } from '../core/params.ts';
import { formatIni, parseIni, type IniDocument } from './ini.ts';
import { removeStaleTemporaries, writeFileAtomic } from './atomic.ts';

export const DELETED_KEY = 'weir_deleted';
const HEADER = 'Written by Weir for a change made at runtime; it overrides the static configuration.';

export class RuntimeStore implements ObjectStore {
  readonly dir: string;

  constructor(datadir: string) {
    this.dir = join(datadir, 'runtime');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    removeStaleTemporaries(this.dir);
  }

  saveObject(obj: ConfigObject): void {
    const defs = paramDefs(obj.kind, obj.kind === 'service' ? String(obj.params.router) : obj.kind === 'server' || obj.kind === 'listener' ? null : String(obj.params.module));
    const entries: Array<{ key: string; value: string }> = [{ key: 'type', value: obj.kind }];
    for (const def of defs) {
      const value = obj.params[def.name];
      if (value === null || value === undefined) continue;
      entries.push({ key: def.name, value: formatConfigValue(def, value) });
    }
    for (const [key, value] of Object.entries(obj.custom)) entries.push({ key, value: String(value) });
    this.write(obj.name, formatIni([{ name: obj.name, entries }], HEADER));
  }

  saveDeleted(kind: ObjectKind, name: string): void {
    this.write(name, formatIni([{ name, entries: [{ key: 'type', value: String(kind) }, { key: DELETED_KEY, value: 'true' }] }], HEADER));
  }

  /** Global `[maxscale]` settings changed at runtime (log levels, throttling). */
  saveGlobals(values: Record<string, string>): void {
    const entries = Object.entries(values).map(([key, value]) => ({ key, value }));
    this.write('maxscale', formatIni([{ name: 'maxscale', entries }], HEADER));
  }

  /** Every runtime file, parsed; errors name the file and line like any configuration error. */
  readAll(): IniDocument[] {
    return readdirSync(this.dir)
      .filter((f) => f.endsWith('.cnf'))
      .sort()
      .map((f) => {
        const path = join(this.dir, f);
        return parseIni(readFileSync(path, 'utf8'), path);
      });
  }

  private write(name: string, text: string): void {
    writeFileAtomic(join(this.dir, `${name.toLowerCase()}.cnf`), text);
  }
}
