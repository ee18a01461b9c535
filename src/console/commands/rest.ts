/**
 * The admin commands run the REST API's own handlers, so a command and the matching
 * request are one implementation: same checks, same persistence, same objects.
 */
import type { Handler, OperationId, Request } from '../../http/types.ts';
import { handlers } from '../../http/handlers/index.ts';
import type { CommandContext } from './types.ts';

export async function rest<K extends OperationId>(
  ctx: CommandContext, operation: K, request: { params?: Request<K>['params']; body?: Request<K>['body'] } = {},
): Promise<any> {
  const handler = handlers[operation] as unknown as Handler<K>;
  const reply = await handler({ weir: ctx.weir, user: ctx.user, params: request.params ?? ({} as never), query: {} as never, body: request.body as never });
  return 'body' in reply ? reply.body : undefined;
}
