// The process runtime: the backend's view, logs, restart with backoff, stop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { tmpState, makeExt, serviceMeta, startDext, request, runDext, waitFor, alive, childPids, FIXTURE } from './lib.mjs';

test('the backend runs from x-dext-command with the Docker Desktop view', async () => {
  const st = tmpState();
  const dir = makeExt(st.dir, 'view', serviceMeta('backend.sock', { 'x-dext-command': ['bin/backend'] }));
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.copyFileSync(FIXTURE, path.join(dir, 'bin/backend'));
  fs.chmodSync(path.join(dir, 'bin/backend'), 0o755);
  const d = await startDext([dir], { env: st.env });
  try {
    const svc = (p) => request(d.port, { path: '/__dext/vm/service' + p, secret: d.secret });
    const cwd = await svc('/cwd');
    assert.equal(cwd.status, 200, cwd.text);
    assert.equal(cwd.text, fs.realpathSync(dir));
    const gs = (await svc('/env/DEXT_GUEST_SERVICES')).text;
    if (process.getuid() === 0) assert.equal(gs, '/run/guest-services', 'mapped in a private mount namespace');
    else assert.equal(gs, path.join(st.run, 'dext/ext/view'));
    assert.equal((await svc('/env/DESKTOP_PLUGIN_IMAGE')).text, 'test/ext:1.0.0');
    assert.ok(fs.existsSync(path.join(st.run, 'dext/ext/view/backend.sock')), 'the socket is in the extension\'s own directory');
  } finally { await d.stop(); }
});

test('backend output goes to the log shown by dext logs', async () => {
  const st = tmpState();
  const dir = makeExt(st.dir, 'logged', serviceMeta());
  const d = await startDext([dir, '--backend-cmd', '/bin/sh', '-c', `echo out-line; echo err-line >&2; exec ${FIXTURE}`], { env: st.env });
  try {
    await waitFor(async () => /err-line/.test((await runDext(['logs', 'logged'], { env: st.env })).stdout), { what: 'log lines' });
    const logs = (await runDext(['logs', 'logged'], { env: st.env })).stdout;
    assert.match(logs, /started backend/);
    assert.match(logs, /out-line/);
    assert.match(logs, /err-line/);
  } finally { await d.stop(); }
});

test('a backend that dies is restarted with backoff', async () => {
  const st = tmpState();
  const dir = makeExt(st.dir, 'phoenix', serviceMeta());
  const d = await startDext([dir, '--backend-cmd', FIXTURE], { env: st.env });
  try {
    const pidOf = async () => JSON.parse((await request(d.port, { path: '/__dext/vm/service/pid', secret: d.secret, timeoutMs: 15000 })).text).pid;
    // Each call is made once the killed process is really gone: a call racing the
    // kill itself may fail, as it would on any host.
    const p1 = await pidOf();
    process.kill(p1, 'SIGKILL');
    await waitFor(() => !alive(p1), { what: 'the first backend to die' });
    const p2 = await pidOf();
    assert.notEqual(p2, p1);
    process.kill(p2, 'SIGKILL');
    await waitFor(() => !alive(p2), { what: 'the second backend to die' });
    const p3 = await pidOf();
    assert.notEqual(p3, p2);
    const logs = (await runDext(['logs', 'phoenix'], { env: st.env })).stdout;
    assert.match(logs, /killed by signal 9; restarting in 200 ms/);
    assert.match(logs, /killed by signal 9; restarting in 400 ms/);
  } finally { await d.stop(); }
});

test('SIGTERM stops the backend and its whole process group, then dext exits 0', async () => {
  const st = tmpState();
  const dir = makeExt(st.dir, 'group', serviceMeta());
  const d = await startDext([dir, '--backend-cmd', '/bin/sh', '-c', `sleep 300 & exec ${FIXTURE}`], { env: st.env });
  const bpid = JSON.parse((await request(d.port, { path: '/__dext/vm/service/pid', secret: d.secret })).text).pid;
  const helpers = childPids(bpid);
  assert.ok(helpers.length >= 1, 'the backend has a child');
  const r = await d.stop('SIGTERM');
  assert.equal(r.code, 0);
  await waitFor(() => !alive(bpid) && helpers.every((p) => !alive(p)), { what: 'the process group to be gone' });
});

test('a backend that ignores SIGTERM is killed after the grace period', async () => {
  const st = tmpState();
  const dir = makeExt(st.dir, 'stubborn', serviceMeta());
  const d = await startDext([dir, '--backend-cmd', '/bin/sh', '-c', "trap '' TERM; sleep 300 & wait"],
    { env: { ...st.env, DEXT_STOP_GRACE_MS: '400' } });
  // Wait for the shell's own child: by then its trap is set.
  await waitFor(() => childPids(d.pid).some((p) => childPids(p).length > 0), { what: 'the backend to start' });
  const bpid = childPids(d.pid).find((p) => childPids(p).length > 0);
  const t0 = Date.now();
  const r = await d.stop('SIGTERM');
  assert.equal(r.code, 0);
  assert.ok(Date.now() - t0 >= 350, 'it waited for the grace period');
  await waitFor(() => !alive(bpid), { what: 'the backend to be killed' });
  const logs = (await runDext(['logs', 'stubborn'], { env: st.env })).stdout;
  assert.match(logs, /SIGKILL/);
});

test('the backend does not outlive a dext that is killed outright', async () => {
  const st = tmpState();
  const dir = makeExt(st.dir, 'orphan', serviceMeta());
  const d = await startDext([dir, '--backend-cmd', FIXTURE], { env: st.env });
  const bpid = JSON.parse((await request(d.port, { path: '/__dext/vm/service/pid', secret: d.secret })).text).pid;
  await d.stop('SIGKILL');
  await waitFor(() => !alive(bpid), { what: 'the orphaned backend to exit' });
});

test('without privilege the socket directory is named in DEXT_GUEST_SERVICES', { skip: process.getuid() !== 0 && 'needs root to switch to an unprivileged user' }, async () => {
  const st = tmpState();
  const dir = makeExt(st.dir, 'plain', serviceMeta());
  for (const d of [st.dir, st.data, st.run, dir, path.join(dir, 'ui')]) fs.chownSync(d, 65534, 65534);
  fs.chmodSync(st.dir, 0o755);
  const d = await startDext([dir, '--backend-cmd', FIXTURE], {
    env: { ...st.env, HOME: st.dir },
    wrap: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'],
  });
  try {
    const gs = await request(d.port, { path: '/__dext/vm/service/env/DEXT_GUEST_SERVICES', secret: d.secret });
    assert.equal(gs.status, 200, gs.text);
    assert.equal(gs.text, path.join(st.run, 'dext/ext/plain'));
    const uid = fs.statSync(path.join(st.run, 'dext/ext/plain/backend.sock')).uid;
    assert.equal(uid, 65534, 'the backend ran as the unprivileged user');
  } finally { await d.stop(); }
});
