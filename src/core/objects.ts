/**
 * The configuration objects: servers, services, listeners, monitors and filters.
 * One shape for all kinds: their parameters (checked against CORE_PARAMS and the
 * module's parameters) plus what only runtime knows (counters, monitor facts).
 */
import { CORE_PARAMS, MODULES, MODULE_KEY, findModule, type ObjectKind } from './modules.ts';
import { checkJsonValue, parseConfigValue, textProblem, type ParamDef, type Value } from './params.ts';

export type CustomValue = string | number | boolean;

/** Where an object's definition came from: a configuration file's section, or the API. */
export type ObjectSource = { type: 'static'; file: string; line: number } | { type: 'runtime' };

/** What a monitor has learnt about a server; all null until a monitor has read it. */
export interface ServerFacts {
  flags: string[];
  server_id: number | null;
  read_only: boolean | null;
  version_string: string | null;
  gtid_current_pos: string | null;
  gtid_binlog_pos: string | null;
  replication_lag: number | null;
  replicates_from: string | null;
  last_event: string | null;
  triggered_at: Date | null;
}

export const noFacts = (): ServerFacts => ({
  flags: [],
  server_id: null,
  read_only: null,
  version_string: null,
  gtid_current_pos: null,
  gtid_binlog_pos: null,
  replication_lag: null,
  replicates_from: null,
  last_event: null,
  triggered_at: null,
});

export interface ConfigObject {
  readonly kind: ObjectKind;
  readonly name: string;
  /** Every parameter of the kind and its module, defaults filled in. */
  params: Record<string, Value>;
  /** A server's custom parameters (what a service's `weightby` names). */
  custom: Record<string, CustomValue>;
  source: ObjectSource;
  lastModified: Date;
  /** Runtime counters and facts, not configuration. */
  runtime: {
    started: Date | null;
    totalConnections: number;
    currentConnections: number;
    /**
     * A server's: replies Weir's connections to it still owe (readwritesplit's
     * `least_current_operations`), kept by the backends, so a connection that dies with replies
     * owed gives them back.
     */
    activeOperations: number;
    /**
     * readwritesplit's moving average of the server's reply time (ms; `adaptive_routing`),
     * from the replies its sessions got; -1 before the first one.
     */
    averageReplyMs: number;
    /** serverStateBits' cache: the bits, and the admin parameters and monitor flags they were read from. */
    stateCache: { params: object | null; flags: readonly string[] | null; bits: number };
    ticks: number;
    facts: ServerFacts;
    /** A listener's socket state, set by the data plane once it binds (`running`, `failed`). */
    listenerState: 'running' | 'failed' | null;
    /** A service's router statistics, kept by routers that have them (readwritesplit). */
    router: RouterStatistics | null;
    /** A filter's: statements its sessions saw (for the metrics). */
    statements: number;
    /** A server's: ERR replies it sent, by SQLSTATE class (for the metrics). */
    errorsByClass: Map<string, number>;
    /**
     * A server's replication lag against the `max_replication_lag` readwritesplit last checked
     * it with (MaxScale's rlag state): a warning is logged when it crosses the limit.
     */
    rlagState: 'none' | 'below' | 'above';
  };
}

/** Per-server statement counts of a router (MaxScale's server_query_statistics). */
export interface ServerQueryStatistics {
  total: number;
  read: number;
  write: number;
}

/** What GET /services/{name} shows of a readwritesplit service's routing (MaxScale's router_diagnostics). */
export interface RouterStatistics {
  queries: number;
  route_master: number;
  route_slave: number;
  route_all: number;
  rw_transactions: number;
  ro_transactions: number;
  replayed_transactions: number;
  /** PREPAREs answered from the session's cache (reuse_prepared_statements). */
  prepared_statements_reused: number;
  /** causal_reads: reads that waited on a replica for a GTID, waits that timed out, GTID probes of the primary. */
  causal_read_waits: number;
  causal_read_timeouts: number;
  causal_read_probes: number;
  /** causal_reads: the highest GTIDs the primary reported to the service's sessions (null: none yet). */
  last_gtid: string | null;
  reconnections: number;
  trx_max_size_exceeded: number;
  servers: Map<string, ServerQueryStatistics>;
}

/** A readwritesplit service's statistics before its first session routes anything. */
export function newRouterStatistics(): RouterStatistics {
  return {
    queries: 0,
    route_master: 0,
    route_slave: 0,
    route_all: 0,
    rw_transactions: 0,
    ro_transactions: 0,
    replayed_transactions: 0,
    prepared_statements_reused: 0,
    causal_read_waits: 0,
    causal_read_timeouts: 0,
    causal_read_probes: 0,
    last_gtid: null,
    reconnections: 0,
    trx_max_size_exceeded: 0,
    servers: new Map(),
  };
}

/** One problem with one key of an object's definition. */
export interface ParamProblem {
  key: string;
  message: string;
}

export class DefinitionError extends Error {
  constructor(readonly problems: ParamProblem[]) {
    super(problems.map((p) => `${p.key}: ${p.message}`).join('; '));
  }
}

/** The parameter definitions of an object of this kind using this module (or router). */
export function paramDefs(kind: ObjectKind, moduleName: string | null): ParamDef[] {
  const core = CORE_PARAMS[kind];
  const mod = moduleName ? findModule(moduleName) : undefined;
  return mod ? [...core, ...mod.parameters] : core;
}

export function moduleOf(kind: ObjectKind, values: Record<string, unknown>): string | null {
  const key = MODULE_KEY[kind]?.key;
  const v = key ? values[key] : undefined;
  return typeof v === 'string' ? v : null;
}

/**
 * Builds an object's parameters from given values: strings from a configuration file
 * (`fromConfig`) or JSON from the API. Missing values take their defaults; unknown keys
 * are errors except on servers, where they are custom parameters.
 */
export function buildParams(
  kind: ObjectKind,
  given: Record<string, unknown>,
  fromConfig: boolean,
): { params: Record<string, Value>; custom: Record<string, CustomValue> } {
  const problems: ParamProblem[] = [];
  const moduleName = moduleOf(kind, given);
  const moduleKey = MODULE_KEY[kind];
  if (moduleKey && moduleName !== null) {
    const mod = findModule(moduleName);
    if (!mod || mod.type !== moduleKey.type) {
      const known = MODULES.filter((m) => m.type === moduleKey.type)
        .map((m) => m.name)
        .join(', ');
      problems.push({
        key: moduleKey.key,
        message: `'${moduleName}' is not a ${moduleKey.type.toLowerCase()} module (known: ${known})`,
      });
      throw new DefinitionError(problems);
    }
  }
  const defs = paramDefs(kind, moduleName);
  const params: Record<string, Value> = {};
  const custom: Record<string, CustomValue> = {};
  for (const def of defs) {
    const raw = given[def.name];
    if (raw === undefined) {
      if (def.mandatory) problems.push({ key: def.name, message: 'is mandatory' });
      params[def.name] = def.default;
      continue;
    }
    try {
      params[def.name] = fromConfig ? parseConfigValue(def, String(raw)) : checkJsonValue(def, raw);
    } catch (err) {
      problems.push({ key: def.name, message: (err as Error).message });
    }
  }
  for (const [key, raw] of Object.entries(given)) {
    if (defs.some((d) => d.name === key)) continue;
    if (kind === 'server' && /^[A-Za-z0-9_]+$/.test(key)) {
      const value = fromConfig && typeof raw === 'string' ? customFromConfig(raw) : raw;
      const problem = customProblem(value);
      if (problem) problems.push({ key, message: problem });
      else custom[key] = value as CustomValue;
    } else {
      problems.push({ key, message: `is not a parameter of ${moduleName ? `module ${moduleName}` : `a ${kind}`}` });
    }
  }
  if (problems.length) throw new DefinitionError(problems);
  // MaxScale names modules case-insensitively; keep the canonical spelling.
  if (moduleKey && moduleName) params[moduleKey.key] = findModule(moduleName)!.name;
  return { params, custom };
}

function customProblem(value: unknown): string | null {
  if (typeof value === 'string') return textProblem(value);
  if (typeof value === 'boolean') return null;
  if (typeof value === 'number') return Number.isFinite(value) ? null : 'must be a finite number';
  return 'a custom parameter must be a string, number or boolean';
}

/**
 * A configuration file has no types, so a custom value's file form says its type: a
 * number in its canonical form (`String(n)`) or `true`/`false` is one; anything else is a
 * string, and a string that would read as something else (`"007"`, `"true"`, edge
 * whitespace, quotes at both ends) is written quoted. `"..."` always reads as the string
 * between the quotes.
 */
export function customFromConfig(raw: string): CustomValue {
  if (raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"')) return raw.slice(1, -1);
  if (raw === 'true' || raw === 'false') return raw === 'true';
  if (/^-?\d+(\.\d+)?(e[+-]?\d+)?$/i.test(raw) && String(Number(raw)) === raw) return Number(raw);
  return raw;
}

export function formatCustomValue(value: CustomValue): string {
  if (typeof value !== 'string') return String(value);
  return customFromConfig(value) === value && value === value.trim() ? value : `"${value}"`;
}

/**
 * Object names, as MaxScale's section names: letters, digits and `_ . ~ -` (URL-safe),
 * but never starting with `.`, `-` or `~`, so that no name can be a hidden file, a
 * temporary file of the runtime store, an option, or `.`/`..`; at most 128 characters;
 * `maxscale` is the global section. Unique across all kinds, case-insensitively.
 */
export const OBJECT_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.~-]*$/;
export const MAX_NAME_LENGTH = 128;

/** Why `name` cannot name an object, or null. */
export function nameProblem(name: string): string | null {
  if (name.length > MAX_NAME_LENGTH)
    return `'${name.slice(0, 32)}...' is too long for a name: at most ${MAX_NAME_LENGTH} characters`;
  if (!OBJECT_NAME.test(name))
    return `'${name}' is not a valid name: use letters, digits and _ . ~ -, starting with a letter, digit or _`;
  if (name.toLowerCase() === 'maxscale') return `'${name}' is reserved for the global [maxscale] section`;
  return null;
}

export function newObject(
  kind: ObjectKind,
  name: string,
  built: { params: Record<string, Value>; custom: Record<string, CustomValue> },
  source: ObjectSource,
): ConfigObject {
  return {
    kind,
    name,
    params: built.params,
    custom: built.custom,
    source,
    lastModified: new Date(),
    runtime: {
      started: null,
      totalConnections: 0,
      currentConnections: 0,
      activeOperations: 0,
      averageReplyMs: -1,
      stateCache: { params: null, flags: null, bits: 0 },
      ticks: 0,
      facts: noFacts(),
      listenerState: null,
      router: null,
      statements: 0,
      errorsByClass: new Map(),
      rlagState: 'none',
    },
  };
}

/** Names are case-insensitive everywhere. */
export const sameName = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
export const stringList = (v: Value): string[] => (Array.isArray(v) ? v : []);

/** A server's state flags: those an administrator set (maintenance, draining) and those its monitor found. */
export function serverStates(s: ConfigObject): string[] {
  return [...stringList(s.params.state!), ...s.runtime.facts.flags];
}

/** A server's state flags and rank as bits (serverStateBits). */
export const StateBit = {
  RUNNING: 1,
  MASTER: 2,
  SLAVE: 4,
  MAINTENANCE: 8,
  DRAINING: 16,
  DOWN: 32,
  /** `rank=secondary` (a parameter, not a flag, but routers ask it with the flags). */
  SECONDARY_RANK: 64,
} as const;

const BIT_OF: Record<string, number> = {
  running: StateBit.RUNNING,
  master: StateBit.MASTER,
  slave: StateBit.SLAVE,
  maintenance: StateBit.MAINTENANCE,
  draining: StateBit.DRAINING,
  down: StateBit.DOWN,
};

/**
 * A server's state as bits, for routers that ask per statement. Read again only when its
 * parameters or its monitor flags change: both are replaced, never changed in place (an
 * admin state change commits new parameters, each monitor round sets new flags).
 */
export function serverStateBits(s: ConfigObject): number {
  const cache = s.runtime.stateCache;
  const flags = s.runtime.facts.flags;
  if (cache.params === s.params && cache.flags === flags) return cache.bits;
  let bits = s.params.rank === 'secondary' ? StateBit.SECONDARY_RANK : 0;
  for (const f of stringList(s.params.state!)) bits |= BIT_OF[f] ?? 0;
  for (const f of flags) bits |= BIT_OF[f] ?? 0;
  cache.params = s.params;
  cache.flags = flags;
  cache.bits = bits;
  return bits;
}

/** Whether a server has the state flag `flag`, from either source (no array built: routers ask per statement). */
export function serverHasFlag(s: ConfigObject, flag: string): boolean {
  return stringList(s.params.state!).includes(flag) || s.runtime.facts.flags.includes(flag);
}
