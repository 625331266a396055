import { RecordError, recordRefusals, type RecordRefusal, type SessionRecord, type SessionRecordView } from '../record/record';
import { decodeCheckpoint, encodeCheckpoint } from '../session/checkpoint';
import { hashPair } from '../session/hash';
import type { SignalingClient } from './signaling-client';
import { SignalingError } from './signaling-client';
import type { Member } from './signaling-protocol';

/**
 * The session record port (record/record.ts) for a real peer: reports and reads over the
 * signaling socket, snapshots over HTTP (`PUT`/`GET /api/sessions/ID/snapshot`, docs/signaling.md)
 * because a snapshot (x and x_prev, 440 KB for the MLP) is far over the socket's 64 KiB packet cap.
 * Isomorphic: `fetch` is the platform's.
 */
export function createSignalingRecord(signaling: SignalingClient, token: string): SessionRecord {
  const joined = signaling.joined;
  if (!joined) throw new Error('createSignalingRecord needs a signaling client that has joined a session');
  // the server in use now: a client that moved to another server process stores and reads there
  const snapshotUrl = (): string => new URL(`/api/sessions/${encodeURIComponent(joined.sessionId)}/snapshot`, signaling.url).toString();
  const headers = { authorization: `Bearer ${token}` };
  const current = (): SessionRecordView => signaling.record ?? joined.record;

  const http = async (init: RequestInit): Promise<Response> => {
    try {
      return await fetch(snapshotUrl(), { ...init, headers: { ...headers, ...(init.headers as Record<string, string> | undefined) } });
    } catch (e) {
      throw new SignalingError('connect', `cannot reach signaling server ${signaling.url}: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  const refused = async (res: Response): Promise<Error> => {
    const body = (await res.json().catch(() => ({}))) as { code?: unknown; error?: unknown; record?: SessionRecordView };
    const message = typeof body.error === 'string' ? body.error : `HTTP ${res.status}`;
    const code = typeof body.code === 'string' ? body.code : 'internal';
    if ((recordRefusals as readonly string[]).includes(code)) return new RecordError(code as RecordRefusal, message, body.record);
    return new SignalingError(code, message, body.record);
  };

  return {
    current,
    assignment() {
      const record = current();
      const self: Member | undefined = signaling.membership?.peers.find((m) => m.id === joined.peerId);
      if (record.shards === null || record.status === 'waiting' || !self) return null;
      return { shard: self.shard, shards: record.shards };
    },
    read: () => signaling.readRecord(),
    report: (report) => signaling.reportProgress(report),
    async storeSnapshot(s) {
      const bytes = encodeCheckpoint({ session: joined.sessionId, round: s.round, x: s.x, xPrev: s.xPrev, hash: hashPair(s.x, s.xPrev), savedAt: Date.now() });
      const res = await http({ method: 'PUT', body: bytes as Uint8Array<ArrayBuffer>, headers: { 'content-type': 'application/octet-stream' } });
      if (!res.ok) throw await refused(res);
      const body = (await res.json()) as { record: SessionRecordView };
      return body.record;
    },
    async readSnapshot() {
      const res = await http({ method: 'GET' });
      if (res.status === 404) {
        const err = await refused(res);
        if (err instanceof RecordError && err.code === 'no-snapshot') return null;
        throw err;
      }
      if (!res.ok) throw await refused(res);
      const cp = decodeCheckpoint(new Uint8Array(await res.arrayBuffer()));
      if (cp.session !== joined.sessionId) throw new Error(`the stored snapshot is of session ${cp.session}, not ${joined.sessionId}`);
      return { round: cp.round, x: cp.x, xPrev: cp.xPrev };
    },
    subscribe(listener) {
      return signaling.subscribe({ record: listener });
    },
  };
}
