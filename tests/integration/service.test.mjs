// extension.vm.service through dext: methods, headers, statuses, streaming, errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpState, makeExt, serviceMeta, startDext, request, rawRequest, waitFor, procStatusKb, FIXTURE } from './lib.mjs';

let d;
before(async () => {
  const st = tmpState();
  const dir = makeExt(st.dir, 'svc', serviceMeta());
  d = await startDext([dir, '--backend-cmd', FIXTURE], { env: st.env });
});
after(async () => { await d?.stop(); });

const svc = (p, opts = {}) => request(d.port, { path: '/__dext/vm/service' + p, secret: d.secret, ...opts });

test('GET resolves with the backend body, as is', async () => {
  const r = await svc('/hello');
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], 'application/json');
  assert.deepEqual(JSON.parse(r.text), { message: 'hello from the backend' });
  assert.equal(r.headers['x-dext-error'], undefined);
});

test('every method reaches the backend with its body, query and headers', async () => {
  for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) {
    const body = ['POST', 'PUT', 'PATCH'].includes(method) ? JSON.stringify({ m: method }) : undefined;
    const r = await svc('/echo?x=1&y=a%20b', {
      method, body,
      headers: body ? { 'Content-Type': 'application/json', 'X-Custom': 'yes' } : { 'X-Custom': 'yes' },
    });
    assert.equal(r.status, 200, method);
    const e = JSON.parse(r.text);
    assert.equal(e.method, method);
    assert.equal(e.path, '/echo?x=1&y=a%20b');
    assert.equal(e.headers['x-custom'], 'yes');
    assert.equal(e.headers.host, 'localhost');
    assert.equal(e.headers['x-dext-secret'], undefined, 'the secret never reaches the backend');
    if (body) {
      assert.equal(e.body, body);
      assert.equal(e.headers['content-type'], 'application/json');
    }
  }
  const head = await svc('/echo', { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
});

test('browser headers are dropped; X-Dext-Headers names what the caller set', async () => {
  const r = await svc('/echo', {
    method: 'POST', body: 'plain text',
    headers: {
      'Content-Type': 'text/plain', 'X-A': '1', 'X-B': '2', 'X-Dext-Headers': 'x-a',
      Cookie: `dext-${d.port}=${d.secret}`, Origin: `http://127.0.0.1:${d.port}`, Referer: 'http://x/',
      'Sec-Fetch-Mode': 'cors', 'User-Agent': 'browser',
    },
  });
  const e = JSON.parse(r.text);
  assert.equal(e.body, 'plain text');
  assert.equal(e.headers['x-a'], '1');
  assert.equal(e.headers['content-type'], 'text/plain');
  for (const h of ['x-b', 'cookie', 'origin', 'referer', 'sec-fetch-mode', 'user-agent', 'x-dext-headers']) {
    assert.equal(e.headers[h], undefined, h);
  }
});

test('backend statuses pass through and are not dext errors', async () => {
  for (const code of [201, 400, 404, 418, 500, 503]) {
    const r = await svc(`/status/${code}`);
    assert.equal(r.status, code);
    assert.equal(r.text, `status ${code}`);
    assert.equal(r.headers['x-dext-error'], undefined);
  }
  const nc = await svc('/status/204');
  assert.equal(nc.status, 204);
  assert.equal(nc.body.length, 0);
  const root = await request(d.port, { path: '/__dext/vm/service', secret: d.secret });
  assert.equal(root.status, 404, 'an empty path is "/" on the backend');
});

test('chunked answers are relayed whole', async () => {
  const r = await svc('/chunked?bytes=300000');
  assert.equal(r.status, 200);
  assert.equal(r.body.length, 300000);
  assert.equal(r.body[0], 'a'.charCodeAt(0));
  assert.equal(r.body[26], 'a'.charCodeAt(0));
});

function streamGet(path) {
  return new Promise((resolve, reject) => {
    let n = 0;
    let ok = true;
    const req = http.get({ host: '127.0.0.1', port: d.port, path, headers: { 'X-Dext-Secret': d.secret }, agent: false }, (res) => {
      res.on('data', (c) => {
        for (let i = 0; i < c.length; i += 4099) if (c[i] !== 97 + ((n + i) % 26)) ok = false;
        n += c.length;
      });
      res.on('end', () => resolve({ status: res.statusCode, n, ok }));
    });
    req.on('error', reject);
  });
}

test('64 MiB each way streams through with flat memory', async () => {
  const size = 64 * 1024 * 1024;
  const down = await streamGet(`/__dext/vm/service/big?bytes=${size}`);
  assert.equal(down.status, 200);
  assert.equal(down.n, size);
  assert.ok(down.ok, 'bytes arrive in order');

  let sum = 0;
  const chunk = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < chunk.length; i++) chunk[i] = i % 251;
  for (let i = 0; i < chunk.length; i++) sum = (sum + chunk[i]) >>> 0;
  const total = (sum * 64) >>> 0;
  const up = await new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port: d.port, method: 'POST', path: '/__dext/vm/service/upload', agent: false,
      headers: { 'X-Dext-Secret': d.secret, 'Content-Length': size },
    }, (res) => {
      let t = '';
      res.on('data', (c) => { t += c; });
      res.on('end', () => resolve({ status: res.statusCode, text: t }));
    });
    req.on('error', reject);
    let i = 0;
    const pump = () => {
      while (i < 64) {
        i++;
        if (!req.write(chunk)) { req.once('drain', pump); return; }
      }
      req.end();
    };
    pump();
  });
  assert.equal(up.status, 200, up.text);
  assert.deepEqual(JSON.parse(up.text), { bytes: size, sum: total });
  // Sanitizer builds keep freed memory in quarantine: RSS means nothing there.
  if (!process.env.DEXT_SANITIZED) {
    const hwm = procStatusKb(d.pid, 'VmHWM');
    assert.ok(hwm < 24 * 1024, `dext peak RSS ${hwm} kB stays far below the 64 MiB body`);
  }
});

test('backend connections are reused', async () => {
  const bpid = JSON.parse((await svc('/pid')).text).pid;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  for (let i = 0; i < 50; i++) {
    await new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: d.port, path: '/__dext/vm/service/hello', headers: { 'X-Dext-Secret': d.secret }, agent }, (res) => {
        res.resume();
        res.on('end', resolve);
      }).on('error', reject);
    });
  }
  agent.destroy();
  const socks = fs.readdirSync(`/proc/${bpid}/fd`).filter((f) => {
    try { return fs.readlinkSync(`/proc/${bpid}/fd/${f}`).startsWith('socket:'); } catch { return false; }
  });
  assert.ok(socks.length <= 6, `backend holds ${socks.length} sockets after 50 calls`);
});

test('a client that vanishes mid-body does not disturb dext', async () => {
  for (let i = 0; i < 5; i++) {
    const s = net.connect(d.port, '127.0.0.1');
    s.on('error', () => {});
    await new Promise((r) => s.on('connect', r));
    s.write(`POST /__dext/vm/service/upload HTTP/1.1\r\nHost: 127.0.0.1:${d.port}\r\nX-Dext-Secret: ${d.secret}\r\nContent-Length: 10000000\r\n\r\n`);
    s.write(Buffer.alloc(500000, 1));
    await new Promise((r) => setTimeout(r, 20));
    s.destroy();
  }
  const gone = net.connect(d.port, '127.0.0.1');
  gone.on('error', () => {});
  await new Promise((r) => gone.on('connect', r));
  gone.write(`GET /__dext/vm/service/big?bytes=50000000 HTTP/1.1\r\nHost: 127.0.0.1:${d.port}\r\nX-Dext-Secret: ${d.secret}\r\n\r\n`);
  await new Promise((r) => setTimeout(r, 50));
  gone.destroy();
  const r = await svc('/hello');
  assert.equal(r.status, 200);
});

test('a backend that crashes: clear error, then recovery after the restart', async () => {
  const pid1 = JSON.parse((await svc('/pid')).text).pid;
  const crash = await svc('/crash');
  assert.equal(crash.status, 502);
  assert.equal(crash.headers['x-dext-error'], '1');
  assert.match(JSON.parse(crash.text).error, /backend closed the connection/);
  const again = await svc('/pid', { timeoutMs: 15000 });
  assert.equal(again.status, 200, again.text);
  assert.notEqual(JSON.parse(again.text).pid, pid1, 'a new backend process');
});

test('no socket declared: a clear error', async () => {
  const st = tmpState();
  const dir = makeExt(st.dir, 'nosock', { ui: { 'dashboard-tab': { title: 'x', root: '/ui', src: 'index.html' } } });
  const x = await startDext([dir], { env: st.env });
  try {
    const r = await request(x.port, { path: '/__dext/vm/service/hello', secret: x.secret });
    assert.equal(r.status, 502);
    assert.equal(r.headers['x-dext-error'], '1');
    assert.match(JSON.parse(r.text).error, /declares no backend socket/);
  } finally { await x.stop(); }
});

test('no backend running: a clear error at once', async () => {
  const st = tmpState();
  const dir = makeExt(st.dir, 'nocmd', serviceMeta());
  const x = await startDext([dir], { env: st.env });
  try {
    const t0 = Date.now();
    const r = await request(x.port, { path: '/__dext/vm/service/hello', secret: x.secret });
    assert.equal(r.status, 503);
    assert.match(JSON.parse(r.text).error, /backend not running.*backend\.sock/);
    assert.ok(Date.now() - t0 < 2000);
  } finally { await x.stop(); }
});

test('calls made while the backend starts wait for its socket', async () => {
  const st = tmpState();
  const dir = makeExt(st.dir, 'slowstart', serviceMeta());
  const x = await startDext([dir, '--backend-cmd', '/bin/sh', '-c', `sleep 1.5; exec ${FIXTURE}`], { env: st.env });
  try {
    const t0 = Date.now();
    const r = await request(x.port, { path: '/__dext/vm/service/hello', secret: x.secret });
    assert.equal(r.status, 200, r.text);
    assert.ok(Date.now() - t0 >= 1000, 'it waited');
  } finally { await x.stop(); }
});

test('request bodies over the limit get 413', async () => {
  const st = tmpState();
  const dir = makeExt(st.dir, 'limited', serviceMeta());
  const x = await startDext([dir, '--backend-cmd', FIXTURE], { env: { ...st.env, DEXT_MAX_BODY: '100000' } });
  try {
    const ok = await request(x.port, { method: 'POST', path: '/__dext/vm/service/upload', secret: x.secret, body: Buffer.alloc(100000) });
    assert.equal(ok.status, 200);
    const big = await request(x.port, { method: 'POST', path: '/__dext/vm/service/upload', secret: x.secret, body: Buffer.alloc(100001) });
    assert.equal(big.status, 413);
    assert.equal(big.headers['x-dext-error'], '1');
    const chunked = await rawRequest(x.port,
      `POST /__dext/vm/service/upload HTTP/1.1\r\nHost: 127.0.0.1:${x.port}\r\nX-Dext-Secret: ${x.secret}\r\nTransfer-Encoding: chunked\r\n\r\n` +
      `30000\r\n${'z'.repeat(0x30000)}\r\n0\r\n\r\n`);
    assert.match(chunked, /^HTTP\/1\.1 413 /);
    const after = await request(x.port, { path: '/__dext/vm/service/hello', secret: x.secret });
    assert.equal(after.status, 200);
  } finally { await x.stop(); }
});
