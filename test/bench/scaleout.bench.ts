/**
 * Several Weirs on one cluster (the harness topology: a GTID primary and two replicas),
 * three Weir processes with config sync (`config_sync_interval=200ms`) and cooperative
 * monitoring (`majority_of_all`, `monitor_interval=200ms`):
 *   1. propagation: from a change's 2xx on one Weir to its application on every other
 *      (both report the new version in GET /maxscale), p50/p99 over --changes changes;
 *   2. role move: from SIGKILL of the primary monitor to another Weir reporting
 *      `primary: true`, median over --runs runs (the killed one is restarted between runs).
 *
 *   node --import tsx test/bench/scaleout.bench.ts [--changes 100] [--runs 3]
 *
 * Not part of `npm test`; the figures go to the README and the issue notes. Sampling is a
 * 10 ms poll of the REST API, so figures are at that resolution.
 */
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { startReplicationTopology, waitFor } from '../harness/mariadb.ts';
import {
  prepareFleetCluster,
  setMaxConnections,
  startNode,
  stopNodes,
  waitConverged,
  type WeirNode,
} from '../harness/fleet.ts';

const { values: args } = parseArgs({
  options: { changes: { type: 'string', default: '100' }, runs: { type: 'string', default: '3' } },
});
const CHANGES = Number(args.changes);
const RUNS = Number(args.runs);
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;

const topo = await startReplicationTopology(2);
await prepareFleetCluster(topo);
const nodes = await Promise.all(
  ['weir-a', 'weir-b', 'weir-c'].map((n) =>
    startNode(n, topo, { failcount: 2, monitorExtra: 'cooperative_monitoring_locks=majority_of_all\n' }),
  ),
);
try {
  // 1. propagation (once every Weir follows the primary monitor's master)
  await waitFor(
    'every Weir to mark a master',
    async () =>
      (
        await Promise.all(
          nodes.map(async (n) =>
            (await n.get('/servers')).some((s: { state: string[] }) => s.state.includes('master')),
          ),
        )
      ).every(Boolean),
    120_000,
  );
  await waitConverged(nodes, 0);
  const [origin, ...others] = nodes as [WeirNode, ...WeirNode[]];
  const lags: number[] = [];
  for (let i = 0; i < CHANGES; i++) {
    const res = await setMaxConnections(origin, 1000 + i);
    if (res.status !== 200) throw new Error(`change ${i}: ${res.status} ${res.text}`);
    const acked = performance.now();
    const version = (await origin.sync()).version;
    const pending = new Set(others);
    while (pending.size) {
      for (const n of [...pending]) if ((await n.sync()).version >= version) pending.delete(n);
      if (pending.size) await sleep(10);
    }
    lags.push(performance.now() - acked);
  }
  console.log(
    `propagation over ${CHANGES} changes (2xx on one Weir -> applied on both others): ` +
      `p50 ${pct(lags, 50).toFixed(0)} ms, p99 ${pct(lags, 99).toFixed(0)} ms, max ${Math.max(...lags).toFixed(0)} ms (config_sync_interval 200 ms)`,
  );

  // 2. role move
  const primaryOf = async (among: WeirNode[]) => {
    for (const n of among) if ((await n.get('/monitors/Cluster')).monitor_diagnostics.primary === true) return n;
    return null;
  };
  const moves: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    let primary: WeirNode | null = null;
    while (!(primary = await primaryOf(nodes))) await sleep(50);
    const others2 = nodes.filter((n) => n !== primary);
    const killed = performance.now();
    await primary.kill('SIGKILL');
    while (!(await primaryOf(others2))) await sleep(10);
    moves.push(performance.now() - killed);
    await primary.start();
  }
  console.log(
    `monitoring role move after SIGKILL of the primary monitor: median ${pct(moves, 50).toFixed(0)} ms ` +
      `(runs: ${moves.map((m) => m.toFixed(0)).join(', ')} ms; monitor_interval 200 ms, retry after 5-7 rounds)`,
  );
} finally {
  await stopNodes(nodes);
  await topo.destroy();
}
