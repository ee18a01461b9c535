/**
 * The routers Weir has, keyed by the name a service's `router=` gives. Their parameters are
 * declared with the other modules (core/modules.ts), which is what `router=` and each
 * router's parameters are checked against and what `/maxscale/modules` publishes.
 */
import { findModule } from '../../core/modules.ts';
import type { Router } from './router.ts';
import { readconnroute } from './readconnroute.ts';
import { readwritesplit } from './readwritesplit/router.ts';

const ROUTERS: Router[] = [readconnroute, readwritesplit];

export function routerFor(name: string): Router | undefined {
  const lower = name.toLowerCase();
  return ROUTERS.find((r) => r.name === lower);
}

/** Every router is a declared Router module (checked by the tests). */
export function routerNames(): string[] {
  return ROUTERS.map((r) => r.name).filter((n) => findModule(n)?.type === 'Router');
}
