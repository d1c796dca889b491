// A private Podman for the engine suite: `podman system service` (the Docker-compatible
// Engine API) on a socket in a fresh /tmp/dxp-XXXXXX directory, with its own storage
// (vfs), run root and configuration, so nothing of the host's containers is seen or
// touched. The returned object has the shape of startEngine()'s, so the image helpers
// of engine.mjs work on it. stop() removes every container, then the service, then
// the directory.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { DOCKER_CLI } from './engine.mjs';

export const PODMAN = process.env.DEXT_PODMAN || '/usr/bin/podman';

/** Why Podman cannot run here, or null. */
export function podmanUnavailable() {
  if (process.getuid() !== 0) return 'needs root';
  if (!fs.existsSync(PODMAN)) return `${PODMAN} is not installed`;
  return null;
}

function ping(socket) {
  return new Promise((resolve) => {
    const req = http.get({ socketPath: socket, path: '/_ping', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => { req.destroy(); resolve(false); });
  });
}

export async function startPodman({ timeoutMs = 30000 } = {}) {
  const dir = fs.mkdtempSync('/tmp/dxp-');
  fs.chmodSync(dir, 0o711);
  const socket = path.join(dir, 'p.sock');
  const cli = path.join(dir, 'cli');
  fs.mkdirSync(cli);
  fs.writeFileSync(path.join(cli, 'config.json'), '{}\n');
  // Host networking (no network plugins needed), cgroupfs (no systemd), and the
  // ulimits Podman may set without CAP_SYS_RESOURCE.
  fs.writeFileSync(path.join(dir, 'containers.conf'), [
    '[containers]',
    'default_ulimits = ["nofile=20000:20000","nproc=32768:32768"]',
    'netns = "host"',
    '[engine]',
    'cgroup_manager = "cgroupfs"',
    'events_logger = "file"',
    `events_logfile_path = "${dir}/events.log"`,
    '',
  ].join('\n'));
  fs.writeFileSync(path.join(dir, 'storage.conf'), [
    '[storage]', 'driver = "vfs"', `runroot = "${dir}/run"`, `graphroot = "${dir}/root"`, '',
  ].join('\n'));
  const env = {
    ...process.env,
    CONTAINERS_CONF: path.join(dir, 'containers.conf'),
    CONTAINERS_STORAGE_CONF: path.join(dir, 'storage.conf'),
    CONTAINERS_REGISTRIES_CONF: path.join(dir, 'registries.conf'),
    XDG_RUNTIME_DIR: path.join(dir, 'xdg'),
    XDG_CONFIG_HOME: path.join(dir, 'xdg-config'),
    TMPDIR: dir,
  };
  fs.writeFileSync(env.CONTAINERS_REGISTRIES_CONF, 'unqualified-search-registries = []\n');
  fs.mkdirSync(env.XDG_RUNTIME_DIR, { mode: 0o700 });
  const log = fs.openSync(path.join(dir, 'service.log'), 'a');
  const proc = spawn(PODMAN, ['--log-level=error', 'system', 'service', '--time=0', `unix://${socket}`], {
    env, stdio: ['ignore', log, log], detached: true,
  });
  fs.closeSync(log);
  proc.unref();
  const deadline = Date.now() + timeoutMs;
  while (!(await ping(socket))) {
    if (Date.now() > deadline || proc.exitCode !== null) {
      try { process.kill(proc.pid, 'SIGKILL'); } catch { /* gone */ }
      throw new Error(`podman system service did not answer: ${fs.readFileSync(path.join(dir, 'service.log'), 'utf8').slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const podman = (args) => spawnSync(PODMAN, args, { env, encoding: 'utf8', timeout: 120000 });
  return {
    dir,
    socket,
    dockerHost: `unix://${socket}`,
    env: { DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: cli },
    dockerCli: DOCKER_CLI,
    podman,
    async stop() {
      podman(['rm', '-a', '-f', '-t', '1']);
      podman(['volume', 'rm', '-a', '-f']);
      try { process.kill(proc.pid, 'SIGTERM'); } catch { /* gone */ }
      for (let i = 0; i < 100 && proc.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
      try { process.kill(proc.pid, 'SIGKILL'); } catch { /* gone */ }
      // Podman's conmon may outlive an exec session and its container; ours carry the
      // private directory in their arguments.
      for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
        let args = '';
        try { args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch { continue; }
        if (args.includes(`${dir}/`) && Number(pid) !== process.pid) {
          try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
        }
      }
      // Storage leaves no mounts with vfs; the run root may hold a shm mount per container.
      spawnSync('umount', ['-R', path.join(dir, 'run')], { stdio: 'ignore' });
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
