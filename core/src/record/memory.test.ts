import { describe, expect, it } from 'vitest';
import { hashParams } from '../session/hash';
import { createMemoryHub } from '../transport/memory';
import { createMemoryRecord } from './memory';
import type { SessionRecordView } from './record';

const x = (r: number) => Float32Array.from({ length: 6 }, (_, i) => r + i / 10);
const point = (r: number) => ({ round: r, hash: hashParams(x(r)) });

describe('in-memory session record', () => {
  it('follows the hub: the quorum starts it, the term aggregator reports, a crashed one cannot', async () => {
    const hub = createMemoryHub();
    const record = createMemoryRecord({ hub, config: { rounds: 4, expectedPeers: 3, checkpointEvery: 0 } });
    const [a, b, c] = hub.joinMany(3);
    const [ra, rb, rc] = [a, b, c].map((t) => record.forPeer(t.self));
    expect(ra.current().status).toBe('running');
    expect(rc.assignment()).toEqual({ shard: 2, shards: 3 });
    const term = hub.epoch.epoch;

    await expect(rb.report({ term, from: point(0), to: point(1) })).rejects.toMatchObject({ code: 'not-aggregator' });
    expect((await ra.report({ term, from: point(0), to: point(2) })).round).toBe(2);
    expect((await rb.read()).round).toBe(2);

    hub.leave(a.self);
    await expect(ra.report({ term, from: point(2), to: point(3) })).rejects.toMatchObject({ code: 'not-member' });
    // b leads the next term; the record's refusal carries where it stands
    const refused = await rb.report({ term: hub.epoch.epoch, from: point(1), to: point(3) }).catch((e: { record: SessionRecordView }) => e.record);
    expect(refused).toMatchObject({ round: 2, hash: point(2).hash });

    // a snapshot at the committed point round-trips, hash-checked
    await rb.storeSnapshot({ round: 2, x: x(2), xPrev: x(1) });
    const snap = await rc.readSnapshot();
    expect(snap?.round).toBe(2);
    expect(Array.from(snap!.x)).toEqual(Array.from(x(2)));
    await expect(rb.storeSnapshot({ round: 2, x: x(5), xPrev: x(1) })).rejects.toMatchObject({ code: 'snapshot-mismatch' });

    const pushed: string[] = [];
    rc.subscribe((v) => pushed.push(`${v.status}@${v.round}`));
    await rb.report({ term: hub.epoch.epoch, from: point(2), to: point(4) });
    await new Promise((r) => setTimeout(r, 0));
    expect(pushed).toEqual(['finished@4']);
    expect(rc.current().finished).toMatchObject({ round: 4, hash: point(4).hash });
    record.close();
  });

  it('lets the creator start with fewer peers than expected', async () => {
    const hub = createMemoryHub();
    const record = createMemoryRecord({ hub, config: { rounds: 4, expectedPeers: 5, checkpointEvery: 0 } });
    const [a, b] = [hub.join(), hub.join()];
    const ra = record.forPeer(a.self);
    expect(ra.current().status).toBe('waiting');
    expect(record.start()).toMatchObject({ status: 'running', shards: 2 });
    expect(record.forPeer(b.self).assignment()).toEqual({ shard: 1, shards: 2 });
    await new Promise((r) => setTimeout(r, 0));
    expect(ra.current().status).toBe('running');
  });
});
