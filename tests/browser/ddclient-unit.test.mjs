// src/ui/ddclient.js alone in headless Chromium: a blank page on a fake origin, every
// /__dext/ call answered by the test through page.route(). Checks the request and answer
// rules of vm.service (spec 5.4), the ExecResult helpers (5.3), the exec dispatch (1.3)
// and the event-connection frames, toasts, openExternal and the members' shapes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = process.env.DEXT_SOURCE_ROOT || path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SRC = fs.readFileSync(path.join(ROOT, 'src/ui/ddclient.js'), 'utf8');
const ORIGIN = 'http://127.0.0.1:9'; // the discard port: nothing leaves the browser, every request is routed
const SECRET = '0123456789abcdef0123456789abcdef';
const CONFIG = {
  secret: SECRET,
  extension: { name: 't', image: 'org/t:1.2.3', hasVm: true, hasService: true, hasHost: true },
  host: { platform: 'linux', arch: 'arm64', hostname: 'box' },
  apiVersion: '0.4.2',
};
const T = { timeout: 30000 };

let browser;
let context;

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    headless: true,
    timeout: 60000,
  });
  context = await browser.newContext();
  context.setDefaultTimeout(10000);
});

after(async () => { await browser?.close(); });

/** One event-connection frame: [u32 id][u8 kind][u32 length][payload], big-endian. */
function frame(id, kind, payload) {
  const p = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const h = Buffer.alloc(9);
  h.writeUInt32BE(id, 0);
  h.writeUInt8(kind, 4);
  h.writeUInt32BE(p.length, 5);
  return Buffer.concat([h, p]);
}

/**
 * A fresh page with ddclient.js loaded. `answer(req)` gives {status, headers, body} or
 * 'abort' for each /__dext/ request; `seen` records them: {method, path, headers, body}.
 */
async function openPage({ cfg = CONFIG, html = '<!doctype html><html><head></head><body></body></html>', clock = false } = {}) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const p = { page, seen: [], errors, answer: () => ({ status: 200, body: '' }) };
  await page.route(`${ORIGIN}/**`, async (route) => {
    const req = route.request();
    const url = new URL(req.url());
    if (url.pathname === '/page.html') {
      await route.fulfill({ status: 200, contentType: 'text/html', body: html });
      return;
    }
    const r = { method: req.method(), path: url.pathname + url.search, headers: await req.allHeaders(), body: req.postData() };
    p.seen.push(r);
    const a = p.answer(r);
    if (a === 'abort') await route.abort('connectionrefused');
    else await route.fulfill({ status: a.status ?? 200, headers: a.headers || {}, body: a.body ?? '' });
  });
  if (clock) await page.clock.install({ time: new Date('2025-01-01T00:00:00Z') });
  await page.goto(`${ORIGIN}/page.html?keep=1&dext-secret=${SECRET}&b=2#frag`);
  // From here on the page's time moves only when the test says so.
  if (clock) await page.clock.pauseAt(new Date('2025-01-01T01:00:00Z'));
  await page.evaluate((c) => { window.__dextConfig = c; }, cfg);
  await page.addScriptTag({ content: SRC });
  p.call = (fn, arg) => page.evaluate(fn, arg);
  /** Settles a promise made in the page: {ok, value} or {ok: false, error: {...own fields, isError, message, name}}. */
  p.settle = (fn, arg) => page.evaluate(async ([src, a]) => {
    // eslint-disable-next-line no-new-func
    const f = new Function(`return (${src})`)();
    try {
      return { ok: true, value: await f(a) };
    } catch (e) {
      return { ok: false, error: { ...e, isError: e instanceof Error, isTypeError: e instanceof TypeError, name: e && e.name, message: e && e.message } };
    }
  }, [fn.toString(), arg]);
  return p;
}

/** Polls fn() until it gives something truthy (at most 5 s). */
async function until(fn, ms = 5000) {
  for (const end = Date.now() + ms; ;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${fn}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let shared;
const get = async () => { shared ??= await openPage(); return shared; };

test('the secret leaves the address; the other parameters and the hash stay', T, async () => {
  const p = await get();
  assert.equal(await p.call(() => location.search + location.hash), '?keep=1&b=2#frag');
  assert.equal(await p.call(() => location.pathname), '/page.html');
});

test('the hybrid client has every v1 and v0 member', T, async () => {
  const p = await get();
  const r = await p.call(() => {
    const c = window.ddClient;
    const kinds = (o, names) => Object.fromEntries(names.map((n) => [n, typeof o[n]]));
    return {
      service: kinds(c.extension.vm.service, ['get', 'post', 'put', 'patch', 'delete', 'head', 'request']),
      vmExec: typeof c.extension.vm.cli.exec,
      hostExec: typeof c.extension.host.cli.exec,
      toast: kinds(c.desktopUI.toast, ['success', 'warning', 'error']),
      dialog: typeof c.desktopUI.dialog.showOpenDialog,
      navigate: kinds(c.desktopUI.navigate, ['viewContainers', 'viewContainer', 'viewContainerLogs', 'viewContainerInspect',
        'viewContainerStats', 'viewContainerTerminal', 'viewImages', 'viewImage', 'viewVolumes', 'viewVolume', 'viewDevEnvironments']),
      host: [typeof c.host.openExternal, c.host.platform, c.host.arch, c.host.hostname],
      docker: [typeof c.docker.cli.exec, typeof c.docker.listContainers, typeof c.docker.listImages],
      image: c.extension.image,
      backend: kinds(c.backend, ['get', 'post', 'put', 'patch', 'delete', 'head', 'request', 'execInContainer', 'execInVMExtension', 'spawnInVMExtension']),
      v0: kinds(c, ['toastSuccess', 'toastWarning', 'toastError', 'openExternal', 'listContainers', 'listImages', 'execHostCmd',
        'spawnHostCmd', 'execDockerCmd', 'spawnDockerCmd', 'navigateToContainers', 'navigateToContainer', 'navigateToContainerLogs',
        'navigateToContainerInspect', 'navigateToContainerStats', 'navigateToImages', 'navigateToImage', 'navigateToVolumes', 'navigateToVolume']),
    };
  });
  const allFns = (o) => Object.entries(o).forEach(([k, v]) => assert.equal(v, 'function', k));
  [r.service, r.toast, r.navigate, r.backend, r.v0].forEach(allFns);
  assert.equal(r.vmExec, 'function');
  assert.equal(r.hostExec, 'function');
  assert.equal(r.dialog, 'function');
  assert.deepEqual(r.host, ['function', 'linux', 'arm64', 'box']);
  assert.deepEqual(r.docker, ['function', 'function', 'function']);
  assert.equal(r.image, 'org/t:1.2.3');
});

test('members follow the config: no vm means no vm, no service and no v0 backend', T, async () => {
  const p = await openPage({ cfg: { ...CONFIG, extension: { ...CONFIG.extension, hasVm: false, hasService: false, hasHost: false } } });
  const r = await p.call(() => [window.ddClient.extension.vm, window.ddClient.extension.host, window.ddClient.backend, typeof window.ddClient.docker.cli.exec]);
  assert.deepEqual(r, [undefined, undefined, undefined, 'function']);
  const q = await openPage({ cfg: { ...CONFIG, extension: { ...CONFIG.extension, hasService: false } } });
  assert.deepEqual(await q.call(() => [typeof window.ddClient.extension.vm.cli.exec, window.ddClient.extension.vm.service]), ['function', undefined]);
  await p.page.close();
  await q.page.close();
});

test('answers: JSON is parsed, other text returned as is, an empty body is ""', T, async () => {
  const p = await get();
  const bodies = { '/json': '{"a":[1,2]}', '/num': '42', '/text': 'plain text', '/almost': '{"a":', '/empty': '' };
  p.answer = (r) => ({ status: 200, headers: { 'Content-Type': 'text/plain' }, body: bodies[r.path.replace('/__dext/vm/service', '')] });
  const svc = (u) => p.settle((url) => window.ddClient.extension.vm.service.get(url), u);
  assert.deepEqual((await svc('/json')).value, { a: [1, 2] });
  assert.equal((await svc('/num')).value, 42);
  assert.equal((await svc('/text')).value, 'plain text');
  assert.equal((await svc('/almost')).value, '{"a":');
  assert.equal((await svc('/empty')).value, '');
});

test('a GET carries the secret, sends no body and lists no caller headers', T, async () => {
  const p = await get();
  p.seen.length = 0;
  p.answer = () => ({ status: 200, body: '[]' });
  await p.settle(() => window.ddClient.extension.vm.service.get('/items?x=1&y=a%20b'));
  const [r] = p.seen;
  assert.equal(r.method, 'GET');
  assert.equal(r.path, '/__dext/vm/service/items?x=1&y=a%20b');
  assert.equal(r.headers['x-dext-secret'], SECRET);
  assert.equal(r.headers['x-dext-headers'], '');
  assert.equal(r.body, null);
});

test('an object body is JSON with Content-Type application/json; a string goes as is', T, async () => {
  const p = await get();
  p.seen.length = 0;
  p.answer = () => ({ status: 200, body: '"ok"' });
  assert.equal((await p.settle(() => window.ddClient.extension.vm.service.post('/o', { x: 1, s: 'é' }))).value, 'ok');
  await p.settle(() => window.ddClient.extension.vm.service.put('/s', '{"not":"re-encoded"}'));
  await p.settle(() => window.ddClient.extension.vm.service.patch('/arr', [1, 2]));
  await p.settle(() => window.ddClient.backend.post('/v0', { v: 0 }));
  const [o, s, arr, v0] = p.seen;
  assert.deepEqual([o.method, o.body, o.headers['content-type'], o.headers['x-dext-headers']], ['POST', '{"x":1,"s":"é"}', 'application/json', 'content-type']);
  assert.equal(s.method, 'PUT');
  assert.equal(s.body, '{"not":"re-encoded"}', 'a string is not JSON-encoded again');
  assert.notEqual(s.headers['content-type'], 'application/json');
  assert.equal(s.headers['x-dext-headers'], '', 'dext set no content type for a string');
  assert.deepEqual([arr.method, arr.body, arr.headers['content-type']], ['PATCH', '[1,2]', 'application/json']);
  assert.deepEqual([v0.body, v0.headers['content-type']], ['{"v":0}', 'application/json']);
});

test('request(): method upper-cased, caller headers sent and listed, a caller content type wins', T, async () => {
  const p = await get();
  p.seen.length = 0;
  p.answer = () => ({ status: 200, body: '' });
  const svc = (c) => p.settle((cfg) => window.ddClient.extension.vm.service.request(cfg), c);
  await svc({ url: '/a', method: 'patch', headers: {}, data: { y: 2 } });
  await svc({ url: '/b', method: 'post', headers: { 'content-TYPE': 'application/vnd.x+json', 'X-Trace': 'abc' }, data: { z: 3 } });
  await svc({ url: '/c', method: 'Put', headers: { 'Content-Type': 'text/csv' }, data: 'a,b\n1,2\n' });
  await svc({ url: '/d', method: 'delete', headers: { Authorization: 'Bearer t', 'X-Dext-Secret': 'forged' }, data: null });
  const [a, b, c, d] = p.seen;
  assert.deepEqual([a.method, a.body, a.headers['content-type'], a.headers['x-dext-headers']], ['PATCH', '{"y":2}', 'application/json', 'content-type']);
  assert.equal(b.method, 'POST');
  assert.equal(b.body, '{"z":3}');
  assert.equal(b.headers['content-type'], 'application/vnd.x+json', 'the caller\'s content type wins, whatever its case');
  assert.equal(b.headers['x-trace'], 'abc');
  assert.equal(b.headers['x-dext-headers'], 'content-type,x-trace');
  assert.deepEqual([c.method, c.body, c.headers['content-type'], c.headers['x-dext-headers']], ['PUT', 'a,b\n1,2\n', 'text/csv', 'content-type']);
  assert.equal(d.method, 'DELETE');
  assert.equal(d.body, null);
  assert.equal(d.headers.authorization, 'Bearer t');
  assert.equal(d.headers['x-dext-secret'], SECRET, 'the caller cannot replace the secret');
  assert.equal(d.headers['x-dext-headers'], 'authorization');
});

test('form and binary bodies are sent as they are', T, async () => {
  const p = await get();
  p.seen.length = 0;
  await p.settle(() => window.ddClient.extension.vm.service.post('/q', new URLSearchParams({ a: '1', b: 'x y' })));
  await p.settle(() => window.ddClient.extension.vm.service.post('/bin', new Uint8Array([104, 105])));
  const [q, bin] = p.seen;
  assert.equal(q.body, 'a=1&b=x+y');
  assert.match(q.headers['content-type'], /^application\/x-www-form-urlencoded/);
  assert.equal(bin.body, 'hi');
  assert.notEqual(bin.headers['content-type'], 'application/json');
});

test('delete and head send no body; head resolves with ""', T, async () => {
  const p = await get();
  p.seen.length = 0;
  p.answer = () => ({ status: 200, body: '' });
  await p.settle(() => window.ddClient.extension.vm.service.delete('/d'));
  const h = await p.settle(() => window.ddClient.backend.head('/h'));
  assert.deepEqual(p.seen.map((s) => [s.method, s.body]), [['DELETE', null], ['HEAD', null]]);
  assert.deepEqual(h, { ok: true, value: '' });
});

test('the url must be a path: anything else rejects and sends nothing', T, async () => {
  const p = await get();
  p.seen.length = 0;
  for (const u of [42, undefined, null, { url: '/x' }, 'hello', 'http://example.com/x']) {
    const r = await p.settle((url) => window.ddClient.extension.vm.service.get(url), u);
    assert.equal(r.ok, false, `url ${JSON.stringify(u)}`);
    assert.equal(r.error.isTypeError, true);
  }
  const r = await p.settle(() => window.ddClient.extension.vm.service.request({ method: 'GET', headers: {}, data: null }));
  assert.equal(r.ok, false);
  const calls = p.call(() => { const x = window.ddClient.extension.vm.service.get(7); x.catch(() => {}); return x instanceof Promise; });
  assert.equal(await calls, true, 'a bad url rejects, it does not throw');
  assert.deepEqual(p.seen, []);
});

test('a non-2xx answer rejects with a ServiceError {name, message, statusCode, data}', T, async () => {
  const p = await get();
  p.answer = () => ({ status: 409, body: '{"reason":"busy"}' });
  const a = await p.settle(() => window.ddClient.extension.vm.service.get('/x'));
  assert.equal(a.ok, false);
  assert.deepEqual({ name: a.error.name, message: a.error.message, statusCode: a.error.statusCode, data: a.error.data },
    { name: 'Conflict', message: '{"reason":"busy"}', statusCode: 409, data: { reason: 'busy' } });
  p.answer = () => ({ status: 404, body: 'no such route' });
  const b = await p.settle(() => window.ddClient.backend.post('/x', {}));
  assert.deepEqual([b.error.name, b.error.message, b.error.statusCode], ['Not Found', 'no such route', 404]);
  p.answer = () => ({ status: 500, body: '' });
  const c = await p.settle(() => window.ddClient.extension.vm.service.delete('/x'));
  assert.deepEqual([c.error.name, c.error.message, c.error.statusCode], ['Internal Server Error', 'Internal Server Error', 500]);
  p.answer = () => ({ status: 204, body: '' });
  assert.deepEqual(await p.settle(() => window.ddClient.extension.vm.service.put('/x', 's')), { ok: true, value: '' });
});

test('a failure of dext itself (X-Dext-Error) rejects with an Error carrying its message', T, async () => {
  const p = await get();
  p.answer = () => ({ status: 503, headers: { 'X-Dext-Error': '1', 'Content-Type': 'application/json' }, body: '{"error":"backend not running (exited with status 3)"}' });
  const a = await p.settle(() => window.ddClient.extension.vm.service.get('/x'));
  assert.deepEqual([a.ok, a.error.isError, a.error.message, a.error.statusCode], [false, true, 'backend not running (exited with status 3)', undefined]);
  p.answer = () => ({ status: 502, headers: { 'X-Dext-Error': '1' }, body: '{"error":"backend closed the connection early"}' });
  const b = await p.settle(() => window.ddClient.backend.request({ url: '/x', method: 'POST', headers: {}, data: {} }));
  assert.deepEqual([b.error.isError, b.error.message], [true, 'backend closed the connection early']);
});

test('dext out of reach rejects with an Error saying so', T, async () => {
  const p = await get();
  p.answer = () => 'abort';
  const a = await p.settle(() => window.ddClient.extension.vm.service.get('/x'));
  assert.equal(a.ok, false);
  assert.equal(a.error.isError, true);
  assert.match(a.error.message, /dext is unreachable/);
  const b = await p.settle(() => window.ddClient.docker.listContainers());
  assert.match(b.error.message, /dext is unreachable/);
});

// ---- exec: the non-stream path and the ExecResult helpers (stubbed POST /__dext/exec) ----

/** Answers /__dext/exec with `raw` and returns what a blocking exec gives in the page. */
async function execWith(p, raw, how = 'v1') {
  p.answer = (r) => (r.path === '/__dext/exec' ? { status: 200, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(raw) } : { status: 404, body: '' });
  return p.settle(async (h) => {
    const c = window.ddClient;
    const run = { v1: () => c.docker.cli.exec('ps', []), v0: () => c.execDockerCmd('ps') }[h];
    const summary = (res) => {
      const call = (f) => { try { return { value: res[f]() }; } catch (e) { return { threw: e.name }; } };
      return { fields: { ...res }, keys: Object.keys(res), lines: call('lines'), jsonLines: call('parseJsonLines'), jsonObject: call('parseJsonObject') };
    };
    try { return summary(await run()); } catch (e) { if (typeof e.lines !== 'function') throw e; return { rejected: true, ...summary(e) }; }
  }, how);
}

const ok = (stdout) => ({ cmd: 'docker ps', code: 0, killed: false, signal: null, stdout, stderr: '' });

test('lines(): split on \\n and \\r\\n, one trailing empty line dropped, inner empty lines kept', T, async () => {
  const p = await get();
  const cases = [
    ['a\nb\n', ['a', 'b']],
    ['a\r\nb\r\n', ['a', 'b']],
    ['a\nb', ['a', 'b']],
    ['a\n\nb\n', ['a', '', 'b']],
    ['a\n\n', ['a', '']],
    ['', []],
    ['\n', ['']], // one empty line: only the trailing split is dropped
  ];
  for (const [stdout, want] of cases) {
    const r = await execWith(p, ok(stdout));
    assert.deepEqual(r.value.lines, { value: want }, JSON.stringify(stdout));
  }
});

test('parseJsonLines(): every non-blank line parsed, blank ones skipped; parseJsonObject(): all of stdout', T, async () => {
  const p = await get();
  let r = await execWith(p, ok('{"a":1}\r\n\n   \n{"b":2}\n'));
  assert.deepEqual(r.value.jsonLines, { value: [{ a: 1 }, { b: 2 }] });
  r = await execWith(p, ok(''));
  assert.deepEqual(r.value.jsonLines, { value: [] });
  assert.deepEqual(r.value.jsonObject, { threw: 'SyntaxError' });
  r = await execWith(p, ok('{\n  "k": "v",\n  "n": [1, 2]\n}\n'));
  assert.deepEqual(r.value.jsonObject, { value: { k: 'v', n: [1, 2] } });
  assert.deepEqual(r.value.jsonLines, { threw: 'SyntaxError' }, 'a pretty-printed object is not JSON lines');
  r = await execWith(p, ok('not json\n'));
  assert.deepEqual(r.value.jsonLines, { threw: 'SyntaxError' });
});

test('an ExecResult has the raw fields (helpers not enumerable); v0 results have the helpers too', T, async () => {
  const p = await get();
  const r = await execWith(p, { cmd: 'docker ps', code: 0, killed: false, signal: null, stdout: 'x\n', stderr: 'warn' });
  assert.deepEqual(r.value.keys, ['cmd', 'killed', 'signal', 'code', 'stdout', 'stderr']);
  assert.deepEqual(r.value.fields, { cmd: 'docker ps', code: 0, killed: false, signal: null, stdout: 'x\n', stderr: 'warn' });
  assert.equal(r.value.rejected, undefined, 'output on stderr does not reject');
  const v0 = await execWith(p, ok('{"a":1}\n'), 'v0');
  assert.deepEqual(v0.value.jsonLines, { value: [{ a: 1 }] });
});

test('a non-zero exit or a signal rejects with the whole result, helpers included', T, async () => {
  const p = await get();
  let r = await execWith(p, { cmd: 'docker stop x', code: 1, killed: false, signal: null, stdout: 'a\nb\n', stderr: 'bad' });
  assert.equal(r.value.rejected, true);
  assert.deepEqual(r.value.lines, { value: ['a', 'b'] });
  assert.deepEqual([r.value.fields.code, r.value.fields.stderr, r.value.fields.cmd], [1, 'bad', 'docker stop x']);
  r = await execWith(p, { cmd: 'sleep 9', code: null, killed: true, signal: 'SIGTERM', stdout: '', stderr: '' });
  assert.equal(r.value.rejected, true);
  assert.equal(r.value.fields.signal, 'SIGTERM');
});

test('exec requests: scope, cmd, args, cwd, env; v0 single-string and variadic forms', T, async () => {
  const p = await get();
  p.seen.length = 0;
  p.answer = () => ({ status: 200, body: JSON.stringify(ok('')) });
  await p.settle(async () => {
    const c = window.ddClient;
    await c.extension.vm.cli.exec('ls', ['-l', '"a b"'], { cwd: 'sub', env: { A: '1' } });
    await c.extension.host.cli.exec('hello-host', ['x']);
    await c.docker.cli.exec('ps', ['--format', '"{{json .}}"']);
    await c.backend.execInContainer('web', 'cat /etc/hostname');
    await c.backend.execInVMExtension('echo "v0 line"');
    await c.execHostCmd('hello-host "a b"');
    await c.execDockerCmd('image', 'ls', '-q');
  });
  const bodies = p.seen.map((s) => [s.method, s.path, s.headers['x-dext-secret'], JSON.parse(s.body)]);
  const strip = (o) => JSON.parse(JSON.stringify(o)); // undefined cwd/env are not sent
  assert.deepEqual(bodies.map((b) => b.slice(0, 3)), Array(7).fill(['POST', '/__dext/exec', SECRET]));
  assert.deepEqual(bodies.map((b) => strip(b[3])), [
    { scope: 'vm', cmd: 'ls', args: ['-l', '"a b"'], cwd: 'sub', env: { A: '1' } },
    { scope: 'host', cmd: 'hello-host', args: ['x'] },
    { scope: 'docker', cmd: 'ps', args: ['--format', '"{{json .}}"'] },
    { scope: 'container', container: 'web', cmd: 'cat /etc/hostname', args: [] },
    { scope: 'vm', cmd: 'echo "v0 line"', args: [] },
    { scope: 'host', cmd: 'hello-host "a b"', args: [] },
    { scope: 'docker', cmd: 'image', args: ['ls', '-q'] },
  ]);
});

test('an exec that dext cannot start rejects with an Error carrying dext\'s message', T, async () => {
  const p = await get();
  p.answer = () => ({ status: 404, headers: { 'X-Dext-Error': '1' }, body: '{"error":"cannot run \'nope\': No such file or directory (ENOENT)"}' });
  const r = await p.settle(() => window.ddClient.extension.vm.cli.exec('nope', []));
  assert.deepEqual([r.ok, r.error.isError, r.error.message], [false, true, 'cannot run \'nope\': No such file or directory (ENOENT)']);
});

// ---- exec: the stream path over the page's event connection (GET /__dext/events) ----

/** A fresh page whose event connection delivers `frames` (stream ids start at 1 per page). */
async function streamPage(frames) {
  const p = await openPage();
  p.answer = (r) => {
    if (r.path === '/__dext/events') return { status: 200, headers: { 'Content-Type': 'application/octet-stream' }, body: Buffer.concat([frame(0, 0, 'sess-1'), ...frames]) };
    if (r.path === '/__dext/exec/stream') return { status: 200, body: JSON.stringify({ id: JSON.parse(r.body).id }) };
    return { status: 200, body: '{}' };
  };
  return p;
}

/** Runs one stream call in the page and collects its events until onClose/onError (+100 ms). */
function collect(p, { split = false, throwing = false, how = 'docker' } = {}) {
  return p.call(({ split: s, throwing: t, how: h }) => new Promise((resolve) => {
    const events = [];
    let timer;
    const end = () => { clearTimeout(timer); timer = setTimeout(() => resolve({ events, sync }), 100); };
    const stream = {
      splitOutputLines: s,
      onOutput: (d) => { events.push(d); if (t) throw new Error('extension bug'); },
      onError: (e) => { events.push({ error: e.message, signal: e.signal }); end(); if (t) throw new Error('extension bug'); },
      onClose: (code) => { events.push({ close: code }); end(); if (t) throw new Error('extension bug'); },
    };
    const c = window.ddClient;
    const proc = { docker: () => c.docker.cli.exec('logs', ['-f', '"x"'], { stream }), vm: () => c.extension.vm.cli.exec('sh', [], { cwd: 'd', stream }) }[h]();
    const sync = { close: typeof proc.close, thenable: typeof proc.then };
  }), { split, throwing, how });
}

test('a stream call returns an ExecProcess synchronously; chunks decode UTF-8 across frames', T, async () => {
  const e = Buffer.from('é');
  const p = await streamPage([
    frame(1, 1, Buffer.concat([Buffer.from('caf'), e.subarray(0, 1)])),
    frame(1, 2, 'warn\n'),
    frame(1, 1, Buffer.concat([e.subarray(1), Buffer.from('\nnext')])),
    frame(1, 3, '{"code":0,"signal":null}'),
  ]);
  const r = await collect(p);
  assert.deepEqual(r.sync, { close: 'function', thenable: 'undefined' });
  assert.deepEqual(r.events, [{ stdout: 'caf' }, { stderr: 'warn\n' }, { stdout: 'é\nnext' }, { close: 0 }]);
  const start = await until(() => p.seen.find((s) => s.path === '/__dext/exec/stream'));
  assert.deepEqual(JSON.parse(start.body), { session: 'sess-1', id: 1, scope: 'docker', cmd: 'logs', args: ['-f', '"x"'] });
  assert.equal(start.headers['x-dext-secret'], SECRET);
  assert.equal(p.seen.find((s) => s.path === '/__dext/events').headers['x-dext-secret'], SECRET);
  await p.page.close();
});

test('splitOutputLines: one call per line per stream, \\r\\n accepted, the last partial line flushed before onClose', T, async () => {
  const p = await streamPage([
    frame(1, 1, 'a\nb'), frame(1, 2, 'e1'), frame(1, 1, '\r\nc'), frame(1, 2, '\ne2'),
    frame(1, 3, '{"code":3,"signal":null}'),
  ]);
  const r = await collect(p, { split: true, how: 'vm' });
  assert.deepEqual(r.events, [{ stdout: 'a' }, { stdout: 'b' }, { stderr: 'e1' }, { stdout: 'c' }, { stderr: 'e2' }, { close: 3 }]);
  assert.deepEqual(JSON.parse((await until(() => p.seen.find((s) => s.path === '/__dext/exec/stream'))).body), { session: 'sess-1', id: 1, scope: 'vm', cmd: 'sh', args: [], cwd: 'd' });
  await p.page.close();
});

test('death by a signal goes to onError with the signal, then onClose(-1); a start failure to onError', T, async () => {
  let p = await streamPage([frame(1, 1, 'x'), frame(1, 3, '{"code":null,"signal":"SIGKILL"}')]);
  let r = await collect(p);
  assert.equal(r.events[1].signal, 'SIGKILL');
  assert.match(r.events[1].error, /SIGKILL/);
  assert.deepEqual(r.events[2], { close: -1 });
  await p.page.close();
  p = await streamPage([frame(1, 4, 'cannot run \'x\': No such file or directory (ENOENT)')]);
  r = await collect(p);
  assert.deepEqual(r.events, [{ error: 'cannot run \'x\': No such file or directory (ENOENT)', signal: undefined }]);
  await p.page.close();
});

test('exceptions in the extension\'s callbacks do not break the stream', T, async () => {
  const p = await streamPage([frame(1, 1, 'l1\nl2\n'), frame(1, 1, 'l3\n'), frame(1, 3, '{"code":0,"signal":null}')]);
  const r = await collect(p, { split: true, throwing: true });
  assert.deepEqual(r.events, [{ stdout: 'l1' }, { stdout: 'l2' }, { stdout: 'l3' }, { close: 0 }]);
  assert.deepEqual(p.errors, []);
  await p.page.close();
});

test('close(): no callback afterwards, and dext is told to end the stream', T, async () => {
  const p = await streamPage([frame(1, 1, 'late output\n'), frame(1, 3, '{"code":0,"signal":null}')]);
  const r = await p.call(() => new Promise((resolve) => {
    const events = [];
    const proc = window.ddClient.docker.cli.exec('events', [], {
      stream: { onOutput: (d) => events.push(d), onError: (e) => events.push(e.message), onClose: (c) => events.push(c) },
    });
    proc.close();
    proc.close(); // twice is harmless
    setTimeout(() => resolve(events), 500);
  }));
  assert.deepEqual(r, []);
  await until(() => p.seen.some((s) => s.path === '/__dext/exec/close'));
  const closes = p.seen.filter((s) => s.path === '/__dext/exec/close');
  assert.equal(closes.length, 1);
  assert.deepEqual(JSON.parse(closes[0].body), { session: 'sess-1', id: 1 });
  await p.page.close();
});

test('a stream started when the event connection cannot open reports it through onError', T, async () => {
  const p = await openPage();
  p.answer = (r) => (r.path === '/__dext/events' ? { status: 401, headers: { 'X-Dext-Error': '1' }, body: '{"error":"missing secret"}' } : { status: 200, body: '{}' });
  const r = await collect(p);
  assert.deepEqual(r.sync, { close: 'function', thenable: 'undefined' });
  assert.deepEqual(r.events, [{ error: 'missing secret', signal: undefined }]);
  await p.page.close();
});

test('v0 spawn*: (data, error) callbacks mapped from the stream events', T, async () => {
  const p = await streamPage([frame(1, 1, 'v0\n'), frame(1, 3, '{"code":2,"signal":null}')]);
  const r = await p.call(() => new Promise((resolve) => {
    const got = [];
    window.ddClient.spawnDockerCmd('ps', ['-a'], (data, error) => {
      got.push({ data, error });
      if (data && data.code !== undefined) resolve(got);
    });
  }));
  assert.deepEqual(r, [{ data: { stdout: 'v0\n' }, error: null }, { data: { code: 2 }, error: null }]);
  // The stubbed frames came before the start was sent: wait for it.
  const start = await until(() => p.seen.find((s) => s.path === '/__dext/exec/stream'));
  assert.deepEqual(JSON.parse(start.body), { session: 'sess-1', id: 1, scope: 'docker', cmd: 'ps', args: ['-a'] });
  await p.page.close();
});

// ---- the other API calls: one JSON POST each ----

test('docker lists, the open dialog and navigation POST JSON to their routes and reject with dext\'s message', T, async () => {
  const p = await get();
  p.seen.length = 0;
  p.answer = (r) => (r.path === '/__dext/docker/containers' ? { status: 200, body: '[{"Id":"abc","Names":["/web"]}]' }
    : r.path === '/__dext/dialog/open' ? { status: 200, body: '{"id":"c1","url":"about:blank"}' }
      : r.path === '/__dext/dialog/wait' ? { status: 200, body: '{"canceled":true,"filePaths":[]}' }
      : { status: 501, headers: { 'X-Dext-Error': '1' }, body: '{"error":"not implemented yet"}' });
  const list = await p.settle(() => window.ddClient.docker.listContainers({ all: true, filters: '{"status":["exited"]}' }));
  assert.deepEqual(list.value, [{ Id: 'abc', Names: ['/web'] }]);
  const dialog = await p.settle(() => window.ddClient.desktopUI.dialog.showOpenDialog({ properties: ['openFile'] }));
  assert.deepEqual(dialog.value, { canceled: true, filePaths: [] });
  assert.equal(await p.call(() => document.querySelector('dext-overlay')), null, 'the chooser frame is gone');
  const nav = await p.settle(() => window.ddClient.desktopUI.navigate.viewContainer('f00d'));
  assert.deepEqual([nav.ok, nav.error.isError, nav.error.message], [false, true, 'not implemented yet']);
  const images = await p.settle(() => window.ddClient.listImages());
  assert.equal(images.error.message, 'not implemented yet');
  const sent = p.seen.map((s) => [s.method, s.path, s.headers['content-type'], s.headers['x-dext-secret'], JSON.parse(s.body)]);
  assert.deepEqual(sent, [
    ['POST', '/__dext/docker/containers', 'application/json', SECRET, { all: true, filters: '{"status":["exited"]}' }],
    ['POST', '/__dext/dialog/open', 'application/json', SECRET, { properties: ['openFile'] }],
    ['POST', '/__dext/dialog/wait', 'application/json', SECRET, { id: 'c1' }],
    ['POST', '/__dext/navigate', 'application/json', SECRET, { view: 'container', id: 'f00d' }],
    ['POST', '/__dext/docker/images', 'application/json', SECRET, {}],
  ]);
  p.seen.length = 0;
  assert.equal((await p.settle(() => window.ddClient.desktopUI.navigate.viewDevEnvironments())).ok, true);
  assert.deepEqual(p.seen, [], 'viewDevEnvironments asks dext nothing');
  assert.equal(await p.call(() => window.ddClient.navigateToVolumes()), undefined, 'v0 void navigation returns nothing');
});

// ---- toasts, openExternal, host, themes ----

const toastsIn = (p) => p.call(() => {
  const host = document.getElementById('dext-toasts');
  if (!host) return null;
  return [...host.shadowRoot.querySelectorAll('[data-dext-toast]')].map((t) => {
    const r = t.getBoundingClientRect();
    return { kind: t.getAttribute('data-dext-toast'), text: t.textContent, visible: r.width > 0 && r.height > 0, right: innerWidth - r.right, bottom: innerHeight - r.bottom };
  });
});

test('toasts: created on first use, bottom-right in an open shadow root, visible despite the page\'s CSS', T, async () => {
  const hostile = '<!doctype html><html><head><style>div,body>*{display:none!important}*{position:static!important;color:red!important}</style></head><body><div id="root"></div></body></html>';
  const p = await openPage({ html: hostile });
  assert.equal(await toastsIn(p), null, 'nothing is added to the page before the first toast');
  await p.call(() => {
    window.ddClient.desktopUI.toast.success('saved');
    window.ddClient.desktopUI.toast.warning('careful');
    window.ddClient.toastError('<b>not html</b>');
  });
  const t = await toastsIn(p);
  assert.deepEqual(t.map((x) => [x.kind, x.text, x.visible]), [['success', 'saved', true], ['warning', 'careful', true], ['error', '<b>not html</b>', true]]);
  assert.ok(t.every((x) => x.right >= 0 && x.right < 64 && x.bottom >= 0 && x.bottom < 200), JSON.stringify(t));
  const a11y = await p.call(() => {
    const root = document.getElementById('dext-toasts').shadowRoot;
    const stack = root.querySelector('[data-dext-toast]').parentElement;
    return [root.mode, stack.getAttribute('role'), stack.getAttribute('aria-live'), root.querySelectorAll('b').length];
  });
  assert.deepEqual(a11y, ['open', 'status', 'polite', 0]);
  await p.page.close();
});

test('toasts: a click dismisses one; each goes by itself after about 5 s; they come back if the page wiped the body', T, async () => {
  const p = await openPage({ clock: true });
  await p.call(() => { window.ddClient.toastSuccess('one'); window.ddClient.toastWarning('two'); });
  await p.call(() => document.getElementById('dext-toasts').shadowRoot.querySelector('[data-dext-toast]').click());
  assert.deepEqual((await toastsIn(p)).map((x) => x.text), ['two']);
  await p.page.clock.runFor(3000);
  assert.deepEqual((await toastsIn(p)).map((x) => x.text), ['two']);
  await p.page.clock.runFor(3000);
  assert.deepEqual(await toastsIn(p), []);
  await p.call(() => { document.body.innerHTML = '<p>re-rendered</p>'; window.ddClient.desktopUI.toast.error('back'); });
  assert.deepEqual((await toastsIn(p)).map((x) => [x.kind, x.text, x.visible]), [['error', 'back', true]]);
  await p.page.close();
});

test('openExternal opens http and https only, without an opener, and names a refused scheme', T, async () => {
  const p = await get();
  const r = await p.call(() => {
    const opened = [];
    const real = window.open;
    window.open = (...a) => { opened.push(a); return null; };
    const out = {};
    for (const u of ['file:///etc/passwd', 'javascript:alert(1)', 'ftp://x/', 'data:text/html,hi', 'not a url']) {
      try { window.ddClient.host.openExternal(u); out[u] = 'opened'; } catch (e) { out[u] = [e instanceof Error, e.message]; }
    }
    try { window.ddClient.openExternal('chrome://settings'); out.v0 = 'opened'; } catch (e) { out.v0 = e.message; }
    window.ddClient.host.openExternal('https://docs.docker.com/extensions/');
    window.ddClient.openExternal('http://127.0.0.1:8080/x?y=1');
    window.open = real;
    return { out, opened };
  });
  assert.match(r.out['file:///etc/passwd'][1], /file:/);
  assert.match(r.out['javascript:alert(1)'][1], /javascript:/);
  assert.match(r.out['ftp://x/'][1], /ftp:/);
  assert.match(r.out['data:text/html,hi'][1], /data:/);
  for (const v of Object.values(r.out).slice(0, 5)) assert.equal(v[0], true);
  assert.match(r.out.v0, /chrome:/);
  assert.deepEqual(r.opened, [
    ['https://docs.docker.com/extensions/', '_blank', 'noopener,noreferrer'],
    ['http://127.0.0.1:8080/x?y=1', '_blank', 'noopener,noreferrer'],
  ]);
});

test('theme globals: MUI ThemeOptions for light and dark, v5 and v6', T, async () => {
  const p = await get();
  const t = await p.call(() => [window.__ddMuiV5Themes, window.__ddMuiV6Themes]);
  for (const themes of t) {
    for (const mode of ['light', 'dark']) {
      const o = themes[mode];
      assert.equal(o.palette.mode, mode);
      for (const k of ['primary', 'secondary', 'error', 'warning', 'info', 'success']) {
        for (const f of ['main', 'light', 'dark', 'contrastText']) assert.match(o.palette[k][f], /^#[0-9a-f]{3,6}$/i, `${mode}.${k}.${f}`);
      }
      assert.match(o.palette.background.default, /^#/);
      assert.match(o.palette.background.paper, /^#/);
      for (const f of ['primary', 'secondary', 'disabled']) assert.equal(typeof o.palette.text[f], 'string');
      assert.equal(typeof o.palette.divider, 'string');
      for (const c of ['amber', 'blue', 'green', 'grey', 'red', 'violet']) {
        const shades = Object.keys(o.palette.docker[c]);
        assert.deepEqual(shades, ['100', '200', '300', '400', '500', '600', '700', '800'], `${mode}.docker.${c}`);
        for (const k of shades) assert.match(o.palette.docker[c][k], /^#[0-9a-f]{6}$/, `${mode}.docker.${c}.${k}`);
      }
      /* 100 is the shade nearest the background: lightest in light mode, darkest in dark. */
      const lum = (hex) => parseInt(hex.slice(1, 3), 16) + parseInt(hex.slice(3, 5), 16) + parseInt(hex.slice(5, 7), 16);
      const g = o.palette.docker.grey;
      assert.equal(lum(g['100']) > lum(g['800']), mode === 'light', `${mode}: grey ramp direction`);
      assert.equal(typeof o.typography.fontFamily, 'string');
      assert.equal(typeof o.shape.borderRadius, 'number');
    }
    assert.notEqual(themes.light.palette.background.default, themes.dark.palette.background.default);
  }
  assert.deepEqual(t[0], t[1]);
});

test('no uncaught errors on the shared page', T, async () => {
  const p = await get();
  assert.deepEqual(p.errors, []);
});
