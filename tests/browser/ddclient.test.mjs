// src/ui/ddclient.js in a blank page, with dext's API answered by the test itself:
// the request and answer rules of vm.service (spec 5.4) and the ExecResult helpers (5.3).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../integration/lib.mjs';
import { launch } from './browser.mjs';

const ORIGIN = 'http://127.0.0.1:9';
let browser;
let page;
const seen = [];
let answer = () => ({ status: 200, body: '' });

before(async () => {
  browser = await launch();
  page = await browser.ctx.newPage();
  await page.route(`${ORIGIN}/**`, async (route) => {
    const req = route.request();
    const url = new URL(req.url());
    if (url.pathname === '/page.html') {
      await route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><html><head></head><body></body></html>' });
      return;
    }
    seen.push({ method: req.method(), path: url.pathname + url.search, headers: await req.allHeaders(), body: req.postData() });
    const a = answer(url.pathname);
    await route.fulfill({ status: a.status, headers: a.headers || {}, body: a.body });
  });
  await page.goto(`${ORIGIN}/page.html?keep=1&dext-secret=s3cr3t#frag`);
  await page.evaluate((cfg) => { window.__dextConfig = cfg; }, {
    secret: 's3cr3t',
    extension: { name: 't', image: 'org/t:1.2.3', hasVm: true, hasService: true, hasHost: false },
    host: { platform: 'linux', arch: 'x64', hostname: 'h' },
  });
  await page.addScriptTag({ content: fs.readFileSync(path.join(ROOT, 'src/ui/ddclient.js'), 'utf8') });
});

after(async () => { await browser?.close(); });

const call = (fn) => page.evaluate(fn);

test('the secret leaves the address; other parameters and the hash stay', async () => {
  assert.equal(await call(() => location.search + location.hash), '?keep=1#frag');
});

test('members follow the metadata: vm and service present, host absent', async () => {
  const r = await call(() => [typeof window.ddClient.extension.vm.service, window.ddClient.extension.host, window.ddClient.extension.image]);
  assert.deepEqual(r, ['object', undefined, 'org/t:1.2.3']);
});

test('GET: JSON bodies are parsed, other text is returned as is, empty is ""', async () => {
  answer = (p) => (p.endsWith('/json') ? { status: 200, body: '{"a":[1,2]}' } : p.endsWith('/text') ? { status: 200, body: 'plain' } : { status: 200, body: '' });
  assert.deepEqual(await call(() => window.ddClient.extension.vm.service.get('/json')), { a: [1, 2] });
  assert.equal(await call(() => window.ddClient.extension.vm.service.get('/text')), 'plain');
  assert.equal(await call(() => window.ddClient.extension.vm.service.get('/empty')), '');
  const last = seen.at(-1);
  assert.equal(last.method, 'GET');
  assert.equal(last.path, '/__dext/vm/service/empty');
  assert.equal(last.headers['x-dext-secret'], 's3cr3t');
  assert.equal(last.body, null);
});

test('an object body is JSON with Content-Type application/json; a string is sent as is', async () => {
  answer = () => ({ status: 200, body: '"ok"' });
  seen.length = 0;
  await call(() => window.ddClient.extension.vm.service.post('/o', { x: 1 }));
  await call(() => window.ddClient.extension.vm.service.put('/s', 'raw text'));
  await call(() => window.ddClient.extension.vm.service.request({ url: '/r', method: 'patch', headers: {}, data: { y: 2 } }));
  await call(() => window.ddClient.extension.vm.service.request({ url: '/c', method: 'POST', headers: { 'Content-Type': 'application/vnd.x+json', 'X-Trace': 'abc' }, data: { z: 3 } }));
  const [o, s, r, c] = seen;
  assert.equal(o.method, 'POST');
  assert.equal(o.body, '{"x":1}');
  assert.equal(o.headers['content-type'], 'application/json');
  assert.equal(o.headers['x-dext-headers'], 'content-type');
  assert.equal(s.method, 'PUT');
  assert.equal(s.body, 'raw text');
  assert.notEqual(s.headers['content-type'], 'application/json');
  assert.equal(r.method, 'PATCH');
  assert.equal(r.body, '{"y":2}');
  assert.equal(r.headers['content-type'], 'application/json');
  assert.equal(c.headers['content-type'], 'application/vnd.x+json', 'caller headers win');
  assert.equal(c.headers['x-trace'], 'abc');
  assert.equal(c.headers['x-dext-headers'], 'content-type,x-trace');
});

test('delete and head send no body', async () => {
  seen.length = 0;
  answer = () => ({ status: 200, body: '' });
  await call(() => window.ddClient.extension.vm.service.delete('/d'));
  await call(() => window.ddClient.backend.head('/h'));
  assert.deepEqual(seen.map((s) => [s.method, s.body]), [['DELETE', null], ['HEAD', null]]);
});

test('a non-2xx answer rejects with a ServiceError {name, message, statusCode}', async () => {
  answer = () => ({ status: 409, body: '{"reason":"busy"}' });
  const e = await call(() => window.ddClient.extension.vm.service.get('/x').then(() => null, (err) => ({ ...err })));
  assert.deepEqual(e, { name: 'Conflict', message: '{"reason":"busy"}', statusCode: 409, data: { reason: 'busy' } });
  answer = () => ({ status: 500, body: '' });
  const e2 = await call(() => window.ddClient.backend.get('/x').then(() => null, (err) => ({ ...err })));
  assert.equal(e2.statusCode, 500);
  assert.equal(e2.message, 'Internal Server Error');
});

test('a failure of dext itself (X-Dext-Error) rejects with an Error naming it', async () => {
  answer = () => ({ status: 503, headers: { 'X-Dext-Error': '1' }, body: '{"error":"backend not running (exited with status 3)"}' });
  const e = await call(() => window.ddClient.extension.vm.service.get('/x').then(() => null, (err) => [err instanceof Error, err.message, err.statusCode]));
  assert.deepEqual(e, [true, 'backend not running (exited with status 3)', undefined]);
});

test('ExecResult helpers: lines(), parseJsonLines(), parseJsonObject() and the empty-line rules', async () => {
  answer = (p) => (p === '/__dext/exec'
    ? { status: 200, body: JSON.stringify({ cmd: 'docker ps', code: 0, stdout: '{"a":1}\r\n\n{"b":2}\n', stderr: 'warn', killed: false, signal: null }) }
    : { status: 404, body: '' });
  const r = await call(async () => {
    const res = await window.ddClient.docker.cli.exec('ps', ['--format', '"{{json .}}"']);
    return { lines: res.lines(), json: res.parseJsonLines(), stderr: res.stderr, code: res.code, keys: Object.keys(res), serial: JSON.stringify(res) };
  });
  assert.deepEqual(r.lines, ['{"a":1}', '', '{"b":2}']);
  assert.deepEqual(r.json, [{ a: 1 }, { b: 2 }]);
  assert.equal(r.stderr, 'warn');
  assert.equal(r.code, 0);
  assert.deepEqual(r.keys, ['cmd', 'killed', 'signal', 'code', 'stdout', 'stderr']);
  const sent = seen.at(-1);
  assert.deepEqual(JSON.parse(sent.body), { scope: 'docker', cmd: 'ps', args: ['--format', '"{{json .}}"'] });

  answer = () => ({ status: 200, body: JSON.stringify({ cmd: 'x', code: 0, stdout: '{"k":"v"}\n', stderr: '' }) });
  assert.deepEqual(await call(async () => (await window.ddClient.extension.vm.cli.exec('x', [])).parseJsonObject()), { k: 'v' });
});

test('a non-zero exit rejects with the whole result, helpers included', async () => {
  answer = () => ({ status: 200, body: JSON.stringify({ cmd: 'false', code: 1, stdout: 'a\nb\n', stderr: 'bad' }) });
  const r = await call(() => window.ddClient.extension.vm.cli.exec('false', []).then(() => null, (e) => ({ code: e.code, stderr: e.stderr, lines: e.lines() })));
  assert.deepEqual(r, { code: 1, stderr: 'bad', lines: ['a', 'b'] });
});

test('a stream call returns an ExecProcess at once; errors reach onError, callbacks that throw are contained', async () => {
  answer = () => ({ status: 404, headers: { 'X-Dext-Error': '1' }, body: '{"error":"no stream here"}' });
  const r = await call(() => new Promise((resolve) => {
    const proc = window.ddClient.extension.vm.cli.exec('x', [], {
      stream: {
        onError: (e) => { setTimeout(() => resolve({ sync: typeof proc.close, msg: e.message }), 0); throw new Error('callback bug'); },
      },
    });
  }));
  assert.deepEqual(r, { sync: 'function', msg: 'no stream here' });
});

test('viewDevEnvironments resolves; toasts of every kind', async () => {
  const r = await call(async () => {
    await window.ddClient.desktopUI.navigate.viewDevEnvironments();
    window.ddClient.toastError('e1');
    window.ddClient.desktopUI.toast.warning('w1');
    return [...document.getElementById('dext-toasts').shadowRoot.querySelectorAll('[data-dext-toast]')].map((t) => [t.dataset.dextToast, t.textContent]);
  });
  assert.deepEqual(r, [['error', 'e1'], ['warning', 'w1']]);
});
