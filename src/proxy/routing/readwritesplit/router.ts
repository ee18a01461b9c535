/**
 * The readwritesplit router (MaxScale's readwritesplit): statement-level routing, one
 * RWSplitSession per client session.
 */
import type { Router } from '../router.ts';
import { RWSplitSession } from './session.ts';

export const readwritesplit: Router = {
  name: 'readwritesplit',
  newSession: (session) => new RWSplitSession(session),
};
