/**
 * Weir's core: the registry of configuration objects and the operations on them.
 * The REST handlers and the command API call these operations — never a second
 * implementation. Every change is checked in full first, persisted, and only then
 * applied in memory, so a failed write changes nothing.
 */
import { EventEmitter } from 'node:events';
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { conflict, notFound, unprocessable, WeirError } from './errors.ts';
import { QueryFeed } from './queries.ts';
import { compileRegex } from './regex.ts';
import { KINDS, type ObjectKind } from './modules.ts';
import {
  buildParams,
  DefinitionError,
  nameProblem,
  newObject,
  sameName,
  stringList,
  type ConfigObject,
  type CustomValue,
  type ParamProblem,
} from './objects.ts';
import { addressesOf, overlap } from './endpoints.ts';
import { paramDefs } from './objects.ts';
import { SessionRegistry } from './sessions.ts';
import { namedServerPairs } from './named-server-pairs.ts';
import type { Value } from './params.ts';
import { NO_TRAFFIC_OBSERVER, type TrafficObserver } from './traffic.ts';

/** Where runtime changes are persisted (src/config/store.ts). Writes are atomic. */
export interface ObjectStore {
  saveObject(obj: ConfigObject): void;
  /** Several objects deleted as one change: all or none survive a crash. */
  saveDeleted(objects: Array<{ kind: ObjectKind; name: string }>): void;
  /** Values that would not come back unchanged from the object's file at the next start. */
  problems(obj: ConfigObject): ParamProblem[];
}

/** A socket that is not a listener's but that listeners must not take (the admin API's). */
export interface ReservedEndpoint {
  owner: string;
  address: string;
  port: number;
}

export interface CoreEvents {
  created: [ConfigObject];
  /** Its configuration changed (through an operation). */
  changed: [ConfigObject];
  /** Its runtime facts or counters changed (monitor rounds, traffic). */
  touched: [ConfigObject];
  destroyed: [ConfigObject];
  /** A monitor's switchover, failover or rejoin ended (for metrics). */
  clusterOperation: [ClusterOperationOutcome];
}

export interface ClusterOperationOutcome {
  monitor: string;
  operation: string;
  result: 'success' | 'refused' | 'error';
  seconds: number;
}

const KIND_PLURAL: Record<ObjectKind, string> = {
  server: 'servers',
  service: 'services',
  listener: 'listeners',
  monitor: 'monitors',
  filter: 'filters',
};

export class Core extends EventEmitter<CoreEvents> {
  private readonly objects = new Map<string, ConfigObject>();
  /** When each collection last gained or lost a member. */
  private readonly collectionModified = new Map<ObjectKind, Date>();
  readonly sessions = new SessionRegistry();
  /** Statements passing through, for watchers (the command API). */
  readonly queries = new QueryFeed();
  /** What the data plane reports for metrics; a no-op until src/metrics installs one. */
  traffic: TrafficObserver = NO_TRAFFIC_OBSERVER;
  /** Sockets listeners must not use (set by whoever binds them). */
  private reserved: ReservedEndpoint[] = [];

  constructor(private readonly store: ObjectStore) {
    super();
  }

  // ---- reading ----

  list(kind: ObjectKind): ConfigObject[] {
    return [...this.objects.values()].filter((o) => o.kind === kind);
  }

  /**
   * A service's servers that exist, in its order. The same array until the service's list
   * or the set of objects changes, so that routers may ask per statement; never mutate it.
   */
  serversOf(service: ConfigObject): readonly ConfigObject[] {
    const list = service.params.servers;
    const cached = this.serverLists.get(service);
    if (cached && cached.list === list && cached.generation === this.generation) return cached.servers;
    const servers = stringList(list!)
      .map((n) => this.find('server', n))
      .filter((s): s is ConfigObject => !!s);
    this.serverLists.set(service, { list, generation: this.generation, servers });
    return servers;
  }
  /** Bumped when an object is added or removed (what serversOf's cache compares). */
  private generation = 0;
  private readonly serverLists = new WeakMap<
    ConfigObject,
    { list: unknown; generation: number; servers: ConfigObject[] }
  >();

  find(kind: ObjectKind, name: string): ConfigObject | undefined {
    const obj = this.objects.get(name.toLowerCase());
    return obj?.kind === kind ? obj : undefined;
  }

  get(kind: ObjectKind, name: string): ConfigObject {
    const obj = this.find(kind, name);
    if (!obj) throw notFound(`There is no ${kind} named '${name}'.`);
    return obj;
  }

  /** Latest change of the collection or any of its members. */
  collectionLastModified(kind: ObjectKind): Date {
    let latest = this.collectionModified.get(kind) ?? new Date(0);
    for (const o of this.list(kind)) if (o.lastModified > latest) latest = o.lastModified;
    return latest;
  }

  /** Services whose `servers` list this server. */
  servicesOfServer(server: string): ConfigObject[] {
    return this.list('service').filter((s) => stringList(s.params.servers!).some((n) => sameName(n, server)));
  }
  monitorsOfServer(server: string): ConfigObject[] {
    return this.list('monitor').filter((m) => stringList(m.params.servers!).some((n) => sameName(n, server)));
  }
  servicesOfFilter(filter: string): ConfigObject[] {
    return this.list('service').filter((s) => stringList(s.params.filters!).some((n) => sameName(n, filter)));
  }
  listenersOfService(service: string): ConfigObject[] {
    return this.list('listener').filter((l) => sameName(String(l.params.service), service));
  }

  /** Declares the socket of something other than a listener (the admin API), replacing an earlier one of the same owner. */
  reserve(endpoint: ReservedEndpoint): void {
    this.reserved = [...this.reserved.filter((r) => r.owner !== endpoint.owner), endpoint];
  }

  // ---- loading (configuration files; no persistence) ----

  /** Adds an object read from configuration. Links are checked by checkAllLinks() once all are loaded. */
  load(obj: ConfigObject): void {
    this.objects.set(obj.name.toLowerCase(), obj);
    this.generation++;
    if (obj.kind === 'service' && obj.params.state === 'started') obj.runtime.started = new Date();
  }

  /** Every link problem of every object, for the configuration loader to report. */
  linkProblems(): Array<{ obj: ConfigObject; key: string; message: string }> {
    const out: Array<{ obj: ConfigObject; key: string; message: string }> = [];
    for (const obj of this.objects.values()) {
      for (const p of this.checkLinks(obj)) out.push({ obj, ...p });
    }
    return out;
  }

  // ---- operations ----

  create(kind: ObjectKind, name: string, values: Record<string, unknown>): ConfigObject {
    const obj = this.prepare(kind, name, values);
    this.store.saveObject(obj);
    this.load(obj);
    this.collectionModified.set(kind, new Date());
    this.emit('created', obj);
    return obj;
  }

  /** Every check a create makes, without creating anything (for checks the core cannot make, like binding a port). */
  prepare(kind: ObjectKind, name: string, values: Record<string, unknown>): ConfigObject {
    const bad = nameProblem(name);
    if (bad) throw unprocessable(`${bad}.`, [{ path: '/name', message: bad }]);
    const existing = this.objects.get(name.toLowerCase());
    if (existing) throw conflict(`The name '${name}' is already used by the ${existing.kind} '${existing.name}'.`);
    const obj = newObject(kind, name, this.build(kind, values), { type: 'runtime' });
    this.assertLinks(obj);
    this.assertPersistable(obj);
    return obj;
  }

  /**
   * Changes parameters of an object. `changes` are JSON values by parameter name;
   * `custom` replaces a server's custom parameters when given.
   */
  alter(
    kind: ObjectKind,
    name: string,
    changes: Record<string, unknown>,
    extra: { custom?: Record<string, CustomValue>; adminState?: string[] } = {},
  ): ConfigObject {
    const obj = this.get(kind, name);
    const custom = extra.custom;
    const defs = paramDefs(kind, moduleKeyValue(obj));
    const problems = [];
    for (const key of Object.keys(changes)) {
      const def = defs.find((d) => d.name === key);
      if (!def) problems.push({ key, message: `is not a parameter of this ${kind}` });
      else if (!def.modifiable)
        throw new WeirError(403, `Parameter '${key}' of ${kind} '${obj.name}' cannot be modified at runtime.`);
    }
    if (problems.length) throw toUnprocessable(problems);
    const next = { ...obj.params };
    for (const [key, value] of Object.entries(changes)) next[key] = value as Value;
    if (extra.adminState) next.state = this.adminFlags(extra.adminState);
    const candidate: ConfigObject = {
      ...obj,
      params: this.rebuild(kind, next, custom ?? obj.custom).params,
      custom: custom ?? obj.custom,
    };
    this.assertLinks(candidate);
    return this.commit(obj, candidate);
  }

  destroy(kind: ObjectKind, name: string, force = false): void {
    const obj = this.get(kind, name);
    const users = this.usersOf(obj);
    if (users.length && !(force && kind === 'service')) {
      throw conflict(`The ${kind} '${obj.name}' is in use: ${users.join(', ')}.`);
    }
    // A service goes with its listeners, persisted as one change.
    const doomed = kind === 'service' ? [...this.listenersOfService(obj.name), obj] : [obj];
    this.store.saveDeleted(doomed.map((o) => ({ kind: o.kind, name: o.name })));
    if (kind === 'service') for (const session of this.sessions.ofService(obj.name)) session.close('service deleted');
    for (const o of doomed) {
      this.objects.delete(o.name.toLowerCase());
      this.generation++;
      this.collectionModified.set(o.kind, new Date());
      this.emit('destroyed', o);
    }
  }

  /** Starts or stops a service (its listeners) or a monitor; persisted. */
  setRunState(kind: 'service' | 'monitor', name: string, run: boolean): ConfigObject {
    const obj = this.get(kind, name);
    const state = kind === 'service' ? (run ? 'started' : 'stopped') : run ? 'running' : 'stopped';
    if (obj.params.state === state) return obj;
    const updated = this.commit(obj, { ...obj, params: { ...obj.params, state } });
    if (kind === 'service') updated.runtime.started = run ? new Date() : null;
    return updated;
  }

  /** Adds and removes a server's administrative flags (maintenance, draining); persisted. */
  setServerAdminState(name: string, flags: string[]): ConfigObject {
    const obj = this.get('server', name);
    const next = this.adminFlags(flags);
    if (sameList(stringList(obj.params.state!), next)) return obj;
    return this.commit(obj, { ...obj, params: { ...obj.params, state: next } });
  }

  /** Records runtime facts (counters, monitor facts) and bumps Last-Modified; not persisted. */
  touch(obj: ConfigObject): void {
    obj.lastModified = new Date();
    this.emit('touched', obj);
  }

  // ---- internals ----

  /** Only maintenance and draining are administrative; the other flags belong to the monitor. */
  private adminFlags(flags: string[]): string[] {
    const bad = flags.filter((f) => f !== 'maintenance' && f !== 'draining');
    if (bad.length)
      throw new WeirError(
        403,
        `State '${bad[0]}' is set by the monitor, not by clients; only maintenance and draining can be changed.`,
      );
    return ['maintenance', 'draining'].filter((f) => flags.includes(f));
  }

  private commit(current: ConfigObject, candidate: ConfigObject): ConfigObject {
    this.assertPersistable(candidate);
    this.store.saveObject(candidate);
    current.params = candidate.params;
    current.custom = candidate.custom;
    current.lastModified = new Date();
    this.emit('changed', current);
    return current;
  }

  private build(kind: ObjectKind, values: Record<string, unknown>) {
    try {
      return buildParams(kind, values, false);
    } catch (err) {
      if (err instanceof DefinitionError) throw toUnprocessable(err.problems);
      throw err;
    }
  }

  /** Re-checks a full parameter set (after a change) exactly as a create would. */
  private rebuild(kind: ObjectKind, params: Record<string, Value>, custom: Record<string, CustomValue>) {
    const given: Record<string, unknown> = { ...custom };
    for (const [k, v] of Object.entries(params)) if (v !== null) given[k] = v;
    return this.build(kind, given);
  }

  /** What is acknowledged must start again: refuse values its file would not give back. */
  private assertPersistable(obj: ConfigObject): void {
    const problems = this.store.problems(obj);
    if (problems.length) throw toUnprocessable(problems);
  }

  private assertLinks(obj: ConfigObject): void {
    const problems = this.checkLinks(obj);
    const inUse = problems.find((p) => p.conflict);
    if (inUse) throw new WeirError(409, inUse.message, [{ path: `/${inUse.key}`, message: inUse.message }]);
    if (problems.length) throw toUnprocessable(problems);
  }

  private checkLinks(obj: ConfigObject): Array<{ key: string; message: string; conflict?: boolean }> {
    const problems: Array<{ key: string; message: string; conflict?: boolean }> = [];
    const mustExist = (key: string, kind: ObjectKind, names: string[]) => {
      for (const n of names)
        if (!this.find(kind, n)) problems.push({ key, message: `there is no ${kind} named '${n}'` });
    };
    switch (obj.kind) {
      case 'service':
        mustExist('servers', 'server', stringList(obj.params.servers!));
        mustExist('filters', 'filter', stringList(obj.params.filters!));
        break;
      case 'monitor':
        mustExist('servers', 'server', stringList(obj.params.servers!));
        if (obj.params.servers_no_promotion)
          mustExist('servers_no_promotion', 'server', stringList(obj.params.servers_no_promotion));
        for (const server of stringList(obj.params.servers!)) {
          const other = this.monitorsOfServer(server).find((m) => !sameName(m.name, obj.name));
          if (other)
            problems.push({
              key: 'servers',
              message: `server '${server}' is already monitored by '${other.name}'`,
              conflict: true,
            });
        }
        break;
      case 'filter':
        if (obj.params.module === 'namedserverfilter') problems.push(...namedServerPairs(obj.params).problems);
        // Files a filter writes must be writable before it is accepted, not at the first statement.
        for (const key of ['filebase', 'log_file']) {
          const value = obj.params[key];
          if (typeof value !== 'string' || value === '') continue;
          const problem = unwritable(value);
          if (problem) problems.push({ key, message: problem });
        }
        problems.push(...regexProblems(obj));
        break;
      case 'listener': {
        mustExist('service', 'service', [String(obj.params.service)]);
        // Whatever their state: a stopped listener binds again when its service starts.
        const mine = addressesOf(String(obj.params.address));
        const port = obj.params.port;
        const clash = this.list('listener').find(
          (l) =>
            !sameName(l.name, obj.name) &&
            l.params.port === port &&
            overlap(mine, addressesOf(String(l.params.address))),
        );
        if (clash)
          problems.push({
            key: 'port',
            message: `listener '${clash.name}' already uses ${clash.params.address} port ${port}${clash.params.address === obj.params.address ? '' : `, the same socket as ${obj.params.address} port ${port}`}`,
            conflict: true,
          });
        const taken = this.reserved.find((r) => r.port === port && overlap(mine, addressesOf(r.address)));
        if (taken)
          problems.push({
            key: 'port',
            message: `${taken.address} port ${port} is used by ${taken.owner}`,
            conflict: true,
          });
        break;
      }
    }
    return problems;
  }

  private usersOf(obj: ConfigObject): string[] {
    switch (obj.kind) {
      case 'server':
        return [
          ...this.servicesOfServer(obj.name).map((s) => `service '${s.name}'`),
          ...this.monitorsOfServer(obj.name).map((m) => `monitor '${m.name}'`),
        ];
      case 'filter':
        return this.servicesOfFilter(obj.name).map((s) => `service '${s.name}'`);
      case 'monitor':
        return stringList(obj.params.servers!).length
          ? [`it monitors ${stringList(obj.params.servers!).join(', ')}`]
          : [];
      case 'service':
        return [
          ...this.listenersOfService(obj.name).map((l) => `listener '${l.name}'`),
          ...(this.sessions.ofService(obj.name).length
            ? [`${this.sessions.ofService(obj.name).length} session(s)`]
            : []),
        ];
      default:
        return [];
    }
  }
}

/** Why files at `path` (a file or a file name prefix) cannot be written, or null. */
function unwritable(path: string): string | null {
  const dir = dirname(resolve(path));
  try {
    if (!statSync(dir).isDirectory()) return `names '${path}', but '${dir}' is not a directory`;
    accessSync(dir, constants.W_OK);
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return `names '${path}', but its directory '${dir}' ${code === 'ENOENT' ? 'does not exist' : 'is not writable'}`;
  }
}

/** Each regex parameter that does not compile with the filter's `options` (`extended` changes what compiles). */
function regexProblems(filter: ConfigObject): Array<{ key: string; message: string }> {
  const options = Array.isArray(filter.params.options) ? (filter.params.options as string[]) : [];
  const problems = [];
  for (const def of paramDefs('filter', moduleKeyValue(filter))) {
    const value = filter.params[def.name];
    if (def.type !== 'regex' || typeof value !== 'string' || value === '') continue;
    try {
      compileRegex(value, options);
    } catch (err) {
      problems.push({ key: def.name, message: (err as Error).message });
    }
  }
  return problems;
}

function moduleKeyValue(obj: ConfigObject): string | null {
  const v = obj.kind === 'service' ? obj.params.router : obj.params.module;
  return typeof v === 'string' ? v : null;
}

function toUnprocessable(problems: Array<{ key: string; message: string }>): WeirError {
  const description = problems.map((p) => `Parameter '${p.key}' ${p.message}.`).join(' ');
  return unprocessable(
    description,
    problems.map((p) => ({ path: `/${p.key}`, message: p.message })),
  );
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

export { KINDS, KIND_PLURAL };
