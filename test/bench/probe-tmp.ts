import { createWriteStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, startReplicationTopology, waitFor, createUser } from '../harness/mariadb.ts';
import { createProxyUser, monitorSection, PROXY_USER, serverSection } from '../harness/config.ts';
import { spawnWeir, tempDir } from '../harness/weir.ts';
import { sysbench, untilLoginWorks } from './lib.ts';
const topo = await startReplicationTopology(Number(process.env.PROBE_REPLICAS ?? 2));
await createUser(topo.primary, 'sbtest', 'sbtest-pw');
await createProxyUser(topo.primary);
await topo.primary.query('CREATE DATABASE sbtest');
const servers = [topo.primary, ...topo.replicas];
const names = servers.map((_, i) => `db${i + 1}`).join(',');
const out: Record<string, unknown> = {};
const weirs: any[] = [];
for (const [label, root] of [['new', undefined], ['base', process.env.PROBE_BASE]] as const) {
  if (label === 'base' && !root) continue;
  const rcr = await freePort(), rws = await freePort();
  const wdir = tempDir('weir-probe-');
  writeFileSync(join(wdir, 'weir.cnf'), `[maxscale]\nlog_warning=false\n\n` +
    servers.map((s, i) => serverSection(`db${i + 1}`, s.port)).join('') +
    monitorSection('Monitor', servers.map((_, i) => `db${i + 1}`), 1000) +
    `[RCR]\ntype=service\nrouter=readconnroute\nrouter_options=master\nservers=${names}\nuser=${PROXY_USER.user}\npassword=${PROXY_USER.password}\n\n` +
    `[RCR-Listener]\ntype=listener\nservice=RCR\naddress=127.0.0.1\nport=${rcr}\n\n` +
    `[RWS]\ntype=service\nrouter=readwritesplit\nservers=${names}\nuser=${PROXY_USER.user}\npassword=${PROXY_USER.password}\n\n` +
    `[RWS-Listener]\ntype=listener\nservice=RWS\naddress=127.0.0.1\nport=${rws}\n`);
  const extra = (process.env.PROBE_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const w = await spawnWeir(['--config', join(wdir, 'weir.cnf'), '--datadir', wdir, '--admin-port', '0'], {}, root, label === 'new' ? extra : []);
  weirs.push(w);
  const f = createWriteStream(`/tmp/weir-${label}.out`);
  w.child.stdout!.pipe(f);
  w.child.stderr!.pipe(f);
  out[label] = { rcr, rws, pid: w.child.pid };
}
sysbench('oltp_point_select', topo.primary.port, 1, 'prepare', 10);
const [{ pos }] = await topo.primary.query('SELECT @@gtid_binlog_pos AS pos');
for (const r of topo.replicas) await waitFor('catch up', async () => (await r.query('SELECT @@gtid_slave_pos AS p'))[0].p === pos);
for (const v of Object.values(out) as any[]) { await untilLoginWorks(v.rcr); await untilLoginWorks(v.rws); }
writeFileSync('/tmp/probe.json', JSON.stringify(out));
console.log('ready', JSON.stringify(out));
process.on('SIGTERM', async () => { for (const w of weirs) w.child.kill(); await topo.destroy(); process.exit(0); });
for (;;) await sleep(1000);
