// ddClient.desktopUI.navigate and v0 navigateTo* in a real browser, against a real
// dockerd: dext's views of containers, images, volumes and one container's logs,
// inspect, stats and terminal, shown over the extension from dext's own origin.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import fs from 'node:fs';
import path from 'node:path';
import { BASE_TAG, buildBaseImage, buildImage, docker, engineTmp, engineUnavailable, startEngine } from './engine.mjs';
import { tmpState, makeExt, serviceMeta, startDext, runDext } from '../integration/lib.mjs';
import { launch } from '../browser/browser.mjs';

const skip = engineUnavailable();

describe('navigation views on a real engine', { skip: skip || false, timeout: 400000 }, () => {
  let engine;
  let d;
  let browser;
  let page;
  let cid;
  let imageId;
  let stoppedId;

  before(async () => {
    engine = await startEngine();
    await buildBaseImage(engine);
    cid = (await docker(engine, ['run', '-d', '--name', 'dext-nav-logger', BASE_TAG, 'sh', '-c',
      'echo out-line-one; echo err-line-two >&2; exec sleep 300'])).stdout.trim();
    stoppedId = (await docker(engine, ['create', '--name', 'dext-nav-stopped', BASE_TAG, 'true'])).stdout.trim();
    await docker(engine, ['volume', 'create', 'dext-nav-volume']);
    imageId = (await docker(engine, ['image', 'inspect', '-f', '{{.Id}}', BASE_TAG])).stdout.trim();
    const st = tmpState();
    const dir = makeExt(st.dir, 'navigator', serviceMeta());
    d = await startDext([dir], { env: { ...st.env, DOCKER_HOST: engine.dockerHost } });
    browser = await launch();
    page = await browser.ctx.newPage();
    page.setDefaultTimeout(15000);
    await page.goto(d.url);
  });

  after(async () => {
    await browser?.close();
    await d?.stop();
    if (engine) {
      await docker(engine, ['rm', '-f', 'dext-nav-logger', 'dext-nav-stopped', 'dext-nav-dying', 'dext-nav-noshell'], { check: false });
      await engine.stop();
    }
  });

  /** Calls a navigate intent in the page; resolves to the view's frame. */
  async function view(call, ...args) {
    const err = await page.evaluate(async ([c, a]) => {
      try {
        await c.split('.').reduce((o, k) => o[k], window.ddClient)(...a);
        return null;
      } catch (e) { return e.message; }
    }, [call, args]);
    assert.equal(err, null, `${call} rejected`);
    const el = await page.waitForSelector('iframe[data-dext-frame="view"]');
    return el.contentFrame();
  }

  async function closeView() {
    await page.click('dext-overlay button.close');
    await page.waitForSelector('iframe[data-dext-frame="view"]', { state: 'detached' });
  }

  test('viewContainers lists the engine\'s containers; a click opens one', async () => {
    const f = await view('desktopUI.navigate.viewContainers');
    await f.waitForSelector('#list tbody tr');
    assert.equal(await f.textContent('#view-title'), 'Containers');
    const rows = await f.$$eval('#list tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
    const row = rows.find((r) => r[0] === 'dext-nav-logger');
    assert.ok(row, 'the container is listed');
    assert.equal(row[1], BASE_TAG);
    assert.equal(row[2], 'running');
    assert.equal(row[4], cid.slice(0, 12));
    await f.click('text=dext-nav-logger');
    await f.waitForSelector('#logs');
    assert.match(await f.textContent('#logs'), /out-line-one/);
    await closeView();
  });

  test('viewContainerLogs shows stdout and stderr, told apart', async () => {
    const f = await view('desktopUI.navigate.viewContainerLogs', cid);
    await f.waitForSelector('#logs');
    const parts = await f.$$eval('#logs span', (s) => s.map((x) => [x.className, x.textContent]));
    assert.ok(parts.some(([cls, t]) => cls === '' && /out-line-one/.test(t)));
    assert.ok(parts.some(([cls, t]) => cls === 'stderr' && /err-line-two/.test(t)));
    assert.match(await f.textContent('#subtitle'), new RegExp(`dext-nav-logger · ${cid}`));
    // The extension cannot read what the view shows.
    const readable = await page.evaluate(() => {
      const fr = document.querySelector('dext-overlay').shadowRoot.querySelector('iframe');
      return fr.contentDocument !== null;
    });
    assert.equal(readable, false);
    await closeView();
  });

  test('viewContainerInspect and viewContainerStats', async () => {
    let f = await view('desktopUI.navigate.viewContainerInspect', cid);
    await f.waitForSelector('#inspect');
    const inspect = JSON.parse(await f.textContent('#inspect'));
    assert.equal(inspect.Id, cid);
    assert.equal(inspect.Name, '/dext-nav-logger');
    await closeView();
    f = await view('desktopUI.navigate.viewContainerStats', cid);
    await f.waitForSelector('#stats');
    assert.match(await f.textContent('#stat-cpu'), /^\d+\.\d\d %$/);
    assert.match(await f.textContent('#stat-mem'), /\d+(\.\d)? (B|kB|MB|GB)/);
    assert.match(await f.textContent('#stat-pids'), /^[1-9]\d*$/);
    await closeView();
  });

  /** The processes of the logger container, as `docker top` lists them. */
  async function processes() {
    return (await docker(engine, ['top', 'dext-nav-logger', '-o', 'pid,args'])).stdout;
  }

  /** Waits until @fn() is truthy (polls every 200 ms for up to @ms). */
  async function until(fn, ms = 15000) {
    const end = Date.now() + ms;
    for (;;) {
      const v = await fn();
      if (v) return v;
      if (Date.now() > end) return v;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  const termText = (f) => f.textContent('#term');

  test('viewContainerTerminal: a shell in the running container, keys in, output out, exit', async () => {
    const f = await view('desktopUI.navigate.viewContainerTerminal', cid);
    await f.waitForSelector('#term');
    assert.equal(await f.getAttribute('nav button[aria-selected="true"]', 'data-tab'), 'terminal');
    await f.waitForFunction(() => /^Connected/.test(document.querySelector('#term-status').textContent));
    await f.type('#term', 'echo term-$((40+2))');
    await f.press('#term', 'Enter');
    await f.waitForFunction(() => /(^|\n)term-42 *(\n|$)/.test(document.querySelector('#term').textContent));
    // The command line is echoed as typed; no escape sequence reaches the page.
    assert.match(await termText(f), /echo term-\$\(\(40\+2\)\)/);
    assert.doesNotMatch(await termText(f), /\x1b/);
    // Line editing: Backspace and the arrow keys reach the shell's editor.
    await f.type('#term', 'echo abx');
    await f.press('#term', 'Backspace');
    await f.type('#term', 'c-edit');
    await f.press('#term', 'ArrowLeft');
    await f.press('#term', 'ArrowLeft');
    await f.press('#term', 'ArrowLeft');
    await f.press('#term', 'ArrowLeft');
    await f.press('#term', 'ArrowLeft');
    await f.type('#term', 'd');
    await f.press('#term', 'Enter');
    await f.waitForFunction(() => /(^|\n)abcd-edit *(\n|$)/.test(document.querySelector('#term').textContent));
    // Ctrl-C ends a running command; the shell stays.
    await f.type('#term', 'sleep 100; echo not-interrupted');
    await f.press('#term', 'Enter');
    await until(async () => /sleep 100/.test(await processes()));
    await f.press('#term', 'Control+c');
    await f.type('#term', 'echo after-$((6*7))');
    await f.press('#term', 'Enter');
    await f.waitForFunction(() => /(^|\n)after-42 *(\n|$)/.test(document.querySelector('#term').textContent));
    assert.doesNotMatch(await termText(f), /(^|\n)not-interrupted/);
    // The terminal has the size of the element, not 80x24.
    await f.type('#term', 'stty size');
    await f.press('#term', 'Enter');
    await f.waitForFunction(() => /(^|\n)\d+ \d+ *(\n|$)/.test(document.querySelector('#term').textContent));
    const [rows, cols] = (await termText(f)).match(/(?:^|\n)(\d+) (\d+) *(?:\n|$)/).slice(1).map(Number);
    assert.ok(rows >= 5 && cols >= 20, `stty size ${rows} ${cols}`);
    await f.type('#term', 'exit 3');
    await f.press('#term', 'Enter');
    await f.waitForFunction(() => /ended/.test(document.querySelector('#term-status').textContent));
    assert.equal(await f.textContent('#term-status'), 'The session ended (exit code 3).');
    assert.ok(await until(async () => !/ sh$|sleep 100/m.test(await processes())), await processes());
    await closeView();
  });

  test('viewContainerTerminal: switching tabs or closing the view ends the shell in the container', async () => {
    const f = await view('desktopUI.navigate.viewContainerTerminal', cid);
    // Typed at once: the keys wait for the session, and may be echoed before the shell runs.
    await f.type('#term', 'sleep 200');
    await f.press('#term', 'Enter');
    assert.ok(await until(async () => /sleep 200/.test(await processes())));
    await f.click('nav button[data-tab="logs"]');
    await f.waitForSelector('#logs');
    assert.ok(await until(async () => !/sleep 200| sh$/m.test(await processes())), await processes());
    await f.click('nav button[data-tab="terminal"]');
    await f.waitForFunction(() => /^Connected/.test(document.querySelector('#term-status').textContent));
    await f.type('#term', 'sleep 199');
    await f.press('#term', 'Enter');
    assert.ok(await until(async () => /sleep 199/.test(await processes())));
    await closeView();
    assert.ok(await until(async () => !/sleep 199| sh$/m.test(await processes())), await processes());
  });

  test('viewContainerTerminal: the browser tab going away ends the shell; so does dext stopping', async () => {
    const st = tmpState();
    const dir = makeExt(st.dir, 'terminal', serviceMeta());
    const d2 = await startDext([dir], { env: { ...st.env, DOCKER_HOST: engine.dockerHost } });
    try {
      const tab = await browser.ctx.newPage();
      tab.setDefaultTimeout(15000);
      await tab.goto(d2.url);
      await tab.evaluate((id) => window.ddClient.desktopUI.navigate.viewContainerTerminal(id), cid);
      let f = await (await tab.waitForSelector('iframe[data-dext-frame="view"]')).contentFrame();
      await f.waitForFunction(() => /^Connected/.test(document.querySelector('#term-status').textContent));
      await f.type('#term', 'sleep 201');
      await f.press('#term', 'Enter');
      assert.ok(await until(async () => /sleep 201/.test(await processes())));
      await tab.close();
      assert.ok(await until(async () => !/sleep 201| sh$/m.test(await processes())), await processes());
      // dext stops with a terminal open: it exits 0, with nothing left behind (stop checks).
      const tab2 = await browser.ctx.newPage();
      tab2.setDefaultTimeout(15000);
      await tab2.goto(d2.url);
      await tab2.evaluate((id) => window.ddClient.desktopUI.navigate.viewContainerTerminal(id), cid);
      f = await (await tab2.waitForSelector('iframe[data-dext-frame="view"]')).contentFrame();
      await f.waitForFunction(() => /^Connected/.test(document.querySelector('#term-status').textContent));
      await f.type('#term', 'sleep 202 &');
      await f.press('#term', 'Enter');
      await d2.stop();
      await f.waitForFunction(() => /lost/.test(document.querySelector('#term-status').textContent));
      await tab2.close();
    } finally {
      await d2.stop();
    }
  });

  test('viewContainerTerminal: a container that is not running says so', async () => {
    const f = await view('desktopUI.navigate.viewContainerTerminal', stoppedId);
    await f.waitForFunction(() => document.querySelector('#term-status').className === 'err');
    assert.equal(await f.textContent('#term-status'),
      'This container is not running: start it to open a terminal.');
    assert.equal(await f.isHidden('#term'), true);
    await closeView();
  });

  test('viewContainerTerminal: only the view page itself can drive the terminal', async () => {
    const f = await view('desktopUI.navigate.viewContainerTerminal', cid);
    await f.waitForFunction(() => /^Connected/.test(document.querySelector('#term-status').textContent));
    const src = new URL(await page.$eval('iframe[data-dext-frame="view"]', (e) => e.src));
    const t = src.searchParams.get('t');
    const post = (path, headers, body) => new Promise((resolve, reject) => {
      const data = JSON.stringify(body);
      const req = http.request({ host: src.hostname, port: src.port, path, method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data), ...headers } },
      (res) => { res.resume(); resolve(res.statusCode); });
      req.on('error', reject);
      req.end(data);
    });
    // The extension knows the ticket but not the page's secret, and is of another origin.
    const extOrigin = new URL(d.url).origin;
    assert.equal(await post('/__dext/view/term/open', { Origin: extOrigin }, { t }), 403);
    assert.equal(await post('/__dext/view/term/open', { Origin: src.origin }, { t }), 403);
    assert.equal(await post('/__dext/view/term/open', {}, { t, secret: 'a'.repeat(32) }), 403);
    assert.equal(await post('/__dext/view/term/open', { Origin: src.origin, 'Sec-Fetch-Site': 'cross-site' },
      { t, secret: 'a'.repeat(32) }), 403);
    assert.equal(await post('/__dext/view/term/input', { Origin: src.origin }, { t, session: 'b'.repeat(32), data: 'x' }), 404);
    // From the extension's page itself: refused, and nothing reaches the shell.
    const r = await page.evaluate(async (u) => {
      try {
        const res = await fetch(u + '/__dext/view/term/open', { method: 'POST', body: JSON.stringify({ t: 'x' }) });
        return res.status;
      } catch (e) { return 'blocked'; }
    }, src.origin);
    assert.ok(r === 'blocked' || r === 403, String(r));
    await closeView();
  });

  test('viewContainerTerminal: the container stopping ends the session', async () => {
    const id = (await docker(engine, ['run', '-d', '--name', 'dext-nav-dying', BASE_TAG, 'sleep', '300'])).stdout.trim();
    const f = await view('desktopUI.navigate.viewContainerTerminal', id);
    await f.waitForFunction(() => /^Connected/.test(document.querySelector('#term-status').textContent));
    await f.type('#term', 'echo alive-$((1+1))');
    await f.press('#term', 'Enter');
    await f.waitForFunction(() => /(^|\n)alive-2 *(\n|$)/.test(document.querySelector('#term').textContent));
    await docker(engine, ['kill', 'dext-nav-dying']);
    await f.waitForFunction(() => /^The session ended/.test(document.querySelector('#term-status').textContent));
    await closeView();
  });

  test('viewContainerTerminal: a container without a shell says so', async () => {
    const ctx = engineTmp(engine, 'noshell');
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), `FROM ${BASE_TAG}\nRUN ["/bin/busybox", "rm", "/bin/sh"]\n`);
    await buildImage(engine, ctx, 'dext-test/noshell:1');
    const id = (await docker(engine, ['run', '-d', '--name', 'dext-nav-noshell', 'dext-test/noshell:1', 'sleep', '300'])).stdout.trim();
    const f = await view('desktopUI.navigate.viewContainerTerminal', id);
    await f.waitForFunction(() => document.querySelector('#term-status').className === 'err');
    assert.equal(await f.textContent('#term-status'), 'This container has no shell (/bin/sh): a terminal cannot be opened.');
    await closeView();
  });

  test('viewImages, viewImage, viewVolumes, viewVolume', async () => {
    let f = await view('desktopUI.navigate.viewImages');
    await f.waitForSelector('#list tbody tr');
    const images = await f.$$eval('#list tbody tr td:first-child', (tds) => tds.map((t) => t.textContent));
    assert.ok(images.includes(BASE_TAG));
    await closeView();
    f = await view('desktopUI.navigate.viewImage', imageId, BASE_TAG);
    await f.waitForSelector('#inspect');
    assert.equal(JSON.parse(await f.textContent('#inspect')).Id, imageId);
    await closeView();
    f = await view('desktopUI.navigate.viewVolumes');
    await f.waitForSelector('#list tbody tr');
    assert.ok((await f.$$eval('#list tbody tr td:first-child', (t) => t.map((x) => x.textContent))).includes('dext-nav-volume'));
    await closeView();
    f = await view('desktopUI.navigate.viewVolume', 'dext-nav-volume');
    await f.waitForSelector('#inspect');
    assert.equal(JSON.parse(await f.textContent('#inspect')).Name, 'dext-nav-volume');
    await closeView();
  });

  test('an unknown id rejects with the engine\'s reason and shows nothing', async () => {
    const r = await page.evaluate(async ([img]) => {
      const out = {};
      const n = window.ddClient.desktopUI.navigate;
      for (const [k, fn] of [['container', () => n.viewContainer('f'.repeat(64))],
        ['logs', () => n.viewContainerLogs('f'.repeat(64))],
        ['image', () => n.viewImage('sha256:' + 'e'.repeat(64), 'x:1')],
        ['v0', () => window.ddClient.navigateToContainerStats('nope-no-such')]]) {
        try { await fn(); out[k] = 'resolved'; } catch (e) { out[k] = e.message; }
      }
      out.overlay = !!document.querySelector('dext-overlay');
      return out;
    }, [imageId]);
    assert.match(r.container, /No such container: f{64}/);
    assert.match(r.logs, /No such container/);
    assert.match(r.image, /No such image/);
    assert.match(r.v0, /No such container: nope-no-such/);
    assert.equal(r.overlay, false);
  });

  test('v0 navigateTo* and viewDevEnvironments', async () => {
    assert.equal(await page.evaluate(() => window.ddClient.navigateToContainers()), undefined);
    let f = await (await page.waitForSelector('iframe[data-dext-frame="view"]')).contentFrame();
    await f.waitForSelector('#list tbody tr');
    assert.equal(await f.textContent('#view-title'), 'Containers');
    await closeView();
    await page.evaluate((id) => window.ddClient.navigateToContainer(id), cid);
    f = await (await page.waitForSelector('iframe[data-dext-frame="view"]')).contentFrame();
    await f.waitForSelector('#logs');
    await closeView();
    assert.equal(await page.evaluate(() => window.ddClient.desktopUI.navigate.viewDevEnvironments()), undefined);
  });

  test('dext serve: the dashboard\'s Containers and Images views read the same engine', async () => {
    const st = tmpState();
    const dir = makeExt(st.dir, 'listed', serviceMeta());
    assert.equal((await runDext(['install', dir], { env: st.env })).code, 0);
    const sv = await startDext([], { env: { ...st.env, DOCKER_HOST: engine.dockerHost }, verb: 'serve' });
    try {
      const dash = await browser.ctx.newPage();
      await dash.goto(sv.url);
      await dash.waitForSelector('li.ext[data-name="listed"]');
      const [tab] = await Promise.all([browser.ctx.waitForEvent('page'), dash.click('#nav-containers')]);
      await tab.waitForSelector('#list tbody tr');
      assert.equal(new URL(tab.url()).origin, new URL(sv.url).origin);
      assert.equal(await tab.textContent('#view-title'), 'Containers');
      const names = await tab.$$eval('#list tbody tr td:first-child', (t) => t.map((x) => x.textContent));
      assert.ok(names.includes('dext-nav-logger'));
      await tab.click('text=dext-nav-logger');
      await tab.waitForSelector('#logs');
      await tab.click('nav button[data-tab="stats"]');
      await tab.waitForSelector('#stat-cpu');
      // The list's containers have a terminal too.
      await tab.click('nav button[data-tab="terminal"]');
      await tab.waitForFunction(() => /^Connected/.test(document.querySelector('#term-status').textContent));
      await tab.type('#term', 'echo from-list-$((2*21))');
      await tab.press('#term', 'Enter');
      await tab.waitForFunction(() => /(^|\n)from-list-42 *(\n|$)/.test(document.querySelector('#term').textContent));
      // A long line wraps at the terminal's width, as the shell expects.
      await tab.type('#term', `echo ${'w'.repeat(300)} | wc -c`);
      await tab.press('#term', 'Enter');
      await tab.waitForFunction(() => /(^|\n) *301 *(\n|$)/.test(document.querySelector('#term').textContent));
      const lines = (await tab.textContent('#term')).split('\n');
      const cols = Math.max(...lines.map((l) => l.trimEnd().length));
      assert.ok(cols < 300, `the longest line has ${cols} columns`);
      await tab.close();
      const [imgs] = await Promise.all([browser.ctx.waitForEvent('page'), dash.click('#nav-images')]);
      await imgs.waitForSelector('#list tbody tr');
      assert.ok((await imgs.$$eval('#list tbody tr td:first-child', (t) => t.map((x) => x.textContent))).includes(BASE_TAG));
      await imgs.close();
      await dash.close();
    } finally {
      await sv.stop();
    }
  });
});
