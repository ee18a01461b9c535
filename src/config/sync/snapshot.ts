/**
 * The synchronised configuration: what every instance of a cluster must agree on, as one
 * canonical JSON document shaped like MaxScale's (`{id, type, attributes.parameters}` per
 * object, servers, monitors, services, filters, listeners in that order, nulls dropped,
 * keys sorted), and how to make the core match such a document.
 *
 * Left out, as in MaxScale: the run state of services and monitors (started/stopped is
 * local), and everything a monitor finds out (roles, facts). A server's maintenance and
 * draining flags are synchronised.
 */
import { createHash } from 'node:crypto';
import type { Core } from '../../core/core.ts';
import { MODULE_KEY, type ObjectKind } from '../../core/modules.ts';
import { paramDefs, stringList, type ConfigObject } from '../../core/objects.ts';
import type { Value } from '../../core/params.ts';

export interface SyncedObject {
  id: string;
  type: 'servers' | 'monitors' | 'services' | 'filters' | 'listeners';
  attributes: { parameters: Record<string, Value | number | boolean> };
}

const ORDER: Array<[ObjectKind, SyncedObject['type']]> = [
  ['server', 'servers'],
  ['monitor', 'monitors'],
  ['service', 'services'],
  ['filter', 'filters'],
  ['listener', 'listeners'],
];
const KIND_OF = new Map(ORDER.map(([k, t]) => [t, k]));
/** Dependencies first: what a create needs exists, and a destroy (reverse) leaves no dangling link. */
const CREATE_ORDER: ObjectKind[] = ['server', 'filter', 'monitor', 'service', 'listener'];
/** Parameters that are local run state, never synchronised. */
const LOCAL = (kind: ObjectKind, key: string) => key === 'state' && (kind === 'service' || kind === 'monitor');
/** Parameters that name other objects. */
const LINKS: Partial<Record<ObjectKind, string[]>> = {
  service: ['servers', 'filters'],
  monitor: ['servers', 'servers_no_promotion'],
};

export function kindOf(o: SyncedObject): ObjectKind {
  const kind = KIND_OF.get(o.type);
  if (!kind) throw new Error(`'${o.type}' is not a type of object`);
  return kind;
}

/** The core's synchronised configuration, canonical. */
export function snapshot(core: Core): SyncedObject[] {
  const out: SyncedObject[] = [];
  for (const [kind, type] of ORDER) {
    const objs = [...core.list(kind)].sort((a, b) => a.name.localeCompare(b.name));
    for (const obj of objs) out.push({ id: obj.name, type, attributes: { parameters: parametersOf(obj) } });
  }
  return out;
}

function parametersOf(obj: ConfigObject): Record<string, Value | number | boolean> {
  const all: Record<string, Value | number | boolean> = { ...obj.custom };
  for (const [k, v] of Object.entries(obj.params)) {
    if (v === null || LOCAL(obj.kind, k)) continue;
    all[k] = v;
  }
  return Object.fromEntries(Object.entries(all).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** SHA-1 of the compact JSON of the configuration, as MaxScale's checksum. */
export function checksum(config: SyncedObject[]): string {
  return createHash('sha1').update(JSON.stringify(config)).digest('hex');
}

/**
 * Makes the core's configuration equal to `target`, with MaxScale's order: links to
 * objects that go away are dropped, removed and recreated objects are destroyed (a kind,
 * module or non-modifiable parameter that changed needs a new object), new objects are
 * created dependencies first, and the survivors are updated. Every step is a core
 * operation, so each is checked and persisted as a REST change would be. Throws on the
 * first step that fails; the caller restores the previous configuration.
 */
export function applySnapshot(core: Core, target: SyncedObject[]): void {
  const current = new Map(snapshot(core).map((o) => [o.id.toLowerCase(), o]));
  const wanted = new Map(target.map((o) => [o.id.toLowerCase(), o]));
  const goes = new Set<string>();
  for (const [key, cur] of current) {
    const want = wanted.get(key);
    if (!want || want.type !== cur.type || needsRecreate(kindOf(cur), cur, want)) goes.add(key);
  }
  // A listener of a service that goes is destroyed with it.
  for (const [key, cur] of current) {
    if (cur.type === 'listeners' && goes.has(String(cur.attributes.parameters.service).toLowerCase())) goes.add(key);
  }

  // 1. Survivors stop naming objects that go.
  for (const [key, cur] of current) {
    const kind = kindOf(cur);
    if (goes.has(key) || !LINKS[kind]) continue;
    const changes: Record<string, unknown> = {};
    for (const link of LINKS[kind]!) {
      const list = stringList((cur.attributes.parameters[link] ?? []) as Value);
      const kept = list.filter((n) => !goes.has(n.toLowerCase()));
      if (kept.length !== list.length) changes[link] = kept;
    }
    if (Object.keys(changes).length) core.alter(kind, cur.id, changes);
  }
  // 2. Destroy, dependants first.
  for (const kind of [...CREATE_ORDER].reverse()) {
    for (const key of goes) {
      const cur = current.get(key)!;
      if (kindOf(cur) === kind && core.find(kind, cur.id)) core.destroy(kind, cur.id, true);
    }
  }
  // 3. Create, dependencies first.
  for (const kind of CREATE_ORDER) {
    for (const [key, want] of wanted) {
      if (kindOf(want) !== kind || (current.has(key) && !goes.has(key))) continue;
      const { state, ...values } = want.attributes.parameters;
      core.create(kind, want.id, values);
      if (kind === 'server' && Array.isArray(state) && state.length) core.setServerAdminState(want.id, state);
    }
  }
  // 4. Update the survivors.
  for (const kind of CREATE_ORDER) {
    for (const [key, want] of wanted) {
      if (kindOf(want) !== kind || !current.has(key) || goes.has(key)) continue;
      const now = snapshot1(core, kind, want.id);
      if (JSON.stringify(now) === JSON.stringify(want.attributes.parameters)) continue;
      updateObject(core, kind, want, now);
    }
  }
}

function snapshot1(core: Core, kind: ObjectKind, name: string): Record<string, Value | number | boolean> {
  return parametersOf(core.get(kind, name));
}

function updateObject(
  core: Core,
  kind: ObjectKind,
  want: SyncedObject,
  now: Record<string, Value | number | boolean>,
): void {
  const obj = core.get(kind, want.id);
  const defs = paramDefs(kind, moduleOf(obj));
  const isParam = (k: string) => defs.some((d) => d.name === k);
  const changes: Record<string, unknown> = {};
  const wantParams = want.attributes.parameters;
  for (const def of defs) {
    if (def.name === 'state' || LOCAL(kind, def.name)) continue;
    const w = wantParams[def.name] ?? null;
    const n = now[def.name] ?? null;
    if (JSON.stringify(w) !== JSON.stringify(n)) changes[def.name] = w;
  }
  if (kind === 'server') {
    const custom = Object.fromEntries(Object.entries(wantParams).filter(([k]) => !isParam(k))) as Record<
      string,
      string | number | boolean
    >;
    const state = stringList((wantParams.state ?? []) as Value);
    core.alter(kind, want.id, changes, { custom, adminState: state });
  } else if (Object.keys(changes).length) {
    core.alter(kind, want.id, changes);
  }
}

/** Whether `want` differs from `cur` in something only a new object can have. */
function needsRecreate(kind: ObjectKind, cur: SyncedObject, want: SyncedObject): boolean {
  if (kind === 'server') return false; // servers are never recreated, as in MaxScale
  const moduleKey = MODULE_KEY[kind]?.key;
  if (moduleKey && cur.attributes.parameters[moduleKey] !== want.attributes.parameters[moduleKey]) return true;
  const defs = paramDefs(kind, (want.attributes.parameters[moduleKey ?? ''] as string | undefined) ?? null);
  return defs.some(
    (d) =>
      !d.modifiable &&
      !LOCAL(kind, d.name) &&
      JSON.stringify(cur.attributes.parameters[d.name] ?? null) !==
        JSON.stringify(want.attributes.parameters[d.name] ?? null),
  );
}

function moduleOf(obj: ConfigObject): string | null {
  const key = MODULE_KEY[obj.kind]?.key;
  const v = key ? obj.params[key] : null;
  return typeof v === 'string' ? v : null;
}
