/**
 * Starts and stops one Weir: reads the configuration (file or built-in default) and the
 * runtime changes in the data directory, opens the log, loads admin users, and serves the
 * admin API. `main.ts` is the command line around it; tests call it in-process.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { ConfigError, parseIni } from './config/ini.ts';
import { defaultConfigText, DEFAULT_CONFIG_NAME } from './config/defaults.ts';
import { loadConfig } from './config/load.ts';
import { RuntimeStore } from './config/store.ts';
import type { WeirContext } from './context.ts';
import { LoadSampler } from './core/load.ts';
import { Scheduler } from './core/scheduler.ts';
import { AdminUsers, DEFAULT_ADMIN } from './core/users.ts';
import { createApp } from './http/app.ts';
import { createAdminServer } from './http/server.ts';
import { Log } from './log/logger.ts';
import { Monitors } from './monitor/mariadbmon.ts';
import { Listeners } from './proxy/listeners.ts';
import { Filters } from './proxy/filters/registry.ts';
import { CommandApi } from './console/api.ts';
import { startConfigSync } from './config/sync/start.ts';
import { WeirMetrics } from './metrics/metrics.ts';
import {
  defaultClassifierCacheSize,
  setClassifierCacheLimit,
} from './proxy/routing/readwritesplit/classifier-cache.ts';

export interface StartOptions {
  /** Configuration file; the built-in default when absent. */
  configFile?: string;
  datadir: string;
  adminHost?: string;
  adminPort?: number;
  /** Service and monitor user of the built-in default configuration. */
  defaultUser?: string;
  defaultPassword?: string;
  /** Log to standard output as well as the file (off in tests). */
  stdout?: boolean;
  validateResponses?: boolean;
}

export interface RunningWeir {
  context: WeirContext;
  /** Where the admin API listens (the real port when 0 was asked for). */
  adminUrl: string;
  stop(): Promise<void>;
}

export const VERSION = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** Reads and checks a configuration without starting anything; throws ConfigError. */
export function readConfiguration(
  options: Pick<StartOptions, 'configFile' | 'datadir' | 'defaultUser' | 'defaultPassword'>,
) {
  const text = options.configFile
    ? readFileSync(options.configFile, 'utf8')
    : defaultConfigText(options.defaultUser ?? 'root', options.defaultPassword ?? '');
  const main = parseIni(text, options.configFile ?? DEFAULT_CONFIG_NAME);
  const store = new RuntimeStore(options.datadir);
  return { store, ...loadConfig({ main, runtime: store.readAll() }, store) };
}

export async function startWeir(options: StartOptions): Promise<RunningWeir> {
  const datadir = resolve(options.datadir);
  const { store, core, globals, unused } = readConfiguration({ ...options, datadir });
  if (options.adminHost !== undefined) globals.admin_host = options.adminHost;
  if (options.adminPort !== undefined) globals.admin_port = options.adminPort;
  setClassifierCacheLimit(globals.query_classifier_cache_size ?? defaultClassifierCacheSize());
  const logdir = resolve(globals.logdir ?? join(datadir, 'log'));
  const log = new Log({
    logdir,
    stdout: options.stdout ?? true,
    levels: globals.log_levels,
    throttling: globals.log_throttling,
  });
  const logger = log.logger;

  const users = new AdminUsers(datadir);
  if (users.ensureDefault())
    logger.warning(`created the admin user '${DEFAULT_ADMIN.name}' with the default password; change it`);
  if (!isLoopback(globals.admin_host) && users.defaultPasswordInUse()) {
    log.close();
    throw new ConfigError(
      options.configFile ?? DEFAULT_CONFIG_NAME,
      0,
      `refusing to serve the admin API on ${globals.admin_host} while the user '${DEFAULT_ADMIN.name}' has the default password; change it first (PATCH /users/${DEFAULT_ADMIN.name} on a loopback address) or use a loopback admin_host`,
      'maxscale',
      'admin_host',
    );
  }

  // Before anything follows the core's events: the cached cluster copy replaces the local one.
  const configSync = startConfigSync(core, globals, datadir, logger, options.configFile ?? DEFAULT_CONFIG_NAME);
  const scheduler = new Scheduler();
  const load = new LoadSampler();
  scheduler.repeat('load_sampler', 1000, () => load.sample());
  const monitors = new Monitors(core, logger);
  const filters = new Filters(core, log);
  const listeners = new Listeners(core, logger, () => globals.users_refresh_time, filters);
  scheduler.repeat('session_timeouts', 1000, () => listeners.closeIdleSessions());
  const context: WeirContext = {
    core,
    users,
    log,
    scheduler,
    load,
    globals,
    store,
    monitors,
    listeners,
    configSync,
    // Set just below: the command API runs commands against this very context.
    commandApi: undefined as unknown as CommandApi,
    metrics: undefined as unknown as WeirMetrics,
    info: {
      version: VERSION,
      commit: gitCommit(),
      started: new Date(),
      config: options.configFile ? resolve(options.configFile) : null,
      datadir,
      logdir,
      adminHost: globals.admin_host,
      adminPort: globals.admin_port,
    },
  };
  context.commandApi = new CommandApi(context);
  context.metrics = new WeirMetrics(core, context.info, logger);
  core.traffic = context.metrics.traffic;
  scheduler.repeat('console_eviction', 1000, () => context.commandApi.sessions.evict());

  const app = createApp(context, { validateResponses: options.validateResponses ?? false });
  const server = createAdminServer(app, globals, logger);
  try {
    await listeners.startAll();
    await listen(server, globals.admin_port, globals.admin_host, options.configFile ?? DEFAULT_CONFIG_NAME);
  } catch (err) {
    scheduler.stopAll();
    await configSync?.stop();
    await listeners.stopAll();
    await monitors.stopAll();
    log.close();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  context.info.adminPort = port;
  core.reserve({ owner: 'the admin API', address: globals.admin_host, port });
  configSync?.start(port);
  const adminUrl = `http://${isIP(globals.admin_host) === 6 ? `[${globals.admin_host}]` : globals.admin_host}:${port}`;
  logger.notice(
    { config: context.info.config ?? DEFAULT_CONFIG_NAME, datadir, version: VERSION },
    `Weir started; admin API on ${adminUrl}`,
  );
  if (store.recovered.completed.length || store.recovered.removed.length) {
    logger.warning(
      { completed: store.recovered.completed, removed: store.recovered.removed },
      'finished or discarded runtime changes an earlier crash interrupted',
    );
  }
  if (unused.length) logger.notice({ settings: unused }, 'MaxScale settings accepted but not used by Weir');

  return {
    context,
    adminUrl,
    async stop() {
      scheduler.stopAll();
      await configSync?.stop();
      context.commandApi.sessions.closeAll();
      await listeners.stopAll();
      filters.closeAll();
      await monitors.stopAll();
      await new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      });
      logger.notice('Weir stopped');
      log.close();
    },
  };
}

function listen(server: Server, port: number, host: string, file: string): Promise<void> {
  return new Promise((done, fail) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      fail(
        new ConfigError(
          file,
          0,
          `the admin API cannot listen on ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'the port is already in use' : err.message}`,
          'maxscale',
          'admin_port',
        ),
      );
    });
    server.listen(port, host, () => done());
  });
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

function gitCommit(): string | null {
  try {
    return (
      execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
        cwd: new URL('..', import.meta.url),
        stdio: ['ignore', 'pipe', 'ignore'],
      })
        .toString()
        .trim() || null
    );
  } catch {
    return null;
  }
}
