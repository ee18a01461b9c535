/**
 * causal_reads, nightly size: N write-then-read pairs (default 10,000) through readwritesplit
 * on a throw-away GTID primary and two replicas whose SQL threads are held back in turn
 * (test/harness/causal.ts), once per causal_reads mode, side by side in one run. Prints per
 * mode: stale reads (must be 0 for every mode but none), reads answered by a replica,
 * causal-read waits/timeouts/probes, pairs per second, and CPU time per pair of this process
 * (Weir runs in it, with the clients; the same clients run for every mode, so the ratios
 * between modes are what to read), with the load average.
 *
 *   node --import tsx test/bench/causal-reads.bench.ts [--pairs 10000] [--modes none,local,...] [--no-lag]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { lagReplicas, runPairs, startCausalCluster } from '../harness/causal.ts';

const { values: args } = parseArgs({
  options: {
    pairs: { type: 'string', default: '10000' },
    modes: { type: 'string', default: 'none,local,global,fast,universal,fast_universal' },
    // Without the lag maker: what causal reads cost when the replicas keep up.
    'no-lag': { type: 'boolean', default: false },
  },
});
const PAIRS = Number(args.pairs);
const MODES = args.modes!.split(',');

async function main(): Promise<void> {
  const services = Object.fromEntries(MODES.map((m) => [m, `causal_reads=${m}`]));
  const cluster = await startCausalCluster(services);
  const lines: string[] = [];
  try {
    for (const mode of MODES) {
      const lag = args['no-lag'] ? { stop: async () => {} } : lagReplicas(cluster.topo);
      // A session fails when the monitor marks its primary down (a probe timing out on a
      // loaded machine): say so, so that such a run is told apart from a routing error.
      const downs = new Set<string>();
      const core = cluster.t.weir.context.core;
      const watch = setInterval(() => {
        for (const s of ['db1', 'db2', 'db3'])
          if (core.get('server', s).runtime.facts.flags.includes('down')) downs.add(s);
      }, 20);
      const cpu = process.cpuUsage();
      let r;
      try {
        r = await runPairs(cluster, mode, PAIRS);
      } catch (err) {
        console.error(
          `${mode}: ${(err as Error).message}; servers seen down meanwhile: ${[...downs].join(', ') || 'none'}`,
        );
        throw err;
      } finally {
        clearInterval(watch);
        await lag.stop();
      }
      const used = process.cpuUsage(cpu);
      const d = await cluster.diagnostics(mode);
      const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
      const line =
        `${mode.padEnd(15)} pairs=${r.pairs} stale=${r.stale} replica_reads=${r.replicaReads} ` +
        `waits=${d.causal_read_waits} timeouts=${d.causal_read_timeouts} probes=${d.causal_read_probes} ` +
        `pairs/s=${((r.pairs * 1000) / r.elapsedMs).toFixed(0)} ` +
        `cpu_us/pair=${((used.user + used.system) / r.pairs).toFixed(0)} load=${load}`;
      console.log(line);
      lines.push(line);
    }
  } finally {
    await cluster.close();
  }
  const bad = lines.filter((l) => !l.startsWith('none') && !/ stale=0 /.test(l));
  if (bad.length) {
    console.error(`stale reads with causal reads on:\n${bad.join('\n')}`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
