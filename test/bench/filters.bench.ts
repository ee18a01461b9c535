/**
 * What filters cost, side by side in one run on one throw-away MariaDB, with sysbench
 * oltp_point_select through Weir services that differ only in their filters:
 *   - no filters, on this checkout and on a checkout of the commit before the filter chain
 *     existed (`--before`, default 913db11): what the machinery costs sessions that use none;
 *   - qlafilter (unified file, date,user,query) and regexfilter (rewriting every statement);
 * QPS and Weir's CPU time per query, each target run twice (forward, then reverse order)
 * and averaged, to even out the order.
 *
 *   node --import tsx test/bench/filters.bench.ts [--seconds 10] [--threads 1,16] [--before 913db11]
 */
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, startMariaDB } from '../harness/mariadb.ts';
import { monitorSection, serverSection, serviceSections } from '../harness/config.ts';
import { exited, removeDir, spawnWeir, tempDir } from '../harness/weir.ts';
import {
  checkoutCommit,
  cpuSeconds,
  ensureTools,
  prepareBenchDatabase,
  removeCheckout,
  sysbench,
  untilLoginWorks,
} from './lib.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    threads: { type: 'string', default: '1,16' },
    before: { type: 'string', default: '913db11' },
  },
});
const SECONDS = Number(args.seconds);
const THREADS = args.threads!.split(',').map(Number);

ensureTools([['sysbench', 'sysbench']]);
const db = await startMariaDB({ extraArgs: ['--max-connections=2000', '--innodb-buffer-pool-size=256M'] });
const dir = tempDir('weir-filter-bench-');
const before = join(dir, 'before');
const children: ChildProcess[] = [];
try {
  await prepareBenchDatabase(db);
  checkoutCommit(args.before!, before);

  const ports = { plain: await freePort(), qla: await freePort(), regex: await freePort(), before: await freePort() };
  const head = `[maxscale]\nlog_warning=false\n\n${serverSection('db1', db.port)}${monitorSection('Monitor', ['db1'], 1000)}`;
  const service = (name: string, port: number, filters: string) =>
    serviceSections(name, port, { servers: ['db1'], filters });
  writeFileSync(
    join(dir, 'weir.cnf'),
    head +
      `[QLA]\ntype=filter\nmodule=qlafilter\nfilebase=${dir}/qla\nlog_type=unified\n\n` +
      `[Rewrite]\ntype=filter\nmodule=regexfilter\nmatch=sbtest1\nreplace=sbtest1\n\n` +
      service('Plain', ports.plain, '') +
      service('Logged', ports.qla, 'QLA') +
      service('Rewritten', ports.regex, 'Rewrite'),
  );
  writeFileSync(join(dir, 'before.cnf'), head + service('Plain', ports.before, ''));
  const weir = await spawnWeir(['--config', join(dir, 'weir.cnf'), '--datadir', join(dir, 'now'), '--admin-port', '0']);
  const old = await spawnWeir(
    ['--config', join(dir, 'before.cnf'), '--datadir', join(dir, 'then'), '--admin-port', '0'],
    {},
    before,
  );
  children.push(weir.child, old.child);
  for (const port of Object.values(ports)) await untilLoginWorks(port);
  sysbench('oltp_point_select', db.port, 1, 'prepare', SECONDS);

  const targets: Array<{ name: string; port: number; pid: number }> = [
    { name: `no filters, before the chain (${args.before})`, port: ports.before, pid: old.child.pid! },
    { name: 'no filters', port: ports.plain, pid: weir.child.pid! },
    { name: 'qlafilter', port: ports.qla, pid: weir.child.pid! },
    { name: 'regexfilter', port: ports.regex, pid: weir.child.pid! },
  ];
  console.log(
    `\nsysbench oltp_point_select, ${SECONDS} s per run, each target twice (forward and reverse order), 2-core machine\n`,
  );
  console.log(
    'threads  target                                    QPS   CPU µs/query   QPS vs no filters   CPU vs no filters',
  );
  for (const threads of THREADS) {
    const sums = new Map<string, { qps: number; cpu: number }>();
    for (const order of [targets, [...targets].reverse()]) {
      for (const t of order) {
        const cpu0 = cpuSeconds(t.pid);
        const r = sysbench('oltp_point_select', t.port, threads, 'run', SECONDS);
        const cpu = cpuSeconds(t.pid) - cpu0;
        const s = sums.get(t.name) ?? { qps: 0, cpu: 0 };
        s.qps += r.qps / 2;
        s.cpu += ((cpu / (r.qps * SECONDS)) * 1e6) / 2;
        sums.set(t.name, s);
      }
    }
    const base = sums.get('no filters')!;
    for (const t of targets) {
      const s = sums.get(t.name)!;
      console.log(
        [
          String(threads).padStart(7),
          t.name.padEnd(40),
          s.qps.toFixed(0).padStart(6),
          s.cpu.toFixed(1).padStart(14),
          (s.qps / base.qps).toFixed(2).padStart(19),
          (s.cpu / base.cpu).toFixed(2).padStart(19),
        ].join('  '),
      );
    }
  }
} finally {
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(children.map((c) => exited(c)));
  await db.destroy();
  removeCheckout(before);
  removeDir(dir);
}
