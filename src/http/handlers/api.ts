import type { HandlerGroup } from '../types.ts';

export const apiHandlers: HandlerGroup<'runCommandApi'> = {
  runCommandApi: async ({ weir, user, body }) => ({ status: 200, body: await weir.commandApi.handle(body, user) }),
};
