/**
 * The command API's /console page, driven in headless Chromium (Debian's `chromium`)
 * against a Weir in front of a real MariaDB: a command's list result becomes a table,
 * `watch queries` streams a statement run through Weir's listener until interrupted, and
 * the share link joins the same session with its history replayed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import mysql from 'mysql2/promise';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createUser, freePort, startMariaDB, type MariaDBServer } from '../harness/mariadb.ts';
import { ADMIN, removeDir, startTestWeir, type TestWeir } from '../harness/weir.ts';
import { createProxyUser, oneServerConfig } from '../harness/config.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

describe('the /console page', () => {
  let db: MariaDBServer;
  let t: TestWeir;
  let listenerPort: number;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  before(async () => {
    assert.ok(
      existsSync(CHROMIUM),
      `${CHROMIUM} is missing: run scripts/ensure-deps.sh (npm test does) to install Debian's chromium`,
    );
    db = await startMariaDB();
    await createProxyUser(db);
    await createUser(db, 'app', 'app-pw', 'ALL PRIVILEGES ON *.*');
    listenerPort = await freePort();
    t = await startTestWeir({
      config: oneServerConfig(db, { services: { Shop: listenerPort } }),
      serversRunning: true,
    });
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
    context = await browser.newContext({ httpCredentials: { username: ADMIN.user, password: ADMIN.password } });
    page = await context.newPage();
  });

  after(async () => {
    await context?.close();
    await browser?.close();
    await t?.stop();
    if (t) removeDir(t.datadir);
    await db?.destroy();
  });

  const serverCell = (p: Page) => p.locator('#output .result[data-type=servers] table td').filter({ hasText: /^db1$/ });

  test('a new session goes into the address bar and the share link; `list servers` renders a table', async () => {
    await page.goto(`${t.weir.adminUrl}/console`);
    // The welcome's ALLOW_INPUT enables the input.
    await page.locator('#command:enabled').waitFor();
    const sessionId = new URL(page.url()).searchParams.get('session');
    assert.match(sessionId ?? '', /^[0-9a-f-]{36}$/);
    const share = new URL((await page.locator('#share').getAttribute('href'))!);
    assert.equal(share.searchParams.get('session'), sessionId);
    assert.equal(share.pathname, '/console');

    await page.locator('#command').fill('list servers');
    await page.locator('#command').press('Enter');
    await serverCell(page).waitFor();
    const headers = await page.locator('#output .result[data-type=servers] th').allInnerTexts();
    assert.ok(
      headers.includes('name') && headers.includes('address') && headers.includes('port'),
      `columns: ${headers.join(', ')}`,
    );
  });

  test('`watch queries` streams a statement run through Weir, and Interrupt ends it', async () => {
    // fill waits for the input to be enabled again after `list servers`.
    await page.locator('#command').fill('watch queries');
    await page.locator('#run').click();
    // The input is disabled and Interrupt enabled once the job runs (ALLOW_INTERRUPT).
    await page.locator('#command:disabled').waitFor();
    await page.locator('#interrupt:enabled').waitFor();

    const client = await mysql.createConnection({
      host: '127.0.0.1',
      port: listenerPort,
      user: 'app',
      password: 'app-pw',
    });
    try {
      await client.query('SELECT 4242');
    } finally {
      await client.end();
    }
    const row = page
      .locator('#output .result[data-type=query]')
      .filter({ has: page.locator('.sql', { hasText: /^SELECT 4242$/ }) });
    await row.waitFor();
    const text = await row.innerText();
    assert.match(text, /\bapp\b/, 'the user');
    assert.match(text, /\bdb1\b/, 'the server');
    const jobId = await row.getAttribute('data-job');

    await page.locator('#interrupt').click();
    await page
      .locator(`#output .result[data-type=status][data-job="${jobId}"]`)
      .filter({ hasText: /^done\b/ })
      .waitFor();
    await page.locator('#command:enabled').waitFor();
    assert.ok(await page.locator('#interrupt').isDisabled());
    assert.equal(await page.locator('#notice').innerText(), '');
  });

  test('the share link joins the session and replays its history', async () => {
    const href = (await page.locator('#share').getAttribute('href'))!;
    const second = await context.newPage();
    try {
      await second.goto(href);
      await serverCell(second).waitFor();
      await second.locator('#output .result[data-type=query] .sql', { hasText: /^SELECT 4242$/ }).waitFor();
      // After the history, the session's current input status: no job runs.
      await second.locator('#command:enabled').waitFor();
      assert.equal(new URL(second.url()).searchParams.get('session'), new URL(href).searchParams.get('session'));
    } finally {
      await second.close();
    }
  });
});
