/**
 * Swagger UI at /docs, driven in headless Chromium (Debian's `chromium`): the page loads,
 * lists every tag of the spec, and "Try it out" on GET /servers with Basic credentials
 * entered in the Authorize dialog gets a 200.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { ADMIN, removeDir, startTestWeir, type TestWeir } from '../harness/weir.ts';
import { loadSpec } from '../../src/http/spec.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
let t: TestWeir;
let browser: Browser;

before(async () => {
  assert.ok(
    existsSync(CHROMIUM),
    `${CHROMIUM} is missing: run scripts/ensure-deps.sh (npm test does) to install Debian's chromium`,
  );
  t = await startTestWeir();
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
});

after(async () => {
  await browser?.close();
  await t?.stop();
  if (t) removeDir(t.datadir);
});

test('Swagger UI lists every tag and "Try it out" of GET /servers returns 200 with Basic auth', async () => {
  const page = await browser.newPage();
  await page.goto(`${t.weir.adminUrl}/docs/`);
  await page.waitForSelector('.opblock-tag-section');
  const tags = await page.$$eval('.opblock-tag', (els) => els.map((e) => e.getAttribute('data-tag')));
  const specTags = (loadSpec() as unknown as { tags: Array<{ name: string }> }).tags.map((x) => x.name);
  assert.deepEqual([...tags].sort(), [...specTags].sort());

  await page.click('.auth-wrapper .authorize');
  await page.fill('.auth-container input[type=text]', ADMIN.user);
  await page.fill('.auth-container input[type=password]', ADMIN.password);
  await page.click('.auth-btn-wrapper .modal-btn.authorize');
  await page.click('.btn-done');

  const op = page.locator('#operations-servers-listServers');
  await op.locator('.opblock-summary').click();
  await op.locator('.try-out__btn').click();
  await op.locator('.execute').click();
  const status = op.locator('.live-responses-table .response .response-col_status');
  await status.first().waitFor();
  assert.equal((await status.first().innerText()).trim(), '200');
  const body = await op.locator('.live-responses-table .response-col_description pre').first().innerText();
  assert.match(body, /"name": "server1"/);
});
