/**
 * Turns configuration text into Weir's core objects and globals. The static file is read
 * first; the runtime files in the data directory then replace (or delete) objects of the
 * same name and override globals. Every problem is a ConfigError naming the file, line,
 * section and key, and stops the start.
 */
import { Core, type ObjectStore } from '../core/core.ts';
import { KINDS, type ObjectKind } from '../core/modules.ts';
import { buildParams, DefinitionError, nameProblem, newObject } from '../core/objects.ts';
import { applyGlobal, defaultGlobals, type Globals } from './globals.ts';
import { ConfigError, type IniDocument, type IniSection } from './ini.ts';
import { SSL_ALIASES } from '../core/modules.ts';
import { DELETED_KEY } from './store.ts';

interface Located {
  file: string;
  section: IniSection;
}

export interface LoadedConfig {
  core: Core;
  globals: Globals;
  /** Accepted MaxScale settings that Weir does not use, for a notice in the log. */
  unused: string[];
}

export function loadConfig(docs: { main: IniDocument; runtime: IniDocument[] }, store: ObjectStore): LoadedConfig {
  const globals = defaultGlobals();
  const unused: string[] = [];
  const sections = new Map<string, Located>();
  const globalSections: Located[] = [];

  for (const section of docs.main.sections) {
    if (section.name.toLowerCase() === 'maxscale') globalSections.push({ file: docs.main.file, section });
    else sections.set(section.name.toLowerCase(), { file: docs.main.file, section });
  }
  for (const doc of docs.runtime) {
    for (const section of doc.sections) {
      if (section.name.toLowerCase() === 'maxscale') globalSections.push({ file: doc.file, section });
      else if (section.get(DELETED_KEY)?.value === 'true') sections.delete(section.name.toLowerCase());
      else sections.set(section.name.toLowerCase(), { file: doc.file, section });
    }
  }

  for (const { file, section } of globalSections) {
    for (const entry of section.entries) {
      try {
        if (!applyGlobal(globals, entry.key, entry.value)) unused.push(entry.key);
      } catch (err) {
        throw new ConfigError(file, entry.line, (err as Error).message, section.name, entry.key);
      }
    }
  }

  const core = new Core(store);
  const located = new Map<string, Located>();
  for (const loc of sections.values()) {
    const { file, section } = loc;
    const typeEntry = section.get('type');
    if (!typeEntry)
      throw new ConfigError(file, section.line, `missing key 'type' (one of ${KINDS.join(', ')})`, section.name);
    const kind = typeEntry.value as ObjectKind;
    if (!KINDS.includes(kind)) {
      throw new ConfigError(
        file,
        typeEntry.line,
        `'${typeEntry.value}' is not an object type (one of ${KINDS.join(', ')})`,
        section.name,
        'type',
      );
    }
    const badName = nameProblem(section.name);
    if (badName) throw new ConfigError(file, section.line, badName, section.name);
    const given: Record<string, string> = {};
    for (const e of section.entries) if (e.key !== 'type') given[e.key] = e.value;
    if (kind === 'listener' && given.ssl !== undefined) given.ssl = SSL_ALIASES[given.ssl.toLowerCase()] ?? given.ssl;
    try {
      const built = buildParams(kind, given, true);
      core.load(newObject(kind, section.name, built, { type: 'static', file, line: section.line }));
      located.set(section.name.toLowerCase(), loc);
    } catch (err) {
      if (!(err instanceof DefinitionError)) throw err;
      const p = err.problems[0]!;
      const entry = section.get(p.key);
      throw new ConfigError(file, entry?.line ?? section.line, p.message, section.name, p.key);
    }
  }

  core.reserve({ owner: 'the admin API', address: globals.admin_host, port: globals.admin_port });
  const linkProblem = core.linkProblems()[0];
  if (linkProblem) {
    const loc = located.get(linkProblem.obj.name.toLowerCase())!;
    const entry = loc.section.get(linkProblem.key);
    throw new ConfigError(
      loc.file,
      entry?.line ?? loc.section.line,
      linkProblem.message,
      loc.section.name,
      linkProblem.key,
    );
  }
  return { core, globals, unused };
}
