/**
 * throttlefilter, as MaxScale's implements it: a session's rate is the statements routed
 * in the last `sampling_duration`. At or above `max_qps`, a statement is held for one
 * period at that rate (1 + ceil(1000 / max_qps) ms) and the session is throttling. A
 * throttling session whose throttling began more than `throttling_duration` ago is
 * disconnected; one that has gone `continuous_duration` without being held stops
 * throttling, so a later burst starts the clock anew.
 */
import type { ConfigObject } from '../../core/objects.ts';
import type { FilterInstance, FilterSession, SessionInfo } from './types.ts';

export function throttlefilter(filter: ConfigObject): FilterInstance {
  const p = filter.params;
  const maxQps = Number(p.max_qps);
  const sampling = Number(p.sampling_duration);
  const throttlingLimit = Number(p.throttling_duration);
  const continuous = Number(p.continuous_duration);
  const delay = 1 + Math.ceil(1000 / maxQps);
  const disconnect = `Session exceeded max_qps (${maxQps}) for longer than ${throttlingLimit} ms (throttling_duration) and was disconnected by filter '${filter.name}'`;

  return {
    newSession(_info: SessionInfo): FilterSession {
      /** When each recent statement was (or, held, will be) routed. */
      const routed: number[] = [];
      let throttlingSince: number | null = null;
      let lastHeld = 0;
      return {
        statement() {
          const now = performance.now();
          while (routed.length && routed[0]! <= now - sampling) routed.shift();
          let at = now;
          if (routed.length / (sampling / 1000) >= maxQps) {
            throttlingSince ??= now;
            lastHeld = now;
            at = now + delay;
          } else if (throttlingSince !== null && now - lastHeld > continuous) throttlingSince = null;
          if (throttlingSince !== null && at - throttlingSince > throttlingLimit) return { close: disconnect };
          routed.push(at);
          return at > now ? { delayMs: delay } : undefined;
        },
      };
    },
    retire() {},
  };
}
