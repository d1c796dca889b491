// The react example (examples/react: Vite, React, MUI, @docker/extension-api-client and
// @docker/docker-mui-theme, the shape `docker extension init` makes) unmodified in
// headless Chromium against dext and a real dockerd: it renders, it is themed by dext's
// theme globals in both colour schemes (checked on the page and on a screenshot's
// pixels), and its backend call and its docker calls work.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BASE_TAG, buildBaseImage, docker, engineUnavailable, startEngine } from './engine.mjs';
import { ROOT, tmpState, startDext } from '../integration/lib.mjs';
import { launch } from '../browser/browser.mjs';
import { decodePng, near, pixel } from '../browser/png.mjs';

const skip = engineUnavailable();
const EXAMPLE = path.join(ROOT, 'examples/react');

/** 'rgb(r, g, b)' as '#rrggbb'. */
function cssHex(rgb) {
  const m = /^rgba?\((\d+), (\d+), (\d+)/.exec(rgb);
  assert.ok(m, `a CSS colour: ${rgb}`);
  return '#' + m.slice(1, 4).map((v) => Number(v).toString(16).padStart(2, '0')).join('');
}

describe('the react example on a real engine', { skip: skip || false, timeout: 400000 }, () => {
  let engine;
  let d;
  let browser;
  let page;
  const pageErrors = [];

  before(async () => {
    assert.ok(fs.existsSync(path.join(EXAMPLE, 'ui/build/index.html')),
      'examples/react/ui/build is missing: the build makes it (tools/setup.sh, then meson)');
    engine = await startEngine();
    await buildBaseImage(engine);
    await docker(engine, ['create', '--name', 'dext-react-probe', BASE_TAG, 'true']);
    const st = tmpState();
    d = await startDext([EXAMPLE], { env: { ...st.env, DOCKER_HOST: engine.dockerHost } });
    browser = await launch();
    page = await browser.ctx.newPage();
    await page.setViewportSize({ width: 1000, height: 700 });
    await page.emulateMedia({ colorScheme: 'light' });
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.setDefaultTimeout(15000);
    await page.goto(d.url, { timeout: 30000 });
    await page.waitForSelector('h1:has-text("React example")');
  });

  after(async () => {
    await browser?.close();
    await d?.stop();
    if (engine) {
      await docker(engine, ['rm', '-f', 'dext-react-probe'], { check: false });
      await engine.stop();
    }
  });

  /** The theme dext injected, for one scheme, and what the page shows. */
  async function themeAndPage() {
    return page.evaluate(() => {
      const dark = window.matchMedia('(prefers-color-scheme: dark)').matches;
      const t = window.__ddMuiV5Themes[dark ? 'dark' : 'light'].palette;
      const button = document.querySelector('[data-testid="call-backend"]');
      return {
        mode: dark ? 'dark' : 'light',
        background: t.background.default,
        primary: t.primary.main,
        text: t.text.primary,
        bodyBackground: getComputedStyle(document.body).backgroundColor,
        bodyColour: getComputedStyle(document.body).color,
        buttonBackground: getComputedStyle(button).backgroundColor,
        headingFont: getComputedStyle(document.querySelector('h1')).fontFamily,
      };
    });
  }

  /* Waits until the button's background stops changing (MUI animates it). */
  async function settled() {
    let last = '';
    for (let i = 0; i < 40; i++) {
      const now = (await themeAndPage()).buttonBackground;
      if (now === last) return;
      last = now;
      await new Promise((r) => setTimeout(r, 150));
    }
  }

  test('React renders through the MUI theme provider, in dext\'s light theme', async () => {
    const t = await themeAndPage();
    assert.equal(t.mode, 'light');
    assert.equal(cssHex(t.bodyBackground), t.background, 'CssBaseline paints background.default');
    assert.equal(cssHex(t.bodyColour), t.text);
    assert.equal(cssHex(t.buttonBackground), t.primary, 'a contained button is primary.main');
    assert.match(t.headingFont, /system-ui/);
  });

  test('a screenshot shows the theme\'s colours where the page puts them', async () => {
    const t = await themeAndPage();
    const box = await page.locator('[data-testid="call-backend"]').boundingBox();
    const png = await page.screenshot();
    fs.writeFileSync(path.join(process.env.MESON_BUILD_ROOT || '/tmp', 'react-example-light.png'), png);
    const img = decodePng(png);
    assert.equal(img.width, 1000);
    assert.equal(img.height, 700);
    assert.ok(near(pixel(img, 3, 3), t.background), `the corner is the background: ${pixel(img, 3, 3)}`);
    const inButton = pixel(img, box.x + 4, box.y + box.height / 2);
    assert.ok(near(inButton, t.primary), `the button's edge is primary.main: ${inButton} vs ${t.primary}`);
  });

  test('the theme follows the page\'s colour scheme to dark', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    await settled();
    const t = await themeAndPage();
    assert.equal(t.mode, 'dark');
    assert.equal(cssHex(t.bodyBackground), t.background);
    assert.equal(cssHex(t.buttonBackground), t.primary);
    const img = decodePng(await page.screenshot());
    assert.ok(near(pixel(img, 3, 3), t.background), `the corner is the dark background: ${pixel(img, 3, 3)}`);
    await page.emulateMedia({ colorScheme: 'light' });
    await settled();
  });

  test('"Call backend" shows the backend\'s answer, through vm.service', async () => {
    await page.click('[data-testid="call-backend"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="backend-reply"]').value !== '');
    const reply = await page.inputValue('[data-testid="backend-reply"]');
    assert.deepEqual(JSON.parse(reply), { message: 'Hello from the hello backend' });
    assert.equal(await page.locator('[data-testid="error"]').count(), 0);
  });

  test('"List containers" runs docker ps through docker.cli.exec and the Engine API', async () => {
    await page.click('[data-testid="list-containers"]');
    await page.waitForSelector('[data-testid="containers"] tbody tr');
    const rows = await page.$$eval('[data-testid="containers"] tbody tr',
      (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
    assert.deepEqual(rows.find((r) => r[0] === 'dext-react-probe'), ['dext-react-probe', BASE_TAG, 'created']);
    await page.waitForSelector('[data-testid="engine-count"]');
    const expected = (await docker(engine, ['ps', '-aq'])).stdout.trim().split('\n').filter(Boolean).length;
    assert.equal(await page.textContent('[data-testid="engine-count"]'),
      `The Engine API lists ${expected} containers.`);
    assert.equal(rows.length, expected);
    const toast = await page.waitForFunction(() => {
      const host = document.getElementById('dext-toasts');
      const el = host && host.shadowRoot.querySelector('[data-dext-toast="success"]');
      return el && el.textContent;
    }, null, { timeout: 5000 });
    assert.equal(await toast.jsonValue(), `${expected} containers`);
  });

  test('no uncaught errors in the page', () => {
    assert.deepEqual(pageErrors, []);
  });
});
