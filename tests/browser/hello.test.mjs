// The example extension in a real browser: what a person sees on the page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { tmpState, startDext, ROOT } from '../integration/lib.mjs';
import { launch } from './browser.mjs';

let d;
let browser;
let page;
const consoleErrors = [];

// The binary: DEXT_BIN, else build/dext (tests/integration/lib.mjs). Each run gets fresh
// XDG_DATA_HOME and XDG_RUNTIME_DIR directories; startDext waits for the URL line.
before(async () => {
  const st = tmpState();
  d = await startDext([path.join(ROOT, 'examples/hello')], { env: st.env });
  browser = await launch();
  page = await browser.ctx.newPage();
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  page.setDefaultTimeout(10000);
  await page.goto(d.url, { timeout: 30000 });
}, { timeout: 90000 });

// SIGTERM to dext's pid; stop() fails the run unless dext then exits 0.
after(async () => {
  await browser?.close();
  await d?.stop();
}, { timeout: 30000 });

test('the page shows the backend\'s answer, fetched through dext', async () => {
  await page.waitForFunction(() => document.getElementById('backend-message').textContent !== '…', null, { timeout: 15000 });
  assert.equal(await page.textContent('#backend-message'), 'Hello from the hello backend');
  assert.equal(await page.isHidden('#backend-error'), true);
});

test('window.ddClient is complete before the page\'s own scripts', async () => {
  const shape = await page.evaluate(() => {
    const c = window.ddClient;
    const fns = (o, names) => names.every((n) => typeof o[n] === 'function');
    return {
      service: fns(c.extension.vm.service, ['get', 'post', 'put', 'patch', 'delete', 'head', 'request']),
      vmExec: typeof c.extension.vm.cli.exec === 'function',
      hostExec: typeof c.extension.host.cli.exec === 'function',
      toast: fns(c.desktopUI.toast, ['success', 'warning', 'error']),
      dialog: typeof c.desktopUI.dialog.showOpenDialog === 'function',
      navigate: fns(c.desktopUI.navigate, ['viewContainers', 'viewContainer', 'viewContainerLogs', 'viewImages', 'viewImage', 'viewVolumes', 'viewVolume', 'viewDevEnvironments']),
      docker: typeof c.docker.cli.exec === 'function' && fns(c.docker, ['listContainers', 'listImages']),
      v0: fns(c.backend, ['get', 'post', 'put', 'patch', 'delete', 'head', 'request', 'execInContainer', 'execInVMExtension', 'spawnInVMExtension'])
        && fns(c, ['toastSuccess', 'toastWarning', 'toastError', 'openExternal', 'listContainers', 'listImages', 'execHostCmd', 'spawnHostCmd', 'execDockerCmd', 'spawnDockerCmd', 'navigateToContainers']),
      image: c.extension.image,
      host: [c.host.platform, c.host.arch, c.host.hostname],
      firstScriptIsDext: document.head.querySelector('script').textContent.startsWith('window.__dextConfig='),
    };
  });
  assert.deepEqual({ ...shape, host: undefined, image: undefined }, {
    service: true, vmExec: true, hostExec: true, toast: true, dialog: true, navigate: true, docker: true, v0: true,
    firstScriptIsDext: true, host: undefined, image: undefined,
  });
  assert.equal(shape.image, 'dext/hello:dev');
  assert.equal(shape.host[0], 'linux');
  assert.ok(['x64', 'arm64'].includes(shape.host[1]));
  assert.equal(shape.host[2], (await import('node:os')).hostname());
  assert.match(await page.textContent('#host-info'), /Running on linux\//);
});

test('the secret is gone from the visible address', async () => {
  const [search, href] = await page.evaluate(() => [window.location.search, window.location.href]);
  assert.doesNotMatch(search, /dext-secret/);
  assert.doesNotMatch(href, /dext-secret/);
  assert.match(href, /\/index\.html$/);
});

test('the v0 backend reaches the same service', async () => {
  const r = await page.evaluate(() => window.ddClient.backend.get('/hello'));
  assert.deepEqual(r, { message: 'Hello from the hello backend' });
});

test('a toast appears in the page', async () => {
  await page.click('#toast-button');
  const toasts = await page.waitForFunction(() => {
    const host = document.getElementById('dext-toasts');
    const t = host && host.shadowRoot.querySelector('[data-dext-toast="success"]');
    return t && t.textContent;
  }, null, { timeout: 5000 });
  assert.equal(await toasts.jsonValue(), 'Hello from dext');
  const visible = await page.evaluate(() => {
    const t = document.getElementById('dext-toasts').shadowRoot.querySelector('[data-dext-toast]');
    const r = t.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  });
  assert.ok(visible);
});

test('a POST with an object body reaches the backend as JSON', async () => {
  await page.fill('#name', 'Ada');
  await page.click('#greet');
  await page.waitForFunction(() => document.getElementById('greet-reply').textContent !== '', null, { timeout: 10000 });
  assert.equal(await page.textContent('#greet-reply'), 'Hello, Ada!');
});

test('theme globals, both schemes', async () => {
  const t = await page.evaluate(() => [window.__ddMuiV5Themes.light.palette.mode, window.__ddMuiV5Themes.dark.palette.mode,
    window.__ddMuiV6Themes.dark.palette.background.default, typeof window.__ddMuiV5Themes.light.palette.primary.main]);
  assert.deepEqual([t[0], t[1], t[3]], ['light', 'dark', 'string']);
  assert.match(t[2], /^#[0-9a-f]{6}$/);
});

test('openExternal takes http and https only', async () => {
  const r = await page.evaluate(() => {
    const out = [];
    for (const u of ['file:///etc/passwd', 'javascript:alert(1)', 'ftp://x/']) {
      try { window.ddClient.host.openExternal(u); out.push('opened'); } catch (e) { out.push(e.message); }
    }
    return out;
  });
  assert.equal(r.length, 3);
  for (const m of r) assert.match(m, /only http and https/);
  const [popup] = await Promise.all([
    page.waitForEvent('popup', { timeout: 10000 }),
    page.evaluate(() => window.ddClient.host.openExternal('http://127.0.0.1:9/')),
  ]);
  assert.ok(popup, 'a new window opened');
  assert.equal(await popup.evaluate(() => window.opener), null, 'without a handle back to the extension');
  await popup.close();
});

test('service errors: ServiceError for backend statuses, Error for dext failures', async () => {
  const r = await page.evaluate(async () => {
    const out = {};
    try { await window.ddClient.extension.vm.service.get('/nope'); } catch (e) {
      out.notFound = { name: e.name, statusCode: e.statusCode, message: e.message, isError: e instanceof Error };
    }
    try { await window.ddClient.extension.vm.service.get(42); } catch (e) { out.badUrl = e instanceof TypeError; }
    return out;
  });
  assert.equal(r.notFound.statusCode, 404);
  assert.equal(r.notFound.name, 'Not Found');
  assert.match(r.notFound.message, /no such route/);
  assert.equal(r.badUrl, true);
});

test('a reload without the secret in the address still works (the cookie carries it)', async () => {
  await page.reload({ timeout: 30000 });
  await page.waitForFunction(() => document.getElementById('backend-message').textContent !== '…', null, { timeout: 15000 });
  assert.equal(await page.textContent('#backend-message'), 'Hello from the hello backend');
  assert.equal(await page.evaluate(() => typeof window.ddClient.extension.vm.service.get), 'function');
});

test('no errors on the page', () => {
  assert.deepEqual(consoleErrors, []);
});
