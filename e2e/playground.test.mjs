// The GraphiQL playground at / in headless Chromium (the system's, never a downloaded one): it renders,
// runs its prefilled createOrganization with the API key set in its headers editor, opens the
// documentation explorer, and loads nothing from any host but the server.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';

const { BASE_URL, API_KEY } = process.env;
assert.ok(BASE_URL && API_KEY, 'BASE_URL and API_KEY must be set (run e2e/run.sh)');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ALLOWED_HOST = '127.0.0.1';

let context;
let profile;
const foreign = []; // requests to any other host, aborted
const requests = [];
const pageErrors = [];
const consoleErrors = [];

before(async () => {
  profile = mkdtempSync(join(tmpdir(), 'orgs-e2e-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
    viewport: { width: 1400, height: 900 },
  });
  // Only the server is reachable: everything else is aborted and counted.
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === ALLOWED_HOST) return route.continue();
    foreign.push(route.request().url());
    return route.abort();
  });
  context.on('request', (req) => {
    requests.push(req.url());
    const url = new URL(req.url());
    if (/^(https?|wss?):$/.test(url.protocol) && url.hostname !== ALLOWED_HOST && !foreign.includes(req.url())) {
      foreign.push(req.url());
    }
  });
});

after(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

// editorWith returns the value of, or sets, the CodeMirror editor whose text matches a pattern.
async function setEditor(page, match, value) {
  return page.evaluate(
    ({ match, value }) => {
      for (const el of document.querySelectorAll('.CodeMirror')) {
        const cm = el.CodeMirror;
        if (cm && new RegExp(match).test(cm.getValue())) {
          cm.setValue(value);
          return true;
        }
      }
      return false;
    },
    { match, value },
  );
}

test('the playground runs the prefilled mutation, opens the docs, and stays on the server', { timeout: 120_000 }, async () => {
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  page.on('console', (msg) => msg.type() === 'error' && consoleErrors.push(msg.text()));
  // The schema requests the page makes, with their answers, to explain a documentation explorer
  // without a schema.
  const schemaAnswers = [];
  page.on('response', async (r) => {
    if (r.url() === `${BASE_URL}/query` && /__schema/.test(r.request().postData() ?? '')) {
      schemaAnswers.push(`HTTP ${r.status()} ${(await r.text().catch(() => '')).slice(0, 200)}`);
    }
  });
  const shot = process.env.E2E_SCREENSHOT || join(mkdtempSync(join(tmpdir(), 'orgs-e2e-shot-')), 'playground.png');
  try {
    const res = await page.goto(`${BASE_URL}/`, { waitUntil: 'load' });
    assert.equal(res.status(), 200);
    await page.waitForSelector('.graphiql-container', { timeout: 30_000 });
    await page.waitForSelector('.graphiql-query-editor .CodeMirror');

    // The prefilled operation is createOrganization; the headers editor holds the placeholder key.
    const query = await page.evaluate(() => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.getValue());
    assert.match(query, /createOrganization/);
    await page.waitForFunction(() => [...document.querySelectorAll('.CodeMirror')].some((el) => /PASTE-YOUR-API-KEY/.test(el.CodeMirror?.getValue() ?? '')));
    assert.ok(await setEditor(page, 'PASTE-YOUR-API-KEY', JSON.stringify({ Authorization: `Bearer ${API_KEY}` }, null, 2)),
      'headers editor not found');
    // GraphiQL takes the edit in after a debounce, and then persists the headers (shouldPersistHeaders).
    await page.waitForFunction((key) => (localStorage.getItem('graphiql:headers') ?? '').includes(key), API_KEY);
    // The page fetched the schema on load with the placeholder key; fetch it again with the real one,
    // as a user does after pasting their key.
    const schemaAgain = page.waitForResponse((r) => r.url() === `${BASE_URL}/query` && /__schema/.test(r.request().postData() ?? ''));
    await page.click('button[aria-label="Re-fetch GraphQL schema"]');
    await schemaAgain;

    // Run it.
    const answer = page.waitForResponse((r) => r.url() === `${BASE_URL}/query` && r.request().method() === 'POST' &&
      /createOrganization/.test(r.request().postData() ?? ''));
    await page.click('.graphiql-execute-button');
    const response = await answer;
    assert.equal(response.status(), 200);
    await page.waitForFunction(() => /"createOrganization"/.test(document.querySelector('.result-window .CodeMirror')?.CodeMirror?.getValue() ?? ''),
      null, { timeout: 30_000 });
    const shown = JSON.parse(await page.evaluate(() => document.querySelector('.result-window .CodeMirror').CodeMirror.getValue()));
    assert.equal(shown.errors, undefined, JSON.stringify(shown.errors));
    const payload = shown.data.createOrganization;
    assert.deepEqual(payload.userErrors, []);
    assert.ok(payload.organization.id);
    assert.equal(payload.organization.name, 'Acme Corporation');

    // The documentation explorer opens on the schema the page loaded.
    await page.click('button[aria-label="Show Documentation Explorer"]');
    const docs = page.locator('.graphiql-doc-explorer');
    await docs.waitFor({ timeout: 10_000 });
    try {
      await page.waitForFunction(() => /Root Types/.test(document.querySelector('.graphiql-doc-explorer')?.textContent ?? ''),
        null, { timeout: 15_000 });
    } catch (err) {
      assert.fail(`the documentation explorer shows no schema: "${(await docs.textContent()).slice(0, 200)}"; ` +
        `schema requests: ${schemaAnswers.join('; ') || 'none'}`);
    }
    const docText = await docs.textContent();
    assert.match(docText, /query:\s*Query/);
    assert.match(docText, /mutation:\s*Mutation/);
  } finally {
    await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
    console.log(`playground screenshot: ${shot}`);
  }

  console.log(`requests: ${requests.length}, to other hosts: ${foreign.length}`);
  assert.deepEqual(foreign, [], 'requests to hosts other than the server');
  assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
  if (consoleErrors.length > 0) console.log(`console errors:\n  ${consoleErrors.join('\n  ')}`);
  await page.close();
});
