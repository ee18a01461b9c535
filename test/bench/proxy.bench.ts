/**
 * Weir against MariaDB directly and against HAProxy (mode tcp, one thread), side by side
 * in one run on one throw-away MariaDB:
 *   1. sysbench oltp_point_select and oltp_read_only at 1, 16 and 64 threads: QPS, p95
 *      latency, and each proxy's CPU time per query (user+system ticks from /proc);
 *   2. idle sessions held open through Weir (1,000 and 9,000: each takes two descriptors in Weir, and
 *      this machine caps a process at 20,000): Weir's resident memory per session;
 *   3. GET /sessions latency (autocannon, p50/p99) with those sessions live.
 *
 *   node --import tsx test/bench/proxy.bench.ts [--seconds 10] [--threads 1,16,64] [--idle 1000,9000]
 *
 * Installs sysbench and haproxy from Debian when missing. Not part of `npm test`: its
 * figures are reported in the README and the issue notes, as ratios from one run.
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { freePort, startMariaDB } from '../harness/mariadb.ts';
import type { Socket } from 'node:net';
import { idleSession } from './idle-session.ts';
import { ADMIN, removeDir, tempDir } from '../harness/weir.ts';
import {
  ensureTools,
  mariadbVersion,
  prepareBenchDatabase,
  prepareSysbenchTable,
  rss,
  sysbenchWithCpu,
  untilLoginWorks,
} from './lib.ts';
import { benchWeirConfig, startHAProxy, startWeirWithConfig, stopProcesses } from './proxies.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    threads: { type: 'string', default: '1,16,64' },
    idle: { type: 'string', default: '1000,9000' },
  },
});
const SECONDS = Number(args.seconds);
const THREADS = args.threads!.split(',').map(Number);
const IDLE = args.idle!.split(',').filter(Boolean).map(Number);
const TESTS = ['oltp_point_select', 'oltp_read_only'];

async function main(): Promise<void> {
  ensureTools([
    ['sysbench', 'sysbench'],
    ['haproxy', 'haproxy'],
  ]);
  const db = await startMariaDB({
    extraArgs: ['--max-connections=20000', '--thread-handling=pool-of-threads', '--innodb-buffer-pool-size=256M'],
  });
  const dir = tempDir('weir-bench-');
  const children: ChildProcess[] = [];
  try {
    await prepareBenchDatabase(db);

    const weirPort = await freePort();
    const weir = await startWeirWithConfig(
      join(dir, 'weir'),
      benchWeirConfig([db], [{ name: 'Svc', port: weirPort, router: 'readconnroute' }]),
    );
    children.push(weir.child);

    const haproxy = await startHAProxy(dir, db.port);
    children.push(haproxy.child);

    await untilLoginWorks(weirPort);
    await prepareSysbenchTable(db);

    console.log(
      `\nsysbench, ${SECONDS} s per run, one MariaDB ${await mariadbVersion(db)}, 2-core machine shared by client, proxy and server\n`,
    );
    console.log(
      'test                threads  direct QPS  HAProxy QPS  Weir QPS  Weir/direct  Weir/HAProxy  p95 ms (direct/HAProxy/Weir)  CPU µs/query (HAProxy/Weir)  Weir/HAProxy CPU',
    );
    const targets = {
      direct: { port: db.port, pid: null },
      haproxy: { port: haproxy.port, pid: haproxy.child.pid! },
      weir: { port: weirPort, pid: weir.child.pid! },
    };
    for (const test of TESTS) {
      for (const threads of THREADS) {
        const r: Record<string, { qps: number; p95: number; cpuPerQuery: number }> = {};
        for (const [name, target] of Object.entries(targets)) r[name] = sysbenchWithCpu(test, target, threads, SECONDS);
        const {
          direct,
          haproxy: h,
          weir: w,
        } = r as Record<'direct' | 'haproxy' | 'weir', { qps: number; p95: number; cpuPerQuery: number }>;
        console.log(
          [
            test.padEnd(19),
            String(threads).padStart(7),
            direct.qps.toFixed(0).padStart(11),
            h.qps.toFixed(0).padStart(12),
            w.qps.toFixed(0).padStart(9),
            (w.qps / direct.qps).toFixed(2).padStart(12),
            (w.qps / h.qps).toFixed(2).padStart(13),
            `${direct.p95}/${h.p95}/${w.p95}`.padStart(30),
            `${h.cpuPerQuery.toFixed(1)}/${w.cpuPerQuery.toFixed(1)}`.padStart(28),
            (w.cpuPerQuery / h.cpuPerQuery).toFixed(2).padStart(17),
          ].join(' '),
        );
      }
    }

    console.log('\nidle sessions through Weir, and GET /sessions with them live\n');
    console.log(
      'sessions  Weir RSS before MiB  after MiB  KiB per session  GET /sessions p50/p99 ms, 1 conn  p50/p99 ms, 4 concurrent',
    );
    const held: Socket[] = [];
    for (const target of IDLE) {
      const count = held.length;
      const base = rss(weir.child.pid!);
      while (held.length < target) {
        const batch = await Promise.all(
          Array.from({ length: Math.min(200, target - held.length) }, () =>
            idleSession(weirPort, 'sbtest', 'sbtest-pw'),
          ),
        );
        held.push(...batch);
      }
      await sleep(1000);
      const after = rss(weir.child.pid!);
      const auth = `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64')}`;
      // One connection measures the request itself; four show queueing behind it on one event loop.
      const lat = [];
      for (const connections of [1, 4]) {
        const r = await autocannon({
          url: `${weir.url}/sessions`,
          connections,
          duration: Math.max(5, SECONDS / 2),
          headers: { authorization: auth },
        });
        lat.push(`${r.latency.p50}/${r.latency.p99}`);
      }
      console.log(
        [
          String(target).padStart(8),
          (base / 1048576).toFixed(1).padStart(20),
          (after / 1048576).toFixed(1).padStart(10),
          ((after - base) / 1024 / (target - count)).toFixed(1).padStart(16),
          lat[0]!.padStart(30),
          lat[1]!.padStart(30),
        ].join(' '),
      );
    }
    for (const socket of held) socket.destroy();
  } finally {
    await stopProcesses(children);
    await db.destroy();
    removeDir(dir);
  }
}

await main();
