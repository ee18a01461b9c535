/**
 * Configuration synchronisation through the MariaDB cluster Weir monitors, as MaxScale's
 * `config_sync_cluster` does it: instances never talk to each other; the latest
 * configuration is one row on the cluster's primary; each instance polls it every
 * `config_sync_interval` and applies a newer version whole.
 *
 * A runtime change (REST or command API: both run the same handlers, wrapped by
 * `change()`) is committed on the primary before it is answered:
 *   1. lock the row (`SELECT version ... FOR UPDATE`) and compare its version with ours:
 *      another instance got there first -> 409, nothing applied;
 *   2. apply locally (the core checks and persists it) while the row lock is held;
 *   3. write version+1 and COMMIT; on failure the local change is undone and the
 *      answer is 503 (or 409 for a lost race on the very first row);
 *   4. optionally wait until `config_sync_wait_replicas` replicas have the GTID.
 * One mutex serialises changes and applies, as MaxScale's single main worker does.
 */
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Core } from '../../core/core.ts';
import { conflict, WeirError } from '../../core/errors.ts';
import { stringList } from '../../core/objects.ts';
import type { WeirLogger } from '../../log/logger.ts';
import { writeFileAtomic } from '../atomic.ts';
import type { ConfigSyncSettings } from './settings.ts';
import { ClusterTable, isRaceError, type Endpoint } from './cluster-table.ts';
import { applySnapshot, checksum, snapshot, type SyncedObject } from './snapshot.ts';

export const CACHE_FILE = 'weir-config.json';

/** What `GET /maxscale` shows as `config_sync` (MaxScale's shape). */
export type ConfigSyncView =
  | { version: 0; status: string; node: string }
  | { version: number; checksum: string; origin: string; nodes: Record<string, string>; status: string; node: string };

interface Cache {
  cluster_name: string;
  version: number;
  origin: string;
  config: SyncedObject[];
}

/** A promise chain: one holder at a time, in arrival order. */
class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

export class ConfigSync {
  private version = 0;
  private origin = '';
  private nodes: Record<string, string> = {};
  private status = 'No configuration changes';
  private readonly table: ClusterTable;
  private readonly mutex = new Mutex();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private aheadLogged = -1;
  private lastPollError = '';
  /** Resolvers waiting for the next completed poll. */
  private waiters: Array<() => void> = [];
  node: string;

  constructor(
    private readonly core: Core,
    private readonly settings: ConfigSyncSettings & { cluster: string },
    private readonly datadir: string,
    private readonly logger: WeirLogger,
  ) {
    this.table = new ClusterTable(settings.db, settings.cluster);
    this.node = settings.nodeName ?? hostname();
  }

  get cluster(): string {
    return this.settings.cluster;
  }

  // ---- start and stop ----

  /**
   * Restores the configuration of the cached copy, if it is for this cluster: the cluster
   * copy is the truth, and the cache is the last version of it this instance had (a change
   * applied here but never committed is undone by this). Call before anything follows the
   * core's events. A cache that cannot be used is set aside as `.bad-config`.
   */
  loadCache(): void {
    const file = join(this.datadir, CACHE_FILE);
    if (!existsSync(file)) return;
    let cache: Cache;
    try {
      cache = JSON.parse(readFileSync(file, 'utf8')) as Cache;
      if (!Array.isArray(cache.config) || !Number.isInteger(cache.version))
        throw new Error('it is not a configuration cache');
    } catch (err) {
      this.setAside(file, (err as Error).message);
      return;
    }
    if (cache.cluster_name !== this.cluster) {
      this.logger.warning(
        { file, cluster: cache.cluster_name },
        `the cached configuration ${file} is for cluster '${cache.cluster_name}', not '${this.cluster}': ignored`,
      );
      return;
    }
    try {
      applySnapshot(this.core, cache.config);
    } catch (err) {
      this.setAside(file, (err as Error).message);
      return;
    }
    this.version = cache.version;
    this.origin = cache.origin;
    this.status = 'OK';
    this.logger.notice({ version: cache.version }, `configuration version ${cache.version} restored from ${file}`);
  }

  private setAside(file: string, why: string): void {
    renameSync(file, `${file}.bad-config`);
    this.logger.error(
      { file },
      `the cached configuration ${file} cannot be used (${why}): renamed to ${file}.bad-config; starting from the static configuration and catching up from the cluster`,
    );
  }

  /** Starts polling; without `config_sync_node_name` the node is `<host name>:<admin port>`, unique on one host. */
  start(adminPort: number): void {
    if (this.settings.nodeName === null) this.node = `${hostname()}:${adminPort}`;
    this.logger.notice(
      { cluster: this.cluster, node: this.node, interval_ms: this.settings.interval },
      `configuration sync through the cluster of monitor '${this.cluster}' as node '${this.node}'`,
    );
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.mutex.run(async () => this.table.close());
  }

  /** Resolves once a poll that started after this call has completed (tests). */
  nextPoll(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      const waiting = this.waiters;
      this.waiters = [];
      void this.mutex
        .run(() => this.poll())
        .catch((err: unknown) => this.pollFailed(err))
        .finally(() => {
          for (const w of waiting) w();
          this.schedule(this.settings.interval);
        });
    }, delay);
    this.timer.unref();
  }

  private pollFailed(err: unknown): void {
    const message = (err as Error).message;
    if (message !== this.lastPollError) {
      this.logger.warning(
        { cluster: this.cluster, err: message },
        `configuration sync: cannot read the cluster: ${message}`,
      );
    }
    this.lastPollError = message;
  }

  // ---- view ----

  view(): ConfigSyncView {
    if (this.version === 0) return { version: 0, status: this.status, node: this.node };
    return {
      version: this.version,
      checksum: checksum(snapshot(this.core)),
      origin: this.origin,
      nodes: { ...this.nodes },
      status: this.status,
      node: this.node,
    };
  }

  // ---- changes ----

  /** Runs a synchronised change: see the module comment. `apply` changes the core (a handler). */
  change<T>(apply: () => T | Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      await this.connectToPrimary('changes');
      let locked: number | null;
      try {
        locked = await this.table.lock(this.settings.timeout);
      } catch (err) {
        this.table.close();
        throw unavailable(`the configuration row on the cluster's primary cannot be locked: ${(err as Error).message}`);
      }
      // No row (a new cluster, or the row was deleted by hand): this change writes it again.
      if (locked !== null && locked !== this.version) {
        await this.table.rollback();
        this.schedule(0);
        if (locked < this.version) {
          throw conflict(
            `Configuration conflict detected: the local version (${this.version}) is ahead of the version stored in the cluster (${locked}); Weir refuses changes until a newer version is in the cluster. Nothing was changed.`,
          );
        }
        throw conflict(
          `Configuration conflict detected: version stored in the cluster (${locked}) is not the same as the local version (${this.version}), Weir is out of sync. It applies version ${locked} within config_sync_interval; retry then. Nothing was changed.`,
        );
      }
      const before = snapshot(this.core);
      let reply: T;
      try {
        reply = await apply();
      } catch (err) {
        await this.table.rollback();
        throw err;
      }
      const after = snapshot(this.core);
      if (checksum(after) === checksum(before)) {
        await this.table.rollback();
        return reply;
      }
      const next = (locked ?? this.version) + 1;
      let gtid: string;
      try {
        await testPause('WEIR_TEST_PAUSE_BEFORE_COMMIT');
        await this.table.write(
          locked,
          next,
          JSON.stringify({ config: after, version: next, cluster_name: this.cluster }),
          this.node,
        );
        gtid = await this.table.commit();
      } catch (err) {
        await this.table.rollback();
        this.revert(before);
        if (isRaceError(err)) {
          this.schedule(0);
          throw conflict(
            `Configuration conflict detected: another instance changed the configuration at the same time (${(err as Error).message}). Nothing was changed.`,
          );
        }
        throw unavailable(
          `the change could not be committed to the cluster (${(err as Error).message}); it was undone here`,
        );
      }
      this.version = next;
      this.origin = this.node;
      this.nodes = { [this.node]: 'OK' };
      this.status = 'OK';
      await testPause('WEIR_TEST_PAUSE_AFTER_COMMIT');
      this.saveCache(after);
      this.logger.notice({ version: next, node: this.node }, `configuration version ${next} committed to the cluster`);
      if (this.settings.waitReplicas > 0) await this.waitForReplicas(gtid, next);
      return reply;
    });
  }

  /** Puts the configuration back as it was; a failure here leaves a state nobody knows, so it is loud. */
  private revert(before: SyncedObject[]): void {
    try {
      applySnapshot(this.core, before);
    } catch (err) {
      this.status = `the local configuration could not be restored: ${(err as Error).message}`;
      this.logger.error({ err: (err as Error).message }, `configuration sync: ${this.status}`);
    }
  }

  /** `config_sync_wait_replicas`: the change is acknowledged once that many replicas have its GTID. */
  private async waitForReplicas(gtid: string, version: number): Promise<void> {
    const replicas = this.monitorServers().filter((s) => s.runtime.facts.flags.includes('slave'));
    const wanted = this.settings.waitReplicas;
    if (!gtid || replicas.length < wanted) {
      throw unavailable(
        `configuration version ${version} was committed, but it cannot be acknowledged: ${gtid ? `only ${replicas.length} replica(s) are running and ${wanted} must have it (config_sync_wait_replicas)` : 'the primary writes no binary log'}. Other instances will apply it.`,
      );
    }
    let reached = 0;
    await new Promise<void>((done) => {
      let pending = replicas.length;
      for (const r of replicas) {
        const settle = (ok: boolean): void => {
          if (ok) reached++;
          if (--pending === 0 || reached >= wanted) done();
        };
        // replicaHas answers false on any failure; a rejection anyway counts as "does not have it"
        // rather than leaving the wait pending forever.
        ClusterTable.replicaHas(this.endpoint(r), gtid, this.settings.timeout).then(settle, (err: unknown) => {
          this.logger.error({ err: (err as Error).message }, `configuration sync: checking replica ${r.name} failed`);
          settle(false);
        });
      }
    });
    if (reached < wanted) {
      throw unavailable(
        `configuration version ${version} was committed, but only ${reached} of the ${wanted} replica(s) config_sync_wait_replicas asks for had it within config_sync_timeout. Other instances will apply it.`,
      );
    }
  }

  // ---- polling ----

  private async poll(): Promise<void> {
    if (this.stopped) return;
    await this.connectToPrimary('polls');
    let row;
    try {
      row = await this.table.read();
    } catch (err) {
      this.table.close();
      throw err;
    }
    this.lastPollError = '';
    if (!row) return;
    this.origin = row.origin;
    this.nodes = row.nodes;
    if (row.version < this.version) {
      if (this.aheadLogged !== row.version) {
        this.logger.warning(
          { local: this.version, cluster: row.version },
          `The local configuration version (${this.version}) is ahead of the cluster configuration (${row.version}): ignoring the cluster's`,
        );
        this.aheadLogged = row.version;
      }
      this.status = `diverged: local version ${this.version} is ahead of the cluster's ${row.version}`;
      return;
    }
    if (row.version === this.version) {
      if (this.nodes[this.node] === undefined) {
        await this.table.report(this.node, this.version, this.status);
        this.nodes[this.node] = this.status;
      }
      return;
    }
    const fetched = await this.table.fetch(this.version);
    if (!fetched) return;
    await this.adopt(fetched.version, fetched.origin, fetched.config);
  }

  /** Applies the cluster's version; a version that cannot be applied is reported, not skipped silently. */
  private async adopt(version: number, origin: string, doc: unknown): Promise<void> {
    const config = (doc as { config?: unknown } | null)?.config;
    const before = snapshot(this.core);
    let status = 'OK';
    try {
      if (!Array.isArray(config)) throw new Error('the stored configuration is not a configuration document');
      applySnapshot(this.core, config as SyncedObject[]);
      this.logger.notice({ version, origin }, `configuration version ${version} from '${origin}' applied`);
    } catch (err) {
      status = `version ${version} could not be applied: ${(err as Error).message}`;
      this.logger.error(
        { version, origin, err: (err as Error).message },
        `configuration sync: ${status}; the previous configuration is kept`,
      );
      this.revert(before);
    }
    // Like MaxScale: a failed version is still the version this node is at, so it is not retried forever.
    this.version = version;
    this.origin = origin;
    this.status = status;
    this.saveCache(snapshot(this.core));
    await this.table.report(this.node, version, status);
    this.nodes[this.node] = status;
  }

  // ---- helpers ----

  private saveCache(config: SyncedObject[]): void {
    const cache: Cache = { cluster_name: this.cluster, version: this.version, origin: this.origin, config };
    try {
      writeFileAtomic(join(this.datadir, CACHE_FILE), JSON.stringify(cache));
    } catch (err) {
      // The cluster's copy is the truth; a missing cache only means catching up after a restart.
      this.logger.warning(
        { err: (err as Error).message },
        `configuration sync: cannot save the cached copy: ${(err as Error).message}`,
      );
    }
  }

  private monitorServers() {
    const monitor = this.core.find('monitor', this.cluster);
    if (!monitor) return [];
    return stringList(monitor.params.servers!)
      .map((n) => this.core.find('server', n))
      .filter((s) => s !== undefined);
  }

  private endpoint(server: { params: Record<string, unknown> }): Endpoint {
    const monitor = this.core.find('monitor', this.cluster);
    return {
      host: String(server.params.address),
      port: Number(server.params.port),
      user: this.settings.user ?? String(monitor?.params.user ?? ''),
      password: this.settings.password ?? String(monitor?.params.password ?? ''),
      timeout: this.settings.timeout,
    };
  }

  /** The first server of the cluster monitor labelled Master, as MaxScale chooses it. */
  private async connectToPrimary(what: string): Promise<void> {
    if (!this.core.find('monitor', this.cluster)) {
      throw unavailable(`config_sync_cluster names the monitor '${this.cluster}', which does not exist`);
    }
    const primary = this.monitorServers().find((s) => s.runtime.facts.flags.includes('master'));
    if (!primary) {
      this.table.close();
      throw unavailable(
        `monitor '${this.cluster}' sees no primary (no server is labelled Master), so configuration ${what} cannot reach the cluster`,
      );
    }
    try {
      await this.table.connect(this.endpoint(primary));
    } catch (err) {
      throw unavailable(`the cluster's primary '${primary.name}' cannot be reached: ${(err as Error).message}`);
    }
  }
}

function unavailable(why: string): WeirError {
  return new WeirError(
    503,
    `The configuration cannot be changed now: ${why}. Reads keep working; retry when the cluster has a reachable primary.`,
  );
}

/** Test hooks that widen a race window so a crash can be placed exactly (unset in production). */
async function testPause(name: string): Promise<void> {
  const ms = Number(process.env[name] ?? 0);
  if (ms > 0) await new Promise((r) => setTimeout(r, ms));
}
