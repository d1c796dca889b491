// ddClient.desktopUI.dialog.showOpenDialog in a real browser: dext's own file chooser,
// shown over the extension from dext's origin, driven the way a person would.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { tmpState, makeExt, startDext, request } from '../integration/lib.mjs';
import { launch } from './browser.mjs';

let d;
let browser;
let page;
let files;

before(async () => {
  const st = tmpState();
  const dir = makeExt(st.dir, 'picker', {
    ui: { 'dashboard-tab': { title: 'Picker', root: '/ui', src: 'index.html' } },
  });
  files = path.join(st.dir, 'files');
  fs.mkdirSync(path.join(files, 'sub/deeper'), { recursive: true });
  for (const f of ['a.txt', 'c.TXT', 'b.log', '.hidden.txt', 'sub/inner.txt']) {
    fs.writeFileSync(path.join(files, f), f);
  }
  d = await startDext([dir], { env: st.env });
  browser = await launch();
  page = await browser.ctx.newPage();
  page.setDefaultTimeout(10000);
  await page.goto(d.url);
}, { timeout: 90000 });

after(async () => {
  await browser?.close();
  await d?.stop();
}, { timeout: 30000 });

/** Opens a chooser from the extension's page; resolves to [chooser frame]. */
async function open(props) {
  await page.evaluate((p) => {
    window.__result = undefined;
    window.ddClient.desktopUI.dialog.showOpenDialog(p).then(
      (r) => { window.__result = r; },
      (e) => { window.__result = { error: e.message }; });
  }, props);
  const el = await page.waitForSelector('iframe[data-dext-frame="chooser"]');
  const frame = await el.contentFrame();
  await frame.waitForSelector('#entries li, #error:not(:empty)');
  return frame;
}

async function names(frame) {
  return frame.$$eval('#entries li', (lis) => lis.map((li) => li.dataset.name + (li.dataset.dir ? '/' : '')));
}

async function result() {
  const h = await page.waitForFunction(() => window.__result, null, { timeout: 10000 });
  return h.jsonValue();
}

test('files by filter, several picked, Open gives their absolute paths', async () => {
  const frame = await open({
    defaultPath: files,
    properties: ['openFile', 'multiSelections'],
    filters: [{ name: 'Text', extensions: ['txt'] }],
  });
  assert.deepEqual(await names(frame), ['sub/', 'a.txt', 'c.TXT']);
  assert.equal(await frame.inputValue('#path'), files);
  await frame.click('li[data-name="a.txt"]');
  await frame.click('li[data-name="c.TXT"]', { modifiers: ['Control'] });
  await frame.click('#open');
  assert.deepEqual(await result(), {
    canceled: false, filePaths: [path.join(files, 'a.txt'), path.join(files, 'c.TXT')],
  });
  await page.waitForSelector('iframe[data-dext-frame="chooser"]', { state: 'detached' });
});

test('Cancel gives {canceled: true, filePaths: []}', async () => {
  const frame = await open({ defaultPath: files });
  await frame.click('#cancel');
  assert.deepEqual(await result(), { canceled: true, filePaths: [] });
});

test('without multiSelections one file only; hidden files only with showHiddenFiles', async () => {
  let frame = await open({ defaultPath: files, properties: ['openFile'] });
  assert.deepEqual(await names(frame), ['sub/', 'a.txt', 'b.log', 'c.TXT']);
  await frame.click('li[data-name="a.txt"]');
  await frame.click('li[data-name="b.log"]', { modifiers: ['Control'] });
  assert.equal(await frame.$$eval('li[aria-selected="true"]', (l) => l.length), 1);
  await frame.click('#open');
  assert.deepEqual(await result(), { canceled: false, filePaths: [path.join(files, 'b.log')] });

  frame = await open({ defaultPath: files, properties: ['openFile', 'showHiddenFiles'] });
  assert.ok((await names(frame)).includes('.hidden.txt'));
  await frame.click('#cancel');
  await result();
});

test('openDirectory: into a folder with a double click, then Open picks it', async () => {
  const frame = await open({ defaultPath: files, properties: ['openDirectory'] });
  assert.deepEqual(await names(frame), ['sub/'], 'folders only');
  await frame.dblclick('li[data-name="sub"]');
  await frame.waitForFunction(() => document.getElementById('path').value.endsWith('/sub'));
  assert.deepEqual(await names(frame), ['deeper/']);
  await frame.click('#open');
  assert.deepEqual(await result(), { canceled: false, filePaths: [path.join(files, 'sub')] });
});

test('createDirectory: New folder makes one, opens it, and Open picks it', async () => {
  const frame = await open({ defaultPath: files, properties: ['openDirectory', 'createDirectory'] });
  assert.equal(await frame.isVisible('#newfolder'), true);
  await frame.click('#newfolder');
  await frame.fill('#newname', 'made here');
  await frame.press('#newname', 'Enter');
  const made = path.join(files, 'made here');
  await frame.waitForFunction((p) => document.getElementById('path').value === p, made);
  assert.ok(fs.statSync(made).isDirectory(), 'the folder exists');
  assert.deepEqual(await names(frame), []);
  // The same name again is refused with a message; nothing changes.
  await frame.click('#up');
  await frame.waitForFunction((f) => document.getElementById('path').value === f, files);
  await frame.click('#newfolder');
  await frame.fill('#newname', 'made here');
  await frame.press('#newname', 'Enter');
  await frame.waitForFunction(() => document.getElementById('error').textContent !== '');
  assert.match(await frame.textContent('#error'), /already exists/);
  // A name with a slash is no folder name.
  await frame.fill('#newname', '../escape');
  await frame.press('#newname', 'Enter');
  await frame.waitForFunction(() => /without/.test(document.getElementById('error').textContent));
  assert.equal(fs.existsSync(path.join(files, '../escape')), false);
  await frame.dblclick('li[data-name="made here"]');
  await frame.waitForFunction((p) => document.getElementById('path').value === p, made);
  await frame.click('#open');
  assert.deepEqual(await result(), { canceled: false, filePaths: [made] });
  fs.rmdirSync(made);
});

test('without createDirectory there is no New folder, and the call is refused', async () => {
  const frame = await open({ defaultPath: files, properties: ['openDirectory'] });
  assert.equal(await frame.isVisible('#newfolder'), false);
  const r = await frame.evaluate(async (dir) => {
    const cfg = window.__dextHub;
    const res = await fetch('/__dext/chooser/mkdir', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ t: cfg.t, secret: cfg.secret, dir, name: 'not-made' }),
    });
    return { status: res.status, body: await res.json() };
  }, files);
  assert.equal(r.status, 403);
  assert.match(r.body.error, /does not make new folders/);
  assert.equal(fs.existsSync(path.join(files, 'not-made')), false);
  await frame.click('#cancel');
  await result();
});

test('defaultPath naming a file starts in its folder with it selected', async () => {
  const frame = await open({ defaultPath: path.join(files, 'sub/inner.txt') });
  assert.equal(await frame.inputValue('#path'), path.join(files, 'sub'));
  assert.equal(await frame.getAttribute('li[data-name="inner.txt"]', 'aria-selected'), 'true');
  await frame.click('#up');
  await frame.waitForFunction((f) => document.getElementById('path').value === f, files);
  await frame.click('#cancel');
  await result();
});

test('the extension can neither read nor drive the chooser, and learns only the picked paths', async () => {
  await open({ defaultPath: files });
  const probe = await page.evaluate(async () => {
    const host = document.querySelector('dext-overlay');
    const frame = host.shadowRoot.querySelector('iframe');
    const url = new URL(frame.src);
    const out = { sameOrigin: url.origin === location.origin, secretInUrl: /secret/.test(frame.src) };
    try { out.doc = frame.contentDocument === null ? 'null' : 'readable'; } catch (e) { out.doc = 'threw'; }
    try { out.href = frame.contentWindow.location.href; } catch (e) { out.href = 'threw'; }
    // Call the chooser's own routes from the extension's origin with its ticket.
    const t = url.searchParams.get('t');
    for (const route of ['list', 'done']) {
      try {
        const r = await fetch(url.origin + '/__dext/chooser/' + route, {
          method: 'POST', headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ t, path: '/', canceled: false, paths: ['/etc/passwd'] }),
        });
        out[route] = r.status;
      } catch (e) { out[route] = 'blocked'; }
    }
    // And a wait for a chooser that is not its own.
    const w = await fetch('/__dext/dialog/wait', {
      method: 'POST', headers: { 'X-Dext-Secret': window.__dextConfig.secret }, body: JSON.stringify({ id: 'f'.repeat(32) }),
    });
    out.wait = w.status;
    return out;
  });
  assert.deepEqual(probe, {
    sameOrigin: false, secretInUrl: false, doc: 'null', href: 'threw', list: 'blocked', done: 'blocked', wait: 404,
  });
  // The chooser is still waiting for the person (the forged "done" changed nothing).
  assert.equal(await page.evaluate(() => window.__result), undefined);
  const frame = await (await page.waitForSelector('iframe[data-dext-frame="chooser"]')).contentFrame();
  await frame.click('li[data-name="a.txt"]');
  await frame.click('#open');
  assert.deepEqual(await result(), { canceled: false, filePaths: [path.join(files, 'a.txt')] });
});

test('the chooser page answers only its ticket, framed only by its extension', async () => {
  const opened = await page.evaluate(async () => {
    const r = await fetch('/__dext/dialog/open', {
      method: 'POST', headers: { 'X-Dext-Secret': window.__dextConfig.secret }, body: '{}',
    });
    return r.json();
  });
  const u = new URL(opened.url);
  const hubPort = Number(u.port);
  assert.notEqual(hubPort, d.port);
  const ok = await request(hubPort, { path: u.pathname + u.search });
  assert.equal(ok.status, 200);
  assert.match(ok.headers['content-security-policy'], new RegExp(`frame-ancestors http://127\\.0\\.0\\.1:${d.port} `));
  const bad = await request(hubPort, { path: '/__dext/chooser?t=' + '0'.repeat(32) });
  assert.equal(bad.status, 404);
  // The chooser's secret is in its page only; without it the listing is refused.
  const list = await request(hubPort, {
    method: 'POST', path: '/__dext/chooser/list', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ t: u.searchParams.get('t'), secret: 'x'.repeat(32), path: '/' }),
  });
  assert.equal(list.status, 403);
  const secret = ok.text.match(/"secret":"([0-9a-f]{32})"/)[1];
  const listed = await request(hubPort, {
    method: 'POST', path: '/__dext/chooser/list', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ t: u.searchParams.get('t'), secret, path: files }),
  });
  assert.equal(listed.status, 200);
  assert.deepEqual(JSON.parse(listed.text).entries.map((e) => e.name), ['sub', 'a.txt', 'b.log', 'c.TXT']);
  // A path that was never offered is still checked: it must exist.
  const done = await request(hubPort, {
    method: 'POST', path: '/__dext/chooser/done', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ t: u.searchParams.get('t'), secret, paths: [path.join(files, 'nope')] }),
  });
  assert.equal(done.status, 400);
  // Another host name for dext's origin, or another page's origin, is refused.
  assert.equal((await request(hubPort, { path: u.pathname + u.search, host: 'evil.example:' + hubPort })).status, 403);
  assert.equal((await request(hubPort, {
    method: 'POST', path: '/__dext/chooser/list', headers: { Origin: `http://127.0.0.1:${d.port}` },
    body: '{}',
  })).status, 403);
});
