/**
 * The `[maxscale]` settings of configuration synchronisation, with MaxScale's names and
 * defaults (`config_sync_*`), plus Weir's own: a node name that is unique per instance
 * (MaxScale uses the host name, so two instances on one host collide) and an optional
 * wait for replicas before a change is acknowledged.
 */
import { parseConfigValue, type ParamDef } from '../../core/params.ts';

export interface ConfigSyncSettings {
  /** The monitor whose cluster stores the configuration; null = sync off. */
  cluster: string | null;
  user: string | null;
  password: string | null;
  /** Database of the `maxscale_config` table. */
  db: string;
  /** ms between polls of the cluster's version. */
  interval: number;
  /** ms: connect, read and lock-wait timeout of the sync connection. */
  timeout: number;
  /** This instance's name in `origin` and `nodes`; default `<hostname>:<admin_port>`. */
  nodeName: string | null;
  /** Replicas that must have applied a change before it is acknowledged (0 = do not wait). */
  waitReplicas: number;
}

export const defaultSyncSettings = (): ConfigSyncSettings => ({
  cluster: null,
  user: null,
  password: null,
  db: 'mysql',
  interval: 5000,
  timeout: 10_000,
  nodeName: null,
  waitReplicas: 0,
});

const DEFS: Record<string, ParamDef> = {
  config_sync_cluster: {
    name: 'config_sync_cluster',
    type: 'string',
    default: null,
    description: 'Monitor whose cluster stores the configuration.',
  },
  config_sync_user: {
    name: 'config_sync_user',
    type: 'string',
    default: null,
    description: 'User for the configuration table.',
  },
  config_sync_password: {
    name: 'config_sync_password',
    type: 'password',
    default: null,
    description: 'Password of config_sync_user.',
  },
  config_sync_db: {
    name: 'config_sync_db',
    type: 'string',
    default: 'mysql',
    description: 'Database of the maxscale_config table.',
  },
  config_sync_interval: {
    name: 'config_sync_interval',
    type: 'duration',
    unit: 'ms',
    default: 5000,
    positive: true,
    description: 'How often the cluster is polled.',
  },
  config_sync_timeout: {
    name: 'config_sync_timeout',
    type: 'duration',
    unit: 'ms',
    default: 10_000,
    positive: true,
    description: 'Timeout of the sync connection.',
  },
  config_sync_node_name: {
    name: 'config_sync_node_name',
    type: 'string',
    default: null,
    description: "This instance's unique name in the cluster.",
  },
  config_sync_wait_replicas: {
    name: 'config_sync_wait_replicas',
    type: 'count',
    default: 0,
    description: 'Replicas that must have a change before it is acknowledged.',
  },
};

/** Applies one `config_sync_*` key; false when the key is not one of them. Throws a message when invalid. */
export function applySyncSetting(s: ConfigSyncSettings, key: string, raw: string): boolean {
  const def = DEFS[key];
  if (!def) return false;
  const value = parseConfigValue(def, raw);
  switch (key) {
    case 'config_sync_cluster':
      s.cluster = value === '' ? null : (value as string);
      break;
    case 'config_sync_user':
      s.user = value as string;
      break;
    case 'config_sync_password':
      s.password = value as string;
      break;
    case 'config_sync_db':
      if (!/^[A-Za-z0-9_$]+$/.test(value as string))
        throw new Error(`'${raw}' is not a database name (letters, digits, _ and $)`);
      s.db = value as string;
      break;
    case 'config_sync_interval':
      s.interval = value as number;
      break;
    case 'config_sync_timeout':
      s.timeout = value as number;
      break;
    case 'config_sync_node_name':
      s.nodeName = value === '' ? null : (value as string);
      break;
    case 'config_sync_wait_replicas':
      s.waitReplicas = value as number;
      break;
  }
  return true;
}
