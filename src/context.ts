/**
 * What the HTTP handlers (and later the command API) work with: the core and the
 * process-wide services around it. Built once by src/weir.ts.
 */
import type { Core } from './core/core.ts';
import type { AdminUsers } from './core/users.ts';
import type { Scheduler } from './core/scheduler.ts';
import type { LoadSampler } from './core/load.ts';
import type { Log } from './log/logger.ts';
import type { Globals } from './config/globals.ts';
import type { RuntimeStore } from './config/store.ts';
import type { Monitors } from './monitor/mariadbmon.ts';
import type { Listeners } from './proxy/listeners.ts';
import type { CommandApi } from './console/api.ts';
import type { ConfigSync } from './config/sync/config-sync.ts';
import type { WeirMetrics } from './metrics/metrics.ts';

export interface WeirInfo {
  version: string;
  commit: string | null;
  started: Date;
  /** The configuration file, or null for the built-in default. */
  config: string | null;
  datadir: string;
  logdir: string;
  adminHost: string;
  adminPort: number;
}

export interface WeirContext {
  core: Core;
  users: AdminUsers;
  log: Log;
  scheduler: Scheduler;
  load: LoadSampler;
  globals: Globals;
  store: RuntimeStore;
  monitors: Monitors;
  listeners: Listeners;
  commandApi: CommandApi;
  /** Configuration sync through the cluster (`config_sync_cluster`); null when off. */
  configSync: ConfigSync | null;
  metrics: WeirMetrics;
  info: WeirInfo;
}
