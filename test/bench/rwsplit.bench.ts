/**
 * readwritesplit against readconnroute, HAProxy (mode tcp, one thread) and MariaDB directly,
 * side by side in one run on one throw-away GTID primary with two replicas:
 * sysbench oltp_point_select, oltp_read_only and oltp_read_write (text protocol) at the
 * given thread counts: QPS, p95 latency and each proxy's CPU time per query (user+system
 * ticks from /proc). readconnroute (router_options=master), HAProxy and "direct" all go to
 * the primary; readwritesplit spreads reads over the replicas, so its QPS is not the
 * comparison that matters on one 2-core machine: its CPU per query is (issue 11's target:
 * at most 1.3x readconnroute's on point_select).
 *
 * With --baseline DIR (a checkout of an earlier commit sharing node_modules), the same
 * readconnroute service also runs on that checkout's Weir, for a before/after figure; with
 * --baseline-rws its readwritesplit service too.
 *
 *   node --import tsx test/bench/rwsplit.bench.ts [--seconds 10] [--threads 1,16] [--baseline /tmp/weir-base [--baseline-rws]]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, startReplicationTopology, waitFor } from '../harness/mariadb.ts';
import { createProxyUser, monitorSection, PROXY_USER, serverSection } from '../harness/config.ts';
import { createUser } from '../harness/mariadb.ts';
import { exited, removeDir, spawnWeir, tempDir } from '../harness/weir.ts';
import { cpuSeconds, ensureTools, sysbench, untilLoginWorks } from './lib.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    threads: { type: 'string', default: '1,16' },
    baseline: { type: 'string' },
    'baseline-rws': { type: 'boolean', default: false },
    tests: { type: 'string', default: 'oltp_point_select,oltp_read_only,oltp_read_write' },
  },
});
const SECONDS = Number(args.seconds);
const THREADS = args.threads!.split(',').map(Number);
const TESTS = args.tests!.split(',');

async function main(): Promise<void> {
  ensureTools([
    ['sysbench', 'sysbench'],
    ['haproxy', 'haproxy'],
  ]);
  const topo = await startReplicationTopology(2);
  const dir = tempDir('weir-rwsbench-');
  const children: ChildProcess[] = [];
  try {
    await createUser(topo.primary, 'sbtest', 'sbtest-pw');
    await createProxyUser(topo.primary);
    await topo.primary.query('CREATE DATABASE sbtest');
    const servers = [topo.primary, ...topo.replicas];
    const ports = { rcr: await freePort(), rws: await freePort(), base: await freePort(), baseRws: await freePort() };
    const config = (rcrPort: number, rwsPort: number | null) =>
      `[maxscale]\nlog_warning=false\n\n` +
      servers.map((s, i) => serverSection(`db${i + 1}`, s.port)).join('') +
      monitorSection(
        'Monitor',
        servers.map((_, i) => `db${i + 1}`),
        1000,
      ) +
      `[RCR]\ntype=service\nrouter=readconnroute\nrouter_options=master\nservers=db1,db2,db3\nuser=${PROXY_USER.user}\npassword=${PROXY_USER.password}\n\n` +
      `[RCR-Listener]\ntype=listener\nservice=RCR\naddress=127.0.0.1\nport=${rcrPort}\n\n` +
      (rwsPort === null
        ? ''
        : `[RWS]\ntype=service\nrouter=readwritesplit\nservers=db1,db2,db3\nuser=${PROXY_USER.user}\npassword=${PROXY_USER.password}\n\n` +
          `[RWS-Listener]\ntype=listener\nservice=RWS\naddress=127.0.0.1\nport=${rwsPort}\n`);
    writeFileSync(join(dir, 'weir.cnf'), config(ports.rcr, ports.rws));
    const weir = await spawnWeir(['--config', join(dir, 'weir.cnf'), '--datadir', dir, '--admin-port', '0']);
    children.push(weir.child);
    let base: Awaited<ReturnType<typeof spawnWeir>> | null = null;
    if (args.baseline) {
      const baseDir = tempDir('weir-rwsbench-base-');
      writeFileSync(join(baseDir, 'weir.cnf'), config(ports.base, args['baseline-rws'] ? ports.baseRws : null));
      base = await spawnWeir(
        ['--config', join(baseDir, 'weir.cnf'), '--datadir', baseDir, '--admin-port', '0'],
        {},
        args.baseline,
      );
      children.push(base.child);
    }
    const haproxyPort = await freePort();
    writeFileSync(
      join(dir, 'haproxy.cfg'),
      `global\n  nbthread 1\n  maxconn 9000\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 1h\n  timeout server 1h\n` +
        `listen mariadb\n  bind 127.0.0.1:${haproxyPort}\n  server db1 127.0.0.1:${topo.primary.port}\n`,
    );
    const haproxy = spawn('haproxy', ['-f', join(dir, 'haproxy.cfg'), '-db'], { stdio: 'ignore' });
    children.push(haproxy);

    sysbench('oltp_point_select', topo.primary.port, 1, 'prepare', SECONDS);
    const [{ pos }] = await topo.primary.query('SELECT @@gtid_binlog_pos AS pos');
    for (const r of topo.replicas)
      await waitFor(`${r.name} to catch up`, async () => (await r.query('SELECT @@gtid_slave_pos AS p'))[0].p === pos);
    await untilLoginWorks(ports.rcr);
    await untilLoginWorks(ports.rws);
    if (base) await untilLoginWorks(ports.base);
    if (base && args['baseline-rws']) await untilLoginWorks(ports.baseRws);

    const targets: Array<[string, number, number | null]> = [
      ['direct', topo.primary.port, null],
      ['HAProxy', haproxyPort, haproxy.pid!],
      ['readconnroute', ports.rcr, weir.child.pid!],
      ...(base ? [['readconnroute (before the cut)', ports.base, base.child.pid!] as [string, number, number]] : []),
      ['readwritesplit', ports.rws, weir.child.pid!],
      ...(base && args['baseline-rws']
        ? [['readwritesplit (baseline)', ports.baseRws, base.child.pid!] as [string, number, number]]
        : []),
    ];
    console.log(
      `\nsysbench (text protocol), ${SECONDS} s per run, a GTID primary and 2 replicas (MariaDB ${(await topo.primary.query('SELECT VERSION() AS v'))[0].v}), one 2-core machine for client, proxies and servers\n`,
    );
    console.log('test                threads  target                          QPS     p95 ms  proxy CPU µs/query');
    for (const test of TESTS) {
      for (const threads of THREADS) {
        const cpu: Record<string, number> = {};
        for (const [name, port, pid] of targets) {
          const cpu0 = pid ? cpuSeconds(pid) : 0;
          const res = sysbench(test, port, threads, 'run', SECONDS);
          const used = pid ? cpuSeconds(pid) - cpu0 : 0;
          cpu[name] = res.qps ? (used / (res.qps * SECONDS)) * 1e6 : 0;
          console.log(
            [
              test.padEnd(19),
              String(threads).padStart(7),
              ' ' + name.padEnd(30),
              res.qps.toFixed(0).padStart(7),
              String(res.p95).padStart(9),
              pid ? cpu[name]!.toFixed(1).padStart(19) : '-'.padStart(19),
            ].join(' '),
          );
        }
        const ratio = cpu.readwritesplit! / cpu.readconnroute!;
        const before = cpu['readconnroute (before the cut)'];
        const rwsBefore = cpu['readwritesplit (baseline)'];
        console.log(
          `${''.padEnd(28)}readwritesplit/readconnroute CPU per query: ${ratio.toFixed(2)}` +
            (before ? `; readconnroute after/before the cut: ${(cpu.readconnroute! / before).toFixed(2)}` : '') +
            (rwsBefore ? `; readwritesplit now/baseline: ${(cpu.readwritesplit! / rwsBefore).toFixed(2)}` : ''),
        );
      }
    }
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => exited(c)));
    await topo.destroy();
    removeDir(dir);
  }
}

await main();
