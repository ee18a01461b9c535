/**
 * Refreshes the dashboard screenshots in docs/: starts a throw-away GTID primary with two
 * replicas (the test harness), a Weir in front of them with two services, runs varied
 * traffic from a dozen clients for a while so the charts have a history, and photographs
 * the overview and the sessions page in Debian's headless Chromium.
 *
 *   node --import tsx scripts/screenshots.ts [SECONDS_OF_TRAFFIC]   (default 150)
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mysql, { type Connection } from 'mysql2/promise';
import { chromium } from 'playwright-core';
import { createUser, freePort, startReplicationTopology, waitFor } from '../test/harness/mariadb.ts';
import { ADMIN, removeDir, startTestWeir } from '../test/harness/weir.ts';
import { CLUSTER_ADMIN, clusterConfig, createClusterAdmin } from '../test/harness/config.ts';

const DOCS = fileURLToPath(new URL('../docs/', import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const seconds = Number(process.argv[2] ?? 150);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const topo = await startReplicationTopology(2);
const qlaDir = mkdtempSync(join(tmpdir(), 'weir-shots-qla-'));
const [shopPort, reportsPort] = [await freePort(), await freePort()];
const servers = [topo.primary, ...topo.replicas].map((s) => s.name);
const service = (name: string, port: number, options: string, extra = '') =>
  `[${name}]\ntype=service\nrouter=readconnroute\nrouter_options=${options}\nservers=${servers.join(',')}\n` +
  `user=${CLUSTER_ADMIN.user}\npassword=${CLUSTER_ADMIN.password}\n${extra}\n` +
  `[${name}-Listener]\ntype=listener\nservice=${name}\naddress=127.0.0.1\nport=${port}\n\n`;
const config =
  clusterConfig(topo, { intervalMs: 1000, failcount: 3 }) +
  service('Shop', shopPort, 'master') +
  service('Reports', reportsPort, 'slave', 'filters=Audit\n') +
  `[Audit]\ntype=filter\nmodule=qlafilter\nfilebase=${join(qlaDir, 'audit')}\n`;

await createClusterAdmin(topo);
await topo.primary.query('CREATE DATABASE shop');
await topo.primary.query('CREATE TABLE shop.orders (id INT AUTO_INCREMENT PRIMARY KEY, total DECIMAL(10,2))');
for (const user of ['web', 'checkout', 'reporting', 'batch'])
  await createUser(topo.primary, user, `${user}-pw`, 'ALL PRIVILEGES ON shop.*');
const t = await startTestWeir({ config });
const state = async (name: string): Promise<string[]> =>
  (await t.http.get(`/servers/${name}`).auth(ADMIN.user, ADMIN.password)).body.state;
for (const name of servers)
  await waitFor(`${name}'s role`, async () => (await state(name)).some((f) => f === 'master' || f === 'slave'));
let running = true;
const clients: Connection[] = [];
const workers: Promise<void>[] = [];
try {
  const connect = async (user: string, port: number) => {
    const c = await mysql.createConnection({ host: '127.0.0.1', port, user, password: `${user}-pw`, database: 'shop' });
    clients.push(c);
    return c;
  };
  const started = Date.now();
  // The rate swells and ebbs so the lines have a shape; a few statements are slow.
  const pause = (base: number) => base * (1.6 + Math.sin((Date.now() - started) / 20_000));
  const work = async (c: Connection, statement: () => string, baseMs: number, who = '') => {
    while (running) {
      await c.query(statement()).catch((err) => console.error(`${who} ${(err as Error).message}`));
      await sleep(pause(baseMs));
    }
  };
  for (let i = 0; i < 4; i++)
    workers.push(
      work(await connect('web', shopPort), () => 'SELECT id, total FROM orders ORDER BY id DESC LIMIT 10', 12, 'web'),
    );
  for (let i = 0; i < 2; i++)
    workers.push(
      work(
        await connect('checkout', shopPort),
        () => `INSERT INTO orders (total) VALUES (${(Math.random() * 200).toFixed(2)})`,
        40,
        'checkout',
      ),
    );
  for (let i = 0; i < 3; i++)
    workers.push(
      work(
        await connect('reporting', reportsPort),
        () => (Math.random() < 0.1 ? 'SELECT SLEEP(0.05)' : 'SELECT COUNT(*), SUM(total) FROM orders'),
        30,
        'reporting',
      ),
    );
  for (let i = 0; i < 3; i++) await connect('batch', reportsPort);

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
  });
  try {
    const context = await browser.newContext({
      httpCredentials: { username: ADMIN.user, password: ADMIN.password },
      viewport: { width: 1440, height: 900 },
      deviceScaleFactor: 1,
    });
    const page = await context.newPage();
    await page.goto(`${t.weir.adminUrl}/dashboard`);
    console.log(`traffic for ${seconds} s while the charts fill...`);
    // A photograph, not a test: the charts need this much history to show a shape.
    await sleep(seconds * 1000);
    mkdirSync(DOCS, { recursive: true });
    await page.screenshot({ path: join(DOCS, 'dashboard-overview.png'), fullPage: true });
    await page.locator('nav.tabs a[href="#sessions"]').click();
    await page.locator('#sessions tbody tr').first().waitFor();
    await page.screenshot({ path: join(DOCS, 'dashboard-sessions.png') });
    console.log('docs/dashboard-overview.png and docs/dashboard-sessions.png written.');
  } finally {
    await browser.close();
  }
} finally {
  running = false;
  await Promise.all(workers);
  await Promise.all(clients.map((c) => c.end().catch(() => {})));
  await t.stop();
  removeDir(t.datadir);
  removeDir(qlaDir);
  await topo.destroy();
}
