/**
 * Cooperative monitoring with three Weir processes on a GTID primary and two replicas,
 * `cooperative_monitoring_locks=majority_of_all` and `auto_failover=true` everywhere:
 * exactly one primary monitor holding MaxScale's locks; secondaries follow its master
 * and refuse cluster operations; release-locks and a SIGSTOPped primary hand the role
 * over; a killed primary server is failed over exactly once. Every wait is on a state
 * read through the API or the servers.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startReplicationTopology, waitFor, type MariaDBServer, type Topology } from '../harness/mariadb.ts';
import { prepareFleetCluster, startNode, stopNodes, type WeirNode } from '../harness/fleet.ts';
import { ADMIN } from '../harness/weir.ts';

const COOP = { failcount: 2, monitorExtra: 'cooperative_monitoring_locks=majority_of_all\nauto_failover=true\n' };

describe('cooperative monitoring: three Weirs, one acting monitor', () => {
  let topo: Topology;
  let nodes: WeirNode[] = [];
  const servers = () => [topo.primary, ...topo.replicas];
  const diag = async (n: WeirNode) => (await n.get('/monitors/Cluster')).monitor_diagnostics;
  const masterOf = async (n: WeirNode) =>
    (await n.get('/servers')).filter((s: any) => s.state.includes('master')).map((s: any) => s.name);
  const running = () => nodes.filter((n) => n.child.exitCode === null && n.child.signalCode === null);
  /** The one node that reports primary:true, once exactly one does and the others report false. */
  async function onePrimary(among: WeirNode[], what: string, deadline = 90_000): Promise<WeirNode> {
    let found: WeirNode | null = null;
    let seen = '';
    await waitFor(
      what,
      async () => {
        const d = await Promise.all(among.map(diag));
        seen = JSON.stringify(d.map((x, i) => [among[i]!.name, x.primary]));
        const primaries = among.filter((_, i) => d[i].primary === true);
        if (primaries.length !== 1 || d.some((x) => x.primary === null)) return false;
        found = primaries[0]!;
        return true;
      },
      deadline,
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${seen}`);
    });
    return found!;
  }
  const failovers = () => nodes.reduce((n, w) => n + (w.output().match(/failover done/g)?.length ?? 0), 0);

  before(async () => {
    topo = await startReplicationTopology(2);
    await prepareFleetCluster(topo);
    nodes = await Promise.all(
      ['weir-a', 'weir-b', 'weir-c'].map((n) => startNode(n, topo, COOP, { WEIR_TEST_PAUSE_BEFORE_PROMOTE: '1500' })),
    );
  });
  after(async () => {
    for (const n of nodes) if (n.child.signalCode === 'SIGSTOP' || n.child.exitCode === null) n.child.kill('SIGCONT');
    await stopNodes(nodes);
    await topo?.destroy();
  });

  test('exactly one primary monitor; it holds the server locks on a majority and the master lock on the master', async () => {
    const primary = await onePrimary(nodes, 'one primary monitor');
    const d = await diag(primary);
    assert.ok(d.server_info.filter((s: any) => s.lock_held === true).length >= 2, JSON.stringify(d));
    for (const n of nodes.filter((x) => x !== primary)) {
      const other = await diag(n);
      assert.equal(other.primary, false);
      assert.ok(other.server_info.every((s: any) => s.lock_held !== true));
    }
    const [{ owner }] = await topo.primary.query(`SELECT IS_USED_LOCK('maxscale_mariadbmonitor_master') AS owner`);
    assert.notEqual(owner, null, 'the master lock is held on the master');
    const [{ same }] = await topo.primary.query(
      `SELECT IS_USED_LOCK('maxscale_mariadbmonitor') = IS_USED_LOCK('maxscale_mariadbmonitor_master') AS same`,
    );
    assert.equal(Number(same), 1, 'by the connection that holds the server lock');
    // Every Weir, secondaries included, routes writes to the master the primary monitor chose.
    await waitFor(
      'every Weir to mark db1 as master',
      async () => (await Promise.all(nodes.map(masterOf))).every((m) => m.length === 1 && m[0] === topo.primary.name),
      60_000,
    );
  });

  test("a secondary refuses cluster operations with MaxScale's message", async () => {
    const primary = await onePrimary(nodes, 'one primary monitor');
    const secondary = nodes.find((n) => n !== primary)!;
    const res = await secondary.http().post('/monitors/Cluster/switchover').auth(ADMIN.user, ADMIN.password).send({});
    assert.equal(res.status, 409, res.text);
    assert.match(res.body.description, /does not have exclusive locks on a majority of servers/);
  });

  test('release-locks hands the role to another Weir, which the old one does not take back', async () => {
    const old = await onePrimary(nodes, 'one primary monitor');
    const res = await old.http().post('/monitors/Cluster/release-locks').auth(ADMIN.user, ADMIN.password).send();
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.primary, false);
    const next = await onePrimary(nodes, 'another primary monitor');
    assert.notEqual(next.name, old.name);
    // Nothing is held now by the old one, so a second release is refused.
    const again = await old.http().post('/monitors/Cluster/release-locks').auth(ADMIN.user, ADMIN.password).send();
    assert.equal(again.status, 422, again.text);
  });

  test('a SIGSTOPped primary monitor loses the role once the servers drop its lock connections', async () => {
    const stopped = await onePrimary(nodes, 'one primary monitor');
    stopped.child.kill('SIGSTOP');
    try {
      const others = nodes.filter((n) => n !== stopped);
      // Its locks stay held while its connections live (wait_timeout): then another takes over.
      const next = await onePrimary(others, 'a primary monitor among the others', 120_000);
      assert.notEqual(next.name, stopped.name);
    } finally {
      stopped.child.kill('SIGCONT');
    }
    // Back, it sees it lost its locks and is a secondary: still exactly one primary.
    await waitFor(`${stopped.name} to report secondary`, async () => (await diag(stopped)).primary === false, 60_000);
    await onePrimary(nodes, 'exactly one primary monitor after SIGCONT');
  });

  // Every Weir pauses 1.5 s between choosing the candidate and promoting it, so without the
  // locks all three would promote (this fails with cooperative_monitoring_locks=none).
  test('the master is killed with all three running auto_failover: exactly one failover', async () => {
    await onePrimary(running(), 'one primary monitor');
    const before = failovers();
    await topo.primary.kill();
    const survivors = topo.replicas;
    let writable: MariaDBServer[] = [];
    await waitFor(
      'a replica to be promoted',
      async () => {
        writable = [];
        for (const s of survivors)
          if (Number((await s.query('SELECT @@global.read_only AS ro'))[0].ro) === 0) writable.push(s);
        return writable.length >= 1;
      },
      120_000,
    );
    const promoted = writable[0]!;
    // Every Weir follows the new master (secondaries through the primary monitor's master lock).
    await waitFor(
      'every Weir to mark the new master',
      async () => (await Promise.all(nodes.map(masterOf))).every((m) => m.length === 1 && m[0] === promoted.name),
      120_000,
    );
    assert.equal(failovers() - before, 1, 'exactly one failover across the three Weirs');
    const readOnly = await Promise.all(
      survivors.map(async (s) => Number((await s.query('SELECT @@global.read_only AS ro'))[0].ro)),
    );
    assert.equal(readOnly.filter((ro) => ro === 0).length, 1, 'exactly one writable server');
    const other = survivors.find((s) => s !== promoted)!;
    const [link] = await other.query('SHOW ALL SLAVES STATUS');
    assert.equal(Number(link.Master_Port), promoted.port, 'the other replica replicates from the new master');
    void servers;
  });
});
