/**
 * The `[maxscale]` section: Weir's process-wide settings.
 */
import { unprocessable } from '../core/errors.ts';
import { parseConfigValue, type ParamDef } from '../core/params.ts';
import { applySyncSetting, defaultSyncSettings, type ConfigSyncSettings } from './sync/settings.ts';

export interface LogThrottling {
  limit: number;
  /** seconds */
  window: number;
  /** seconds */
  suppression: number;
}

export interface LogLevels {
  error: true;
  warning: boolean;
  notice: boolean;
  info: boolean;
  debug: boolean;
}

export interface Globals {
  admin_host: string;
  admin_port: number;
  logdir: string | null;
  log_levels: LogLevels;
  log_throttling: LogThrottling;
  /** Delay applied per failed admin login beyond the first few, doubling each time (ms). */
  admin_auth_failure_delay: number;
  /** Admin API: the whole request (headers and body) must arrive within this (ms; 0 = no limit). */
  admin_request_timeout: number;
  /** Admin API: the request headers must arrive within this (ms; 0 = no limit). */
  admin_headers_timeout: number;
  /** Admin API: an idle kept-alive connection is closed after this (ms). */
  admin_keepalive_timeout: number;
  /** Admin API: a connection with no traffic either way for this long is closed (ms; 0 = never). */
  admin_idle_timeout: number;
  /** Admin API: connections beyond this many are refused. */
  admin_max_connections: number;
  /** Least time between two reloads of a service's user accounts (s). */
  users_refresh_time: number;
  /** Command API: a session idle this long is evicted, unless a job runs (ms). */
  console_session_timeout: number;
  /** Command API: a consumer that has not pulled for this long is evicted (ms). */
  console_consumer_timeout: number;
  /** `config_sync_*`: configuration synchronisation through the cluster (src/config/sync). */
  config_sync: ConfigSyncSettings;
  /** Bytes readwritesplit's query-classifier cache may use; null: MaxScale's default, 15 % of the memory. */
  query_classifier_cache_size: number | null;
}

export const defaultGlobals = (): Globals => ({
  admin_host: '127.0.0.1',
  admin_port: 8989,
  logdir: null,
  log_levels: { error: true, warning: true, notice: true, info: false, debug: false },
  log_throttling: { limit: 10, window: 1, suppression: 10 },
  admin_auth_failure_delay: 250,
  admin_request_timeout: 30_000,
  admin_headers_timeout: 10_000,
  admin_keepalive_timeout: 5_000,
  admin_idle_timeout: 300_000,
  admin_max_connections: 100,
  users_refresh_time: 3,
  console_session_timeout: 30 * 60 * 1000,
  console_consumer_timeout: 5 * 60 * 1000,
  config_sync: defaultSyncSettings(),
  query_classifier_cache_size: null,
});

const DEFS: ParamDef[] = [
  { name: 'admin_host', type: 'address', default: '127.0.0.1', description: 'Address of the admin API.' },
  { name: 'admin_port', type: 'port', default: 8989, description: 'Port of the admin API.' },
  { name: 'logdir', type: 'path', default: null, description: 'Directory of the log file.' },
  { name: 'log_warning', type: 'bool', default: true, description: 'Log warnings.' },
  { name: 'log_notice', type: 'bool', default: true, description: 'Log notices.' },
  { name: 'log_info', type: 'bool', default: false, description: 'Log informational messages.' },
  { name: 'log_debug', type: 'bool', default: false, description: 'Log debug messages.' },
  {
    name: 'admin_auth_failure_delay',
    type: 'duration',
    unit: 'ms',
    default: 250,
    description: 'Delay per failed admin login.',
  },
  {
    name: 'admin_request_timeout',
    type: 'duration',
    unit: 'ms',
    default: 30_000,
    description: 'Admin API: time for a whole request (headers and body) to arrive; 0 for no limit.',
  },
  {
    name: 'admin_headers_timeout',
    type: 'duration',
    unit: 'ms',
    default: 10_000,
    description: 'Admin API: time for the request headers to arrive (at most admin_request_timeout); 0 for no limit.',
  },
  {
    name: 'admin_keepalive_timeout',
    type: 'duration',
    unit: 'ms',
    default: 5_000,
    positive: true,
    description: 'Admin API: an idle kept-alive connection is closed after this.',
  },
  {
    name: 'admin_idle_timeout',
    type: 'duration',
    unit: 'ms',
    default: 300_000,
    description: 'Admin API: a connection without traffic either way for this long is closed; 0 for never.',
  },
  {
    name: 'admin_max_connections',
    type: 'count',
    default: 100,
    positive: true,
    description: 'Admin API: connections beyond this many are refused at once.',
  },
  {
    name: 'users_refresh_time',
    type: 'duration',
    unit: 's',
    default: 3,
    description: 'Least time between reloads of user accounts.',
  },
  {
    name: 'console_session_timeout',
    type: 'duration',
    unit: 'ms',
    default: 1_800_000,
    positive: true,
    description: 'Command API sessions idle this long are evicted (never while a job runs).',
  },
  {
    name: 'console_consumer_timeout',
    type: 'duration',
    unit: 'ms',
    default: 300_000,
    positive: true,
    description: 'Command API consumers that have not pulled for this long are evicted.',
  },
  {
    name: 'query_classifier_cache_size',
    type: 'size',
    default: null,
    description:
      "Bytes readwritesplit's query-classifier cache may use (0 turns it off); by default 15 % of the memory, as in MaxScale.",
  },
];

/** MaxScale settings Weir accepts so that existing files load, but has no use for. */
const ACCEPTED_UNUSED = new Set([
  'threads',
  'maxlog',
  'syslog',
  'log_augmentation',
  'admin_enabled',
  'admin_auth',
  'admin_gui',
  'admin_secure_gui',
  'persist_runtime_changes',
  'load_persisted_configs',
  'skip_name_resolve',
  'ms_timestamp',
  'query_retries',
  'query_retry_timeout',
  'passive',
  'local_address',
]);

/** Applies one `[maxscale]` key; throws a message naming what is wrong. Returns false for an accepted but unused key. */
export function applyGlobal(globals: Globals, key: string, raw: string): boolean {
  if (key === 'log_throttling') {
    globals.log_throttling = parseThrottling(raw);
    return true;
  }
  if (applySyncSetting(globals.config_sync, key, raw)) return true;
  const def = DEFS.find((d) => d.name === key);
  if (!def) {
    if (ACCEPTED_UNUSED.has(key)) return false;
    throw new Error(`is not a [maxscale] setting Weir knows`);
  }
  const value = parseConfigValue(def, raw);
  switch (key) {
    case 'admin_host':
      globals.admin_host = value as string;
      break;
    case 'admin_port':
      globals.admin_port = value as number;
      break;
    case 'logdir':
      globals.logdir = value as string;
      break;
    case 'admin_auth_failure_delay':
      globals.admin_auth_failure_delay = value as number;
      break;
    case 'admin_request_timeout':
      globals.admin_request_timeout = value as number;
      break;
    case 'admin_headers_timeout':
      globals.admin_headers_timeout = value as number;
      break;
    case 'admin_keepalive_timeout':
      globals.admin_keepalive_timeout = value as number;
      break;
    case 'admin_idle_timeout':
      globals.admin_idle_timeout = value as number;
      break;
    case 'admin_max_connections':
      globals.admin_max_connections = value as number;
      break;
    case 'users_refresh_time':
      globals.users_refresh_time = value as number;
      break;
    case 'console_session_timeout':
      globals.console_session_timeout = value as number;
      break;
    case 'console_consumer_timeout':
      globals.console_consumer_timeout = value as number;
      break;
    case 'query_classifier_cache_size':
      globals.query_classifier_cache_size = value as number;
      break;
    default:
      globals.log_levels[key.slice(4) as 'warning' | 'notice' | 'info' | 'debug'] = value as boolean;
  }
  return true;
}

/** MaxScale's form: `limit, window, suppression`, e.g. `10, 1000ms, 10000ms`. */
export function parseThrottling(raw: string): LogThrottling {
  const parts = raw.split(',').map((s) => s.trim());
  if (parts.length !== 3) throw new Error(`must be 'limit, window, suppression', e.g. '10, 1000ms, 10000ms'`);
  const count: ParamDef = { name: 'limit', type: 'count', default: 0, description: '' };
  const ms: ParamDef = { name: 'window', type: 'duration', unit: 'ms', default: 0, description: '' };
  return {
    limit: parseConfigValue(count, parts[0]!) as number,
    window: (parseConfigValue(ms, parts[1]!) as number) / 1000,
    suppression: (parseConfigValue(ms, parts[2]!) as number) / 1000,
  };
}

export const formatThrottling = (t: LogThrottling) =>
  `${t.limit}, ${Math.round(t.window * 1000)}ms, ${Math.round(t.suppression * 1000)}ms`;

/**
 * Throttling values are written in whole milliseconds: refuses (422) values the file
 * would give back different (0.0004 s, 1e300 s), so that what GET shows survives a restart.
 */
export function assertThrottlingWritable(t: LogThrottling): void {
  let back: LogThrottling | null = null;
  try {
    back = parseThrottling(formatThrottling(t));
  } catch {
    // reported below
  }
  if (back && back.limit === t.limit && back.window === t.window && back.suppression === t.suppression) return;
  const message =
    'window and suppression must be whole milliseconds (e.g. 0.25 s) that the configuration file can hold';
  throw unprocessable(`Parameter 'log_throttling': ${message}; nothing was changed.`, [
    { path: '/log_throttling', message },
  ]);
}
