/**
 * mariadbmon on the harness topology (a GTID primary and two replicas on this machine):
 *   1. detection time: from SIGKILL of the primary to the monitor's `master_down` event;
 *   2. failover duration: the failover operation itself (promote the most up-to-date
 *      replica, redirect the other), and end to end with auto_failover (kill -> a new
 *      primary in the REST view), each the median of several runs;
 *   3. the monitor's CPU cost per server per round: process CPU over many rounds with the
 *      monitor running, minus the same span with it stopped.
 *
 *   node --import tsx test/bench/monitor.bench.ts [--runs 5] [--interval 500] [--failcount 2]
 *
 * Not part of `npm test`; the figures go to the README and the issue notes.
 */
import { parseArgs } from 'node:util';
import { startReplicationTopology, type MariaDBServer } from '../harness/mariadb.ts';
import { clusterConfig, createClusterAdmin } from '../harness/config.ts';
import { removeDir, startTestWeir } from '../harness/weir.ts';
import type { ConfigObject } from '../../src/core/objects.ts';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    interval: { type: 'string', default: '500' },
    failcount: { type: 'string', default: '2' },
    'cpu-seconds': { type: 'string', default: '20' },
  },
});
const RUNS = Number(args.runs);
const INTERVAL = Number(args.interval);
const FAILCOUNT = Number(args.failcount);
const CPU_SECONDS = Number(args['cpu-seconds']);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const topo = await startReplicationTopology(2);
const servers = [topo.primary, ...topo.replicas];
const byName = new Map<string, MariaDBServer>(servers.map((s) => [s.name, s]));
await createClusterAdmin(topo);
const t = await startTestWeir({
  config: clusterConfig(topo, { intervalMs: INTERVAL, failcount: FAILCOUNT, extra: 'auto_rejoin=true\n' }),
});
const { core, monitors } = t.weir.context;
const monitor = monitors.get('Cluster')!;
const flags = (name: string) => core.find('server', name)!.runtime.facts.flags;
const primary = () => servers.map((s) => s.name).find((n) => flags(n).includes('master')) ?? null;

/** Resolves with the time `check` first holds on a change to a server's facts. */
function whenServer(check: (s: ConfigObject) => boolean): Promise<number> {
  return new Promise((resolve) => {
    const listener = (obj: ConfigObject) => {
      if (obj.kind === 'server' && check(obj)) {
        core.off('touched', listener);
        resolve(performance.now());
      }
    };
    core.on('touched', listener);
  });
}
async function untilRounds(what: string, check: () => boolean, rounds = 200): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    if (check()) return;
    await monitor.nextTick();
  }
  throw new Error(`${what} not seen after ${rounds} rounds`);
}
async function setAutoFailover(on: boolean): Promise<void> {
  core.alter('monitor', 'Cluster', { auto_failover: on });
  await monitor.nextTick();
}
/** Brings the killed server back and waits until auto_rejoin has made it a replica again. */
async function restore(name: string): Promise<void> {
  await byName.get(name)!.restart();
  await untilRounds(`${name} rejoined`, () => flags(name).includes('slave'));
}

const detection: number[] = [];
const operation: number[] = [];
const endToEnd: number[] = [];

await untilRounds('a primary', () => primary() !== null);
for (let run = 0; run < RUNS; run++) {
  // Manual failover: detection, then the operation alone.
  await setAutoFailover(false);
  const victim = primary()!;
  const down = whenServer((s) => s.name === victim && s.runtime.facts.last_event === 'master_down');
  const killed = performance.now();
  await byName.get(victim)!.kill();
  detection.push((await down) - killed);
  const started = performance.now();
  const result = await monitor.failover();
  operation.push(performance.now() - started);
  console.error(
    `run ${run + 1}: ${victim} down after ${Math.round(detection.at(-1)!)} ms; failover to ${result.primary} took ${Math.round(operation.at(-1)!)} ms`,
  );
  await restore(victim);

  // auto_failover: kill -> a new primary, everything included (failcount rounds).
  await setAutoFailover(true);
  const victim2 = primary()!;
  const promoted = whenServer((s) => s.name !== victim2 && s.runtime.facts.flags.includes('master'));
  const killed2 = performance.now();
  await byName.get(victim2)!.kill();
  endToEnd.push((await promoted) - killed2);
  console.error(`run ${run + 1}: auto_failover replaced ${victim2} in ${Math.round(endToEnd.at(-1)!)} ms`);
  await restore(victim2);
}
await setAutoFailover(false);

// CPU per server per round: a fast interval over a fixed span, against the same span stopped.
core.alter('monitor', 'Cluster', { monitor_interval: 100 });
await monitor.nextTick();
const ticksBefore = core.find('monitor', 'Cluster')!.runtime.ticks;
const cpuOn = process.cpuUsage();
await new Promise((r) => setTimeout(r, CPU_SECONDS * 1000));
const onMicros = process.cpuUsage(cpuOn);
const rounds = core.find('monitor', 'Cluster')!.runtime.ticks - ticksBefore;
core.setRunState('monitor', 'Cluster', false);
await new Promise((r) => setTimeout(r, 500));
const cpuOff = process.cpuUsage();
await new Promise((r) => setTimeout(r, CPU_SECONDS * 1000));
const offMicros = process.cpuUsage(cpuOff);
const busy = (u: NodeJS.CpuUsage) => u.user + u.system;
const perServerRound = (busy(onMicros) - busy(offMicros)) / rounds / servers.length;

console.log(
  JSON.stringify(
    {
      topology: `1 primary + 2 GTID replicas, monitor_interval ${INTERVAL} ms, failcount ${FAILCOUNT}, ${RUNS} runs`,
      detection_ms: { median: Math.round(median(detection)), all: detection.map(Math.round) },
      failover_operation_ms: { median: Math.round(median(operation)), all: operation.map(Math.round) },
      auto_failover_kill_to_new_primary_ms: { median: Math.round(median(endToEnd)), all: endToEnd.map(Math.round) },
      cpu_per_server_per_round_us: Math.round(perServerRound),
      cpu_rounds_measured: rounds,
    },
    null,
    2,
  ),
);

await t.stop();
removeDir(t.datadir);
await topo.destroy();
process.exit(0);
