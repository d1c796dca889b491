// HTTP serving: UI files, content types, injection, limits, timeouts, bad clients.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { tmpState, makeExt, serviceMeta, startDext, request, rawRequest } from './lib.mjs';

let d;
let st;
before(async () => {
  st = tmpState();
  const meta = serviceMeta();
  meta.ui['dashboard-tab'].src = 'index.html?v=1';
  const dir = makeExt(st.dir, 'web', meta, {
    'ui/index.html': '<!DOCTYPE html>\n<html lang="en">\n<HEAD data-x="1">\n<script src="app.js"></script>\n</HEAD><body>page</body></html>',
    'ui/nohead.html': '<p>fragment</p>',
    'ui/app.js': 'console.log("app")',
    'ui/style.css': 'body{}',
    'ui/pic.svg': '<svg xmlns="http://www.w3.org/2000/svg"/>',
    'ui/data.json': '{"a":1}',
    'ui/font.woff2': 'xx',
    'ui/blob.bin': 'xx',
    'ui/sub/index.html': '<html><head></head><body>sub</body></html>',
    'ui/big.bin': Buffer.alloc(3 * 1024 * 1024, 7),
    'secret.txt': 'outside the UI root',
  });
  fs.symlinkSync('../secret.txt', path.join(dir, 'ui/escape.txt'));
  fs.symlinkSync('/etc/passwd', path.join(dir, 'ui/passwd'));
  fs.symlinkSync('app.js', path.join(dir, 'ui/inside-link.js'));
  d = await startDext([dir], {
    env: { ...st.env, DEXT_HEAD_TIMEOUT_MS: '700', DEXT_IDLE_TIMEOUT_MS: '1500', DEXT_BODY_TIMEOUT_MS: '1000' },
  });
});
after(async () => { await d?.stop(); });

const get = (p, opts = {}) => request(d.port, { path: p, secret: d.secret, ...opts });

test('the URL names src with its query; / redirects to the entry', async () => {
  assert.match(d.url, /\/index\.html\?v=1&dext-secret=/);
  const r = await get('/?deep=link');
  assert.equal(r.status, 302);
  assert.equal(r.headers.location, '/index.html?v=1&deep=link');
});

test('the ddClient script is injected first inside <head>', async () => {
  const r = await get('/index.html');
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(Number(r.headers['content-length']), r.body.length);
  const html = r.text;
  const at = html.indexOf('<script>window.__dextConfig=');
  assert.ok(at > 0, 'injected');
  assert.ok(at === html.indexOf('<HEAD data-x="1">') + '<HEAD data-x="1">'.length, 'right after the head tag');
  assert.ok(at < html.indexOf('<script src="app.js">'), 'before the page scripts');
  const cfg = JSON.parse(html.slice(at + '<script>window.__dextConfig='.length, html.indexOf(';\n', at)));
  assert.equal(cfg.secret, d.secret);
  assert.equal(cfg.extension.name, 'web');
  assert.equal(cfg.extension.hasService, true);
  assert.equal(cfg.host.platform, 'linux');
  assert.ok(['x64', 'arm64', 'ia32', 'arm'].includes(cfg.host.arch));
  const frag = await get('/nohead.html');
  assert.ok(frag.text.startsWith('<script>window.__dextConfig='), 'no head: at the very start');
  const sub = await get('/sub/');
  assert.equal(sub.status, 200);
  assert.match(sub.text, /<head><script>window.__dextConfig=/);
  const head = await get('/index.html', { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  assert.equal(head.headers['content-length'], r.headers['content-length']);
});

test('content types', async () => {
  const want = {
    '/app.js': 'text/javascript; charset=utf-8',
    '/style.css': 'text/css; charset=utf-8',
    '/pic.svg': 'image/svg+xml',
    '/data.json': 'application/json',
    '/font.woff2': 'font/woff2',
    '/blob.bin': 'application/octet-stream',
  };
  for (const [p, type] of Object.entries(want)) {
    const r = await get(p);
    assert.equal(r.status, 200, p);
    assert.equal(r.headers['content-type'], type, p);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
  }
  const big = await get('/big.bin');
  assert.equal(big.body.length, 3 * 1024 * 1024);
  assert.ok(big.body.every((b) => b === 7));
});

test('nothing outside the UI root is served', async () => {
  for (const p of ['/../secret.txt', '/%2e%2e/secret.txt', '/sub/..%2f..%2fsecret.txt', '/..', '/escape.txt', '/passwd']) {
    const r = await rawRequest(d.port, `GET ${p} HTTP/1.1\r\nHost: 127.0.0.1:${d.port}\r\nX-Dext-Secret: ${d.secret}\r\nConnection: close\r\n\r\n`);
    assert.match(r, /^HTTP\/1\.1 40[34] /, p);
    assert.doesNotMatch(r, /outside the UI root|root:x:0/, p);
  }
  const inside = await get('/inside-link.js');
  assert.equal(inside.status, 200, 'a symlink that stays inside is fine');
  assert.equal((await get('/missing.js')).status, 404);
  assert.equal((await get('/bad%zzpath')).status, 400);
  assert.equal((await get('/a%00b')).status, 400);
});

test('UI files take GET and HEAD only', async () => {
  const r = await get('/index.html', { method: 'POST', body: 'x' });
  assert.equal(r.status, 405);
  assert.equal(r.headers.allow, 'GET, HEAD');
  assert.equal((await get('/__dext/nothing')).status, 404);
});

test('keep-alive: several requests on one connection, pipelined too', async () => {
  const one = `GET /app.js HTTP/1.1\r\nHost: 127.0.0.1:${d.port}\r\nX-Dext-Secret: ${d.secret}\r\n\r\n`;
  const last = one.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n');
  const r = await rawRequest(d.port, one + one + last);
  assert.equal(r.split('HTTP/1.1 200 OK').length - 1, 3);
});

test('limits: head size, header count, malformed', async () => {
  const big = await rawRequest(d.port, `GET / HTTP/1.1\r\nHost: 127.0.0.1:${d.port}\r\nX-Big: ${'a'.repeat(17000)}\r\n\r\n`);
  assert.match(big, /^HTTP\/1\.1 431 /);
  let many = `GET / HTTP/1.1\r\nHost: 127.0.0.1:${d.port}\r\n`;
  for (let i = 0; i < 101; i++) many += `X-${i}: y\r\n`;
  assert.match(await rawRequest(d.port, many + '\r\n'), /^HTTP\/1\.1 431 /);
  assert.match(await rawRequest(d.port, 'BLAH\r\n\r\n'), /^HTTP\/1\.1 400 /);
  assert.match(await rawRequest(d.port, `GET / HTTP/1.1\r\nHost: 127.0.0.1:${d.port}\r\nContent-Length: x\r\n\r\n`), /^HTTP\/1\.1 400 /);
});

test('a body with broken chunk framing, after its handler took it, gets a 400 that says so', async () => {
  const r = await rawRequest(d.port,
    `POST /__dext/vm/service/echo HTTP/1.1\r\nHost: 127.0.0.1:${d.port}\r\nX-Dext-Secret: ${d.secret}\r\n` +
    'Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n');
  assert.match(r, /^HTTP\/1\.1 400 /);
  assert.match(r, /Connection: close/);
  assert.match(r, /"error":"malformed request body: [^"]+"/);
  // The server goes on serving.
  const ok = await get('/index.html');
  assert.equal(ok.status, 200);
});

test('slow headers get 408 and the connection closes; idle connections close', async () => {
  const t0 = Date.now();
  const r = await rawRequest(d.port, `GET / HTTP/1.1\r\nHost: 127.0.0.1:${d.port}\r\n`, { timeoutMs: 5000 });
  const took = Date.now() - t0;
  assert.match(r, /^HTTP\/1\.1 408 /);
  assert.ok(took >= 600 && took < 4000, `closed after ${took} ms`);

  const closedIdle = await new Promise((resolve) => {
    const s = net.connect(d.port, '127.0.0.1');
    const t1 = Date.now();
    s.on('close', () => resolve(Date.now() - t1));
    s.on('error', () => {});
    setTimeout(() => { s.destroy(); resolve(-1); }, 5000);
  });
  assert.ok(closedIdle > 0 && closedIdle < 4000, `idle closed after ${closedIdle}`);
});

test('one bad client does not affect another', async () => {
  // Ten clients that stall mid-head, plus one that vanishes mid-request.
  const stalled = [];
  for (let i = 0; i < 10; i++) {
    const s = net.connect(d.port, '127.0.0.1');
    s.on('error', () => {});
    s.write('GET / HTTP/1.1\r\nHo');
    stalled.push(s);
  }
  const gone = net.connect(d.port, '127.0.0.1');
  gone.on('error', () => {});
  gone.write(`POST /__dext/vm/service/upload HTTP/1.1\r\nHost: 127.0.0.1:${d.port}\r\nX-Dext-Secret: ${d.secret}\r\nContent-Length: 100000\r\n\r\nabc`);
  gone.destroy();
  const t0 = Date.now();
  const r = await get('/app.js');
  assert.equal(r.status, 200);
  assert.ok(Date.now() - t0 < 500, 'answered promptly');
  for (const s of stalled) s.destroy();
});
