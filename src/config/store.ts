/**
 * Persists runtime changes in the data directory, one file per object:
 * `<datadir>/runtime/<name>.cnf` holds the object's whole definition as a MaxScale-format
 * section and replaces the static definition of the same name on the next start. An
 * object deleted at runtime leaves a file whose section says `weir_deleted=true`, so a
 * static object stays deleted. Global settings changed at runtime live in
 * `runtime/maxscale.cnf`. A change of several objects (a service deleted with its
 * listeners) is written as one (src/config/atomic.ts).
 *
 * What is acknowledged must start again: before a change is accepted, `problems()` writes
 * the object's section, reads it back as the next start would, and names every value that
 * would not come back the same.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ObjectStore } from '../core/core.ts';
import type { ObjectKind } from '../core/modules.ts';
import {
  buildParams,
  DefinitionError,
  formatCustomValue,
  paramDefs,
  type ConfigObject,
  type ParamProblem,
} from '../core/objects.ts';
import { formatConfigValue } from '../core/params.ts';
import { formatIni, parseIni, type IniDocument } from './ini.ts';
import { recoverDirectory, writeFileAtomic, writeFilesAtomic } from './atomic.ts';

export const DELETED_KEY = 'weir_deleted';
const HEADER = 'Written by Weir for a change made at runtime; it overrides the static configuration.';

export class RuntimeStore implements ObjectStore {
  readonly dir: string;
  /** What the start found after a crash: a committed change finished, temporaries removed. */
  readonly recovered: { completed: string[]; removed: string[] };

  constructor(datadir: string) {
    this.dir = join(datadir, 'runtime');
    // The runtime files hold service and monitor passwords: Weir's own user only.
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.recovered = recoverDirectory(this.dir);
  }

  saveObject(obj: ConfigObject): void {
    writeFileAtomic(this.fileOf(obj.name), this.format(obj));
  }

  /** Marks objects deleted, all of them or none (a crash leaves the old or the new state). */
  saveDeleted(objects: Array<{ kind: ObjectKind; name: string }>): void {
    writeFilesAtomic(
      this.dir,
      objects.map(({ kind, name }) => ({
        name: fileName(name),
        content: formatIni(
          [
            {
              name,
              entries: [
                { key: 'type', value: String(kind) },
                { key: DELETED_KEY, value: 'true' },
              ],
            },
          ],
          HEADER,
        ),
      })),
    );
  }

  /** Values of `obj` that its file would not give back unchanged at the next start. */
  problems(obj: ConfigObject): ParamProblem[] {
    let text: string;
    try {
      text = this.format(obj);
    } catch (err) {
      return [{ key: (err as { key?: string }).key ?? 'name', message: (err as Error).message }];
    }
    const section = parseIni(text, 'runtime').sections[0]!;
    const given: Record<string, string> = {};
    for (const e of section.entries) if (e.key !== 'type') given[e.key] = e.value;
    let back: ReturnType<typeof buildParams>;
    try {
      back = buildParams(obj.kind, given, true);
    } catch (err) {
      if (!(err instanceof DefinitionError)) throw err;
      return err.problems.map((p) => ({
        key: p.key,
        message: `would not load again from the configuration file: ${p.message}`,
      }));
    }
    const out: ParamProblem[] = [];
    const differs = (a: unknown, b: unknown) => JSON.stringify(a ?? null) !== JSON.stringify(b ?? null);
    for (const key of new Set([...Object.keys(obj.params), ...Object.keys(back.params)])) {
      if (differs(obj.params[key], back.params[key]))
        out.push({ key, message: `cannot be written to a configuration file and read back unchanged` });
    }
    for (const key of new Set([...Object.keys(obj.custom), ...Object.keys(back.custom)])) {
      if (differs(obj.custom[key], back.custom[key]))
        out.push({ key, message: `cannot be written to a configuration file and read back unchanged` });
    }
    return out;
  }

  /**
   * Global `[maxscale]` settings changed at runtime (log levels, throttling, the classifier
   * cache's size): merged into those saved before, so that one change keeps the others.
   */
  saveGlobals(values: Record<string, string>): void {
    const path = join(this.dir, 'maxscale.cnf');
    const merged = new Map<string, string>();
    if (existsSync(path)) {
      for (const section of parseIni(readFileSync(path, 'utf8'), path).sections)
        if (section.name === 'maxscale') for (const e of section.entries) merged.set(e.key, e.value);
    }
    for (const [key, value] of Object.entries(values)) merged.set(key, value);
    const entries = [...merged].map(([key, value]) => ({ key, value }));
    writeFileAtomic(path, formatIni([{ name: 'maxscale', entries }], HEADER));
  }

  /** Every runtime file, parsed; errors name the file and line like any configuration error. */
  readAll(): IniDocument[] {
    return readdirSync(this.dir)
      .filter((f) => f.endsWith('.cnf') && !f.startsWith('.'))
      .sort()
      .map((f) => {
        const path = join(this.dir, f);
        return parseIni(readFileSync(path, 'utf8'), path);
      });
  }

  private format(obj: ConfigObject): string {
    const defs = paramDefs(
      obj.kind,
      obj.kind === 'service'
        ? String(obj.params.router)
        : obj.kind === 'server' || obj.kind === 'listener'
          ? null
          : String(obj.params.module),
    );
    const entries: Array<{ key: string; value: string }> = [{ key: 'type', value: obj.kind }];
    for (const def of defs) {
      const value = obj.params[def.name];
      if (value === null || value === undefined) continue;
      entries.push({ key: def.name, value: formatConfigValue(def, value) });
    }
    for (const [key, value] of Object.entries(obj.custom)) entries.push({ key, value: formatCustomValue(value) });
    return formatIni([{ name: obj.name, entries }], HEADER);
  }

  private fileOf(name: string): string {
    return join(this.dir, fileName(name));
  }
}

/** Names are case-insensitive, so their files are lower case. */
const fileName = (name: string) => `${name.toLowerCase()}.cnf`;
