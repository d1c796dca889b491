// The security model: per-run secret, Host and Origin checks, refusals without effect.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { tmpState, makeExt, serviceMeta, startDext, request, FIXTURE } from './lib.mjs';

let d;
before(async () => {
  const st = tmpState();
  const dir = makeExt(st.dir, 'sec', serviceMeta());
  d = await startDext([dir, '--backend-cmd', FIXTURE], { env: st.env });
});
after(async () => { await d?.stop(); });

const host = () => `127.0.0.1:${d.port}`;

test('the printed URL is loopback, names the entry and carries a 32-hex secret', () => {
  assert.match(d.url, /^http:\/\/127\.0\.0\.1:\d+\/index\.html\?dext-secret=[0-9a-f]{32}$/);
});

test('UI files need the secret: query (sets a cookie), cookie or header', async () => {
  const none = await request(d.port, { path: '/index.html' });
  assert.equal(none.status, 401);
  assert.doesNotMatch(none.text, /__dextConfig/, 'a refused page leaks nothing');

  const wrong = await request(d.port, { path: '/index.html?dext-secret=' + '0'.repeat(32) });
  assert.equal(wrong.status, 401);

  const q = await request(d.port, { path: `/index.html?dext-secret=${d.secret}` });
  assert.equal(q.status, 200);
  const cookie = q.headers['set-cookie']?.[0];
  assert.match(cookie, new RegExp(`^dext-${d.port}=${d.secret}; Path=/; HttpOnly; SameSite=Strict`));

  const withCookie = await request(d.port, { path: '/index.html', headers: { Cookie: `a=b; dext-${d.port}=${d.secret}` } });
  assert.equal(withCookie.status, 200);
  const otherPort = await request(d.port, { path: '/index.html', headers: { Cookie: `dext-1=${d.secret}` } });
  assert.equal(otherPort.status, 401);

  const header = await request(d.port, { path: '/index.html', secret: d.secret });
  assert.equal(header.status, 200);
});

test('API calls need the X-Dext-Secret header; a cookie alone is refused', async () => {
  const none = await request(d.port, { path: '/__dext/vm/service/hello' });
  assert.equal(none.status, 401);
  assert.equal(none.headers['x-dext-error'], '1');
  const cookieOnly = await request(d.port, { path: '/__dext/vm/service/hello', headers: { Cookie: `dext-${d.port}=${d.secret}` } });
  assert.equal(cookieOnly.status, 401);
  const query = await request(d.port, { path: `/__dext/vm/service/hello?dext-secret=${d.secret}` });
  assert.equal(query.status, 401);
  const ok = await request(d.port, { path: '/__dext/vm/service/hello', secret: d.secret });
  assert.equal(ok.status, 200, ok.text);
});

test('Host must be this loopback listener (DNS rebinding)', async () => {
  for (const h of ['evil.example', `evil.example:${d.port}`, '127.0.0.1', `127.0.0.1:${d.port + 1}`]) {
    const r = await request(d.port, { path: '/__dext/vm/service/hello', secret: d.secret, host: h });
    assert.equal(r.status, 403, h);
    const ui = await request(d.port, { path: `/index.html?dext-secret=${d.secret}`, host: h });
    assert.equal(ui.status, 403, h);
  }
  for (const h of [`localhost:${d.port}`, `127.0.0.1:${d.port}`]) {
    const r = await request(d.port, { path: '/__dext/vm/service/hello', secret: d.secret, host: h });
    assert.equal(r.status, 200, h);
  }
});

test('cross-origin and cross-site calls are refused', async () => {
  for (const origin of ['http://evil.example', `http://127.0.0.1:${d.port + 1}`, 'null', `https://127.0.0.1:${d.port}`]) {
    const r = await request(d.port, { path: '/__dext/vm/service/hello', secret: d.secret, headers: { Origin: origin } });
    assert.equal(r.status, 403, origin);
  }
  const same = await request(d.port, { path: '/__dext/vm/service/hello', secret: d.secret, headers: { Origin: `http://127.0.0.1:${d.port}` } });
  assert.equal(same.status, 200);
  const site = await request(d.port, { path: '/__dext/vm/service/hello', secret: d.secret, headers: { 'Sec-Fetch-Site': 'cross-site' } });
  assert.equal(site.status, 403);
  const sameSite = await request(d.port, { path: '/__dext/vm/service/hello', secret: d.secret, headers: { 'Sec-Fetch-Site': 'same-origin' } });
  assert.equal(sameSite.status, 200);
});

test('a refused call has no effect on the backend', async () => {
  const pid1 = JSON.parse((await request(d.port, { path: '/__dext/vm/service/pid', secret: d.secret })).text).pid;
  // /crash would end the backend; every refused form of it must not reach it.
  const refused = [
    { path: '/__dext/vm/service/crash' },
    { path: '/__dext/vm/service/crash', headers: { 'X-Dext-Secret': 'nope' } },
    { path: '/__dext/vm/service/crash', secret: d.secret, host: 'evil.example' },
    { path: '/__dext/vm/service/crash', secret: d.secret, headers: { Origin: 'http://evil.example' } },
  ];
  for (const r of refused) {
    const res = await request(d.port, r);
    assert.ok(res.status === 401 || res.status === 403, `${res.status}`);
  }
  const pid2 = JSON.parse((await request(d.port, { path: '/__dext/vm/service/pid', secret: d.secret })).text).pid;
  assert.equal(pid2, pid1);
});

test('the socket listens on loopback only', async () => {
  const fs = await import('node:fs');
  const hexPort = d.port.toString(16).toUpperCase().padStart(4, '0');
  const rows = fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)
    .map((l) => l.trim().split(/\s+/)).filter((f) => f.length > 3 && f[3] === '0A' && f[1].endsWith(':' + hexPort));
  assert.equal(rows.length, 1, 'one listener on the port');
  assert.equal(rows[0][1], '0100007F:' + hexPort, 'bound to 127.0.0.1');
});
