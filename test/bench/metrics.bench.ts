/**
 * What scraping GET /metrics costs the data plane, side by side in one run on one
 * throw-away MariaDB: sysbench oltp_point_select (--threads) through one Weir, with nobody
 * scraping and with a scraper fetching /metrics every second (as a tight Prometheus
 * scrape_interval would), each twice in alternating order, averaged. Reports QPS and Weir's
 * CPU per query, and the CPU-per-query ratio (scraping / not) against its target of at most
 * 1.03 with PASS or MISS, and the load average before and after.
 *
 *   node --import tsx test/bench/metrics.bench.ts [--seconds 10] [--threads 16] [--interval 1000]
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { freePort, startMariaDB } from '../harness/mariadb.ts';
import { ADMIN, removeDir, tempDir } from '../harness/weir.ts';
import {
  cpuSeconds,
  ensureTools,
  loadAverage,
  prepareBenchDatabase,
  prepareSysbenchTable,
  sysbenchInBackground,
  untilLoginWorks,
} from './lib.ts';
import { benchWeirConfig, startWeirWithConfig, stopProcesses } from './proxies.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    threads: { type: 'string', default: '16' },
    interval: { type: 'string', default: '1000' },
  },
});
const SECONDS = Number(args.seconds);
const THREADS = Number(args.threads);
const INTERVAL_MS = Number(args.interval);
const AUTH = `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64')}`;

/** The CPU-per-query ratio (scraping / not) Weir must stay under. */
const TARGET = 1.03;
// Other work on the machine moves both targets alike (they alternate), but say how busy it was.
const loadBefore = loadAverage();

ensureTools([['sysbench', 'sysbench']]);
const db = await startMariaDB({ extraArgs: ['--max-connections=2000', '--innodb-buffer-pool-size=256M'] });
const dir = tempDir('weir-metrics-bench-');
const children: ChildProcess[] = [];
try {
  await prepareBenchDatabase(db);
  const port = await freePort();
  const weir = await startWeirWithConfig(
    join(dir, 'data'),
    benchWeirConfig([db], [{ name: 'Svc', port, router: 'readconnroute' }]),
  );
  children.push(weir.child);
  await untilLoginWorks(port);
  await prepareSysbenchTable(db);

  let scrapes = 0;
  let bytes = 0;
  const scraper = { stop: true, running: null as Promise<void> | null };
  const startScraping = () => {
    scraper.stop = false;
    scraper.running = (async () => {
      while (!scraper.stop) {
        const res = await fetch(`${weir.url}/metrics`, { headers: { Authorization: AUTH } });
        if (res.status !== 200) throw new Error(`GET /metrics: ${res.status}`);
        bytes += (await res.text()).length;
        scrapes++;
        await sleep(INTERVAL_MS);
      }
    })();
  };

  const targets = [
    { name: 'no scraping', scrape: false },
    { name: `scraping every ${INTERVAL_MS} ms`, scrape: true },
  ];
  const sums = new Map<string, { qps: number; cpu: number }>();
  for (const order of [targets, [...targets].reverse()]) {
    for (const t of order) {
      if (t.scrape) startScraping();
      const cpu0 = cpuSeconds(weir.child.pid!);
      const r = await sysbenchInBackground('oltp_point_select', port, THREADS, SECONDS);
      const cpu = cpuSeconds(weir.child.pid!) - cpu0;
      if (t.scrape) {
        scraper.stop = true;
        await scraper.running;
      }
      const s = sums.get(t.name) ?? { qps: 0, cpu: 0 };
      s.qps += r.qps / 2;
      s.cpu += ((cpu / (r.qps * SECONDS)) * 1e6) / 2;
      sums.set(t.name, s);
    }
  }
  // The scrape's own cost, measured without load: back-to-back scrapes and Weir's CPU for them.
  const N = 200;
  const idle0 = cpuSeconds(weir.child.pid!);
  for (let i = 0; i < N; i++) await (await fetch(`${weir.url}/metrics`, { headers: { Authorization: AUTH } })).text();
  const perScrapeMs = ((cpuSeconds(weir.child.pid!) - idle0) / N) * 1000;
  const base = sums.get('no scraping')!;
  const loadCpuPerSecond = (base.cpu * base.qps) / 1e6;
  console.log(
    `
Weir's CPU per scrape (${N} back to back, no traffic): ${perScrapeMs.toFixed(2)} ms;` +
      ` at one scrape per ${INTERVAL_MS} ms against ${loadCpuPerSecond.toFixed(2)} s of CPU per second under sysbench,` +
      ` that is a computed CPU-per-query ratio of ${(1 + perScrapeMs / 1000 / (INTERVAL_MS / 1000) / loadCpuPerSecond).toFixed(4)}`,
  );
  console.log(`\n${scrapes} scrapes, ${(bytes / Math.max(1, scrapes) / 1024).toFixed(1)} kB each`);
  console.log(`\nsysbench oltp_point_select, ${THREADS} threads, ${SECONDS} s per run, each target twice\n`);
  console.log('target                         QPS   CPU µs/query   QPS vs none   CPU/query vs none');
  for (const t of targets) {
    const s = sums.get(t.name)!;
    console.log(
      [
        t.name.padEnd(26),
        s.qps.toFixed(0).padStart(6),
        s.cpu.toFixed(1).padStart(14),
        (s.qps / base.qps).toFixed(3).padStart(13),
        (s.cpu / base.cpu).toFixed(3).padStart(19),
      ].join('  '),
    );
  }
  const scraped = sums.get(targets[1]!.name)!;
  const ratio = scraped.cpu / base.cpu;
  console.log(
    `\nWeir's CPU per query, ${targets[1]!.name} vs no scraping (side by side in this run): ${ratio.toFixed(3)}` +
      ` (target <= ${TARGET}): ${ratio <= TARGET ? 'PASS' : 'MISS'}`,
  );
  console.log(`load average before: ${loadBefore}; after: ${loadAverage()}`);
} finally {
  await stopProcesses(children);
  await db.destroy();
  removeDir(dir);
}
