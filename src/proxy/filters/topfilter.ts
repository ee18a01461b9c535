/**
 * topfilter: for each session it applies to, keeps the `count` slowest statements (time from
 * routing to the first byte of the reply) that pass `match`/`exclude`, and when the session
 * closes writes them, slowest first, with the session's totals, to `<filebase>.<session id>`
 * in MaxScale's report layout. Password literals are masked (src/core/redact.ts).
 */
import { writeFileSync } from 'node:fs';
import type { ConfigObject } from '../../core/objects.ts';
import { redactSecrets } from '../../core/redact.ts';
import { matcher } from './matching.ts';
import type { FilterInstance, FilterSession, SessionInfo } from './types.ts';

export function topfilter(filter: ConfigObject): FilterInstance {
  const p = filter.params;
  const filebase = String(p.filebase);
  const count = Number(p.count);
  const match = matcher(filter);

  return {
    newSession(info: SessionInfo): FilterSession | null {
      if (!match.session(info)) return null;
      const top: Array<{ seconds: number; sql: string }> = [];
      let statements = 0;
      let total = 0;
      return {
        reply(s, r) {
          if (!match.statement(s.sql)) return;
          const seconds = Math.max(0, r.firstByteAt - s.routedAt) / 1000;
          statements++;
          total += seconds;
          if (top.length < count || seconds > top[top.length - 1]!.seconds) {
            top.push({ seconds, sql: redactSecrets(s.sql) });
            top.sort((a, b) => b.seconds - a.seconds);
            if (top.length > count) top.pop();
          }
        },
        close() {
          const rule = '-----------+-----------------------------------------------------------------';
          const lines = [
            `Top ${count} longest running queries in session.`,
            '==========================================',
            '',
            'Time (sec) | Query',
            rule,
            ...top.map((t) => `${t.seconds.toFixed(3).padStart(10)} |  ${t.sql.replace(/\s*\n\s*/g, ' ')}`),
            rule,
            '',
            `Session started ${info.connected.toString()}`,
            `Connection from ${info.address}`,
            `Username        ${info.user}`,
            '',
            `Total of ${statements} statements executed.`,
            `Total statement execution time   ${total.toFixed(3)} seconds`,
            `Average statement execution time ${(statements ? total / statements : 0).toFixed(3)} seconds`,
            `Total connection time            ${((Date.now() - info.connected.getTime()) / 1000).toFixed(3)} seconds`,
            '',
          ];
          try {
            writeFileSync(`${filebase}.${info.id}`, lines.join('\n'));
          } catch {
            // The directory was checked when the filter was configured; if it went away since,
            // losing one report must not take the session's close down with it.
          }
        },
      };
    },
    retire() {},
  };
}
