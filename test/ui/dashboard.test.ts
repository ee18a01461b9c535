/**
 * The /dashboard page, driven in headless Chromium (Debian's `chromium`) against a Weir in
 * front of a real GTID primary with two replicas watched by mariadbmon: the overview shows
 * the servers' real states and the replication graph, the charts move with traffic through
 * Weir, the sessions table lists, filters, sorts and kills, the actions reach the API (and
 * its refusals reach the user), a basic user can change nothing, and a switchover chosen on
 * the page happens. Every wait is on the page or the API reaching a state.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import mysql from 'mysql2/promise';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createUser, freePort, startReplicationTopology, type Topology } from '../harness/mariadb.ts';
import { asAdmin, removeDir, startTestWeir, type TestWeir } from '../harness/weir.ts';
import { CLUSTER_ADMIN, clusterConfig, createClusterAdmin } from '../harness/config.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const VIEWER = { user: 'viewer', password: 'viewer-pw' };

function config(topo: Topology, port: number): string {
  const servers = [topo.primary, ...topo.replicas].map((s) => s.name);
  return (
    clusterConfig(topo, { intervalMs: 200, failcount: 2, readTimeout: '2s', extra: 'switchover_timeout=30s\n' }) +
    `[Shop]\ntype=service\nrouter=readconnroute\nrouter_options=master\nservers=${servers.join(',')}\n` +
    `user=${CLUSTER_ADMIN.user}\npassword=${CLUSTER_ADMIN.password}\n\n` +
    `[Shop-Listener]\ntype=listener\nservice=Shop\naddress=127.0.0.1\nport=${port}\n`
  );
}

describe('the /dashboard page on a primary and two replicas', () => {
  let topo: Topology;
  let t: TestWeir;
  let port: number;
  let browser: Browser;
  let admin: BrowserContext;
  let page: Page;

  const server = async (name: string) => (await asAdmin(t.http.get(`/servers/${name}`)).expect(200)).body;
  const monitor = () => t.weir.context.monitors.get('Cluster')!;
  /** Waits, by monitor rounds, until the server's REST view satisfies `check`. */
  async function until(name: string, what: string, check: (s: any) => boolean, rounds = 150): Promise<any> {
    for (let i = 0; i < rounds; i++) {
      const s = await server(name);
      if (check(s)) return s;
      await monitor().nextTick();
    }
    assert.fail(`${name}: ${what} not seen after ${rounds} rounds: ${JSON.stringify(await server(name))}`);
  }
  const serverRow = (p: Page, name: string) => p.locator(`#servers tbody tr[data-key="${name}"]`);
  /** Clicks an action button and the dialog's Confirm. */
  async function confirmAction(button: ReturnType<Page['locator']>): Promise<string> {
    await button.click();
    const dialog = page.locator('dialog#confirm[open]');
    await dialog.waitFor();
    const question = await dialog.locator('#confirm-text').innerText();
    await dialog.locator('#confirm-ok').click();
    return question;
  }
  const edges = (p: Page) =>
    p
      .locator('#topology-graph g.edge')
      .evaluateAll((gs) => gs.map((g) => `${g.getAttribute('data-from')}->${g.getAttribute('data-to')}`).sort());

  before(async () => {
    assert.ok(
      existsSync(CHROMIUM),
      `${CHROMIUM} is missing: run scripts/ensure-deps.sh (npm test does) to install Debian's chromium`,
    );
    topo = await startReplicationTopology(2);
    await createClusterAdmin(topo);
    await createUser(topo.primary, 'app', 'app-pw', 'SELECT ON *.*');
    port = await freePort();
    t = await startTestWeir({ config: config(topo, port) });
    await until('db1', 'primary', (s) => s.state.includes('master'));
    await until('db2', 'replica', (s) => s.state.includes('slave'));
    await until('db3', 'replica', (s) => s.state.includes('slave'));
    await asAdmin(t.http.post('/users'))
      .send({ name: VIEWER.user, password: VIEWER.password, role: 'basic' })
      .expect(201);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    admin = await browser.newContext({
      httpCredentials: { username: 'admin', password: 'mariadb' },
      viewport: { width: 1440, height: 1000 },
    });
    page = await admin.newPage();
  });

  after(async () => {
    await admin?.close();
    await browser?.close();
    await t?.stop();
    if (t) removeDir(t.datadir);
    await topo?.destroy();
  });

  test('/ links the dashboard beside /docs and /console; the page needs a login', async () => {
    const home = await t.http.get('/').expect(200);
    for (const href of ['/dashboard', '/console', '/docs/']) assert.match(home.text, new RegExp(`href="${href}"`));
    await t.http.get('/dashboard').expect(401);
    await t.http.get('/dashboard.js').expect(401);
  });

  test('the overview shows the real servers with their states', async () => {
    await page.goto(`${t.weir.adminUrl}/dashboard`);
    await serverRow(page, 'db1').locator('.badge[data-flag=master]').waitFor();
    for (const replica of ['db2', 'db3']) await serverRow(page, replica).locator('.badge[data-flag=slave]').waitFor();
    assert.equal(await page.locator('#servers tbody tr').count(), 3);
    assert.equal(await page.locator('#kpi-primary').innerText(), 'db1');
    const db2 = await server('db2');
    assert.equal(await serverRow(page, 'db2').locator('td').nth(1).innerText(), `127.0.0.1:${db2.port}`);
    // The services, monitors and listeners of the configuration.
    await page.locator('#services tbody tr[data-key=Shop]').filter({ hasText: 'readconnroute (master)' }).waitFor();
    await page.locator('#monitors tbody tr[data-key=Cluster] .badge.state-running').waitFor();
    await page
      .locator('#listeners tbody tr')
      .filter({ hasText: `127.0.0.1:${port}` })
      .waitFor();
  });

  test('the topology graph has an edge from the primary to each replica, with lag and GTID', async () => {
    await page.waitForFunction(() => document.querySelectorAll('#topology-graph g.edge').length === 2);
    assert.deepEqual(await edges(page), ['db1->db2', 'db1->db3']);
    const label = await page.locator('#topology-graph g.edge[data-to=db2] .edge-label').textContent();
    assert.match(label ?? '', /^lag \d+ s$/);
    const gtid = (await server('db1')).gtid_current_pos;
    await page.locator('#topology-graph g[data-server=db1] .node-gtid', { hasText: `GTID ${gtid}` }).waitFor();
  });

  test('the statements chart moves with traffic through Weir, and the session shows in the sessions table', async () => {
    const legend = page.locator('#chart-qps .key[data-series=Shop] .value');
    const client = await mysql.createConnection({ host: '127.0.0.1', port, user: 'app', password: 'app-pw' });
    let flowing = true;
    const traffic = (async () => {
      while (flowing) await client.query('SELECT 1');
    })();
    try {
      // Statements per second above zero on the chart's latest point, and a line drawn.
      // The page has drawn a line (two points or more) and its latest value is above zero.
      await page.waitForFunction(
        () =>
          parseFloat(document.querySelector('#chart-qps .key[data-series=Shop] .value')?.textContent ?? '') > 0 &&
          (document.querySelector('#chart-qps path[data-series=Shop]')?.getAttribute('d') ?? '').includes('L'),
      );
      assert.match(await legend.innerText(), /\/s$/);
      const d = (await page.locator('#chart-qps path[data-series=Shop]').getAttribute('d'))!;
      // The latest point is above the x axis (y = 148 in the chart's 170-high frame).
      const lastY = Number(d.slice(d.lastIndexOf(',') + 1));
      assert.ok(lastY < 148, `the line ends at y=${lastY}: ${d}`);
      await page.waitForFunction(
        () => parseFloat(document.querySelector('#chart-latency .key[data-series=p99] .value')?.textContent ?? '') >= 0,
      );
    } finally {
      flowing = false;
      await traffic;
    }
    const [[{ id }]] = (await client.query('SELECT CONNECTION_ID() AS id')) as any;
    assert.ok(id);
    const sessions = (await asAdmin(t.http.get('/sessions')).expect(200)).body;
    assert.equal(sessions.length, 1);
    const sessionId = sessions[0].id;

    await page.locator('nav.tabs a[href="#sessions"]').click();
    const row = page.locator(`#sessions tbody tr[data-key="${sessionId}"]`);
    await row.waitFor();
    const cells = await row.locator('td').allInnerTexts();
    assert.equal(cells[1], 'app');
    assert.equal(cells[3], 'Shop');
    assert.equal(cells[4], 'db1');
    // Filtering hides what does not match and shows what does.
    await page.locator('#session-filter').fill('nobody-like-this');
    await row.waitFor({ state: 'detached' });
    assert.equal(await page.locator('#session-count').innerText(), `0 of 1`);
    await page.locator('#session-filter').fill('app db1');
    await row.waitFor();
    await page.locator('#session-filter').fill('');

    // A second session, then sorting by ID both ways.
    const second = await mysql.createConnection({ host: '127.0.0.1', port, user: 'app', password: 'app-pw' });
    try {
      await page.waitForFunction(() => document.querySelectorAll('#sessions tbody tr').length === 2);
      const ids = () =>
        page.locator('#sessions tbody tr').evaluateAll((rs) => rs.map((r) => Number(r.getAttribute('data-key'))));
      // Sorted by ID, ascending, to begin with; a click reverses it.
      const idHeader = page.locator('#sessions th', { hasText: /^ID$/ });
      assert.equal(await idHeader.getAttribute('aria-sort'), 'ascending');
      await idHeader.click();
      assert.equal(await idHeader.getAttribute('aria-sort'), 'descending');
      const descending = await ids();
      assert.deepEqual(
        descending,
        [...descending].sort((a, b) => b - a),
      );
      await idHeader.click();
      const ascending = await ids();
      assert.deepEqual(ascending, [...descending].reverse());

      // Kill closes the session in Weir: the client's next statement fails.
      await confirmAction(row.locator('button[data-action=kill]'));
      await page.locator('#notice.ok', { hasText: `Session ${sessionId} closed.` }).waitFor();
      await asAdmin(t.http.get(`/sessions/${sessionId}`)).expect(404);
      await row.waitFor({ state: 'detached' });
      await assert.rejects(client.query('SELECT 1'));
    } finally {
      await second.end();
      client.destroy();
    }
    await page.locator('nav.tabs a[href="#overview"]').click();
  });

  test('maintenance set on the page shows in GET /servers/{name}, and is cleared from the page', async () => {
    const question = await confirmAction(serverRow(page, 'db3').locator('button[data-action=maintenance-on]'));
    assert.match(question, /db3.*maintenance/);
    await page.locator('#notice.ok', { hasText: 'db3 is in maintenance.' }).waitFor();
    assert.ok((await server('db3')).state.includes('maintenance'), 'the PATCH is done when the notice says so');
    await serverRow(page, 'db3').locator('.badge[data-flag=maintenance]').waitFor();
    await page.locator('#topology-graph g[data-server=db3].role-maintenance').waitFor();

    await confirmAction(serverRow(page, 'db3').locator('button[data-action=maintenance-off]'));
    await page.locator('#notice.ok', { hasText: 'db3 is out of maintenance.' }).waitFor();
    assert.ok(!(await server('db3')).state.includes('maintenance'));
    await serverRow(page, 'db3').locator('button[data-action=maintenance-on]').waitFor();
  });

  test('drain, and stopping and starting a service, from the page reach the API', async () => {
    await confirmAction(serverRow(page, 'db2').locator('button[data-action=drain-on]'));
    await page.locator('#notice.ok', { hasText: 'db2 is draining.' }).waitFor();
    assert.ok((await server('db2')).state.some((f: string) => f === 'draining' || f === 'drained'));
    await confirmAction(serverRow(page, 'db2').locator('button[data-action=drain-off]'));
    await page.locator('#notice.ok', { hasText: 'db2 takes new connections again.' }).waitFor();
    assert.ok(!(await server('db2')).state.some((f: string) => f === 'draining' || f === 'drained'));

    const shop = page.locator('#services tr[data-key=Shop]');
    await confirmAction(shop.locator('button[data-action=service-stop]'));
    await page.locator('#notice.ok', { hasText: 'Service Shop stopped.' }).waitFor();
    assert.equal((await asAdmin(t.http.get('/services/Shop')).expect(200)).body.state, 'stopped');
    await shop.locator('.badge.state-stopped').waitFor();
    await confirmAction(shop.locator('button[data-action=service-start]'));
    await page.locator('#notice.ok', { hasText: 'Service Shop started.' }).waitFor();
    assert.equal((await asAdmin(t.http.get('/services/Shop')).expect(200)).body.state, 'started');
  });

  test('cancelling the confirmation changes nothing', async () => {
    await serverRow(page, 'db2').locator('button[data-action=maintenance-on]').click();
    await page.locator('dialog#confirm[open] #confirm-cancel').click();
    await page.locator('dialog#confirm[open]').waitFor({ state: 'detached' });
    assert.ok(!(await server('db2')).state.includes('maintenance'));
    await serverRow(page, 'db2').locator('button[data-action=maintenance-on]').waitFor();
  });

  test("an API refusal reaches the user in the API's own words", async () => {
    const refusal = await asAdmin(t.http.post('/monitors/Cluster/failover')).expect(422);
    await confirmAction(page.locator('#monitors tr[data-key=Cluster] button[data-action=failover]'));
    const notice = page.locator('#notice.error');
    await notice.waitFor();
    const text = await notice.innerText();
    assert.ok(text.includes(refusal.body.description), `notice: ${text}`);
    assert.match(text, /^422 /);
    await notice.locator('.notice-close').click();
    assert.equal((await server('db1')).state.includes('master'), true, 'nothing changed');
  });

  test('a basic user sees the same page with every action disabled', async () => {
    const viewer = await browser.newContext({ httpCredentials: { username: VIEWER.user, password: VIEWER.password } });
    try {
      const p = await viewer.newPage();
      await p.goto(`${t.weir.adminUrl}/dashboard`);
      await serverRow(p, 'db1').locator('.badge[data-flag=master]').waitFor();
      await p.locator('#monitors tr[data-key=Cluster] button[data-action=failover]').waitFor();
      await p.locator('#services tr[data-key=Shop] button').waitFor();
      const buttons = p.locator('button[data-action]');
      assert.ok((await buttons.count()) >= 10, 'the actions are shown');
      assert.equal(
        await p
          .locator('button[data-action]:enabled, select.switchover-target:enabled, select.rejoin-target:enabled')
          .count(),
        0,
      );
      assert.match(await p.locator('#role').innerText(), /read-only/);
      // The charts and sessions still work for reading.
      await p.locator('#chart-connections .key[data-series=db1]').waitFor();
      // The statistics stream (the command API's `monitor services`) works for a basic user too.
      await p.locator('#chart-qps .key[data-series=Shop] .value', { hasText: /\/s$/ }).waitFor();
      assert.equal(await p.locator('#stats-status').isVisible(), false);
    } finally {
      await viewer.close();
    }
  });

  test('a switchover to the replica chosen on the page happens', async () => {
    const row = page.locator('#monitors tr[data-key=Cluster]');
    await row.locator('select.switchover-target option[value=db3]').waitFor({ state: 'attached' });
    await row.locator('select.switchover-target').selectOption('db3');
    const question = await confirmAction(row.locator('button[data-action=switchover]'));
    assert.match(question, /from db1 to db3/);
    await page.locator('#notice.ok', { hasText: 'db3 is the primary' }).waitFor({ timeout: 60_000 });
    await until('db3', 'primary', (s) => s.state.includes('master'));
    await until('db1', 'replica of db3', (s) => s.state.includes('slave') && s.replicates_from === '/servers/db3');
    await until('db2', 'replica of db3', (s) => s.state.includes('slave') && s.replicates_from === '/servers/db3');
    await page.waitForFunction(() => document.querySelector('#kpi-primary')?.textContent === 'db3');
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll('#topology-graph g.edge')]
          .map((g) => `${g.getAttribute('data-from')}->${g.getAttribute('data-to')}`)
          .sort()
          .join() === 'db3->db1,db3->db2',
    );
  });
});
