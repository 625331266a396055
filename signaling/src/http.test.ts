import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeDataset, parseSessionConfig, type Dataset } from '@signvote/core';
import { createSignalingServer, type SignalingServer, type SignalingServerOptions } from './server';
import { lanAddresses, shareBase } from './lan';
import { selfSignedTls } from './tls';

/**
 * The plain HTTP side of the server: compressed static files and datasets with caching headers,
 * the session directory the home page reads, HTTPS, and the share URL.
 */

const open: SignalingServer[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function server(options: SignalingServerOptions = {}): Promise<SignalingServer> {
  const s = await createSignalingServer({ port: 0, logger: false, ...options });
  open.push(s);
  return s;
}

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

interface Raw {
  status: number;
  headers: IncomingHttpHeaders;
  /** the bytes on the wire, not decoded (fetch would decompress them) */
  body: Buffer;
}

function raw(url: string, headers: Record<string, string> = {}, extra: { ca?: string; method?: string; body?: string } = {}): Promise<Raw> {
  const u = new URL(url);
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(u, { method: extra.method ?? 'GET', headers, ca: extra.ca }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(extra.body);
  });
}

/** a dataset that compresses like real images do: mostly zero pixels */
function sparseDataset(count: number): Dataset {
  const inputs = new Float32Array(count * 64);
  for (let i = 0; i < count; i++) inputs[i * 64 + (i % 64)] = 1;
  return { name: 'sparse', inputs, labels: Uint8Array.from({ length: count }, (_, i) => i % 4), count, inputShape: [1, 8, 8], numClasses: 4 };
}

describe('static files', () => {
  it('serves the precompressed copy the browser accepts, with caching headers and ETags', async () => {
    const dir = await tempDir('signaling-client-');
    await mkdir(join(dir, 'assets'));
    const js = Buffer.from(`export const x = ${JSON.stringify('signvote '.repeat(2000))};\n`);
    await writeFile(join(dir, 'index.html'), '<!doctype html><title>signvote</title>');
    await writeFile(join(dir, 'assets', 'app-abc123.js'), js);
    await writeFile(join(dir, 'assets', 'app-abc123.js.gz'), gzipSync(js));
    await writeFile(join(dir, 'assets', 'app-abc123.js.br'), brotliCompressSync(js));
    await writeFile(join(dir, '.secret'), 'not published');
    const s = await server({ staticDir: dir });
    const asset = `${s.url}/assets/app-abc123.js`;

    const br = await raw(asset, { 'accept-encoding': 'gzip, deflate, br' });
    expect(br.status).toBe(200);
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.headers['content-type']).toMatch(/javascript/);
    expect(br.headers['vary']).toBe('Accept-Encoding');
    expect(br.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(Number(br.headers['content-length'])).toBe(br.body.length);
    expect(br.body.length).toBeLessThan(js.length / 10);
    expect(brotliDecompressSync(br.body).equals(js)).toBe(true);

    const gz = await raw(asset, { 'accept-encoding': 'gzip' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.body).equals(js)).toBe(true);

    const plain = await raw(asset);
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body.equals(js)).toBe(true);

    const again = await raw(asset, { 'accept-encoding': 'br', 'if-none-match': String(br.headers.etag) });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);

    // the page (at / and /index.html only) is revalidated on every load
    for (const path of ['/', '/?session=abc&token=def', '/index.html']) {
      const page = await raw(`${s.url}${path}`);
      expect(page.status).toBe(200);
      expect(page.body.toString()).toContain('<title>signvote</title>');
      expect(page.headers['cache-control']).toBe('no-cache');
    }
    // any other path is a plain 404, never the page: its relative ./assets URLs would resolve
    // under /foo/ and leave a blank page
    for (const path of ['/some/route', '/foo/bar?session=abc&token=def', '/foo']) {
      const other = await raw(`${s.url}${path}`);
      expect(other.status, path).toBe(404);
      expect(other.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(other.body.toString()).toBe(`signvote: not found: there is no page at ${path.split('?')[0]}. The app is at the server's address itself (/), and join links open there.\n`);
    }
    // a dotfile is never published
    const dot = await raw(`${s.url}/.secret`);
    expect(dot.status).toBe(404);
    expect(dot.body.toString()).not.toContain('not published');
    expect((await raw(`${s.url}/..%2F..%2Fetc/passwd.txt`)).status).toBe(404);
    expect((await raw(`${s.url}/assets/missing.js`)).status).toBe(404);
  });

  it('without the built client, / says so and names the build command; the API still answers', async () => {
    const s = await server();
    for (const path of ['/', '/?session=abc&token=def', '/index.html']) {
      const page = await raw(`${s.url}${path}`);
      expect(page.status).toBe(404);
      expect(page.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(page.body.toString()).toMatch(/^signvote: the browser UI is not built/);
      expect(page.body.toString()).toContain('\n    npm run build -w @signvote/client\n');
    }
    const head = await raw(`${s.url}/`, {}, { method: 'HEAD' });
    expect(head.status).toBe(404);
    expect(head.body.length).toBe(0);
    // the API does not need the client
    expect(JSON.parse((await raw(`${s.url}/healthz`)).body.toString())).toMatchObject({ ok: true, store: 'memory' });
    const created = await raw(`${s.url}/api/sessions`, { 'content-type': 'application/json' }, { method: 'POST', body: JSON.stringify({ expectedPeers: 2 }) });
    expect(created.status).toBe(201);
    expect(JSON.parse(created.body.toString())).toMatchObject({ id: expect.any(String), token: expect.any(String) });
    // other unknown paths are a plain 404, API paths the API's JSON 404
    const unknown = await raw(`${s.url}/nope`);
    expect(unknown.status).toBe(404);
    expect(unknown.body.toString()).toMatch(/^signvote: not found: there is no page at \/nope\./);
    const api = await raw(`${s.url}/api/nope`);
    expect(api.status).toBe(404);
    expect(JSON.parse(api.body.toString())).toEqual({ ok: false, error: 'no route for GET /api/nope' });
  });

  it('answers an API path no route takes with JSON 404, never the page (session ids the server never makes)', async () => {
    const dir = await tempDir('signaling-client-');
    await writeFile(join(dir, 'index.html'), '<!doctype html><title>signvote</title>');
    const s = await server({ staticDir: dir });
    const paths = [
      '/api/sessions/a%2Fb/config',
      '/api/sessions/..%2F..%2Fapi/config',
      `/api/sessions/${'a'.repeat(199)}/config`,
      '/api/sessions/%E0%A4%A/config',
      '/api/sessions/a%2Fb',
      '/api/sessions/abc/nope',
      '/api',
      '/api/',
    ];
    for (const path of paths) {
      const answer = await raw(`${s.url}${path}`, { 'x-session-token': 'x' });
      expect(answer.status, path).toBe(404);
      expect(answer.headers['content-type'], path).toBe('application/json; charset=utf-8');
      expect(JSON.parse(answer.body.toString()), path).toEqual({ ok: false, error: `no route for GET ${path}` });
    }
    // a well-formed id the server does not hold is the registry's own 404
    const unknown = await raw(`${s.url}/api/sessions/nope1234/config`, { 'x-session-token': 'x' });
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body.toString())).toMatchObject({ ok: false });
  });

  it('serves datasets compressed when asked, with the same bytes under every encoding', async () => {
    const data = sparseDataset(2000);
    let loads = 0;
    const s = await server({ loadDataset: async (name) => (loads++, name === 'sparse' ? data : undefined) });
    const url = `${s.url}/datasets/sparse.bin`;
    const plain = await raw(url);
    expect(plain.status).toBe(200);
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.headers['cache-control']).toBe('public, max-age=86400');
    expect(plain.headers['access-control-allow-origin']).toBe('*');
    expect(decodeDataset(new Uint8Array(plain.body)).count).toBe(2000);

    const br = await raw(url, { 'accept-encoding': 'gzip, deflate, br' });
    expect(br.headers['content-encoding']).toBe('br');
    expect(Number(br.headers['content-length'])).toBe(br.body.length);
    expect(br.body.length).toBeLessThan(plain.body.length / 20);
    expect(brotliDecompressSync(br.body).equals(plain.body)).toBe(true);

    const gz = await raw(url, { 'accept-encoding': 'gzip' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gz.body.length).toBeLessThan(plain.body.length / 10);
    expect(gunzipSync(gz.body).equals(plain.body)).toBe(true);
    expect(loads).toBe(1); // encoded and compressed once

    const missing = await raw(`${s.url}/datasets/imagenet.bin`);
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body.toString()).error).toMatch(/unknown dataset/);
  });
});

describe('the session directory', () => {
  const config = parseSessionConfig({ rounds: 30, expectedPeers: 2 });

  it('lists listed sessions to anyone and private ones only to holders of their token', async () => {
    const s = await server();
    const post = (query: string) =>
      fetch(`${s.url}/api/sessions${query}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(config) }).then(
        async (r) => ({ status: r.status, body: (await r.json()) as { id: string; token: string; error?: string } }),
      );
    const open = await post('?listed=true');
    const hidden = await post('');
    expect(open.status).toBe(201);
    expect(hidden.status).toBe(201);
    expect((await post('?listed=yes')).status).toBe(400);

    const listing = (await (await fetch(`${s.url}/api/sessions`)).json()) as { sessions: { id: string; token: string; state: string; peers: number; expectedPeers: number; rounds: number; round: number | null }[] };
    expect(listing.sessions.map((x) => x.id)).toEqual([open.body.id]);
    expect(listing.sessions[0]).toMatchObject({ token: open.body.token, state: 'waiting', peers: 0, expectedPeers: 2, rounds: 30, round: null });

    const status = async (sessions: { id: string; token: string }[]) =>
      (await fetch(`${s.url}/api/sessions/status`, { method: 'POST', body: JSON.stringify({ sessions }) })).json() as Promise<{ sessions: { id: string }[]; missing: string[] }>;
    const known = await status([
      { id: hidden.body.id, token: hidden.body.token },
      { id: open.body.id, token: 'wrong' },
      { id: 'nosuchsession', token: 'x' },
    ]);
    expect(known.sessions.map((x) => x.id)).toEqual([hidden.body.id]);
    // a wrong token and an unknown id read the same
    expect(known.missing).toEqual([open.body.id, 'nosuchsession']);
    const bad = await fetch(`${s.url}/api/sessions/status`, { method: 'POST', body: JSON.stringify({ sessions: 'all' }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/sessions/);
  });

  it('makes in-process sessions with join links on the share URL', async () => {
    const s = await server({ publicUrl: 'https://signvote.example:9443/' });
    expect(s.shareUrl).toBe('https://signvote.example:9443');
    const created = await s.createSession(config, { listed: false });
    expect(created.url).toBe(`https://signvote.example:9443/?session=${created.id}&token=${created.token}`);
    const info = (await (await fetch(`${s.url}/api/server`)).json()) as { shareUrl: string; https: boolean };
    expect(info).toEqual({ shareUrl: 'https://signvote.example:9443', https: false, selfSigned: false });
  });
});

describe('LAN addresses', () => {
  const iface = (address: string, internal = false) => ({ address, internal, family: 'IPv4' as const, netmask: '255.255.255.0', mac: '00:00:00:00:00:00', cidr: null });
  it('puts the physical private-range address first and skips loopback, link-local and IPv6', () => {
    const found = lanAddresses({
      lo: [iface('127.0.0.1', true)],
      docker0: [iface('172.17.0.1')],
      eth0: [iface('203.0.113.7')],
      wlan0: [iface('192.168.1.23'), { ...iface('fe80::1'), family: 'IPv6' as const, scopeid: 1 }],
      eth1: [iface('169.254.3.4')],
    });
    expect(found).toEqual(['192.168.1.23', '203.0.113.7', '172.17.0.1']);
  });
  it('shares the LAN address of a server bound to all interfaces', () => {
    expect(shareBase({ scheme: 'http', host: '0.0.0.0', port: 8080, lan: ['192.168.1.23'] })).toBe('http://192.168.1.23:8080');
    expect(shareBase({ scheme: 'https', host: '127.0.0.1', port: 8443, lan: ['192.168.1.23'] })).toBe('https://127.0.0.1:8443');
    expect(shareBase({ scheme: 'http', host: '0.0.0.0', port: 80, lan: [], publicUrl: 'http://pc.lan/' })).toBe('http://pc.lan');
  });
});

describe('HTTPS', () => {
  it('makes a self-signed certificate once, serves HTTPS with it, and publishes it at /cert.pem', async () => {
    const dir = await tempDir('signaling-tls-');
    const names = ['localhost', '127.0.0.1', '192.168.1.23'];
    const tls = await selfSignedTls(dir, names);
    expect(tls.selfSigned).toBe(true);
    expect((await selfSignedTls(dir, names)).cert).toBe(tls.cert); // kept, so a phone trusts it once
    const s = await server({ tls });
    expect(s.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    // verified against the certificate itself, as a device that installed it would
    const health = await raw(`${s.url}/healthz`, {}, { ca: tls.cert });
    expect(health.status).toBe(200);
    const cert = await raw(`${s.url}/cert.pem`, {}, { ca: tls.cert });
    expect(cert.body.toString()).toBe(tls.cert);
    await expect(raw(`${s.url}/healthz`)).rejects.toThrow(/self[- ]signed/i);
    const info = JSON.parse((await raw(`${s.url}/api/server`, {}, { ca: tls.cert })).body.toString()) as { https: boolean; selfSigned: boolean };
    expect(info).toMatchObject({ https: true, selfSigned: true });
    // a new address (another network) needs a new certificate
    expect((await selfSignedTls(dir, [...names, '10.0.0.5'])).cert).not.toBe(tls.cert);
  });
});
