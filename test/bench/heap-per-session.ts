/**
 * Diagnostic: what each idle session retains on Weir's heap. Starts this checkout's Weir with
 * --heapsnapshot-signal, opens --sessions idle sessions, writes a heap snapshot and sums the
 * objects' self sizes by constructor, per session.
 *
 *   node --import tsx test/bench/heap-per-session.ts [--sessions 2000]
 */
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, startMariaDB } from '../harness/mariadb.ts';
import { exited, removeDir, spawnWeir, tempDir } from '../harness/weir.ts';
import { prepareBenchDatabase, untilLoginWorks } from './lib.ts';
import { idleSession } from './idle-session.ts';
import { benchWeirConfig } from './proxies.ts';

const { values: args } = parseArgs({ options: { sessions: { type: 'string', default: '2000' } } });
const N = Number(args.sessions);
const db = await startMariaDB({ extraArgs: [`--max-connections=${N + 200}`, '--thread-handling=pool-of-threads'] });
const dir = tempDir('weir-heap-');
try {
  await prepareBenchDatabase(db);
  const port = await freePort();
  writeFileSync(
    join(dir, 'weir.cnf'),
    benchWeirConfig([db], [{ name: 'Svc', port, router: 'readconnroute' }], { logInfo: false }),
  );
  const weir = await spawnWeir(['--config', join(dir, 'weir.cnf'), '--datadir', dir, '--admin-port', '0'], {
    NODE_OPTIONS: `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${dir}`,
  });
  await untilLoginWorks(port);
  const held = [];
  while (held.length < N) held.push(...(await Promise.all(Array.from({ length: 200 }, () => idleSession(port)))));
  await sleep(1000);
  weir.child.kill('SIGUSR2');
  // The snapshot is complete once it parses.
  let snap: any = null;
  for (let i = 0; i < 600 && !snap; i++) {
    await sleep(500);
    const file = readdirSync(dir).find((name) => name.endsWith('.heapsnapshot'));
    try {
      if (file) snap = JSON.parse(readFileSync(join(dir, file), 'utf8'));
      if (snap && process.env.KEEP_SNAPSHOT) copyFileSync(join(dir, file!), process.env.KEEP_SNAPSHOT);
    } catch {
      // still being written
    }
  }
  const f = snap.snapshot.meta.node_fields as string[];
  const types = snap.snapshot.meta.node_types[0] as string[];
  const [T, NAME, SIZE] = ['type', 'name', 'self_size'].map((k) => f.indexOf(k));
  const nodes = snap.nodes as number[];
  const sums = new Map<string, { count: number; size: number }>();
  let total = 0;
  for (let i = 0; i < nodes.length; i += f.length) {
    const key = `${types[nodes[i + T!]!]}:${types[nodes[i + T!]!] === 'string' || types[nodes[i + T!]!] === 'concatenated string' ? '' : snap.strings[nodes[i + NAME!]!]}`;
    const e = sums.get(key) ?? { count: 0, size: 0 };
    e.count++;
    e.size += nodes[i + SIZE!]!;
    total += nodes[i + SIZE!]!;
    sums.set(key, e);
  }
  console.log(
    `heap total ${(total / 1048576).toFixed(1)} MiB with ${N} sessions; by constructor, per session (top 45):`,
  );
  for (const [k, v] of [...sums].sort((a, b) => b[1].size - a[1].size).slice(0, 45))
    console.log(
      `${(v.size / N).toFixed(0).padStart(7)} B  ${(v.count / N).toFixed(2).padStart(7)} /session  ${k.slice(0, 90)}`,
    );
  for (const s of held) s.destroy();
  weir.child.kill('SIGTERM');
  await exited(weir.child);
} finally {
  await db.destroy();
  removeDir(dir);
}
