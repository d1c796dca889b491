// Streaming exec through the event connection: framing, verbatim args, close(),
// page exit, backpressure without loss, a 1 GiB stream.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { tmpState, makeExt, serviceMeta, startDext, request, waitFor, procStatusKb, alive, FIXTURE, openEventSession } from './lib.mjs';

let d;
before(async () => {
  const st = tmpState();
  const dir = makeExt(st.dir, 'streamer', serviceMeta());
  d = await startDext([dir, '--backend-cmd', FIXTURE], { env: st.env });
});
after(async () => { await d?.stop(); });

const openSession = (opts) => openEventSession(d, opts);

const post = (path, body) => request(d.port, { method: 'POST', path, secret: d.secret, body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
const start = (s, id, body) => post('/__dext/exec/stream', { session: s.id, id, ...body });

test('a stream delivers stdout and stderr in frames, then the exit code', async () => {
  const s = await openSession();
  assert.match(s.id, /^[0-9a-f]{32}$/);
  const r = await start(s, 1, { scope: 'vm', cmd: 'sh', args: ['-c', 'echo one; echo two >&2; exit 4'] });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(JSON.parse(r.text), { id: 1 });
  await waitFor(() => s.stream(1).exit, { what: 'the exit frame' });
  assert.equal(s.stream(1).outText, 'one\n');
  assert.equal(s.stream(1).errText, 'two\n');
  assert.deepEqual(s.stream(1).exit, { code: 4, signal: null });
  s.close();
});

test('streaming passes args verbatim (no splitting, no quote removal, no shell)', async () => {
  const s = await openSession();
  await start(s, 7, { scope: 'vm', cmd: 'printf', args: ['%s|', '"{{ json . }}"', 'a b', '$(id)', '*'] });
  await waitFor(() => s.stream(7).exit);
  assert.equal(s.stream(7).outText, '"{{ json . }}"|a b|$(id)|*|');
  s.close();
});

test('a command that cannot start is refused at once, naming it', async () => {
  const s = await openSession();
  const r = await start(s, 2, { scope: 'vm', cmd: 'no-such-command-abc', args: [] });
  assert.equal(r.status, 404);
  assert.equal(r.headers['x-dext-error'], '1');
  assert.match(JSON.parse(r.text).error, /cannot run 'no-such-command-abc'.*ENOENT/);
  assert.equal(s.streams.has(2), false, 'no frame for a stream that never started');
  const bad = await start(s, 3, { scope: 'host', cmd: 'anything', args: [] });
  assert.equal(bad.status, 404);
  await start(s, 5, { scope: 'vm', cmd: 'sleep', args: ['30'] });
  assert.equal((await start(s, 5, { scope: 'vm', cmd: 'true', args: [] })).status, 400, 'a running stream id is not reused');
  assert.equal((await start(s, 0, { scope: 'vm', cmd: 'true', args: [] })).status, 400, 'ids are positive');
  assert.equal((await post('/__dext/exec/stream', { session: 'nope', id: 9, scope: 'vm', cmd: 'true' })).status, 404);
  s.close();
});

function pidsOf(marker) {
  return fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try { return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(marker); } catch { return false; }
  }).map(Number);
}

test('close() ends the whole process group; nothing is left, not even a zombie', async () => {
  const s = await openSession();
  const marker = `41.${process.pid}`;
  await start(s, 1, { scope: 'vm', cmd: 'sh', args: ['-c', `sleep ${marker} & sleep ${marker}; wait`] });
  await waitFor(() => pidsOf(`sleep\0${marker}`).length === 2, { what: 'both sleeps' });
  const pids = pidsOf(`sleep\0${marker}`);
  const c = await post('/__dext/exec/close', { session: s.id, id: 1 });
  assert.equal(c.status, 200);
  await waitFor(() => s.stream(1).exit, { what: 'the exit frame' });
  assert.equal(s.stream(1).exit.signal, 'SIGTERM');
  await waitFor(() => pids.every((p) => !alive(p)), { what: 'the group to be gone' });
  // Gone from the process table: reaped, no zombie left behind.
  await waitFor(() => pids.every((p) => !fs.existsSync(`/proc/${p}`)), { what: 'the pids to be reaped' });
  s.close();
});

test('leaving the page (closing its event connection) ends everything it started', async () => {
  const s = await openSession();
  const marker = `42.${process.pid}`;
  for (let i = 1; i <= 3; i++) await start(s, i, { scope: 'vm', cmd: 'sleep', args: [marker] });
  await waitFor(() => pidsOf(`sleep\0${marker}`).length === 3, { what: 'three sleeps' });
  const pids = pidsOf(`sleep\0${marker}`);
  s.close();
  await waitFor(() => pids.every((p) => !alive(p)), { what: 'every process to end' });
});

test('20 streams at once while service calls answer promptly', async () => {
  const s = await openSession();
  for (let i = 1; i <= 20; i++) {
    const r = await start(s, i, { scope: 'vm', cmd: 'sh', args: ['-c', `for n in 1 2 3 4 5; do echo s${i}-$n; sleep 0.1; done`] });
    assert.equal(r.status, 200, r.text);
  }
  const t0 = Date.now();
  const svc = await request(d.port, { path: '/__dext/vm/service/hello', secret: d.secret });
  assert.equal(svc.status, 200);
  assert.ok(Date.now() - t0 < 1000, 'the service call was not held up');
  await waitFor(() => [...Array(20).keys()].every((i) => s.stream(i + 1).exit), { what: 'all 20 streams', timeoutMs: 20000 });
  for (let i = 1; i <= 20; i++) {
    assert.equal(s.stream(i).outText, [1, 2, 3, 4, 5].map((n) => `s${i}-${n}\n`).join(''));
    assert.deepEqual(s.stream(i).exit, { code: 0, signal: null });
  }
  s.close();
});

test('a slow reader pauses the producer: nothing lost, memory flat', async () => {
  const s = await openSession({ slow: true });
  const size = 16 * 1024 * 1024;
  await start(s, 1, { scope: 'vm', cmd: 'head', args: ['-c', String(size), '/dev/zero'] });
  await waitFor(() => s.stream(1).exit, { what: 'the slow stream to finish', timeoutMs: 60000 });
  assert.equal(s.stream(1).out, size);
  if (!process.env.DEXT_SANITIZED) {
    const hwm = procStatusKb(d.pid, 'VmHWM');
    assert.ok(hwm < 24 * 1024, `dext peak RSS ${hwm} kB`);
  }
  s.close();
});

test('a 1 GiB stream arrives complete', async () => {
  const s = await openSession();
  const size = 1024 * 1024 * 1024;
  await start(s, 1, { scope: 'vm', cmd: 'head', args: ['-c', String(size), '/dev/zero'] });
  await waitFor(() => s.stream(1).exit, { what: 'the 1 GiB stream', timeoutMs: 120000, intervalMs: 200 });
  assert.equal(s.stream(1).out, size);
  assert.deepEqual(s.stream(1).exit, { code: 0, signal: null });
  if (!process.env.DEXT_SANITIZED) {
    const hwm = procStatusKb(d.pid, 'VmHWM');
    assert.ok(hwm < 24 * 1024, `dext peak RSS ${hwm} kB stays flat`);
  }
  s.close();
});
