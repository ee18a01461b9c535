/**
 * Every operation of the spec, keyed by operationId. `satisfies Handlers` makes a missing
 * or misspelt operation a compile error.
 */
import type { Handlers } from '../types.ts';
import { filterHandlers } from './filters.ts';
import { maxscaleHandlers } from './maxscale.ts';
import { monitorHandlers } from './monitors.ts';
import { serverHandlers } from './servers.ts';
import { serviceHandlers } from './services.ts';
import { sessionHandlers } from './sessions.ts';
import { userHandlers } from './users.ts';
import { apiHandlers } from './api.ts';
import { withConfigSync } from '../../config/sync/synced-operations.ts';
import { metricsHandlers } from './metrics.ts';

export const handlers = withConfigSync({
  ...maxscaleHandlers,
  ...serviceHandlers,
  ...serverHandlers,
  ...monitorHandlers,
  ...filterHandlers,
  ...sessionHandlers,
  ...userHandlers,
  ...apiHandlers,
  ...metricsHandlers,
} satisfies Handlers);
