import { afterEach, describe, expect, it } from 'vitest';
import {
  createSignalingClient,
  createSignalingRecord,
  decodeCheckpoint,
  evalHistorySchema,
  encodeCheckpoint,
  hashParams,
  RecordError,
  type SessionRecordView,
  type SignalingClient,
} from '@signvote/core';
import { hashPair } from '@signvote/core';
import { createSignalingServer } from './server';
import type { SignalingServer, SignalingServerOptions } from './server';

/** The session record over the real server: socket.io reports and pushes, HTTP routes. */

const open: { servers: SignalingServer[]; clients: SignalingClient[] } = { servers: [], clients: [] };
afterEach(async () => {
  for (const c of open.clients.splice(0)) c.close();
  await Promise.all(open.servers.splice(0).map((s) => s.close()));
});

async function server(options: SignalingServerOptions = {}): Promise<SignalingServer> {
  const s = await createSignalingServer({ port: 0, logger: false, ...options });
  open.servers.push(s);
  return s;
}
function client(s: SignalingServer): SignalingClient {
  const c = createSignalingClient(s.url, { transports: ['websocket'] });
  open.clients.push(c);
  return c;
}
const until = async (cond: () => boolean, ms = 10_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};
async function createOverHttp(s: SignalingServer, config: object): Promise<{ id: string; token: string; admin: string }> {
  const res = await fetch(`${s.url}/api/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(config) });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; token: string; admin: string };
}
const params = (r: number) => Float32Array.from({ length: 16 }, (_, i) => r + i / 100);
const at = (r: number) => ({ round: r, hash: hashParams(params(r)) });

describe('the session record on the signaling server', () => {
  it('starts at the quorum, takes reports only from the term aggregator, pushes the finish, and refuses joins after it', async () => {
    const s = await server();
    const { id, token } = await createOverHttp(s, { expectedPeers: 3, rounds: 6 });
    const cs = [client(s), client(s), client(s)];
    const pushed: SessionRecordView[][] = cs.map(() => []);
    cs.forEach((c, i) => c.subscribe({ record: (r) => pushed[i].push(r) }));
    const joined = [];
    for (const c of cs) joined.push(await c.join({ sessionId: id, token, info: { backend: 'node' } }));
    expect(joined[0].record.status).toBe('waiting');
    expect(joined[2].record).toMatchObject({ status: 'running', shards: 3 });
    await until(() => pushed[0].length === 1 && pushed[1].length === 1);
    expect(pushed[0][0]).toMatchObject({ status: 'running', shards: 3 });
    expect(joined[2].membership.peers.map((m) => m.shard)).toEqual([0, 1, 2]);

    const term = joined[2].membership.epoch;
    await expect(cs[1].reportProgress({ term, from: at(0), to: at(2) })).rejects.toMatchObject({
      code: 'not-aggregator',
      message: expect.stringMatching(/is not the aggregator of term/),
    });
    const afterTwo = await cs[0].reportProgress({ term, from: at(0), to: at(2) });
    expect(afterTwo).toMatchObject({ status: 'running', round: 2, hash: at(2).hash, term });
    const refused = await cs[0].reportProgress({ term, from: at(1), to: at(3) }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RecordError);
    expect(refused).toMatchObject({ code: 'conflict', record: { round: 2 } });
    expect(await cs[2].readRecord()).toMatchObject({ round: 2, hash: at(2).hash });

    // a snapshot over HTTP at the committed point, then the finish
    const record = createSignalingRecord(cs[1], token);
    await expect(record.storeSnapshot({ round: 2, x: params(3), xPrev: params(1) })).rejects.toMatchObject({ code: 'snapshot-mismatch' });
    expect((await record.storeSnapshot({ round: 2, x: params(2), xPrev: params(1) })).snapshot).toMatchObject({ round: 2, hash: at(2).hash });
    await cs[0].reportProgress({ term, from: at(2), to: at(6), eval: { round: 6, loss: 0.25, accuracy: 0.875 } });
    await until(() => pushed.every((p) => p.some((r) => r.status === 'finished')));
    expect(pushed[2].at(-1)).toMatchObject({ status: 'finished', finished: { round: 6, hash: at(6).hash }, eval: { accuracy: 0.875 } });
    await record.storeSnapshot({ round: 6, x: params(6), xPrev: params(5) });

    // finding 3: a finished session is not trained again; the joiner learns its final numbers
    const late = client(s);
    const err = await late.join({ sessionId: id, token, info: { backend: 'wasm' } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'finished', record: { finished: { round: 6, hash: at(6).hash } } });
    expect((err as Error).message).toMatch(/finished at round 6 with parameters/);

    // the status and the final parameters stay available after every peer left
    for (const c of cs) c.close();
    const status = async () => (await (await fetch(`${s.url}/api/sessions/${id}?token=${encodeURIComponent(token)}`)).json()) as { members: number };
    let last = await status();
    while (last.members > 0) last = await status();
    expect(last).toMatchObject({ ok: true, members: 0, record: { status: 'finished', round: 6, snapshot: { round: 6 } } });
    const download = await fetch(`${s.url}/api/sessions/${id}/snapshot?token=${encodeURIComponent(token)}`);
    expect(download.status).toBe(200);
    expect(download.headers.get('x-signvote-round')).toBe('6');
    const cp = decodeCheckpoint(new Uint8Array(await download.arrayBuffer()));
    expect(hashParams(cp.x)).toBe(at(6).hash);
    expect((await fetch(`${s.url}/api/sessions/${id}/snapshot?token=wrong`)).status).toBe(403);
    expect((await fetch(`${s.url}/api/sessions/nope?token=x`)).status).toBe(404);
  });

  it('lets the creator start with the peers present and splits the data over them (finding 6)', async () => {
    const s = await server({ limits: { maxPeersPerSession: 8 } });
    const tooMany = await fetch(`${s.url}/api/sessions`, { method: 'POST', body: JSON.stringify({ expectedPeers: 9 }) });
    expect(tooMany.status).toBe(400);
    expect(((await tooMany.json()) as { error: string }).error).toMatch(/expectedPeers: 9 exceeds this server's cap of 8 peers per session/);
    await expect(client(s).createSession({ expectedPeers: 9 })).rejects.toMatchObject({ code: 'invalid' });

    const { id, token, admin } = await createOverHttp(s, { expectedPeers: 5 });
    const start = (key: string) => fetch(`${s.url}/api/sessions/${id}/start`, { method: 'POST', headers: { authorization: `Bearer ${key}` } });
    expect((await start(admin)).status).toBe(409); // nobody is there yet
    const [a, b, c] = [client(s), client(s), client(s)];
    const ja = await a.join({ sessionId: id, token, info: { backend: 'node' } });
    await b.join({ sessionId: id, token, info: { backend: 'node' } });
    await c.join({ sessionId: id, token, info: { backend: 'node' } });
    c.close();
    await until(() => a.membership?.peers.length === 2);
    const epochBefore = a.membership!.epoch;
    expect((await start(token)).status).toBe(403); // the join token is not the creator's key
    const ok = await start(admin);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ ok: true, record: { status: 'running', shards: 2 }, members: 2 });
    await until(() => a.record?.status === 'running' && (a.membership?.epoch ?? 0) > epochBefore);
    expect(a.membership!.peers.map((m) => m.shard).sort()).toEqual([0, 1]);
    expect(createSignalingRecord(a, token).assignment()).toEqual({ shard: 0, shards: 2 });
    expect(ja.record.status).toBe('waiting');
    expect((await start(admin)).status).toBe(409);
  });

  it('stores and serves snapshots within the caps', async () => {
    const s = await server({ limits: { maxSnapshotBytes: 600 } });
    const { id, token } = await createOverHttp(s, { expectedPeers: 1, rounds: 4 });
    const a = client(s);
    const j = await a.join({ sessionId: id, token, info: { backend: 'node' } });
    await a.reportProgress({ term: j.membership.epoch, from: at(0), to: at(1) });
    const put = (bytes: Uint8Array, key = token) =>
      fetch(`${s.url}/api/sessions/${id}/snapshot`, { method: 'PUT', headers: { authorization: `Bearer ${key}` }, body: bytes as Uint8Array<ArrayBuffer> });
    const cp = (x: Float32Array, xPrev: Float32Array) => encodeCheckpoint({ session: id, round: 1, x, xPrev, hash: hashPair(x, xPrev), savedAt: 1 });
    expect((await fetch(`${s.url}/api/sessions/${id}/snapshot?token=${token}`)).status).toBe(404);
    expect((await put(cp(params(1), params(0)), 'wrong')).status).toBe(403);
    const big = Float32Array.from({ length: 100 }, (_, i) => i);
    expect((await put(cp(big, big))).status).toBe(413);
    const stored = await put(cp(params(1), params(0)));
    expect(stored.status).toBe(200);
    expect(await stored.json()).toMatchObject({ record: { snapshot: { round: 1, hash: at(1).hash } } });
    expect(await createSignalingRecord(a, token).readSnapshot()).toMatchObject({ round: 1 });
  });

  it('serves the evaluation history from round 0 to holders of the token only', async () => {
    const s = await server();
    const { id, token } = await createOverHttp(s, { expectedPeers: 1, rounds: 10 });
    const a = client(s);
    const j = await a.join({ sessionId: id, token, info: { backend: 'node' } });
    const term = j.membership.epoch;
    await a.reportProgress({ term, from: at(0), to: at(1), eval: { round: 0, loss: null, accuracy: 0.1 } });
    await a.reportProgress({ term, from: at(1), to: at(3) });
    await a.reportProgress({ term, from: at(3), to: at(5), eval: { round: 4, loss: 0.5, accuracy: 0.75 } });
    const history = (query = '', headers: Record<string, string> = {}, session = id) =>
      fetch(`${s.url}/api/sessions/${session}/history${query}`, { headers });
    expect((await history('?token=wrong')).status).toBe(403);
    expect((await history()).status).toBe(403);
    expect((await history(`?token=${token}`, {}, 'no-such-session')).status).toBe(404);
    const byHeader = await history('', { 'x-session-token': token });
    expect(byHeader.status).toBe(200);
    const body = evalHistorySchema.parse(await byHeader.json());
    expect(body.evals).toEqual([
      { round: 0, loss: null, accuracy: 0.1 },
      { round: 4, loss: 0.5, accuracy: 0.75 },
    ]);
    expect(await (await history(`?token=${token}`)).json()).toEqual(body);
    expect((await fetch(`${s.url}/api/sessions/${id}/history?token=${token}`, { method: 'POST' })).status).toBe(405);
  });
});
