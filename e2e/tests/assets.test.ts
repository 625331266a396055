import { readdirSync, statSync } from 'node:fs';
import { request, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SignalingServer } from '@signvote/signaling';
import { clientDist } from '../src/build';
import { startServer } from '../src/server';

/**
 * What a phone downloads to join, measured on the real build and the real datasets: the 28 MB
 * onnxruntime wasm and the MNIST split arrive compressed when the browser asks for it (Chrome asks
 * for gzip over HTTP and brotli over HTTPS), byte counts checked against the files on disk.
 */

interface Wire {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

function get(url: string, acceptEncoding?: string): Promise<Wire> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: acceptEncoding ? { 'accept-encoding': acceptEncoding } : {} }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('compressed downloads', () => {
  let server: SignalingServer;
  beforeAll(async () => {
    server = await startServer();
  }, 180_000);
  afterAll(async () => {
    await server?.close();
  });

  it('sends the onnxruntime wasm as brotli or gzip, with a year of caching', async () => {
    const assets = join(clientDist, 'assets');
    const wasm = readdirSync(assets).find((f) => f.endsWith('.wasm'));
    expect(wasm, 'the build emits onnxruntime-web wasm').toBeDefined();
    const size = statSync(join(assets, wasm!)).size;
    expect(size).toBeGreaterThan(20e6);
    const url = `${server.url}/assets/${wasm}`;

    const br = await get(url, 'gzip, deflate, br, zstd');
    expect(br.status).toBe(200);
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.headers['content-type']).toBe('application/wasm');
    expect(br.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(Number(br.headers['content-length'])).toBe(br.body.length);
    expect(br.body.length).toBe(statSync(join(assets, `${wasm}.br`)).size);
    expect(br.body.length).toBeLessThan(size / 4);

    const gz = await get(url, 'gzip, deflate');
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gz.body.length).toBeLessThan(size / 3);
    // both decode to the wasm itself
    const plain = await get(url);
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body.length).toBe(size);
    expect(brotliDecompressSync(br.body).equals(plain.body)).toBe(true);
    expect(gunzipSync(gz.body).equals(plain.body)).toBe(true);
  }, 60_000);

  it('sends the page and its scripts compressed, and the page is revalidated', async () => {
    const page = await get(`${server.url}/`, 'gzip');
    expect(page.headers['cache-control']).toBe('no-cache');
    const html = (page.headers['content-encoding'] === 'gzip' ? gunzipSync(page.body) : page.body).toString();
    const script = /src="\.\/(assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const js = await get(`${server.url}/${script}`, 'gzip');
    expect(js.headers['content-encoding']).toBe('gzip');
    expect(js.body.length).toBeLessThan(statSync(join(clientDist, script!)).size / 2);
  });

  it('sends the MNIST training split compressed', async () => {
    const url = `${server.url}/datasets/mnist-train.bin`;
    const plain = await get(url);
    expect(plain.status).toBe(200);
    const gz = await get(url, 'gzip, deflate');
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gz.headers['cache-control']).toBe('public, max-age=86400');
    expect(Number(gz.headers['content-length'])).toBe(gz.body.length);
    expect(gz.body.length).toBeLessThan(plain.body.length / 3);
    expect(gunzipSync(gz.body).equals(plain.body)).toBe(true);
    const br = await get(url, 'br');
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.body.length).toBeLessThan(gz.body.length);
  }, 60_000);
});
