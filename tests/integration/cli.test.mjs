// The command-line contract: verbs, help, exit codes, one-line errors, the store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { runDext, tmpState, makeExt, serviceMeta, startDext, FIXTURE, alive, waitFor, checkClean } from './lib.mjs';

test('--version and --help', async () => {
  const v = await runDext(['--version']);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /^dext \d+\.\d+\.\d+/);
  const h = await runDext(['--help']);
  assert.equal(h.code, 0);
  for (const verb of ['run', 'validate', 'install', 'ls', 'rm', 'logs']) assert.match(h.stdout, new RegExp(`\\b${verb}\\b`));
  for (const verb of ['run', 'validate', 'install', 'ls', 'rm', 'logs']) {
    const r = await runDext([verb, '--help']);
    assert.equal(r.code, 0, verb);
    assert.match(r.stdout, new RegExp(`^Usage: dext ${verb}`), verb);
  }
});

test('usage errors exit 2 with a one-line reason', async () => {
  for (const args of [[], ['frobnicate'], ['run'], ['run', 'a', 'b'], ['run', 'x', '--port'], ['run', 'x', '--port', '70000'],
    ['run', 'x', '--bogus'], ['validate'], ['rm'], ['logs'], ['ls', 'extra'], ['run', 'x', '--host', '0.0.0.0']]) {
    const r = await runDext(args);
    assert.equal(r.code, 2, `dext ${args.join(' ')}: ${r.stderr}`);
    assert.ok(r.stderr.length > 0, `dext ${args.join(' ')} explains itself`);
  }
  const r = await runDext(['frobnicate']);
  assert.match(r.stderr.split('\n')[0], /unknown command 'frobnicate'/);
});

test('validate reports every problem with its field path', async () => {
  const st = tmpState();
  const good = makeExt(st.dir, 'good', serviceMeta());
  const ok = await runDext(['validate', good], { env: st.env });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /valid/);

  const bad = makeExt(st.dir, 'bad', {
    icon: 42,
    ui: { 'dashboard-tab': { title: 'x', root: '/ui', src: 7 } },
    vm: { image: 'a', composefile: 'b.yaml', exposes: { socket: '../x.sock' } },
    host: { binaries: [{ linux: [{ path: '/../../etc/passwd' }] }] },
  });
  const r = await runDext(['validate', bad], { env: st.env });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /ui\.dashboard-tab\.src: expected a string/);
  assert.match(r.stderr, /icon: expected a string/);
  assert.match(r.stderr, /vm\b.*exactly one of image or composefile/);
  assert.match(r.stderr, /vm\.exposes\.socket/);
  assert.match(r.stderr, /host\.binaries\[0\]\.linux\[0\]\.path/);
  assert.ok(r.stderr.trim().split('\n').length >= 5, 'one line per problem');

  const broken = makeExt(st.dir, 'broken', '{"ui": ');
  const b = await runDext(['validate', broken], { env: st.env });
  assert.equal(b.code, 1);
  assert.match(b.stderr, /metadata\.json/);

  const missing = await runDext(['validate', path.join(st.dir, 'nope')], { env: st.env });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nope/);

  const nofile = makeExt(st.dir, 'nofile', { ui: { 'dashboard-tab': { title: 'x', root: '/ui', src: 'missing.html' } } });
  const nf = await runDext(['validate', nofile], { env: st.env });
  assert.equal(nf.code, 1);
  assert.match(nf.stderr, /ui\.dashboard-tab\.src: 'ui\/missing\.html' does not exist/);

  const big = makeExt(st.dir, 'big', JSON.stringify({ pad: 'x'.repeat(300 * 1024) }));
  const bg = await runDext(['validate', big], { env: st.env });
  assert.equal(bg.code, 1);
  assert.match(bg.stderr, /larger than/);
});

test('install, ls, ls --json, logs, rm', async () => {
  const st = tmpState();
  const dir = makeExt(st.dir, 'alpha', {
    ...serviceMeta(),
    host: { binaries: [{ linux: [{ path: '/bin/tool' }] }] },
  }, { 'bin/tool': '#!/bin/sh\necho tool\n' });
  fs.chmodSync(path.join(dir, 'bin/tool'), 0o755);

  const empty = await runDext(['ls', '--json'], { env: st.env });
  assert.equal(empty.code, 0);
  assert.deepEqual(JSON.parse(empty.stdout), []);

  const inst = await runDext(['install', dir], { env: st.env });
  assert.equal(inst.code, 0, inst.stderr);
  assert.match(inst.stdout, /alpha/);

  const ls = await runDext(['ls'], { env: st.env });
  assert.equal(ls.code, 0);
  const lines = ls.stdout.trim().split('\n');
  assert.match(lines[0], /^ID\s+PROVIDER\s+VERSION\s+UI\s+VM\s+HOST/);
  assert.match(lines[1], /^alpha\s+-\s+1\.0\.0\s+1 tab\(Test\)\s+Stopped\s+1 binarie\(s\)/);

  const js = JSON.parse((await runDext(['ls', '--json'], { env: st.env })).stdout);
  assert.equal(js.length, 1);
  assert.equal(js[0].name, 'alpha');
  assert.equal(js[0].root, fs.realpathSync(dir));
  assert.equal(js[0].vm.state, 'stopped');
  assert.equal(js[0].host.binaries, 1);

  const logs = await runDext(['logs', 'alpha'], { env: st.env });
  assert.equal(logs.code, 0);

  const unknown = await runDext(['logs', 'nope'], { env: st.env });
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no installed extension named 'nope'/);

  const rm = await runDext(['rm', 'alpha'], { env: st.env });
  assert.equal(rm.code, 0, rm.stderr);
  assert.ok(fs.existsSync(path.join(dir, 'metadata.json')), 'a directory extension keeps its own files');
  assert.deepEqual(JSON.parse((await runDext(['ls', '--json'], { env: st.env })).stdout), []);
  const again = await runDext(['rm', 'alpha'], { env: st.env });
  assert.equal(again.code, 1);
  assert.match(again.stderr, /no installed extension/);
});

test('run shows in ls as running; logs show backend output; rm stops it', async () => {
  const st = tmpState();
  const dir = makeExt(st.dir, 'beta', serviceMeta());
  const d = await startDext([dir, '--backend-cmd', FIXTURE, '--socket-name', 'backend.sock'], { env: st.env });
  await waitFor(async () => {
    const js = JSON.parse((await runDext(['ls', '--json'], { env: st.env })).stdout);
    return js[0]?.vm?.state === 'running';
  }, { what: 'ls to show the backend running' });
  const ls = await runDext(['ls'], { env: st.env });
  assert.match(ls.stdout, /beta\s+.*Running\(1\)/);
  const logs = await runDext(['logs', 'beta'], { env: st.env });
  assert.match(logs.stdout, /started backend/);
  const rm = await runDext(['rm', 'beta'], { env: st.env });
  assert.equal(rm.code, 0, rm.stderr);
  const ex = await d.exited;
  checkClean('dext run', ex.code, d.stderr());
  assert.ok(!alive(d.pid));
});

test('run refuses bad metadata with a clear error, exit 1', async () => {
  const st = tmpState();
  const dir = makeExt(st.dir, 'gamma', { ui: { 'dashboard-tab': { root: '/ui' } } });
  const r = await runDext(['run', dir], { env: st.env });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /ui\.dashboard-tab\.src/);
  const r2 = await runDext(['run', path.join(st.dir, 'missing-dir')], { env: st.env });
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /missing-dir/);
});

test('run on a port already taken exits 1 at once and says so', async () => {
  const st = tmpState();
  const dir = makeExt(st.dir, 'delta', serviceMeta());
  const busy = net.createServer();
  await new Promise((r) => busy.listen(0, '127.0.0.1', r));
  try {
    const r = await runDext(['run', dir, '--port', String(busy.address().port), '--backend-cmd', FIXTURE], { env: st.env, timeoutMs: 10000 });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot serve delta on port \d+: address already in use/);
  } finally {
    busy.close();
  }
});

test('as the docker CLI plugin: docker extension validate | install | ls | rm', { skip: !fs.existsSync('/usr/bin/docker') && 'no docker CLI' }, async () => {
  const { execFile } = await import('node:child_process');
  const st = tmpState();
  const env = { ...process.env, ...st.env, HOME: st.dir };
  const docker = (args) => new Promise((resolve) => {
    execFile('docker', args, { env }, (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }));
  });
  const inst = await runDext(['cli-plugin'], { env: { HOME: st.dir } });
  assert.equal(inst.code, 0, inst.stderr);
  assert.ok(fs.lstatSync(path.join(st.dir, '.docker/cli-plugins/docker-extension')).isSymbolicLink());
  const dir = makeExt(st.dir, 'plugged', serviceMeta());
  const v = await docker(['extension', 'validate', dir]);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /is valid/);
  assert.equal((await docker(['extension', 'install', dir])).code, 0);
  const ls = JSON.parse((await docker(['extension', 'ls', '--json'])).stdout);
  assert.deepEqual(ls.map((e) => e.name), ['plugged']);
  assert.equal((await docker(['extension', 'rm', 'plugged'])).code, 0);
  assert.deepEqual(JSON.parse((await docker(['extension', 'ls', '--json'])).stdout), []);
  const help = await docker(['--help']);
  assert.match(help.stdout, /extension\*?\s+Docker extensions without Docker Desktop/);
});
