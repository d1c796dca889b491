// The author's loop with a real toolchain: the react example's Vite dev server as the
// UI source of `dext run examples/react` (`dext dev ui-source`), in headless Chromium.
// The page keeps window.ddClient and its backend call, an edit to a component reaches
// the open page by Vite's hot update (no reload), and `dext dev reset` goes back to the
// built bundle. The dev server runs on a copy of the UI sources, so the test edits no
// file of the repository.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ROOT, tmpState, startDext, runDext, waitFor } from '../integration/lib.mjs';
import { launch } from './browser.mjs';

const EXAMPLE = path.join(ROOT, 'examples/react');
const UI = path.join(EXAMPLE, 'ui');

let st;
let src;
let vite;
let viteLog = '';
let vitePort;
let d;
let browser;
let page;
const pageErrors = [];
const consoleLines = [];

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

before(async () => {
  assert.ok(fs.existsSync(path.join(UI, 'node_modules/.bin/vite')),
    'examples/react/ui/node_modules is missing: run tools/setup.sh');
  assert.ok(fs.existsSync(path.join(UI, 'build/index.html')), 'examples/react/ui/build is missing: build first');
  st = tmpState();
  src = path.join(st.dir, 'ui');
  fs.mkdirSync(src);
  for (const f of ['index.html', 'vite.config.ts', 'tsconfig.json', 'package.json', 'src']) {
    fs.cpSync(path.join(UI, f), path.join(src, f), { recursive: true });
  }
  fs.symlinkSync(path.join(UI, 'node_modules'), path.join(src, 'node_modules'));
  vitePort = await freePort();
  vite = spawn(path.join(UI, 'node_modules/.bin/vite'),
    ['--port', String(vitePort), '--strictPort', '--host', '127.0.0.1', '--clearScreen', 'false'],
    { cwd: src, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BROWSER: 'none' } });
  vite.stdout.on('data', (b) => { viteLog += b; });
  vite.stderr.on('data', (b) => { viteLog += b; });
  await waitFor(() => /ready in/.test(viteLog), { timeoutMs: 30000, what: 'the Vite dev server' });

  d = await startDext([EXAMPLE], { env: st.env });
  browser = await launch();
  page = await browser.ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.setDefaultTimeout(20000);
  await page.goto(d.url, { timeout: 30000 });
  await page.waitForSelector('h1:has-text("React example")');
}, { timeout: 120000 });

after(async () => {
  await browser?.close();
  await d?.stop();
  if (vite && vite.exitCode === null) {
    vite.kill('SIGTERM');
    await new Promise((r) => vite.once('exit', r));
  }
}, { timeout: 30000 });

async function mark() {
  await page.evaluate(() => { window.__notReloaded = true; });
}

const fromDevServer = () => page.evaluate(() => document.querySelector('script[src="/@vite/client"]') !== null);

test('the built bundle first, then the Vite dev server after dev ui-source', async () => {
  assert.equal(await fromDevServer(), false);
  await mark();
  const r = await runDext(['dev', 'ui-source', 'react', `http://127.0.0.1:${vitePort}`], { env: st.env });
  assert.equal(r.code, 0, r.stderr);
  await page.waitForFunction(() => window.__notReloaded === undefined && document.readyState === 'complete');
  await page.waitForSelector('h1:has-text("React example")', { timeout: 60000 });
  assert.equal(await fromDevServer(), true, 'the page is Vite\'s dev page');
  assert.equal(await page.evaluate(() => typeof window.ddClient.extension.vm.service.get), 'function');
  assert.equal(new URL(page.url()).port, String(d.port), 'the page stays in the extension\'s origin');
});

test('the dev page\'s backend call goes through dext', async () => {
  await page.click('[data-testid="call-backend"]');
  await page.waitForFunction(() => document.querySelector('[data-testid="backend-reply"]').value !== '');
  assert.deepEqual(JSON.parse(await page.inputValue('[data-testid="backend-reply"]')),
    { message: 'Hello from the hello backend' });
});

test('Vite\'s client reaches its server through dext (its WebSocket is carried)', async () => {
  await waitFor(() => consoleLines.some((l) => l.includes('[vite] connected.')), { timeoutMs: 15000, what: 'vite connected' });
  assert.deepEqual(consoleLines.filter((l) => /WebSocket|fallback/i.test(l)), [],
    'no failed WebSocket and no direct fallback to the dev server');
});

test('an edit to a component is hot-updated in the open page, without a reload', async () => {
  await mark();
  const app = path.join(src, 'src/App.tsx');
  const text = fs.readFileSync(app, 'utf8');
  assert.ok(text.includes('          React example\n'));
  fs.writeFileSync(app, text.replace('          React example\n', '          React example, edited\n'));
  await page.waitForSelector('h1:has-text("React example, edited")', { timeout: 30000 });
  assert.equal(await page.evaluate(() => window.__notReloaded), true, 'a hot update, not a reload');
  // The state React kept across the update: the backend's answer is still shown.
  assert.notEqual(await page.inputValue('[data-testid="backend-reply"]'), '');
});

test('dev reset: back to the built bundle', async () => {
  await mark();
  const r = await runDext(['dev', 'reset', 'react'], { env: st.env });
  assert.equal(r.code, 0, r.stderr);
  await page.waitForFunction(() => window.__notReloaded === undefined && document.readyState === 'complete');
  await page.waitForSelector('h1:has-text("React example")');
  assert.equal(await fromDevServer(), false);
  assert.equal(await page.textContent('h1'), 'React example');
});

test('no uncaught errors in the page', () => {
  assert.deepEqual(pageErrors, []);
});
