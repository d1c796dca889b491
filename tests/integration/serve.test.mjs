// `dext serve` and `dext dev` on the command line: help, exit codes, one-line errors,
// backends of every installed extension, removal while serving, dext's own origin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { runDext, tmpState, makeExt, serviceMeta, startDext, request, FIXTURE, alive, waitFor } from './lib.mjs';

const serve = (st, args = []) => startDext(args, { env: st.env, verb: 'serve' });

test('help for serve and dev', async () => {
  const h = await runDext(['--help']);
  assert.match(h.stdout, /\bserve \[--port N\]/);
  assert.match(h.stdout, /dev ui-source NAME URL/);
  assert.match(h.stdout, /dev reset NAME/);
  for (const args of [['serve', '--help'], ['dev', '--help'], ['dev', 'ui-source', '--help'], ['dev', 'reset', '-h']]) {
    const r = await runDext(args);
    assert.equal(r.code, 0, args.join(' '));
    assert.match(r.stdout, new RegExp(`^Usage: dext ${args[0]}`), args.join(' '));
  }
});

test('usage errors exit 2 and say what is wrong', async () => {
  const cases = [
    [['serve', 'extra'], /unexpected argument 'extra'/],
    [['serve', '--port'], /--port needs a value/],
    [['serve', '--port', '99999'], /bad port '99999'/],
    [['serve', '--host', '0.0.0.0'], /loopback/],
    [['dev'], /dev needs ui-source or reset/],
    [['dev', 'frob'], /unknown dev command 'frob'/],
    [['dev', 'ui-source', 'x'], /needs NAME URL/],
    [['dev', 'reset'], /needs NAME/],
    [['dev', 'reset', 'a', 'b'], /needs NAME/],
    [['dev', 'ui-source', 'x', 'ftp://localhost/'], /must start with http:\/\//],
    [['dev', 'ui-source', 'x', 'http://example.com:3000'], /must run on this machine/],
    [['dev', 'ui-source', 'x', 'http://localhost:0'], /bad port/],
    [['dev', 'ui-source', 'x', 'http://localhost:3000/?a=b'], /no query/],
  ];
  for (const [args, re] of cases) {
    const r = await runDext(args);
    assert.equal(r.code, 2, `dext ${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr.split('\n')[0], re, args.join(' '));
  }
});

test('dev ui-source and reset record the dev server; unknown names exit 1', async () => {
  const st = tmpState();
  const dir = makeExt(st.dir, 'uiext', serviceMeta());
  assert.equal((await runDext(['install', dir], { env: st.env })).code, 0);
  const rec = path.join(st.data, 'dext/extensions/uiext/ext.json');
  const set = await runDext(['dev', 'ui-source', 'uiext', 'http://[::1]:5173/app/'], { env: st.env });
  assert.equal(set.code, 0, set.stderr);
  assert.equal(JSON.parse(fs.readFileSync(rec, 'utf8')).ui_source, 'http://[::1]:5173/app/');
  // dext run keeps it, and prints the dev server's path as the page to open.
  const d = await startDext([dir, '--backend-cmd', FIXTURE, '--socket-name', 'backend.sock'], { env: st.env });
  assert.equal(d.entry, '/app/');
  await d.stop();
  assert.equal(JSON.parse(fs.readFileSync(rec, 'utf8')).ui_source, 'http://[::1]:5173/app/');
  const reset = await runDext(['dev', 'reset', 'uiext'], { env: st.env });
  assert.equal(reset.code, 0, reset.stderr);
  assert.equal(JSON.parse(fs.readFileSync(rec, 'utf8')).ui_source, undefined);
  for (const args of [['dev', 'ui-source', 'nope', 'http://localhost:3000'], ['dev', 'reset', 'nope']]) {
    const r = await runDext(args, { env: st.env });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "dext: no installed extension named 'nope'\n");
  }
});

test('serve: a taken port exits 1 with the reason', async () => {
  const st = tmpState();
  const busy = net.createServer();
  await new Promise((r) => busy.listen(0, '127.0.0.1', r));
  const r = await runDext(['serve', '--port', String(busy.address().port)], { env: st.env });
  busy.close();
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot serve the dashboard on port \d+: address already in use/);
});

test('serve runs every backend, survives a broken extension, lets dext rm take one away', async () => {
  const st = tmpState();
  const meta = (title) => ({
    ui: { 'dashboard-tab': { title, root: '/ui', src: 'index.html' } },
    vm: { image: 'test/ext:1.0.0', exposes: { socket: 'backend.sock' }, 'x-dext-command': [FIXTURE, '--socket-name', 'backend.sock'] },
  });
  const one = makeExt(st.dir, 'one', meta('One'));
  const two = makeExt(st.dir, 'two', meta('Two'));
  const bad = makeExt(st.dir, 'bad', meta('Bad'));
  for (const dir of [one, two, bad]) assert.equal((await runDext(['install', dir], { env: st.env })).code, 0);
  fs.writeFileSync(path.join(bad, 'metadata.json'), '{"ui": ');
  const d = await serve(st);
  try {
    assert.match(d.url, /^http:\/\/127\.0\.0\.1:\d+\/\?dext-secret=[0-9a-f]{32}$/);
    const listRes = await request(d.port, { method: 'POST', path: '/__dext/hub/extensions', secret: d.secret, body: '{}' });
    assert.equal(listRes.status, 200);
    const list = JSON.parse(listRes.text);
    assert.deepEqual(list.map((e) => e.name).sort(), ['bad', 'one', 'two']);
    const broken = list.find((e) => e.name === 'bad');
    assert.equal(broken.url, null);
    assert.match(broken.error, /not a valid extension: metadata\.json:1/);
    // Each served extension answers at its own port, with its backend behind it.
    for (const name of ['one', 'two']) {
      const e = list.find((x) => x.name === name);
      const u = new URL(e.url);
      const secret = u.searchParams.get('dext-secret');
      const hello = await waitFor(async () => {
        const r = await request(Number(u.port), { path: '/__dext/vm/service/hello', secret });
        return r.status === 200 && r;
      }, { what: `${name}'s backend` });
      assert.match(hello.text, /hello/i);
    }
    // Fixed, it is served without a restart.
    fs.writeFileSync(path.join(bad, 'metadata.json'), JSON.stringify(meta('Bad no more')));
    const fixed = await waitFor(async () => {
      const l = JSON.parse((await request(d.port, { method: 'POST', path: '/__dext/hub/extensions', secret: d.secret, body: '{}' })).text);
      const e = l.find((x) => x.name === 'bad');
      return e && e.url && e;
    }, { what: 'the fixed extension to be served' });
    assert.equal(fixed.title, 'Bad no more');
    assert.equal(fixed.error, null);
    const ls = JSON.parse((await runDext(['ls', '--json'], { env: st.env })).stdout);
    const running = ls.filter((e) => e.vm?.state === 'running').map((e) => e.name).sort();
    await waitFor(async () => {
      const all = JSON.parse((await runDext(['ls', '--json'], { env: st.env })).stdout);
      return all.filter((e) => e.vm?.state === 'running').length === 3;
    }, { what: 'three backends running' });
    assert.deepEqual(running.filter((n) => n !== 'bad'), ['one', 'two']);
    const backendOne = JSON.parse(fs.readFileSync(path.join(st.run, 'dext/serving/one.json'), 'utf8')).backend_pid;
    assert.ok(alive(backendOne));

    // dext rm while serving: that backend stops, dext serve and the others go on.
    const rm = await runDext(['rm', 'one'], { env: st.env });
    assert.equal(rm.code, 0, rm.stderr);
    await waitFor(() => !alive(backendOne), { what: 'the removed extension\'s backend to stop' });
    assert.ok(alive(d.pid));
    const after = JSON.parse((await request(d.port, { method: 'POST', path: '/__dext/hub/extensions', secret: d.secret, body: '{}' })).text);
    assert.deepEqual(after.map((e) => e.name).sort(), ['bad', 'two']);
    assert.ok(after.every((e) => e.url && !e.error));
  } finally {
    await d.stop();
  }
  assert.deepEqual(fs.readdirSync(path.join(st.run, 'dext/serving')), [], 'no serving records left');
});

test('dext\'s own origin: secret, Host and Origin checks', async () => {
  const st = tmpState();
  const d = await serve(st);
  try {
    const page = await request(d.port, { path: '/' });
    assert.equal(page.status, 401);
    const withSecret = await request(d.port, { path: '/?dext-secret=' + d.secret });
    assert.equal(withSecret.status, 200);
    assert.match(withSecret.headers['set-cookie'][0], new RegExp(`^dext-${d.port}=${d.secret}; Path=/; HttpOnly; SameSite=Strict`));
    assert.match(withSecret.headers['content-security-policy'], /frame-ancestors 'self'/);
    const cookie = await request(d.port, { path: '/', headers: { Cookie: `dext-${d.port}=${d.secret}` } });
    assert.equal(cookie.status, 200);
    const wrong = await request(d.port, { path: '/?dext-secret=' + '0'.repeat(32) });
    assert.equal(wrong.status, 401);
    const api = await request(d.port, { method: 'POST', path: '/__dext/hub/extensions', body: '{}', headers: { Cookie: `dext-${d.port}=${d.secret}` } });
    assert.equal(api.status, 401, 'the cookie alone opens no API');
    const host = await request(d.port, { path: '/', secret: d.secret, host: `attacker.example:${d.port}` });
    assert.equal(host.status, 403);
    const origin = await request(d.port, { method: 'POST', path: '/__dext/hub/extensions', secret: d.secret, body: '{}', headers: { Origin: 'http://attacker.example' } });
    assert.equal(origin.status, 403);
    const site = await request(d.port, { method: 'POST', path: '/__dext/hub/extensions', secret: d.secret, body: '{}', headers: { 'Sec-Fetch-Site': 'cross-site' } });
    assert.equal(site.status, 401);
    const view = await request(d.port, { path: '/__dext/view?t=' + 'a'.repeat(32) });
    assert.equal(view.status, 404);
    const viewData = await request(d.port, { method: 'POST', path: '/__dext/view/data', body: JSON.stringify({ t: 'a'.repeat(32), what: 'list' }) });
    assert.equal(viewData.status, 403);
    const junk = await request(d.port, { method: 'POST', path: '/__dext/chooser/list', body: 'not json' });
    assert.equal(junk.status, 400);
    assert.equal((await request(d.port, { path: '/__dext/nothing', secret: d.secret })).status, 404);
  } finally {
    await d.stop();
  }
});

test('dext run answers navigate and dialog calls through dext\'s own origin', async () => {
  const st = tmpState();
  const dir = makeExt(st.dir, 'navext', serviceMeta());
  const d = await startDext([dir, '--backend-cmd', FIXTURE, '--socket-name', 'backend.sock'], { env: st.env });
  try {
    const call = (route, body) => request(d.port, { method: 'POST', path: '/__dext/' + route, secret: d.secret, body: JSON.stringify(body) });
    const list = await call('navigate', { view: 'containers' });
    assert.equal(list.status, 200);
    const u = new URL(JSON.parse(list.text).url);
    assert.notEqual(Number(u.port), d.port);
    assert.equal(u.pathname, '/__dext/view');
    const viewPage = await request(Number(u.port), { path: u.pathname + u.search });
    assert.equal(viewPage.status, 200);
    assert.match(viewPage.headers['content-security-policy'], new RegExp(`frame-ancestors http://127\\.0\\.0\\.1:${d.port} `));
    const unknown = await call('navigate', { view: 'nonsense' });
    assert.equal(unknown.status, 400);
    const badId = await call('navigate', { view: 'container', id: '../../etc' });
    assert.equal(badId.status, 400);
    assert.match(JSON.parse(badId.text).error, /id must be/);
    const badProps = await call('dialog/open', { properties: 'openFile' });
    assert.equal(badProps.status, 400);
    // The secret is needed for these as for every API call.
    const noSecret = await request(d.port, { method: 'POST', path: '/__dext/navigate', body: '{"view":"images"}' });
    assert.equal(noSecret.status, 401);
    // A pending chooser's caller leaving frees it; dext keeps answering.
    const opened = JSON.parse((await call('dialog/open', {})).text);
    const sock = net.connect(d.port, '127.0.0.1');
    const body = JSON.stringify({ id: opened.id });
    sock.write(`POST /__dext/dialog/wait HTTP/1.1\r\nHost: 127.0.0.1:${d.port}\r\nX-Dext-Secret: ${d.secret}\r\n` +
      `Content-Length: ${body.length}\r\n\r\n${body}`);
    await new Promise((r) => setTimeout(r, 200));
    sock.destroy();
    await new Promise((r) => setTimeout(r, 200));
    const again = await call('dialog/wait', { id: opened.id });
    assert.equal(again.status, 404, 'the chooser went with its caller');
  } finally {
    await d.stop();
  }
});

test('a UI from a dev server: statuses, redirects and types pass through; HTML gets ddClient; limits hold', async () => {
  const http = await import('node:http');
  const st = tmpState();
  const dir = makeExt(st.dir, 'devsrc', serviceMeta());
  const seen = [];
  const dev = http.createServer((req, res) => {
    seen.push(req.url);
    if (req.url === '/notfound') { res.writeHead(404, { 'Content-Type': 'text/plain' }); res.end('nothing here'); return; }
    if (req.url === '/redir') { res.writeHead(302, { Location: '/elsewhere', 'Set-Cookie': 'dev=1' }); res.end(); return; }
    if (req.url === '/data.json') { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end('{"a":1}'); return; }
    if (req.url === '/bighead') { res.writeHead(200, { 'X-Big': 'x'.repeat(70 * 1024) }); res.end('x'); return; }
    if (req.url === '/split') { req.socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort'); return; }
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.write('<!doctype html><html><head><title>dev</title></head>');
    setTimeout(() => res.end('<body><p>chunked</p></body></html>'), 20);
  });
  await new Promise((r) => dev.listen(0, '127.0.0.1', r));
  try {
    assert.equal((await runDext(['install', dir], { env: st.env })).code, 0);
    const url = `http://127.0.0.1:${dev.address().port}/start/`;
    assert.equal((await runDext(['dev', 'ui-source', 'devsrc', url], { env: st.env })).code, 0);
    const d = await startDext([dir, '--backend-cmd', FIXTURE, '--socket-name', 'backend.sock'], { env: st.env });
    try {
      const get = (p) => request(d.port, { path: p, secret: d.secret });
      const page = await get('/start/?dext-secret=' + d.secret + '&q=1');
      assert.equal(page.status, 200);
      assert.match(page.text, /^<!doctype html><html><head><script>window\.__dextConfig=/);
      assert.match(page.text, /<p>chunked<\/p><\/body><\/html>$/);
      assert.equal(seen.at(-1), '/start/?q=1', 'the query goes on without dext\'s secret');
      await get('/start/?q=2');
      assert.equal(seen.at(-1), '/start/?q=2', 'any other query is');
      const nf = await get('/notfound');
      assert.deepEqual([nf.status, nf.headers['content-type'], nf.text], [404, 'text/plain', 'nothing here']);
      assert.equal(nf.headers['x-dext-error'], undefined);
      const redir = await get('/redir');
      assert.equal(redir.status, 302);
      assert.equal(redir.headers.location, '/elsewhere');
      assert.equal(redir.headers['set-cookie'], undefined, 'the dev server sets no cookie on the extension\'s origin');
      const json = await get('/data.json');
      assert.deepEqual([json.status, json.headers['content-type'], json.text], [200, 'application/json', '{"a":1}']);
      const big = await get('/bighead');
      assert.equal(big.status, 502);
      assert.match(JSON.parse(big.text).error, /the dev server's answer/);
      const split = await get('/split');
      assert.equal(split.status, 502);
      assert.match(JSON.parse(split.text).error, /closed the connection early|the dev server's answer/);
      assert.equal((await request(d.port, { path: '/start/' })).status, 401, 'no secret, no page');
      // dext is still fine after all that.
      assert.equal((await get('/data.json')).status, 200);
    } finally {
      await d.stop();
    }
  } finally {
    dev.close();
  }
});

test('file choosers are bounded: 16 waiting at once, unwaited ones make room', async () => {
  const st = tmpState();
  const dir = makeExt(st.dir, 'many', serviceMeta());
  const d = await startDext([dir, '--backend-cmd', FIXTURE, '--socket-name', 'backend.sock'], { env: st.env });
  const socks = [];
  try {
    const open = () => request(d.port, { method: 'POST', path: '/__dext/dialog/open', secret: d.secret, body: '{}' });
    // Unwaited ones: the oldest goes when a 17th comes.
    const first = JSON.parse((await open()).text);
    for (let i = 0; i < 16; i++) assert.equal((await open()).status, 200);
    const hub = new URL(first.url);
    assert.equal((await request(Number(hub.port), { path: hub.pathname + hub.search })).status, 404, 'the oldest was dropped');
    // Waited ones stay; past 16 of them a new one is refused with 429.
    for (let i = 0; i < 16; i++) {
      const o = JSON.parse((await open()).text);
      const body = JSON.stringify({ id: o.id });
      const s = net.connect(d.port, '127.0.0.1');
      s.on('error', () => {});
      s.write(`POST /__dext/dialog/wait HTTP/1.1\r\nHost: 127.0.0.1:${d.port}\r\nX-Dext-Secret: ${d.secret}\r\n` +
        `Content-Length: ${body.length}\r\n\r\n${body}`);
      socks.push(s);
    }
    await new Promise((r) => setTimeout(r, 300));
    const refused = await open();
    assert.equal(refused.status, 429);
    assert.match(JSON.parse(refused.text).error, /too many file choosers/);
    socks.pop().destroy();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await open()).status, 200, 'a caller that left made room');
  } finally {
    for (const s of socks) s.destroy();
    await d.stop();
  }
});

test('the chooser\'s limits: 10,000 entries listed, 1,024 paths picked', async () => {
  const st = tmpState();
  const dir = makeExt(st.dir, 'limits', serviceMeta());
  const big = path.join(st.dir, 'big');
  fs.mkdirSync(big);
  for (let i = 0; i < 10001; i++) fs.writeFileSync(path.join(big, `f${i}`), '');
  const d = await startDext([dir, '--backend-cmd', FIXTURE, '--socket-name', 'backend.sock'], { env: st.env });
  try {
    const open = async (props) => {
      const o = JSON.parse((await request(d.port, { method: 'POST', path: '/__dext/dialog/open', secret: d.secret, body: JSON.stringify(props) })).text);
      const u = new URL(o.url);
      const pageRes = await request(Number(u.port), { path: u.pathname + u.search });
      return { port: Number(u.port), t: u.searchParams.get('t'), secret: pageRes.text.match(/"secret":"([0-9a-f]{32})"/)[1] };
    };
    const call = (c, route, body) => request(c.port, {
      method: 'POST', path: '/__dext/chooser/' + route, headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ t: c.t, secret: c.secret, ...body }),
    });
    const c = await open({ properties: ['openFile', 'multiSelections'] });
    const listed = JSON.parse((await call(c, 'list', { path: big })).text);
    assert.equal(listed.entries.length, 10000);
    assert.equal(listed.path, big);
    assert.equal(listed.parent, st.dir);
    const one = path.join(big, 'f1');
    const tooMany = await call(c, 'done', { paths: Array(1025).fill(one) });
    assert.equal(tooMany.status, 400);
    assert.equal((await call(c, 'list', { path: 42 })).status, 400);
    assert.equal((await call(c, 'list', { path: path.join(st.dir, 'missing') })).status, 404);
    assert.equal((await call(c, 'done', { paths: ['relative/path'] })).status, 400);
    assert.equal((await call(c, 'done', { paths: [big] })).status, 400, 'a folder when files are asked for');
    const ok = await call(c, 'done', { paths: Array(1024).fill(one) });
    assert.equal(ok.status, 200);
    assert.equal((await call(c, 'done', { paths: [one] })).status, 409, 'answered once only');
    // Folders only: a file is refused, the folder taken.
    const f = await open({ properties: ['openDirectory'] });
    assert.deepEqual(JSON.parse((await call(f, 'list', { path: st.dir })).text).entries.every((e) => e.dir), true);
    assert.equal((await call(f, 'done', { paths: [one] })).status, 400);
    assert.equal((await call(f, 'done', { paths: [big] })).status, 200);
  } finally {
    await d.stop();
  }
});
