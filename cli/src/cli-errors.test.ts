import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSignalingServer, selfSignedTls, type SignalingServer } from '@signvote/signaling';

/**
 * What a user sees when the CLI is given something wrong: each error names what is wrong and
 * how to fix it, and exits with the code docs/cli.md documents (2 usage, 3 unreachable, 4
 * refused). The CLI runs as a process, the way a person runs it; servers are real.
 */

const bin = fileURLToPath(new URL('../bin/signvote.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'signvote-cli-errors-'));

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function signvote(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** a port nothing listens on (it was free a moment ago) */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

const peerArgs = (server: string, ...more: string[]) => ['peer', '--server', server, '--session', 'abc', '--token', 'tok', ...more];

describe('signvote errors a user meets', () => {
  const aFile = join(dir, 'a-file');
  writeFileSync(aFile, 'x');
  let dead: string;
  beforeAll(async () => {
    dead = `http://127.0.0.1:${await closedPort()}`;
  });

  it('peer --export/--checkpoint under a regular file: exit 2 before any server is asked, naming the flag and the path', async () => {
    for (const flag of ['--export', '--checkpoint']) {
      const r = await signvote(peerArgs(dead, flag, join(aFile, 'model.onnx')));
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(`${flag} ${join(aFile, 'model.onnx')}: ${aFile} is a file, not a folder`);
    }
    const folder = await signvote(peerArgs(dead, '--export', dir));
    expect(folder.status).toBe(2);
    expect(folder.stderr).toMatch(/--export .*: is a folder; give a file path inside it/);
  });

  it('peer --resume with a missing file names it (exit 2)', async () => {
    const r = await signvote(peerArgs(dead, '--resume', join(dir, 'nope.ckpt')));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`--resume ${join(dir, 'nope.ckpt')}: no such file`);
  });

  it('peer with every server down names each URL and why (exit 3)', async () => {
    const other = `http://127.0.0.1:${await closedPort()}`;
    const r = await signvote(peerArgs(`${dead},${other}`));
    expect(r.status).toBe(3);
    expect(r.stderr).toContain(`cannot reach signaling servers ${dead} (ECONNREFUSED), ${other} (ECONNREFUSED)`);
    expect(r.stderr).not.toContain('fetch failed');
  });

  describe('a server whose session store (Redis) is out of reach', () => {
    let server: Server;
    let url: string;
    beforeAll(async () => {
      // what the signaling server answers every route needing Redis while Redis is down
      server = createServer((req, res) => {
        const body = req.url === '/healthz' ? { ok: true } : { ok: false, error: 'the session store (Redis) is unreachable; try again shortly' };
        res.writeHead(req.url === '/healthz' ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise((r) => server.close(r)));

    it('peer exits 3 (try again), as the session commands do', async () => {
      const r = await signvote(peerArgs(url));
      expect(r.stderr).toContain('the session store (Redis) is unreachable; try again shortly');
      expect(r.status).toBe(3);
      const status = await signvote(['session', 'status', 'abc', '--server', url, '--token', 'tok']);
      expect(status.status).toBe(3);
    });
  });

  describe('HTTPS with a self-signed certificate', () => {
    let server: SignalingServer;
    let certPath: string;
    beforeAll(async () => {
      const tls = await selfSignedTls(join(dir, 'tls'), ['127.0.0.1', 'localhost']);
      certPath = tls.certPath;
      server = await createSignalingServer({ port: 0, host: '127.0.0.1', tls, logger: false });
    });
    afterAll(() => server.close());

    it('an untrusted certificate is exit 2 naming NODE_EXTRA_CA_CERTS, for session create and peer alike', async () => {
      for (const args of [['session', 'create', '--server', server.url], peerArgs(server.url)]) {
        const r = await signvote(args);
        expect(r.status).toBe(2);
        expect(r.stderr).toContain(`the certificate of ${server.url} is not trusted here`);
        expect(r.stderr).toContain('NODE_EXTRA_CA_CERTS=');
      }
    });

    it('with NODE_EXTRA_CA_CERTS it is trusted', async () => {
      const r = await signvote(['session', 'create', '--server', server.url, '--json'], { NODE_EXTRA_CA_CERTS: certPath });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(JSON.parse(r.stdout)).toHaveProperty('token');
    });
  });

  it('serve: a port out of range, a public URL that is not one, and a port taken are usage errors (exit 2)', async () => {
    const port = await signvote(['serve', '--port', '99999']);
    expect(port.status).toBe(2);
    expect(port.stderr).toContain('a port is a whole number from 0 to 65535');
    const pub = await signvote(['serve', '--port', '0', '--public-url', 'notaurl']);
    expect(pub.status).toBe(2);
    expect(pub.stderr).toMatch(/--public-url.*not a URL/);
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const { port: busy } = taken.address() as AddressInfo;
    try {
      const r = await signvote(['serve', '--port', String(busy)]);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(`port ${busy} on 127.0.0.1 is taken`);
      expect(r.stderr).toContain('--port 0');
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });

  it('start checks --data against --data-spec before it serves anything (exit 2, the peer\'s sentence)', async () => {
    const spec = join(dir, 'spec.json');
    writeFileSync(spec, JSON.stringify({ format: 'csv', classes: ['a', 'b'] }));
    const r = await signvote(['start', '--port', '0', '--peers', '2', '--data-spec', spec]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("this session trains on each peer's own data: pass --data PATH");
    expect(r.stdout).not.toContain('signaling server on');
    const both = await signvote(['start', '--port', '0', '--peers', '2', '--data-spec', spec, '--dataset', 'mnist', '--data', aFile]);
    expect(both.status).toBe(2);
    expect(both.stderr).toContain("ask for both the server's data and each peer's own");
  });

  describe('a session that has stored nothing yet', () => {
    let server: SignalingServer;
    beforeAll(async () => {
      server = await createSignalingServer({ port: 0, host: '127.0.0.1', logger: false });
    });
    afterAll(() => server.close());

    it('status says how many of the expected peers are here; download says when a snapshot will exist; -o is checked first', async () => {
      const created = await signvote(['session', 'create', '--server', server.url, '--peers', '3', '--json']);
      expect(created.status).toBe(0);
      const { id, token } = JSON.parse(created.stdout) as { id: string; token: string };
      const status = await signvote(['session', 'status', id, '--server', server.url, '--token', token]);
      expect(status.stdout).toContain(`session ${id} is waiting for peers, 0 of 3 peers present`);
      const download = await signvote(['session', 'download', id, '--server', server.url, '--token', token]);
      expect(download.status).toBe(4);
      expect(download.stderr).toContain(`session ${id} has no stored snapshot yet: the final parameters are stored when the session finishes`);
      expect(download.stderr).toContain('--checkpoint-every N');
      const out = await signvote(['session', 'download', id, '--server', server.url, '--token', token, '-o', join(aFile, 'x.ckpt')]);
      expect(out.status).toBe(2);
      expect(out.stderr).toContain(`--out ${join(aFile, 'x.ckpt')}: ${aFile} is a file, not a folder`);
    });
  });

  it('--version prints the package version', async () => {
    const r = await signvote(['--version']);
    expect(r.status).toBe(0);
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(r.stdout.trim()).toBe(version);
  });
});
