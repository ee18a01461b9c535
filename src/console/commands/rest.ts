/**
 * The admin commands run the REST API's own handlers, so a command and the matching
 * request are one implementation: same checks, same persistence, same objects. As over
 * HTTP, only an admin may run an operation other than a GET, whatever the command that asks.
 */
import type { Handler, OperationId, Reply, Request } from '../../http/types.ts';
import { handlers } from '../../http/handlers/index.ts';
import { buildRoutes, loadSpec } from '../../http/spec.ts';
import { requireAdmin, type CommandContext } from './types.ts';

/** The body of an operation's success reply. */
type ReplyBody<K extends OperationId> = Extract<Reply<K>, { body: unknown }>['body'];

let reads: Set<string> | null = null;

/** The operationIds of the spec's GET operations: what a basic user may run. */
function readOperations(): Set<string> {
  reads ??= new Set(buildRoutes(loadSpec()).flatMap((r) => (r.operations.get ? [r.operations.get] : [])));
  return reads;
}

export async function rest<K extends OperationId>(
  ctx: CommandContext,
  operation: K,
  request: { params?: Request<K>['params']; query?: Request<K>['query']; body?: Request<K>['body'] } = {},
): Promise<ReplyBody<K>> {
  if (!readOperations().has(operation)) requireAdmin(ctx);
  const handler = handlers[operation] as unknown as Handler<K>;
  const reply = await handler({
    weir: ctx.weir,
    user: ctx.user,
    params: request.params ?? ({} as never),
    query: (request.query ?? {}) as never,
    body: request.body as never,
  });
  // An operation that answers without a body (204) has `never` here: its callers use no result.
  return ('body' in reply ? reply.body : undefined) as ReplyBody<K>;
}
