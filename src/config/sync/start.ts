/** Builds ConfigSync from the `[maxscale]` settings, or null when `config_sync_cluster` is not set. */
import type { Core } from '../../core/core.ts';
import type { WeirLogger } from '../../log/logger.ts';
import type { Globals } from '../globals.ts';
import { ConfigError } from '../ini.ts';
import { ConfigSync } from './config-sync.ts';

export function startConfigSync(
  core: Core,
  globals: Globals,
  datadir: string,
  logger: WeirLogger,
  file: string,
): ConfigSync | null {
  const s = globals.config_sync;
  if (s.cluster === null) return null;
  const cluster = s.cluster;
  const monitor = core.find('monitor', cluster);
  if (!monitor)
    throw new ConfigError(
      file,
      0,
      `config_sync_cluster names '${cluster}', which is not a monitor`,
      'maxscale',
      'config_sync_cluster',
    );
  const sync = new ConfigSync(core, { ...s, cluster }, datadir, logger);
  sync.loadCache();
  return sync;
}
