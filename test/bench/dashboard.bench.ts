/**
 * Whether the dashboard stays responsive with 1,000 sessions and 20 servers, measured side
 * by side with a small cluster (3 servers, 10 sessions) in one run, in Debian's headless
 * Chromium against a real Weir (page, bundle and command API), with the list answers of
 * GET /servers, /services, /monitors and /sessions replaced by generated ones of the wanted
 * size (so the figures are the page's, not the backends'). Each answer changes every time
 * (statements, idle, connections), as on a busy proxy, so every refresh has work to do.
 *
 * Reported per size: the time a refresh spends updating the page (median, p95, max of the
 * `dashboard-update` measure, on the overview and on the sessions tab), sorting the sessions
 * table by a click, filtering it by typing, and the main thread's long tasks (> 50 ms).
 *
 *   node --import tsx test/bench/dashboard.bench.ts [--refreshes 30]
 */
import { parseArgs } from 'node:util';
import { chromium, type Page } from 'playwright-core';
import { ADMIN, removeDir, startTestWeir } from '../harness/weir.ts';

const { values: args } = parseArgs({ options: { refreshes: { type: 'string', default: '30' } } });
const REFRESHES = Number(args.refreshes);
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

function cluster(serverCount: number, sessionCount: number) {
  let round = 0;
  const names = Array.from({ length: serverCount }, (_, i) => `db${i + 1}`);
  const services = ['Shop', 'Reports', 'Batch'];
  const started = new Date(Date.now() - 3_600_000);
  return {
    servers: () =>
      names.map((name, i) => ({
        name,
        address: '10.0.0.' + (i + 1),
        port: 3306,
        protocol: 'MariaDBBackend',
        state:
          i === 0 ? ['master', 'running'] : i % 7 === 3 ? ['maintenance', 'slave', 'running'] : ['slave', 'running'],
        parameters: { rank: 'primary', priority: 0 },
        services: services.map((s) => `/services/${s}`),
        monitors: ['/monitors/Cluster'],
        statistics: {
          connections: Math.floor(sessionCount / serverCount) + ((round + i) % 5),
          total_connections: 1000 + round,
        },
        server_id: i + 1,
        read_only: i > 0,
        version_string: '10.11.19-MariaDB',
        gtid_current_pos: `0-1-${1000 + round * 10}`,
        gtid_binlog_pos: `0-1-${1000 + round * 10}`,
        replication_lag: i === 0 ? null : (round + i) % 3,
        replicates_from: i === 0 ? null : '/servers/db1',
        last_event: 'server_up',
        triggered_at: started.toISOString(),
      })),
    services: () =>
      services.map((name) => ({
        name,
        router: 'readconnroute',
        router_options: ['running'],
        state: 'started',
        started: started.toISOString(),
        total_connections: sessionCount,
        current_connections: Math.floor(sessionCount / 3),
        servers: names.map((n) => `/servers/${n}`),
        filters: [],
        listeners: [`/services/${name}/listeners/${name}-Listener`],
        user: 'maxuser',
        root_user: false,
        version_string: null,
        weightby: null,
        connection_timeout: 0,
        max_connections: 0,
        strip_db_esc: true,
        parameters: { master_accept_reads: false, max_replication_lag: 0 },
      })),
    monitors: () => [
      {
        name: 'Cluster',
        module: 'mariadbmon',
        state: 'running',
        ticks: round,
        monitor_interval: 1000,
        connect_timeout: 3,
        read_timeout: 3,
        write_timeout: 3,
        servers: names.map((n) => `/servers/${n}`),
        user: 'maxmon',
        parameters: {},
      },
    ],
    sessions: () => {
      round++;
      return Array.from({ length: sessionCount }, (_, i) => ({
        id: i + 1,
        state: 'Session ready for routing',
        user: `user${i % 17}`,
        address: `10.1.${i >> 8}.${i & 255}`,
        port: 40000 + i,
        service: `/services/${services[i % 3]}`,
        servers: [`/servers/${names[i % serverCount]}`],
        connected: new Date(started.getTime() + i * 1000).toISOString(),
        idle: (round * 1.5 + i) % 300,
        default_db: 'shop',
        statements_routed: i * 10 + round * (i % 4),
        bytes_in: 0,
        bytes_out: 0,
      }));
    },
  };
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
  return `median ${at(0.5).toFixed(1)} ms, p95 ${at(0.95).toFixed(1)} ms, max ${(s[s.length - 1] ?? NaN).toFixed(1)} ms`;
};

async function measure(
  page: Page,
  url: string,
  serverCount: number,
  sessionCount: number,
): Promise<Record<string, string>> {
  const c = cluster(serverCount, sessionCount);
  await page.unrouteAll();
  for (const [path, body] of Object.entries({
    servers: c.servers,
    services: c.services,
    monitors: c.monitors,
    sessions: c.sessions,
  })) {
    await page.route(`${url}/${path}`, (route) =>
      route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(body()) }),
    );
  }
  await page.goto(`${url}/dashboard#overview`);
  await page.evaluate(() => {
    (window as any).longTasks = [];
    new PerformanceObserver((l) => (window as any).longTasks.push(...l.getEntries().map((e) => e.duration))).observe({
      type: 'longtask',
    });
  });
  const updates = async (n: number) => {
    await page.evaluate(() => performance.clearMeasures('dashboard-update'));
    await page.waitForFunction((n) => performance.getEntriesByName('dashboard-update').length >= n, n, {
      timeout: 120_000,
      polling: 200,
    });
    return page.evaluate(() => performance.getEntriesByName('dashboard-update').map((e) => e.duration));
  };
  await page.locator('#session-count', { hasText: new RegExp(`^${sessionCount}$`) }).waitFor();
  const overview = await updates(REFRESHES);
  await page.locator('nav.tabs a[href="#sessions"]').click();
  const sessionsTab = await updates(REFRESHES);
  const sorts: number[] = await page.evaluate(() => {
    const headers = [...document.querySelectorAll<HTMLElement>('#sessions th.sortable')];
    return headers.flatMap((h) =>
      [0, 1].map(() => {
        const t0 = performance.now();
        h.click();
        return performance.now() - t0;
      }),
    );
  });
  const filters: number[] = await page.evaluate(() => {
    const input = document.querySelector<HTMLInputElement>('#session-filter')!;
    const times = ['u', 'us', 'user1', 'user1 db', 'user1 db2', ''].map((text) => {
      const t0 = performance.now();
      input.value = text;
      input.dispatchEvent(new Event('input'));
      return performance.now() - t0;
    });
    return times;
  });
  const longTasks: number[] = await page.evaluate(() => (window as any).longTasks);
  const rows = await page.locator('#sessions tbody tr').count();
  // Every session in the table (Show more until all are there): the refresh cost then.
  while (await page.locator('#session-more').isVisible()) await page.locator('#session-more').click();
  const all = await updates(REFRESHES);
  return {
    size: `${serverCount} servers, ${sessionCount} sessions (${rows} rows shown)`,
    'refresh, overview tab': stats(overview),
    'refresh, sessions tab': stats(sessionsTab),
    'refresh, all rows shown': stats(all),
    'sort by a column click': stats(sorts),
    'filter by typing': stats(filters),
    'long tasks > 50 ms': `${longTasks.length}${longTasks.length ? ` (longest ${Math.max(...longTasks).toFixed(0)} ms)` : ''} over ${REFRESHES * 3} refreshes`,
  };
}

const t = await startTestWeir();
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
});
try {
  const context = await browser.newContext({
    httpCredentials: { username: ADMIN.user, password: ADMIN.password },
    viewport: { width: 1440, height: 900 },
  });
  const page = await context.newPage();
  const small = await measure(page, t.weir.adminUrl, 3, 10);
  const large = await measure(page, t.weir.adminUrl, 20, 1000);
  for (const [key, value] of Object.entries(small))
    console.log(`${key.padEnd(24)} ${value.padEnd(52)} | ${large[key]}`);
} finally {
  await browser.close();
  await t.stop();
  removeDir(t.datadir);
}
