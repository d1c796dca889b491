// Helpers for the engine suite: a private, real dockerd (Debian's docker.io) started by
// the test itself, and test images built with no registry at all.
//
// Every engine lives in a fresh /tmp/dxe-XXXXXX directory (short, so unix socket paths
// stay far under the 108-byte limit): its API socket, data root, exec root, config, log,
// and the build contexts of the helpers below. stop() leaves nothing of it behind: no
// process, no mount, no directory.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const FIXTURES = path.join(here, 'fixtures');

/** dockerd to run; DEXT_DOCKERD overrides. */
export const DOCKERD = process.env.DEXT_DOCKERD || 'dockerd';
/**
 * The docker CLI the helpers run. Debian's (the same release as dockerd) is preferred
 * over whatever comes first in PATH; DEXT_DOCKER_CLI overrides.
 */
export const DOCKER_CLI = process.env.DEXT_DOCKER_CLI ||
  (fs.existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker');
/** The static busybox the base image is made of (Debian's busybox-static). */
export const BUSYBOX = process.env.DEXT_BUSYBOX || '/bin/busybox';
export const BASE_TAG = 'dext-test/base:1';

const START_TIMEOUT_MS = 60000;
const STOP_GRACE_MS = 15000;
const KILL_WAIT_MS = 10000;
const LOG_TAIL = 16384;

const live = new Set();
function killAllNow() {
  for (const e of live) {
    try { e._killNow(); } catch { /* best effort at exit */ }
  }
  live.clear();
}
process.on('exit', killAllNow);
// A signal ends node without 'exit': clean up, then die of the same signal.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, function onSignal() {
    killAllNow();
    process.removeListener(sig, onSignal);
    process.kill(process.pid, sig);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function which(cmd) {
  if (cmd.includes('/')) return fs.existsSync(cmd) ? cmd : null;
  for (const d of (process.env.PATH || '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const p = path.join(d, cmd);
    try { fs.accessSync(p, fs.constants.X_OK); return p; } catch { /* next */ }
  }
  return null;
}

/** True when the ELF file at p has no program interpreter (is statically linked). */
function isStaticElf(p) {
  const b = fs.readFileSync(p);
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2) return false;
  const phoff = Number(b.readBigUInt64LE(32));
  const phentsize = b.readUInt16LE(54);
  const phnum = b.readUInt16LE(56);
  for (let i = 0; i < phnum; i++) {
    if (b.readUInt32LE(phoff + i * phentsize) === 3 /* PT_INTERP */) return false;
  }
  return true;
}

/**
 * Why the engine suite cannot run here, or null when it can: it needs root (dockerd
 * mounts and makes namespaces), dockerd, the docker CLI, a static busybox and gcc.
 */
export function engineUnavailable() {
  if (process.getuid() !== 0) return 'the engine tests need root (dockerd runs as root)';
  if (!which(DOCKERD)) return `${DOCKERD} not found (Debian package docker.io; tools/setup.sh)`;
  if (!which(DOCKER_CLI)) return `${DOCKER_CLI} not found (Debian package docker.io)`;
  if (!fs.existsSync(BUSYBOX) || !isStaticElf(BUSYBOX)) {
    return `${BUSYBOX} is not a static busybox (Debian package busybox-static)`;
  }
  if (!which('gcc')) return 'gcc not found';
  return null;
}

// ---------------------------------------------------------------------------------
// /proc helpers

/** {pid: {ppid, start}} for every process; start is the start time (for pid reuse). */
function procTable() {
  const table = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // f[0] is the state, f[1] the ppid, f[19] the start time (fields 3, 4 and 22).
      table.set(Number(d), { state: f[0], ppid: Number(f[1]), start: f[19] });
    } catch { /* gone */ }
  }
  return table;
}

function cmdline(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/** True while the process exists with that start time and is not a zombie. */
function procAlive(pid, start) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return f[0] !== 'Z' && (start === undefined || f[19] === start);
  } catch {
    return false;
  }
}

/** Mount points at or under dir, deepest first (from /proc/self/mountinfo). */
function mountsUnder(dir) {
  const unescape = (s) => s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
  let text = '';
  try { text = fs.readFileSync('/proc/self/mountinfo', 'utf8'); } catch { return []; }
  const out = [];
  for (const line of text.split('\n')) {
    const mp = line.split(' ')[4];
    if (!mp) continue;
    const p = unescape(mp);
    if (p === dir || p.startsWith(dir + '/')) out.push(p);
  }
  return [...new Set(out)].sort((a, b) => b.length - a.length);
}

/** Paths of the listening unix sockets a process holds (to remove after killing it). */
function unixSocketPaths(pid) {
  const inodes = new Set();
  try {
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = fs.readlinkSync(`/proc/${pid}/fd/${fd}`).match(/^socket:\[(\d+)\]$/);
        if (m) inodes.add(m[1]);
      } catch { /* closed meanwhile */ }
    }
  } catch { return []; }
  const out = [];
  try {
    for (const line of fs.readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // Num RefCount Protocol Flags Type St Inode Path; flag 0x10000 is __SO_ACCEPTCON.
      if (f.length >= 8 && inodes.has(f[6]) && (parseInt(f[3], 16) & 0x10000) && f[7].startsWith('/')) {
        out.push(f[7]);
      }
    }
  } catch { /* no /proc/net/unix */ }
  return out;
}

/** rmdir of a cgroup and the cgroups under it, deepest first (they hold no tasks). */
function rmCgroupTree(d) {
  let entries;
  try { entries = fs.readdirSync(d, { withFileTypes: true }); } catch { return; }
  for (const e of entries) if (e.isDirectory()) rmCgroupTree(path.join(d, e.name));
  try { fs.rmdirSync(d); } catch { /* busy: reported by leftoverCgroups */ }
}

/**
 * Removes the cgroup `name` from every hierarchy, v1 or v2, with the containers'
 * cgroups under it (left there when dockerd died before removing its containers).
 */
function removeCgroups(name) {
  rmCgroupTree(path.join('/sys/fs/cgroup', name));
  let hierarchies = [];
  try { hierarchies = fs.readdirSync('/sys/fs/cgroup'); } catch { /* no cgroupfs */ }
  for (const h of hierarchies) rmCgroupTree(path.join('/sys/fs/cgroup', h, name));
}

/** The cgroup directories called `name` that still exist. */
function leftoverCgroups(name) {
  const found = [];
  const check = (d) => { try { if (fs.statSync(d).isDirectory()) found.push(d); } catch { /* no */ } };
  check(path.join('/sys/fs/cgroup', name));
  try {
    for (const h of fs.readdirSync('/sys/fs/cgroup')) check(path.join('/sys/fs/cgroup', h, name));
  } catch { /* no cgroupfs */ }
  return found;
}

// ---------------------------------------------------------------------------------
// The engine

function ping(socket, timeoutMs = 2000) {
  return new Promise((resolve) => {
    const req = http.request({ socketPath: socket, path: '/_ping', agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve(res.statusCode === 200 && body === 'OK'));
      res.on('error', () => resolve(false));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
    req.end();
  });
}

function tail(file, n = LOG_TAIL) {
  try {
    const b = fs.readFileSync(file);
    return b.subarray(Math.max(0, b.length - n)).toString();
  } catch (e) {
    return `(no log: ${e.message})`;
  }
}

/**
 * Starts a private dockerd and waits until GET /_ping answers on its socket.
 * Resolves to {dir, socket, dockerHost, env, pid, logFile, dockerCli, pids(), log(),
 * stop()}. env holds DOCKER_HOST (and a private DOCKER_CONFIG) to merge into the
 * environment of anything that should talk to this engine.
 * extraArgs are appended to dockerd's arguments.
 */
export async function startEngine({ timeoutMs = START_TIMEOUT_MS, extraArgs = [] } = {}) {
  const why = engineUnavailable();
  if (why) throw new Error(`cannot start dockerd: ${why}`);
  const dir = fs.mkdtempSync('/tmp/dxe-');
  // Searchable, so processes of other users can reach sockets in it by their path.
  fs.chmodSync(dir, 0o711);
  const socket = path.join(dir, 'd.sock');
  const dataRoot = path.join(dir, 'data');
  const execRoot = path.join(dir, 'x');
  const cliConfig = path.join(dir, 'cli');
  const configFile = path.join(dir, 'daemon.json');
  const pidFile = path.join(dir, 'd.pid');
  const logFile = path.join(dir, 'dockerd.log');
  const cgroupName = path.basename(dir);
  for (const d of [dataRoot, execRoot, cliConfig]) fs.mkdirSync(d, { mode: 0o700 });
  // A private, empty daemon.json: the host's /etc/docker/daemon.json must not apply.
  fs.writeFileSync(configFile, '{}\n');
  fs.writeFileSync(path.join(cliConfig, 'config.json'), '{}\n');

  const args = [
    '--config-file', configFile,
    '--storage-driver=vfs',
    '--iptables=false', '--ip6tables=false', '--bridge=none',
    '--ip-forward=false', '--ip-masq=false', '--userland-proxy=false',
    '--data-root', dataRoot,
    '--exec-root', execRoot,
    '--pidfile', pidFile,
    '-H', `unix://${socket}`,
    // Containers get this long to stop when dockerd shuts down (default 15 s).
    '--shutdown-timeout=2',
    // Containers' cgroups go under a private parent, removed by stop(), not /docker.
    `--cgroup-parent=/${cgroupName}`,
    ...extraArgs,
  ];
  const logFd = fs.openSync(logFile, 'a');
  const proc = spawn(DOCKERD, args, {
    stdio: ['ignore', logFd, logFd],
    // Its own session: a terminal's Ctrl-C reaches the test process only, whose
    // handlers then clean up dockerd, its shims and containers together.
    detached: true,
    env: { ...process.env, DOCKER_HOST: undefined, DOCKER_CONFIG: undefined },
  });
  fs.closeSync(logFd);
  // A test that forgets stop() must not keep node alive: the exit hook cleans up.
  proc.unref();
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => resolve({ code, signal }));
    proc.on('error', (err) => resolve({ code: null, signal: null, err }));
  });
  let exitInfo = null;
  exited.then((r) => { exitInfo = r; });

  // Every process of ours seen so far, by pid with its start time, so stop() can kill
  // what outlives dockerd (containerd-shim reparents itself to init) and never a
  // recycled pid.
  const seen = new Map();
  const ours = () => {
    const table = procTable();
    const roots = new Set();
    if (proc.pid && table.has(proc.pid)) roots.add(proc.pid);
    for (const [pid] of table) {
      // containerd, its shims and anything else started with our private paths.
      if (cmdline(pid).some((a) => a.includes(dir + '/'))) roots.add(pid);
    }
    const found = new Set(roots);
    let grew = true;
    while (grew) {
      grew = false;
      for (const [pid, p] of table) {
        if (!found.has(pid) && found.has(p.ppid)) { found.add(pid); grew = true; }
      }
    }
    for (const pid of found) {
      const p = table.get(pid);
      if (p && p.state !== 'Z') seen.set(pid, p.start);
    }
    return found;
  };

  const engine = {
    dir,
    socket,
    dockerHost: `unix://${socket}`,
    env: { DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: cliConfig },
    dataRoot,
    execRoot,
    logFile,
    dockerCli: DOCKER_CLI,
    pid: proc.pid,
    cgroupParent: `/${cgroupName}`,
    /** Live pids of this engine: dockerd, containerd, shims, container processes. */
    pids() {
      ours();
      return [...seen].filter(([pid, start]) => procAlive(pid, start)).map(([pid]) => pid);
    },
    /** The end of dockerd's log. */
    log: (n) => tail(logFile, n),
    stop: null,
    _killNow: null,
  };

  // The synchronous last resort for process exit: SIGKILL everything, unmount, remove.
  engine._killNow = () => {
    ours();
    const victims = [...seen].filter(([pid, start]) => procAlive(pid, start));
    const sockets = victims.flatMap(([pid]) => unixSocketPaths(pid));
    for (const [pid] of victims) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    const end = Date.now() + 3000;
    const nap = new Int32Array(new SharedArrayBuffer(4));
    while (victims.some(([pid, start]) => procAlive(pid, start)) && Date.now() < end) {
      Atomics.wait(nap, 0, 0, 20); /* a synchronous sleep: no event loop at exit */
    }
    removeShimSockets(sockets);
    for (const mp of mountsUnder(dir)) spawnSync('umount', ['-l', mp], { timeout: 5000 });
    removeCgroups(cgroupName);
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  };

  let stopping = null;
  engine.stop = () => {
    stopping ||= (async () => {
      ours();
      if (exitInfo === null) {
        try { process.kill(proc.pid, 'SIGTERM'); } catch { /* gone */ }
        const timer = setTimeout(() => {
          try { process.kill(proc.pid, 'SIGKILL'); } catch { /* gone */ }
        }, STOP_GRACE_MS);
        await exited;
        clearTimeout(timer);
      }
      await killLeftovers();
      unmountAll();
      removeCgroups(cgroupName);
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
      live.delete(engine);
      const left = engine.pids();
      const mounts = mountsUnder(dir);
      const cgroups = leftoverCgroups(cgroupName);
      if (left.length || mounts.length || cgroups.length || fs.existsSync(dir)) {
        throw new Error(`engine stop left behind: pids ${left.join(' ') || '-'}; ` +
          `mounts ${mounts.join(' ') || '-'}; cgroups ${cgroups.join(' ') || '-'}; ` +
          `dir ${fs.existsSync(dir) ? dir : '-'}`);
      }
      return exitInfo;
    })();
    return stopping;
  };

  // After dockerd: containerd (its child) normally exits with it, but shims detach to
  // init and keep their containers; kill them and their containers by pid.
  async function killLeftovers() {
    ours();
    const victims = [...seen].filter(([pid, start]) => procAlive(pid, start));
    if (victims.length === 0) return;
    const sockets = victims.flatMap(([pid]) => unixSocketPaths(pid));
    for (const [pid] of victims) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    const end = Date.now() + KILL_WAIT_MS;
    while (victims.some(([pid, start]) => procAlive(pid, start)) && Date.now() < end) {
      await sleep(50);
    }
    removeShimSockets(sockets);
  }

  // A killed shim leaves its socket in containerd's global /run/containerd/s.
  function removeShimSockets(sockets) {
    for (const s of sockets) {
      if (s.startsWith(dir + '/') || s.startsWith('/run/containerd/s/')) {
        try { fs.unlinkSync(s); } catch { /* already gone */ }
      }
    }
  }

  function unmountAll() {
    for (const mp of mountsUnder(dir)) {
      const r = spawnSync('umount', [mp], { timeout: 10000, encoding: 'utf8' });
      if (r.status !== 0) spawnSync('umount', ['-l', mp], { timeout: 10000 });
    }
  }

  live.add(engine);
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (exitInfo !== null) {
      const why = exitInfo.err ? exitInfo.err.message
        : `exit status ${exitInfo.code}, signal ${exitInfo.signal}`;
      const log = engine.log();
      await engine.stop().catch(() => {});
      throw new Error(`dockerd exited before answering /_ping (${why}); its log:\n${log}`);
    }
    if (await ping(socket)) break;
    if (Date.now() > end) {
      const log = engine.log();
      await engine.stop().catch(() => {});
      throw new Error(`dockerd did not answer /_ping on ${socket} within ${timeoutMs} ms; ` +
        `its log:\n${log}`);
    }
    await sleep(100);
  }
  ours();
  return engine;
}

// ---------------------------------------------------------------------------------
// Commands

/**
 * Runs a command to completion: {code, signal, stdout, stderr}. Throws when it cannot
 * start, times out (after SIGKILL), or (unless check is false) exits non-zero.
 * input: a string/Buffer written to stdin, or a readable stream piped into it.
 */
export function run(cmd, args, { env = {}, input, timeoutMs = 120000, check = true, cwd } = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, {
      env: { ...process.env, ...env },
      cwd,
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    const what = `${cmd} ${args.join(' ')}`;
    const t = setTimeout(() => { timedOut = true; p.kill('SIGKILL'); }, timeoutMs);
    p.on('error', (e) => { clearTimeout(t); reject(new Error(`${what}: ${e.message}`)); });
    p.on('close', (code, signal) => {
      clearTimeout(t);
      if (timedOut) reject(new Error(`${what}: timed out after ${timeoutMs} ms\n${stdout}${stderr}`));
      else if (check && code !== 0) {
        reject(new Error(`${what}: exit status ${code ?? signal}\n${stdout}${stderr}`));
      } else resolve({ code, signal, stdout, stderr });
    });
    if (input !== undefined) {
      p.stdin.on('error', () => { /* the command exited early; its status says why */ });
      if (typeof input === 'string' || Buffer.isBuffer(input)) p.stdin.end(input);
      else input.pipe(p.stdin);
    }
  });
}

/** Runs the docker CLI against the engine (classic builder, private CLI config). */
export function docker(engine, args, opts = {}) {
  return run(engine.dockerCli, args, {
    ...opts,
    env: { DOCKER_BUILDKIT: '0', DOCKER_CLI_HINTS: 'false', ...engine.env, ...(opts.env || {}) },
  });
}

/** Compiles one C file into a static binary (gcc -static -O2). */
export async function compileStatic(src, out, { extraArgs = [], timeoutMs = 120000 } = {}) {
  await run('gcc', ['-static', '-O2', '-Wall', '-o', out, src, ...extraArgs], { timeoutMs });
  return out;
}

let nDirs = 0;
/** A fresh directory inside the engine's private dir (removed by stop()). */
export function engineTmp(engine, name = 'tmp') {
  const d = path.join(engine.dir, `${name}-${++nDirs}`);
  fs.mkdirSync(d, { recursive: true });
  return d;
}

/**
 * Imports a registry-free base image: Debian's static busybox with a symlink per
 * applet in /bin, /tmp, /run, /root and a minimal /etc/passwd and /etc/group.
 * Resolves to the tag.
 */
export async function buildBaseImage(engine, tag = BASE_TAG, { timeoutMs = 120000 } = {}) {
  const root = engineTmp(engine, 'rootfs');
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'root', 'run', 'var', 'proc', 'sys', 'dev']) {
    fs.mkdirSync(path.join(root, d), { recursive: true });
  }
  fs.mkdirSync(path.join(root, 'tmp'));
  fs.chmodSync(path.join(root, 'tmp'), 0o1777);
  fs.symlinkSync('../run', path.join(root, 'var/run'));
  fs.copyFileSync(BUSYBOX, path.join(root, 'bin/busybox'));
  fs.chmodSync(path.join(root, 'bin/busybox'), 0o755);
  const list = await run(BUSYBOX, ['--list'], { timeoutMs: 10000 });
  const applets = new Set(list.stdout.split('\n').filter((a) => /^[\w.[-]+$/.test(a) && a !== 'busybox'));
  for (const a of ['sh', 'sleep', 'cat', 'ls', 'echo']) {
    if (!applets.has(a)) throw new Error(`${BUSYBOX} has no ${a} applet`);
  }
  for (const a of applets) fs.symlinkSync('busybox', path.join(root, 'bin', a));
  fs.writeFileSync(path.join(root, 'etc/passwd'),
    'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  fs.writeFileSync(path.join(root, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');

  const tar = spawn('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', root, '-c', '.'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tarErr = '';
  tar.stderr.on('data', (d) => { tarErr += d; });
  const tarDone = new Promise((resolve) => tar.on('close', resolve));
  try {
    await docker(engine, [
      'import',
      '--change', 'ENV PATH=/bin:/sbin:/usr/bin:/usr/sbin',
      '--change', 'CMD ["/bin/sh"]',
      '-', tag,
    ], { input: tar.stdout, timeoutMs });
  } finally {
    if (tar.exitCode === null) tar.kill('SIGKILL');
  }
  const tarCode = await tarDone;
  if (tarCode !== 0) throw new Error(`tar of the base rootfs failed (${tarCode}): ${tarErr}`);
  fs.rmSync(root, { recursive: true, force: true });
  return tag;
}

/**
 * Builds dir (a build context with a Dockerfile) into tag with the classic builder.
 * Resolves to the image id.
 */
export async function buildImage(engine, dir, tag, { buildArgs = {}, timeoutMs = 180000, extraArgs = [] } = {}) {
  const iid = path.join(engineTmp(engine, 'iid'), 'iid');
  const args = ['build', '--network', 'none', '--iidfile', iid, '-t', tag];
  for (const [k, v] of Object.entries(buildArgs)) args.push('--build-arg', `${k}=${v}`);
  args.push(...extraArgs, dir);
  await docker(engine, args, { timeoutMs });
  return fs.readFileSync(iid, 'utf8').trim();
}

/**
 * Builds the test extension image from fixtures/ext with the static backend and host
 * binary compiled from fixtures/backend.c and fixtures/host.c. Resolves to the tag.
 */
export async function buildExtensionImage(engine, { tag = 'dext-test/engine-ext:1', base = BASE_TAG } = {}) {
  const ctx = engineTmp(engine, 'ctx');
  fs.cpSync(path.join(FIXTURES, 'ext'), ctx, { recursive: true });
  await Promise.all([
    compileStatic(path.join(FIXTURES, 'backend.c'), path.join(ctx, 'backend')),
    compileStatic(path.join(FIXTURES, 'host.c'), path.join(ctx, 'host-linux')),
  ]);
  await buildImage(engine, ctx, tag, { buildArgs: { BASE_IMAGE: base } });
  fs.rmSync(ctx, { recursive: true, force: true });
  return tag;
}
