// Blocking exec through POST /__dext/exec: vm (the backend's view), host binaries,
// the docker CLI; argument rules of spec 5.2; no shell, ever.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { tmpState, makeExt, serviceMeta, startDext, request, waitFor, FIXTURE } from './lib.mjs';

let d;
let dir;
let st;
before(async () => {
  st = tmpState();
  dir = makeExt(st.dir, 'runner', {
    ...serviceMeta(),
    host: { binaries: [{ linux: [{ path: '/host/tool' }, { path: '/host/escape' }, { path: '/host/kit/' }] }, { darwin: [{ path: '/mac/tool' }] }] },
  }, {
    'host/tool': '#!/bin/sh\nprintf "%s\\n" "$@"\necho "cwd=$(pwd)"\necho "path=$PATH"\n',
    'host/kit/helper': '#!/bin/sh\necho helper\n',
    'host/unlisted': '#!/bin/sh\necho unlisted\n',
    'outside/secret': '#!/bin/sh\necho secret\n',
    'script.sh': '#!/bin/sh\necho "script in $(pwd)"\n',
  });
  for (const f of ['host/tool', 'host/kit/helper', 'host/unlisted', 'outside/secret', 'script.sh']) fs.chmodSync(path.join(dir, f), 0o755);
  fs.symlinkSync('/bin/ls', path.join(dir, 'host/escape'));
  d = await startDext([dir, '--backend-cmd', FIXTURE], { env: st.env });
});
after(async () => { await d?.stop(); });

async function exec(body) {
  const r = await request(d.port, {
    method: 'POST', path: '/__dext/exec', secret: d.secret,
    headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  return { status: r.status, json: JSON.parse(r.text), dextError: r.headers['x-dext-error'] === '1' };
}

test('blocking calls join and split words: quotes group and go, nothing expands', async () => {
  const cases = [
    [['--format', '"{{ json . }}"'], ['--format', '{{ json . }}']],
    [["jsonpath='{.contexts}'"], ['jsonpath={.contexts}']],
    [['--label com.x.trigger=true'], ['--label', 'com.x.trigger=true']],
    [['--mount type=bind,source="/a b",target=/c'], ['--mount', 'type=bind,source=/a b,target=/c']],
    [['$(id)', '`id`', '$HOME', '*', 'a|b', 'c;d', 'e&&f'], ['$(id)', '`id`', '$HOME', '*', 'a|b', 'c;d', 'e&&f']],
  ];
  for (const [args, want] of cases) {
    const r = await exec({ scope: 'vm', cmd: 'printf', args: ['"%s\\n"', ...args] });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual(r.json.stdout.split('\n').slice(0, -1), want, args.join(' '));
  }
});

test('vm exec runs in the backend\'s view: extension directory, /run/guest-services', async () => {
  const pwd = await exec({ scope: 'vm', cmd: 'pwd', args: [] });
  assert.equal(pwd.json.stdout.trim(), fs.realpathSync(dir));
  // The backend makes its socket as it starts; on a loaded machine that can come late.
  const sockDir = process.getuid() === 0 ? '/run/guest-services' : path.join(st.run, 'dext/ext/runner');
  const ls = await waitFor(async () => {
    const r = await exec({ scope: 'vm', cmd: 'ls', args: [sockDir] });
    return /backend\.sock/.test(r.json.stdout) && r;
  }, { timeoutMs: 10000, what: 'backend.sock in the backend\'s view' });
  assert.match(ls.json.stdout, /backend\.sock/);
  const rel = await exec({ scope: 'vm', cmd: './script.sh', args: [] });
  assert.match(rel.json.stdout, /^script in /);
  const cwd = await exec({ scope: 'vm', cmd: 'pwd', args: [], cwd: 'host' });
  assert.equal(cwd.json.stdout.trim(), path.join(fs.realpathSync(dir), 'host'));
  const env = await exec({ scope: 'vm', cmd: 'sh', args: ['-c', '"echo $FOO-$DESKTOP_PLUGIN_IMAGE-${HOME:+home}"'], env: { FOO: 'bar' } });
  assert.equal(env.json.stdout.trim(), 'bar-test/ext:1.0.0-home', 'env merged over the base environment');
});

test('results: stdout, stderr, code, cmd; a non-zero exit is a result, not an error', async () => {
  const r = await exec({ scope: 'vm', cmd: 'sh', args: ['-c', '"echo out; echo err >&2; exit 3"'] });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { cmd: 'sh -c "echo out; echo err >&2; exit 3"', code: 3, signal: null, killed: false, stdout: 'out\n', stderr: 'err\n' });
  const sig = await exec({ scope: 'vm', cmd: 'sh', args: ['-c', '"kill -KILL $$"'] });
  assert.equal(sig.json.code, null);
  assert.equal(sig.json.signal, 'SIGKILL');
  const bin = await exec({ scope: 'vm', cmd: 'printf', args: ['"a\\377b\\000c"'] });
  assert.equal(bin.json.stdout, 'a\ufffdb\u0000c', 'invalid UTF-8 is replaced, NUL kept');
});

test('a command that cannot start is an error naming it', async () => {
  for (const scope of ['vm', 'docker']) {
    const r = await exec({ scope, cmd: scope === 'vm' ? 'no-such-command-xyz' : 'no-such-subcommand', args: [] });
    if (scope === 'docker') { assert.notEqual(r.json.code, 0); continue; }
    assert.equal(r.dextError, true);
    assert.match(r.json.error, /cannot run 'no-such-command-xyz'.*ENOENT/);
  }
});

test('host binaries: only shipped linux files, by base name, confined to the extension', async () => {
  const ok = await exec({ scope: 'host', cmd: 'tool', args: ['"a b"', 'c'] });
  assert.equal(ok.status, 200, JSON.stringify(ok.json));
  const lines = ok.json.stdout.trim().split('\n');
  assert.deepEqual(lines.slice(0, 2), ['a b', 'c']);
  assert.equal(lines[2], `cwd=${path.join(fs.realpathSync(dir), 'host')}`, 'default cwd: the host directory');
  assert.ok(lines[3].startsWith(`path=${path.join(fs.realpathSync(dir), 'host')}:`), 'PATH starts with the host directory');
  assert.match(lines[3], /:\/usr\/bin/, 'then the user\'s PATH');
  assert.match((await exec({ scope: 'host', cmd: 'helper', args: [] })).json.stdout, /helper/, 'a file in a shipped directory');
  const refused = [
    ['/bin/ls', 403], ['../outside/secret', 403], ['host/tool', 403], ['..', 403],
    ['unlisted', 404], ['ls', 404], ['secret', 404], ['escape', 403],
  ];
  for (const [cmd, status] of refused) {
    const r = await exec({ scope: 'host', cmd, args: [] });
    assert.equal(r.status, status, `${cmd}: ${JSON.stringify(r.json)}`);
    assert.equal(r.dextError, true);
  }
});

test('the docker CLI is reachable (on PATH) and bad requests are refused', async () => {
  const v = await exec({ scope: 'docker', cmd: '--version', args: [] });
  assert.equal(v.json.code, 0);
  assert.match(v.json.cmd, /^docker --version$/);
  for (const body of [{ cmd: 'ls' }, { scope: 'vm' }, { scope: 'vm', cmd: 'ls', args: 'x' }, { scope: 'vm', cmd: 'ls', args: [1] }, { scope: 'nope', cmd: 'ls' },
    { scope: 'vm', cmd: 'echo', args: ['"unbalanced'] }]) {
    const r = await exec(body);
    assert.equal(r.status, 400, JSON.stringify(body));
  }
  const notJson = await request(d.port, { method: 'POST', path: '/__dext/exec', secret: d.secret, body: '{nope' });
  assert.equal(notJson.status, 400);
  const get = await request(d.port, { path: '/__dext/exec', secret: d.secret });
  assert.equal(get.status, 405);
  const noSecret = await request(d.port, { method: 'POST', path: '/__dext/exec', body: '{"scope":"vm","cmd":"touch","args":["/tmp/dext-should-not-exist"]}' });
  assert.equal(noSecret.status, 401);
  assert.equal(fs.existsSync('/tmp/dext-should-not-exist'), false);
});

function pidsOf(marker) {
  return fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try { return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(marker); } catch { return false; }
  });
}

test('a caller that leaves ends its command', async () => {
  const marker = `31.${process.pid}`;
  const s = net.connect(d.port, '127.0.0.1');
  s.on('error', () => {});
  await new Promise((r) => s.on('connect', r));
  const body = JSON.stringify({ scope: 'vm', cmd: 'sleep', args: [marker] });
  s.write(`POST /__dext/exec HTTP/1.1\r\nHost: 127.0.0.1:${d.port}\r\nX-Dext-Secret: ${d.secret}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  await waitFor(() => pidsOf(`sleep\0${marker}`).length > 0, { what: 'the command to start' });
  s.destroy();
  await waitFor(() => pidsOf(`sleep\0${marker}`).length === 0, { what: 'the command to end', timeoutMs: 8000 });
});

test('an extension without host binaries or vm refuses those scopes', async () => {
  const st2 = tmpState();
  const plain = makeExt(st2.dir, 'plain', { ui: { 'dashboard-tab': { title: 'x', root: '/ui', src: 'index.html' } } });
  const x = await startDext([plain], { env: st2.env });
  try {
    for (const scope of ['host', 'vm']) {
      const r = await request(x.port, { method: 'POST', path: '/__dext/exec', secret: x.secret, body: JSON.stringify({ scope, cmd: 'ls', args: [] }) });
      assert.equal(r.status, 404);
      assert.match(JSON.parse(r.text).error, scope === 'host' ? /ships no host binaries/ : /no vm section/);
    }
  } finally { await x.stop(); }
});

test('without privilege, vm exec names the socket directory and still reports start failures', { skip: process.getuid() !== 0 && 'needs root to switch users' }, async () => {
  const st2 = tmpState();
  const plain = makeExt(st2.dir, 'unpriv', serviceMeta());
  for (const p of [st2.dir, st2.data, st2.run, plain, path.join(plain, 'ui')]) fs.chownSync(p, 65534, 65534);
  fs.chmodSync(st2.dir, 0o755);
  const x = await startDext([plain], { env: { ...st2.env, HOME: st2.dir, PATH: '/usr/local/bin:/usr/bin:/bin' }, wrap: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'] });
  try {
    const call = (body) => request(x.port, { method: 'POST', path: '/__dext/exec', secret: x.secret, body: JSON.stringify(body) });
    const env = await call({ scope: 'vm', cmd: 'sh', args: ['-c', '"echo $DEXT_GUEST_SERVICES; id -u"'] });
    assert.equal(env.status, 200, env.text);
    assert.deepEqual(JSON.parse(env.text).stdout.trim().split('\n'), [path.join(st2.run, 'dext/ext/unpriv'), '65534']);
    const missing = await call({ scope: 'vm', cmd: 'no-such-command-u', args: [] });
    assert.equal(missing.status, 404);
    assert.match(JSON.parse(missing.text).error, /cannot run 'no-such-command-u'.*ENOENT/);
  } finally { await x.stop(); }
});
