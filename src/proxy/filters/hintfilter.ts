/**
 * hintfilter: reads MaxScale routing hints from statements' comments (hints.ts) and hands
 * them to the router, which applies them (readwritesplit; readconnroute ignores them).
 * Hints in a prepared statement's text apply to its executions.
 */
import type { ConfigObject } from '../../core/objects.ts';
import { Command } from '../protocol/commands.ts';
import { HintSession } from './hints.ts';
import type { FilterInstance, FilterSession } from './types.ts';

export function hintfilter(_filter: ConfigObject): FilterInstance {
  return {
    newSession(): FilterSession {
      const state = new HintSession();
      return {
        statement(s) {
          // An execution carries its PREPARE's hints already (the chain keeps them).
          if (s.command === Command.STMT_EXECUTE) return;
          const hints = state.hints(s.sql);
          return hints ? { hints } : undefined;
        },
      };
    },
    retire() {},
  };
}
