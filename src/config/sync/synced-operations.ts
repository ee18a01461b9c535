/**
 * Which operations change the synchronised configuration (MaxScale's `REQ_SYNC` routes:
 * creating, changing and deleting servers, monitors, services, filters and listeners),
 * and the wrapper that runs them through ConfigSync. Both the REST API and the command
 * API run these same handlers, so both are synchronised. Start/stop, sessions, admin
 * users and cluster operations are local, as in MaxScale.
 */
import type { Handler, OperationId } from '../../http/types.ts';

export const SYNCED_OPERATIONS = new Set<OperationId>([
  'createServer',
  'patchServer',
  'deleteServer',
  'createMonitor',
  'patchMonitor',
  'deleteMonitor',
  'createService',
  'patchService',
  'deleteService',
  'createFilter',
  'patchFilter',
  'deleteFilter',
  'createServiceListener',
  'deleteServiceListener',
]);

/** The handler map with every synchronised operation committed to the cluster before it answers. */
export function withConfigSync<H extends Record<string, unknown>>(handlers: H): H {
  const out: Record<string, unknown> = { ...handlers };
  for (const id of SYNCED_OPERATIONS) {
    const handler = handlers[id] as Handler<OperationId>;
    out[id] = ((req: Parameters<Handler<OperationId>>[0]) => {
      const sync = req.weir.configSync;
      return sync ? sync.change(() => handler(req)) : handler(req);
    }) as Handler<OperationId>;
  }
  return out as H;
}

/** Runs a configuration change made outside the handlers (command API) the same way: committed to the cluster first. */
export function synced<T>(
  weir: { configSync: { change<R>(apply: () => R | Promise<R>): Promise<R> } | null },
  apply: () => T,
): Promise<T> {
  return weir.configSync ? weir.configSync.change(apply) : Promise.resolve().then(apply);
}
