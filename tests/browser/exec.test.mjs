// ddClient's exec family in a real page: blocking and streaming, v1 and v0.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { tmpState, makeExt, serviceMeta, startDext, request, waitFor, alive, FIXTURE } from '../integration/lib.mjs';
import { launch } from './browser.mjs';

let d;
let browser;
let page;

before(async () => {
  const st = tmpState();
  const dir = makeExt(st.dir, 'execpage', {
    ...serviceMeta(),
    host: { binaries: [{ linux: [{ path: '/host/greet' }] }] },
  }, { 'host/greet': '#!/bin/sh\necho "hi $1"\n' });
  fs.chmodSync(path.join(dir, 'host/greet'), 0o755);
  d = await startDext([dir, '--backend-cmd', FIXTURE], { env: st.env });
  browser = await launch();
  page = await browser.ctx.newPage();
  await page.goto(d.url);
});

after(async () => {
  await browser?.close();
  await d?.stop();
});

test('blocking exec resolves with an ExecResult; a non-zero exit rejects with it', async () => {
  const r = await page.evaluate(async () => {
    const c = window.ddClient;
    const ok = await c.extension.vm.cli.exec('printf', ['"%s\\n"', '"{{json .}}"', "'a b'"]);
    const host = await c.extension.host.cli.exec('greet', ['world']);
    let failed;
    try { await c.extension.vm.cli.exec('sh', ['-c', '"echo partial; exit 2"']); } catch (e) { failed = { code: e.code, stdout: e.stdout, lines: e.lines(), cmd: e.cmd }; }
    let missing;
    try { await c.extension.vm.cli.exec('no-such-cmd-q', []); } catch (e) { missing = [e instanceof Error, e.message]; }
    let refused;
    try { await c.extension.host.cli.exec('/bin/ls', []); } catch (e) { refused = e.message; }
    const v0 = await c.backend.execInVMExtension('echo "v0 line"');
    const v0host = await c.execHostCmd('greet v0');
    const docker = await c.docker.cli.exec('--version', []);
    return { ok: ok.lines(), host: host.stdout, failed, missing, refused, v0: v0.stdout, v0host: v0host.stdout, docker: docker.stdout };
  });
  assert.deepEqual(r.ok, ['{{json .}}', 'a b']);
  assert.equal(r.host, 'hi world\n');
  assert.deepEqual(r.failed, { code: 2, stdout: 'partial\n', lines: ['partial'], cmd: 'sh -c "echo partial; exit 2"' });
  assert.equal(r.missing[0], true);
  assert.match(r.missing[1], /no-such-cmd-q.*ENOENT/);
  assert.match(r.refused, /refused/);
  assert.equal(r.v0, 'v0 line\n');
  assert.equal(r.v0host, 'hi v0\n');
  assert.match(r.docker, /^Docker version/);
});

test('streaming: chunks, splitOutputLines with the last partial line, onClose once', async () => {
  const r = await page.evaluate(() => new Promise((resolve) => {
    const events = [];
    window.ddClient.extension.vm.cli.exec('sh', ['-c', 'printf "a\\nb\\r\\nc"; printf "e1\\n" >&2'], {
      stream: {
        splitOutputLines: true,
        onOutput: (d) => events.push(d),
        onError: (e) => events.push({ error: e.message }),
        onClose: (code) => { events.push({ close: code }); setTimeout(() => resolve(events), 200); },
      },
    });
  }));
  const close = r.filter((e) => 'close' in e);
  assert.deepEqual(close, [{ close: 0 }]);
  assert.deepEqual(r.filter((e) => e.stdout !== undefined).map((e) => e.stdout), ['a', 'b', 'c']);
  assert.deepEqual(r.filter((e) => e.stderr !== undefined).map((e) => e.stderr), ['e1']);
  assert.equal(r.at(-1).close, 0, 'onClose comes last');
});

test('streaming args are verbatim; an exception in a callback does not break the stream', async () => {
  const r = await page.evaluate(() => new Promise((resolve) => {
    let out = '';
    let n = 0;
    window.ddClient.docker.cli.exec('--version', [], {
      stream: {
        onOutput: (d) => { n++; out += d.stdout || ''; throw new Error('extension bug'); },
        onClose: (code) => resolve({ code, out, n }),
      },
    });
  }));
  assert.equal(r.code, 0);
  assert.match(r.out, /^Docker version/);
  const v = await page.evaluate(() => new Promise((resolve) => {
    let out = '';
    window.ddClient.extension.vm.cli.exec('printf', ['%s|', '"{{ json . }}"', 'a b'], {
      stream: { onOutput: (d) => { out += d.stdout; }, onClose: () => resolve(out) },
    });
  }));
  assert.equal(v, '"{{ json . }}"|a b|');
});

test('close() ends the process and no callback follows', async () => {
  const marker = `51.${process.pid}`;
  await page.evaluate((m) => {
    window.__events = [];
    window.__proc = window.ddClient.extension.vm.cli.exec('sleep', [m], {
      stream: { onOutput: () => window.__events.push('output'), onError: () => window.__events.push('error'), onClose: () => window.__events.push('close') },
    });
  }, marker);
  const pids = () => fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try { return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`sleep\0${marker}`); } catch { return false; }
  }).map(Number);
  await waitFor(() => pids().length === 1, { what: 'the process' });
  const [pid] = pids();
  await page.evaluate(() => window.__proc.close());
  await waitFor(() => !alive(pid), { what: 'the process to end' });
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(await page.evaluate(() => window.__events), []);
});

test('20 streams on one page, and the page\'s service calls still answer', async () => {
  const r = await page.evaluate(async () => {
    const done = [];
    const all = [];
    for (let i = 0; i < 20; i++) {
      all.push(new Promise((resolve) => {
        let out = '';
        window.ddClient.extension.vm.cli.exec('sh', ['-c', `sleep 0.5; echo stream${i}`], {
          stream: { onOutput: (d) => { out += d.stdout || ''; }, onClose: (code) => { done.push(code); resolve(out); } },
        });
      }));
    }
    const t0 = performance.now();
    const hello = await window.ddClient.extension.vm.service.get('/hello');
    const took = performance.now() - t0;
    const outs = await Promise.all(all);
    return { took, hello, outs, done };
  });
  assert.ok(r.took < 1000, `service call took ${r.took} ms`);
  assert.deepEqual(r.hello, { message: 'hello from the backend' });
  assert.deepEqual(r.outs, [...Array(20).keys()].map((i) => `stream${i}\n`));
  assert.equal(r.done.length, 20);
});

test('v0 spawn functions map onto the stream events', async () => {
  const r = await page.evaluate(() => new Promise((resolve) => {
    const got = [];
    window.ddClient.backend.spawnInVMExtension('sh', ['-c', 'echo v0; exit 3'], (data, error) => {
      got.push({ data, error });
      if (data && data.code !== undefined) resolve(got);
    });
  }));
  assert.deepEqual(r, [{ data: { stdout: 'v0\n' }, error: null }, { data: { code: 3 }, error: null }]);
});

test('reloading the page ends everything it started', async () => {
  const marker = `52.${process.pid}`;
  await page.evaluate((m) => {
    for (let i = 0; i < 3; i++) window.ddClient.extension.vm.cli.exec('sleep', [m], { stream: {} });
  }, marker);
  const pids = () => fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try { return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`sleep\0${marker}`); } catch { return false; }
  }).map(Number);
  await waitFor(() => pids().length === 3, { what: 'three processes' });
  const started = pids();
  await page.reload();
  await waitFor(() => started.every((p) => !alive(p)), { what: 'the processes to end after the reload' });
  const svc = await request(d.port, { path: '/__dext/vm/service/hello', secret: d.secret });
  assert.equal(svc.status, 200);
});

test('robust output: invalid UTF-8, NUL bytes and a 3 MB line do not break a stream', async () => {
  const r = await page.evaluate(() => new Promise((resolve) => {
    const lines = [];
    window.ddClient.extension.vm.cli.exec('sh', ['-c', 'printf "a\\377b\\000c\\n"; head -c 3000000 /dev/zero | tr "\\0" x; echo; echo end'], {
      stream: {
        splitOutputLines: true,
        onOutput: (d) => { if (d.stdout !== undefined) lines.push(d.stdout); },
        onClose: (code) => resolve({ code, n: lines.length, first: lines[0], longLen: lines[1] && lines[1].length, longOk: lines[1] && /^x+$/.test(lines[1]), last: lines[2] }),
      },
    });
  }));
  assert.deepEqual(r, { code: 0, n: 3, first: 'a\ufffdb\u0000c', longLen: 3000000, longOk: true, last: 'end' });
});
