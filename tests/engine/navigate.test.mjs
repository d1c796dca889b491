// ddClient.desktopUI.navigate and v0 navigateTo* in a real browser, against a real
// dockerd: dext's views of containers, images, volumes and one container's logs,
// inspect and stats, shown over the extension from dext's own origin.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BASE_TAG, buildBaseImage, docker, engineUnavailable, startEngine } from './engine.mjs';
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

  before(async () => {
    engine = await startEngine();
    await buildBaseImage(engine);
    cid = (await docker(engine, ['run', '-d', '--name', 'dext-nav-logger', BASE_TAG, 'sh', '-c',
      'echo out-line-one; echo err-line-two >&2; exec sleep 300'])).stdout.trim();
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
      await docker(engine, ['rm', '-f', 'dext-nav-logger'], { check: false });
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
