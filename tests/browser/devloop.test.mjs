// The dev loop in a real browser: `dext run DIR` reloads the page when a UI file
// changes; `dext dev ui-source` moves the UI to a dev server (ddClient still
// injected) and `dext dev reset` moves it back, open pages following each time.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { tmpState, makeExt, startDext, runDext, request } from '../integration/lib.mjs';
import { launch } from './browser.mjs';

let st;
let dir;
let d;
let browser;
let page;
let dev;
let devPort;
const devRequests = [];

const html = (text) => `<!doctype html><html><head><title>t</title></head><body><p id="x">${text}</p></body></html>`;

before(async () => {
  st = tmpState();
  dir = makeExt(st.dir, 'devext', {
    ui: { 'dashboard-tab': { title: 'Dev', root: '/ui', src: 'index.html' } },
  }, { 'ui/index.html': html('from the files') });
  d = await startDext([dir], { env: st.env });
  dev = http.createServer((req, res) => {
    devRequests.push({ url: req.url, host: req.headers.host });
    if (req.url === '/app.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript' });
      res.end("document.getElementById('x').dataset.dd = typeof window.ddClient.extension;\n");
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><html><head><title>dev</title></head><body>' +
      '<p id="x">from the dev server</p><script src="/app.js"></script></body></html>');
  });
  await new Promise((r) => dev.listen(0, '127.0.0.1', r));
  devPort = dev.address().port;
  browser = await launch();
  page = await browser.ctx.newPage();
  page.setDefaultTimeout(10000);
  await page.goto(d.url);
}, { timeout: 90000 });

after(async () => {
  await browser?.close();
  await d?.stop();
  dev?.close();
}, { timeout: 30000 });

/** Marks the current document, so a reload shows as the mark's absence. */
async function mark() {
  await page.evaluate(() => { window.__notReloaded = true; });
}

async function waitReload() {
  await page.waitForFunction(() => window.__notReloaded === undefined && document.readyState === 'complete');
}

test('editing a UI file reloads the open page', async () => {
  assert.equal(await page.textContent('#x'), 'from the files');
  await mark();
  fs.writeFileSync(path.join(dir, 'ui/index.html'), html('edited'));
  await waitReload();
  assert.equal(await page.textContent('#x'), 'edited');
  assert.equal(await page.evaluate(() => typeof window.ddClient.host.openExternal), 'function');
});

test('a file in a folder made after the start reloads it too', async () => {
  fs.mkdirSync(path.join(dir, 'ui/assets'));
  await waitReload(); // the new folder is itself a change
  await new Promise((r) => setTimeout(r, 400));
  await mark();
  fs.writeFileSync(path.join(dir, 'ui/assets/style.css'), 'p { color: red }');
  await waitReload();
  assert.equal(await page.textContent('#x'), 'edited');
});

test('a folder removed and made again (as a rebuild does) is watched again', async () => {
  await mark();
  fs.rmSync(path.join(dir, 'ui/assets'), { recursive: true });
  await waitReload();
  await new Promise((r) => setTimeout(r, 300));
  await mark();
  fs.mkdirSync(path.join(dir, 'ui/assets'));
  await waitReload();
  await new Promise((r) => setTimeout(r, 300));
  await mark();
  fs.writeFileSync(path.join(dir, 'ui/assets/again.css'), 'p { color: blue }');
  await waitReload();
  assert.equal(await page.textContent('#x'), 'edited');
});

test('a page that is not touched is not reloaded', async () => {
  await mark();
  await new Promise((r) => setTimeout(r, 800));
  assert.equal(await page.evaluate(() => window.__notReloaded), true);
});

test('dev ui-source: the page reloads from the dev server, ddClient still there', async () => {
  await mark();
  const r = await runDext(['dev', 'ui-source', 'devext', `http://localhost:${devPort}`], { env: st.env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /devext: the UI comes from http:\/\/localhost:\d+/);
  await waitReload();
  await page.waitForFunction(() => document.getElementById('x').dataset.dd);
  assert.equal(await page.textContent('#x'), 'from the dev server');
  assert.equal(await page.getAttribute('#x', 'data-dd'), 'object');
  // The page stays in the extension's origin; dext fetched the files for it.
  assert.equal(new URL(page.url()).port, String(d.port));
  assert.ok(devRequests.some((q) => q.url === '/app.js'));
  assert.ok(devRequests.every((q) => !/dext-secret/.test(q.url)), 'the secret never reaches the dev server');
  assert.ok(devRequests.every((q) => q.host === `127.0.0.1:${devPort}`));
  // The secret is still needed to get the page through dext.
  assert.equal((await request(d.port, { path: '/index.html' })).status, 401);
});

test('dev reset: back to the files', async () => {
  await mark();
  const r = await runDext(['dev', 'reset', 'devext'], { env: st.env });
  assert.equal(r.code, 0, r.stderr);
  await waitReload();
  assert.equal(await page.textContent('#x'), 'edited');
});

test('a dev server that is down gives a clear error', async () => {
  const spare = http.createServer();
  await new Promise((r) => spare.listen(0, '127.0.0.1', r));
  const port = spare.address().port;
  await new Promise((r) => spare.close(r));
  await mark();
  assert.equal((await runDext(['dev', 'ui-source', 'devext', `http://127.0.0.1:${port}/app/`], { env: st.env })).code, 0);
  await waitReload();
  const res = await request(d.port, { path: '/app/', secret: d.secret });
  assert.equal(res.status, 502);
  assert.equal(res.headers['x-dext-error'], '1');
  assert.match(JSON.parse(res.text).error, /the dev server is not answering: connection refused/);
  assert.equal((await runDext(['dev', 'reset', 'devext'], { env: st.env })).code, 0);
  await waitReload();
});
