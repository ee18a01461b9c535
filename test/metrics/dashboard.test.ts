/**
 * The Grafana dashboard shipped in dashboards/weir.json queries only metrics Weir serves:
 * every metric name in its panel queries and variables is a family in GET /metrics (a
 * histogram's _bucket/_sum/_count included), and every label it groups or filters by is one
 * of that metric's labels.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ADMIN, removeDir, startTestWeir } from '../harness/weir.ts';

interface Panel {
  title: string;
  type: string;
  targets?: Array<{ expr: string }>;
}
const dashboard = JSON.parse(readFileSync(new URL('../../dashboards/weir.json', import.meta.url), 'utf8')) as {
  panels: Panel[];
  templating: { list: Array<{ name: string; query: string | { query: string } }> };
};

/** Every PromQL expression of the dashboard, with where it comes from. */
function queries(): Array<{ where: string; expr: string }> {
  const out = dashboard.panels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({ where: `panel '${p.title}'`, expr: t.expr })),
  );
  for (const v of dashboard.templating.list) {
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    if (q && /\(/.test(q)) out.push({ where: `variable '${v.name}'`, expr: q });
  }
  return out;
}

test('every metric and label the Grafana dashboard queries is served by GET /metrics', async () => {
  const t = await startTestWeir();
  try {
    const text = (await t.http.get('/metrics').auth(ADMIN.user, ADMIN.password).expect(200)).text;
    const types = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
    // Label names each family's samples carry (families with no sample yet accept any).
    const labels = new Map<string, Set<string>>();
    for (const m of text.matchAll(/^([a-z_:]+?)(?:_bucket|_sum|_count)?\{([^}]*)\}/gm)) {
      const family = types.has(m[1]!) ? m[1]! : m[0].split('{')[0]!;
      const set = labels.get(family) ?? new Set<string>();
      for (const l of m[2]!.matchAll(/([a-z_]+)="/g)) if (l[1] !== 'le') set.add(l[1]!);
      labels.set(family, set);
    }
    const all = queries();
    assert.ok(all.length >= 30, `${all.length} queries`);
    const problems: string[] = [];
    for (const { where, expr } of all) {
      for (const m of expr.matchAll(/\b((?:weir|process|nodejs)_[a-z0-9_]+)(\{[^}]*\})?/g)) {
        const name = m[1]!;
        const family = types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
        if (!types.has(family) || (family !== name && !['histogram', 'summary'].includes(types.get(family)!))) {
          problems.push(`${where}: ${name} is not served`);
          continue;
        }
        const known = labels.get(family);
        const used = [...(m[2] ?? '').matchAll(/([a-z_]+)\s*[=!~]/g)].map((l) => l[1]!).filter((l) => l !== 'instance');
        for (const l of used) if (known && !known.has(l)) problems.push(`${where}: ${family} has no label '${l}'`);
      }
      for (const by of expr.matchAll(
        /by \(([^)]*)\)\s*\((?:rate|increase)?\(?\s*((?:weir|process|nodejs)_[a-z0-9_]+)/g,
      )) {
        const family = types.has(by[2]!) ? by[2]! : by[2]!.replace(/_(bucket|sum|count)$/, '');
        const known = labels.get(family);
        for (const l of by[1]!
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s && s !== 'le' && s !== 'instance')) {
          if (known && !known.has(l)) problems.push(`${where}: ${family} has no label '${l}' to group by`);
        }
      }
    }
    assert.deepEqual(problems, []);
  } finally {
    await t.stop();
    removeDir(t.datadir);
  }
});
