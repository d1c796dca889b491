// A registry for the engine suite, on loopback only: serves images saved from the
// test engine (`docker save`) over the Docker Registry HTTP API v2 (manifest schema 2,
// gzip layers), so `dext install` can pull without any outside registry. dockerd
// treats 127.0.0.0/8 as an insecure registry by default, so plain HTTP is accepted.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { docker, engineTmp, run } from './engine.mjs';

const MANIFEST_TYPE = 'application/vnd.docker.distribution.manifest.v2+json';
const sha256 = (b) => `sha256:${crypto.createHash('sha256').update(b).digest('hex')}`;

/** Reads image @tag out of @engine: {manifest (Buffer), blobs (Map digest -> Buffer)}. */
async function exportImage(engine, tag) {
  const dir = engineTmp(engine, 'save');
  const tar = path.join(dir, 'image.tar');
  await docker(engine, ['save', '-o', tar, tag]);
  await run('tar', ['-xf', tar, '-C', dir]);
  const [entry] = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  const blobs = new Map();
  const config = fs.readFileSync(path.join(dir, entry.Config));
  blobs.set(sha256(config), config);
  const layers = entry.Layers.map((l) => {
    const gz = zlib.gzipSync(fs.readFileSync(path.join(dir, l)), { level: 1 });
    const digest = sha256(gz);
    blobs.set(digest, gz);
    return { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: gz.length, digest };
  });
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MANIFEST_TYPE,
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: config.length, digest: sha256(config) },
    layers,
  }));
  fs.rmSync(dir, { recursive: true, force: true });
  return { manifest, blobs };
}

/**
 * Starts the registry with @images ({ 'repo:tag': 'local image tag' }).
 * Resolves to { host ('127.0.0.1:PORT'), requests (log of paths), stop() }.
 */
export async function startRegistry(engine, images) {
  const manifests = new Map();
  const blobs = new Map();
  for (const [ref, local] of Object.entries(images)) {
    const img = await exportImage(engine, local);
    manifests.set(ref, img.manifest);
    manifests.set(`${ref.split(':')[0]}:${sha256(img.manifest)}`, img.manifest);
    for (const [d, b] of img.blobs) blobs.set(d, b);
  }
  const requests = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const send = (status, type, body, headers = {}) => {
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': body.length, 'Docker-Distribution-API-Version': 'registry/2.0', ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const notFound = (code) => send(404, 'application/json', Buffer.from(JSON.stringify({ errors: [{ code, message: code.toLowerCase() }] })));
    if (req.url === '/v2/' || req.url === '/v2') return send(200, 'application/json', Buffer.from('{}'));
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/?]+)$/.exec(req.url);
    if (!m) return notFound('UNSUPPORTED');
    const [, repo, kind, ref] = m;
    if (kind === 'manifests') {
      const body = manifests.get(`${repo}:${ref}`);
      if (!body) return notFound('MANIFEST_UNKNOWN');
      return send(200, MANIFEST_TYPE, body, { 'Docker-Content-Digest': sha256(body) });
    }
    const blob = blobs.get(ref);
    if (!blob) return notFound('BLOB_UNKNOWN');
    return send(200, 'application/octet-stream', blob, { 'Docker-Content-Digest': ref });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${server.address().port}`,
    requests,
    stop: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}
