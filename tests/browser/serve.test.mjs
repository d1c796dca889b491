// `dext serve` in a real browser: the dashboard a person sees, each extension in its
// own origin, localStorage that survives a restart of dext and is gone after `dext rm`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { tmpState, makeExt, runDext, startDext, waitFor } from '../integration/lib.mjs';
import { launch } from './browser.mjs';
import { decodePng, near, pixel } from './png.mjs';

const ICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32" width="32" height="32">' +
  '<rect width="32" height="32" rx="6" fill="#c0392b"/></svg>';
const PAGE = (name) => `<!doctype html><html><head><title>${name}</title></head><body>` +
  `<h1 id="who">${name}</h1><p id="stored"></p><script>` +
  "document.getElementById('stored').textContent = String(localStorage.getItem('note'));" +
  '</script></body></html>';

let st;
let alpha;
let beta;
let browser;
let serve;

async function startServe() {
  return startDext([], { env: st.env, verb: 'serve' });
}

/** The dashboard's list, as the page itself fetches it. */
async function listed(dash) {
  return dash.evaluate(async () => {
    const r = await fetch('/__dext/hub/extensions', {
      method: 'POST', headers: { 'X-Dext-Secret': window.__dextHub.secret }, body: '{}',
    });
    return r.json();
  });
}

before(async () => {
  st = tmpState();
  alpha = makeExt(st.dir, 'alpha', {
    icon: 'icon.svg',
    ui: { 'dashboard-tab': { title: 'Alpha Tool', root: '/ui', src: 'index.html' } },
  }, { 'icon.svg': ICON, 'ui/index.html': PAGE('alpha') });
  beta = makeExt(st.dir, 'beta', {
    ui: { 'dashboard-tab': { title: 'Beta', root: '/ui', src: 'index.html' } },
  }, { 'ui/index.html': PAGE('beta') });
  for (const dir of [alpha, beta]) {
    const r = await runDext(['install', dir], { env: st.env });
    assert.equal(r.code, 0, r.stderr);
  }
  serve = await startServe();
  browser = await launch();
}, { timeout: 90000 });

after(async () => {
  await browser?.close();
  await serve?.stop();
}, { timeout: 30000 });

test('the dashboard lists every installed extension with its title and icon', async () => {
  const dash = await browser.ctx.newPage();
  await dash.goto(serve.url);
  await dash.waitForSelector('li.ext[data-name="beta"]');
  const cards = await dash.$$eval('li.ext', (els) => els.map((e) => {
    const img = e.querySelector('img');
    const r = e.getBoundingClientRect();
    return {
      name: e.dataset.name,
      title: e.querySelector('.open').textContent,
      href: e.querySelector('a.open') && e.querySelector('a.open').href,
      icon: img ? { loaded: img.complete && img.naturalWidth > 0, w: img.getBoundingClientRect().width } : null,
      letter: e.querySelector('.noicon') && e.querySelector('.noicon').textContent,
      box: [r.x, r.y, r.width, r.height],
    };
  }));
  cards.sort((a, b) => a.name.localeCompare(b.name));
  assert.deepEqual(cards.map((c) => [c.name, c.title]), [['alpha', 'Alpha Tool'], ['beta', 'Beta']]);
  await waitFor(() => dash.$eval('li.ext[data-name="alpha"] img', (i) => i.complete && i.naturalWidth > 0), { what: 'the icon' });
  assert.equal(cards[0].icon.w, 40);
  assert.equal(cards[1].icon, null);
  assert.equal(cards[1].letter, 'B');
  // Each one has a visible card of its own on the page (not stacked, not empty).
  for (const c of cards) assert.ok(c.box[2] > 100 && c.box[3] > 30, `${c.name} card is visible`);
  assert.ok(cards[0].box[0] !== cards[1].box[0] || cards[0].box[1] !== cards[1].box[1]);
  // Each extension has its own origin, none of them the dashboard's.
  const ports = cards.map((c) => Number(new URL(c.href).port));
  assert.equal(new Set([...ports, serve.port]).size, 3);
  // The secret left the dashboard's visible address.
  assert.equal(new URL(dash.url()).search, '');
  // A screenshot of what a person sees: a real PNG of the page's size.
  const png = await dash.screenshot({ fullPage: true });
  assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  const width = png.readUInt32BE(16);
  const height = png.readUInt32BE(20);
  const vp = dash.viewportSize();
  assert.equal(width, vp.width);
  assert.ok(height >= 100);
  // What the pixels show: the page's background, each card's own paper, the letter
  // tile of the one without an icon, and an icon that is drawn on its card.
  const colours = await dash.evaluate(() => {
    const bg = (sel) => getComputedStyle(document.querySelector(sel)).backgroundColor;
    const box = (sel) => { const r = document.querySelector(sel).getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; };
    return {
      page: bg('body'), card: bg('li.ext[data-name="beta"]'), tile: bg('li.ext[data-name="beta"] .noicon'),
      beta: box('li.ext[data-name="beta"]'), tileBox: box('li.ext[data-name="beta"] .noicon'),
      icon: box('li.ext[data-name="alpha"] img'), height: document.documentElement.scrollHeight,
    };
  });
  const hex = (rgb) => '#' + rgb.match(/\d+/g).slice(0, 3).map((v) => Number(v).toString(16).padStart(2, '0')).join('');
  const img = decodePng(png);
  const at = (x, y) => pixel(img, x, y);
  assert.ok(near(at(2, img.height - 3), hex(colours.page)), `page background: ${at(2, img.height - 3)} vs ${hex(colours.page)}`);
  const [bx, by, , bh] = colours.beta;
  assert.ok(near(at(bx + 5, by + bh / 2), hex(colours.card)), `card paper: ${at(bx + 5, by + bh / 2)} vs ${hex(colours.card)}`);
  const [tx, ty] = colours.tileBox;
  assert.ok(near(at(tx + 4, ty + 4), hex(colours.tile)), `letter tile: ${at(tx + 4, ty + 4)} vs ${hex(colours.tile)}`);
  assert.notEqual(hex(colours.tile), hex(colours.card));
  const [ix, iy, iw, ih] = colours.icon;
  const iconPixels = new Set();
  for (let dy = 0.25; dy < 0.8; dy += 0.1) {
    for (let dx = 0.25; dx < 0.8; dx += 0.1) iconPixels.add(at(ix + iw * dx, iy + ih * dy));
  }
  assert.ok([...iconPixels].some((c) => !near(c, hex(colours.card), 8)), 'the icon is drawn');
  await dash.close();
});

test('clicking an extension opens it in its own origin, with ddClient', async () => {
  const dash = await browser.ctx.newPage();
  await dash.goto(serve.url);
  await dash.waitForSelector('li.ext[data-name="alpha"] a.open');
  const href = await dash.getAttribute('li.ext[data-name="alpha"] a.open', 'href');
  const [ext] = await Promise.all([
    browser.ctx.waitForEvent('page'),
    dash.click('li.ext[data-name="alpha"] a.open'),
  ]);
  await ext.waitForLoadState();
  assert.equal(await ext.textContent('#who'), 'alpha');
  const origin = await ext.evaluate(() => window.location.origin);
  assert.equal(origin, new URL(href).origin);
  assert.notEqual(origin, new URL(serve.url).origin);
  assert.equal(await ext.evaluate(() => typeof window.ddClient.desktopUI.toast.success), 'function');
  // The dashboard's secret opens nothing of the extension's, and the reverse.
  const cross = await ext.evaluate(async (dashOrigin) => {
    try {
      const r = await fetch(dashOrigin + '/__dext/hub/extensions', { method: 'POST', body: '{}' });
      return r.status;
    } catch (e) { return 'blocked'; }
  }, new URL(serve.url).origin);
  assert.equal(cross, 'blocked');
  await ext.close();
  await dash.close();
});

test('localStorage survives a restart of dext; every extension has its own', async () => {
  const dash = await browser.ctx.newPage();
  await dash.goto(serve.url);
  await dash.waitForSelector('li.ext[data-name="beta"]');
  let list = await listed(dash);
  const a = list.find((e) => e.name === 'alpha');
  const b = list.find((e) => e.name === 'beta');
  const page = await browser.ctx.newPage();
  await page.goto(a.url);
  await page.evaluate(() => localStorage.setItem('note', 'kept by alpha'));
  await page.goto(b.url);
  assert.equal(await page.textContent('#stored'), 'null', 'beta cannot see alpha\'s storage');

  await serve.stop();
  serve = await startServe();
  await dash.goto(serve.url);
  await dash.waitForSelector('li.ext[data-name="alpha"]');
  list = await listed(dash);
  const a2 = list.find((e) => e.name === 'alpha');
  assert.equal(a2.port, a.port, 'the same origin after a restart');
  await page.goto(a2.url);
  assert.equal(await page.textContent('#stored'), 'kept by alpha');
  await page.close();
  await dash.close();
});

test('after dext rm the extension leaves the dashboard; a re-install starts with empty storage', async () => {
  const dash = await browser.ctx.newPage();
  await dash.goto(serve.url);
  await dash.waitForSelector('li.ext[data-name="alpha"]');
  const before = (await listed(dash)).find((e) => e.name === 'alpha');

  const rm = await runDext(['rm', 'alpha'], { env: st.env });
  assert.equal(rm.code, 0, rm.stderr);
  // dext serve keeps serving the others, and the dashboard drops alpha by itself.
  await dash.waitForSelector('li.ext[data-name="alpha"]', { state: 'detached', timeout: 10000 });
  assert.equal(await dash.locator('li.ext[data-name="beta"]').count(), 1);
  const gone = await fetch(before.url).then((r) => r.status, () => 'refused');
  assert.equal(gone, 'refused', 'nothing listens on the removed extension\'s port');

  const inst = await runDext(['install', alpha], { env: st.env });
  assert.equal(inst.code, 0, inst.stderr);
  await dash.waitForSelector('li.ext[data-name="alpha"] a.open', { timeout: 10000 });
  const again = (await listed(dash)).find((e) => e.name === 'alpha');
  const page = await browser.ctx.newPage();
  await page.goto(again.url);
  assert.equal(await page.textContent('#stored'), 'null');
  await page.close();
  await dash.close();
});

test('a re-install that lands on the old port still starts with empty storage', async () => {
  const dash = await browser.ctx.newPage();
  await dash.goto(serve.url);
  await dash.waitForSelector('li.ext[data-name="beta"]');
  const b = (await listed(dash)).find((e) => e.name === 'beta');
  const page = await browser.ctx.newPage();
  await page.goto(b.url);
  await page.evaluate(() => localStorage.setItem('note', 'left by the first beta'));
  await page.reload();
  assert.equal(await page.textContent('#stored'), 'left by the first beta');

  await serve.stop();
  assert.equal((await runDext(['rm', 'beta'], { env: st.env })).code, 0);
  assert.equal((await runDext(['install', beta], { env: st.env })).code, 0);
  // The port happens to be the old one (as after a port reuse): the install id differs.
  const origin = path.join(st.data, 'dext/extensions/beta/origin.json');
  assert.equal(fs.existsSync(origin), false, 'dext rm removed the origin record');
  fs.writeFileSync(origin, JSON.stringify({ port: b.port }));
  serve = await startServe();
  await dash.goto(serve.url);
  await dash.waitForSelector('li.ext[data-name="beta"] a.open');
  const b2 = (await listed(dash)).find((e) => e.name === 'beta');
  assert.equal(b2.port, b.port);
  await page.goto(b2.url);
  assert.equal(await page.textContent('#stored'), 'null');
  await page.close();
  await dash.close();
});

test('dext run on a port another extension used: that storage is not seen; its own is', async () => {
  const net = await import('node:net');
  const spare = net.createServer();
  await new Promise((r) => spare.listen(0, '127.0.0.1', r));
  const port = String(spare.address().port);
  await new Promise((r) => spare.close(r));
  const first = makeExt(st.dir, 'first', { ui: { 'dashboard-tab': { title: 'F', root: '/ui', src: 'index.html' } } },
    { 'ui/index.html': PAGE('first') });
  const second = makeExt(st.dir, 'second', { ui: { 'dashboard-tab': { title: 'S', root: '/ui', src: 'index.html' } } },
    { 'ui/index.html': PAGE('second') });
  const page = await browser.ctx.newPage();
  let d = await startDext([first, '--port', port], { env: st.env });
  await page.goto(d.url);
  await page.evaluate(() => localStorage.setItem('note', 'first was here'));
  await d.stop();
  d = await startDext([second, '--port', port], { env: st.env });
  await page.goto(d.url);
  assert.equal(await page.textContent('#who'), 'second');
  assert.equal(await page.textContent('#stored'), 'null');
  await page.evaluate(() => localStorage.setItem('note', 'second was here'));
  await d.stop();
  d = await startDext([second, '--port', port], { env: st.env });
  await page.goto(d.url);
  assert.equal(await page.textContent('#stored'), 'second was here', 'its own storage is kept');
  await d.stop();
  await page.close();
});

test('many tabs of one served extension all load (no page holds a connection for itself)', async () => {
  const dash = await browser.ctx.newPage();
  await dash.goto(serve.url);
  await dash.waitForSelector('li.ext[data-name="beta"] a.open');
  const b = (await listed(dash)).find((e) => e.name === 'beta');
  const tabs = [];
  for (let i = 0; i < 8; i++) {
    const p = await browser.ctx.newPage();
    tabs.push(p);
    await p.goto(b.url, { timeout: 10000 });
    assert.equal(await p.textContent('#who'), 'beta');
  }
  // And each can still call dext.
  for (const p of tabs) {
    const r = await p.evaluate(() => window.ddClient.desktopUI.navigate.viewVolumes()
      .then(() => !!document.querySelector('dext-overlay')));
    assert.equal(r, true);
  }
  for (const p of tabs) await p.close();
  await dash.close();
});
