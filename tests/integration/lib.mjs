// Helpers for black-box tests: a real dext binary, real backends, private state dirs.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = process.env.DEXT_SOURCE_ROOT || path.resolve(here, '../..');
export const DEXT = process.env.DEXT_BIN || path.join(ROOT, 'build/dext');
export const FIXTURE =
  process.env.FIXTURE_BACKEND || path.join(ROOT, 'build/tests/fixtures/fixture-backend');

const cleanups = [];
process.on('exit', () => {
  for (const fn of cleanups.splice(0)) {
    try { fn(); } catch { /* best effort at exit */ }
  }
});

/** A private XDG state for one test: {dir, env}. Removed at exit. */
export function tmpState() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dext-t-'));
  const data = path.join(dir, 'data');
  const run = path.join(dir, 'run');
  fs.mkdirSync(data, { mode: 0o700 });
  fs.mkdirSync(run, { mode: 0o700 });
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return { dir, data, run, env: { XDG_DATA_HOME: data, XDG_RUNTIME_DIR: run } };
}

/** Writes an extension directory: metadata.json, ui/index.html and extra files. */
export function makeExt(parent, name, metadata, files = {}) {
  const dir = path.join(parent, name);
  fs.mkdirSync(path.join(dir, 'ui'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'metadata.json'),
    typeof metadata === 'string' ? metadata : JSON.stringify(metadata, null, 2));
  const all = {
    'ui/index.html': '<!doctype html><html><head><title>t</title></head><body><p id="x">hi</p></body></html>',
    ...files,
  };
  for (const [rel, content] of Object.entries(all)) {
    const p = path.join(dir, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
  }
  return dir;
}

/** The metadata of a UI + socket backend extension. */
export function serviceMeta(socket = 'backend.sock', extra = {}) {
  return {
    ui: { 'dashboard-tab': { title: 'Test', root: '/ui', src: 'index.html' } },
    vm: { image: 'test/ext:1.0.0', exposes: { socket }, ...extra },
  };
}

const SANITIZER = /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: \w+Sanitizer/;

/** Throws when a dext process reported a sanitizer error or did not exit 0. */
export function checkClean(what, code, stderr) {
  if (SANITIZER.test(stderr)) throw new Error(`${what}: sanitizer report:\n${stderr}`);
  if (code !== 0) throw new Error(`${what}: exit status ${code}:\n${stderr}`);
}

/** Runs dext to completion: {code, signal, stdout, stderr}. Sanitizer reports throw. */
export function runDext(args, { env = {}, timeoutMs = 20000, cwd = ROOT, wrap = [] } = {}) {
  return new Promise((resolve, reject) => {
    const argv = [...wrap, DEXT, ...args];
    const p = spawn(argv[0], argv.slice(1), { env: { ...process.env, ...env }, cwd });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`dext ${args.join(' ')} timed out`)); }, timeoutMs);
    p.on('error', (e) => { clearTimeout(t); reject(e); });
    p.on('close', (code, signal) => {
      clearTimeout(t);
      if (SANITIZER.test(stderr)) reject(new Error(`dext ${args.join(' ')}: sanitizer report:\n${stderr}`));
      else resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Starts `dext run ...` (or `dext VERB ...`) and waits for its URL line. */
export function startDext(args, { env = {}, timeoutMs = 15000, cwd = ROOT, wrap = [], verb = 'run' } = {}) {
  return new Promise((resolve, reject) => {
    const argv = [...wrap, DEXT, verb, ...args];
    const p = spawn(argv[0], argv.slice(1), {
      env: { DEXT_LOG_LEVEL: 'info', ...process.env, ...env }, cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanups.push(() => { if (p.exitCode === null) p.kill('SIGKILL'); });
    let out = '';
    let err = '';
    const exited = new Promise((res) => p.on('close', (code, signal) => res({ code, signal })));
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`dext run did not print its URL in time; stderr:\n${err}`));
    }, timeoutMs);
    p.stderr.on('data', (d) => { err += d; });
    p.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl < 0 || t._done) return;
      t._done = true;
      clearTimeout(t);
      const url = new URL(out.slice(0, nl));
      const secret = url.searchParams.get('dext-secret');
      resolve({
        proc: p,
        pid: p.pid,
        url: url.href,
        port: Number(url.port),
        secret,
        entry: url.pathname,
        stderr: () => err,
        exited,
        /** Stops dext; with SIGTERM, fails unless it exits 0 with no sanitizer report. */
        async stop(signal = 'SIGTERM', waitMs = 15000) {
          if (p.exitCode === null && p.signalCode === null) {
            p.kill(signal);
          }
          const timer = setTimeout(() => p.kill('SIGKILL'), waitMs);
          const r = await exited;
          clearTimeout(timer);
          if (signal === 'SIGTERM') checkClean('dext run', r.code, err);
          return r;
        },
      });
    });
    p.on('close', (code) => {
      if (!t._done) {
        clearTimeout(t);
        reject(new Error(`dext run exited with ${code} before printing a URL:\n${err}`));
      }
    });
  });
}

/** One HTTP request on a fresh connection: {status, headers, body (Buffer), text}. */
export function request(port, { method = 'GET', path: p = '/', headers = {}, body, secret, timeoutMs = 20000, host } = {}) {
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    if (secret) h['X-Dext-Secret'] = secret;
    if (host !== undefined) h.Host = host;
    const req = http.request({ host: '127.0.0.1', port, method, path: p, headers: h, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const b = Buffer.concat(chunks);
        resolve({ status: res.statusCode, headers: res.headers, body: b, text: b.toString() });
      });
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    if (body !== undefined) req.end(body); else req.end();
  });
}

/** Sends raw bytes; resolves with everything received until the peer closes (or timeout). */
export function rawRequest(port, data, { timeoutMs = 5000, endAfterWrite = false } = {}) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks = [];
    let closed = false;
    const done = () => { if (!closed) { closed = true; s.destroy(); resolve(Buffer.concat(chunks).toString('latin1')); } };
    s.on('data', (c) => chunks.push(c));
    s.on('close', done);
    s.on('error', done);
    s.setTimeout(timeoutMs, done);
    s.on('connect', () => { s.write(data); if (endAfterWrite) s.end(); });
  });
}

/** Waits until fn() is truthy (polling), or throws after timeoutMs. */
export async function waitFor(fn, { timeoutMs = 10000, intervalMs = 50, what = 'condition' } = {}) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** True while a process exists (and is not a zombie). */
export function alive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

/** A field of /proc/PID/status in kB (VmRSS, VmHWM). */
export function procStatusKb(pid, field) {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  return m ? Number(m[1]) : 0;
}

/** Children pids of pid (from /proc). */
export function childPids(pid) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch { /* gone */ }
  }
  return out;
}

/** Opens an event session; frames are parsed as they come. */
export function openEventSession(d, { slow = false } = {}) {
  return new Promise((resolve, reject) => {
    const streams = new Map();
    const req = http.get({ host: '127.0.0.1', port: d.port, path: '/__dext/events', headers: { 'X-Dext-Secret': d.secret }, agent: false }, (res) => {
      if (res.statusCode !== 200) { reject(new Error(`status ${res.statusCode}`)); return; }
      let buf = Buffer.alloc(0);
      const session = {
        id: null, res, req, streams,
        stream(id) {
          if (!streams.has(id)) streams.set(id, { out: 0, err: 0, outText: '', errText: '', exit: null, error: null, sum: 0 });
          return streams.get(id);
        },
        close() { req.destroy(); },
      };
      res.on('data', (chunk) => {
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
        let off = 0;
        while (buf.length - off >= 9) {
          const id = buf.readUInt32BE(off);
          const kind = buf[off + 4];
          const len = buf.readUInt32BE(off + 5);
          if (buf.length - off - 9 < len) break;
          const p = buf.subarray(off + 9, off + 9 + len);
          off += 9 + len;
          if (kind === 0) { session.id = p.toString(); resolve(session); continue; }
          const s = session.stream(id);
          if (kind === 1) { s.out += p.length; if (s.out < 1e6) s.outText += p.toString('latin1'); }
          else if (kind === 2) { s.err += p.length; s.errText += p.toString(); }
          else if (kind === 3) s.exit = JSON.parse(p.toString());
          else if (kind === 4) s.error = p.toString();
        }
        buf = buf.subarray(off);
        if (slow) { res.pause(); setTimeout(() => res.resume(), 10); }
      });
    });
    req.on('error', reject);
  });
}
