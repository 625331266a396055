/**
 * The cost of running rounds over real WebRTC between processes, against the same rounds over
 * the in-memory transport in one process, measured in the same run.
 *
 * Round overhead: a round's wall time at the aggregator (verdict to verdict) minus the compute
 * that round needed. Over WebRTC the peers compute in parallel, so that is the slowest peer's
 * gradient time; in the single-process baseline the gradients share one thread, so it is the
 * time during which any gradient was in flight. What is left is everything the protocol and transport add: sign
 * packing, hashing, msgpack, framing, the channels, and waiting for the slowest ballot.
 *
 * Bytes: encoded protocol bytes per worker per round, up (its ballot) and down (the verdict),
 * against the 1-bit limit d/8. The 17-byte frame header per 64 KiB chunk is not in these counts.
 * Sessions use the default tie rule, 'coin' (verdicts of d/8); with an even number of ballots the
 * paper's Sign(0) = 0 ('zero') needs a tie bitmap in the verdict (up to 2 bits per coordinate
 * down), so its bytes are reported too (in process: the counts are the same on either transport).
 *
 * Timings are steady state: the first WARMUP rounds are left out, and their median is reported
 * beside it, as is a line of medians per WINDOW rounds. Besides channel setup and JIT, they hold V8's background tier-up of onnxruntime-web's
 * wasm: compiler threads in every peer process take CPU from the peers for the first ~800 rounds
 * here (4 peers: ~13 ms overheads in the first 200 rounds, ~5.5 ms at rounds 300-600, steady
 * from about round 800 on). `P2P_BENCH_PEERS=2,4` and `P2P_BENCH_ROUNDS=2000` (defaults 2,4,8
 * and 2000) size the run.
 *
 * At scale (issue 12): `P2P_SCALE_PEERS` (default 16,32) peers for `P2P_SCALE_ROUNDS` (default
 * 300) rounds, the first third left out: the round time at the aggregator, the share of members
 * counted in each verdict, the aggregator's CPU per round beyond its gradient, and every peer's
 * CPU together against the cores' capacity per round (what bounds the round).
 */
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createSignalingServer } from '@signvote/signaling';
import { PEER_NODE_FLAGS } from '../cli/src/node-flags';
import { createBatchSampler } from '../core/src/data/sampler';
import { partitionFor } from '../core/src/data/partition';
import { createModel } from '../core/src/models';
import { loadDataset } from '../core/src/node/datasets';
import { createNodeOracle, loadOrtNode } from '../core/src/node/ort-node';
import { createStrategy } from '../core/src/optim';
import { createRng } from '../core/src/random';
import { parseSessionConfig, type SessionConfig } from '../core/src/config';
import type { SessionEvent } from '../core/src/session/events';
import { createSessionPeer } from '../core/src/session/peer';
import { createMemoryHub } from '../core/src/transport/memory';
import { median } from '../e2e/src/round-times';
import { latency, type Bench, type BenchResult } from './harness';

const PEERS = (process.env.P2P_BENCH_PEERS ?? '2,4,8').split(',').map(Number);
const ROUNDS = Number(process.env.P2P_BENCH_ROUNDS ?? 2000);
const WARMUP = Math.min(1000, Math.floor(ROUNDS / 2));
/** rounds per window of the overhead-over-time line printed for each WebRTC run */
const WINDOW = 250;
const SCALE = (process.env.P2P_SCALE_PEERS ?? '16,32').split(',').filter(Boolean).map(Number);
const SCALE_ROUNDS = Number(process.env.P2P_SCALE_ROUNDS ?? 300);
const bin = resolve(dirname(fileURLToPath(import.meta.url)), '../cli/bin/signvote.mjs');

interface RoundRow {
  round: number;
  role: string;
  ms: number;
  computeMs: number;
  cpuMs: number;
  bytesUp: number;
  bytesDown: number;
  counted: number;
}

function configFor(n: number, ties: 'zero' | 'coin' = 'coin', rounds = ROUNDS): SessionConfig {
  return parseSessionConfig({
    model: 'mlp',
    dataset: 'mnist',
    batchSize: 32,
    expectedPeers: n,
    rounds,
    evalEvery: 0,
    deadlineMs: 10_000,
    seed: 3,
    algorithm: { name: 'mv-sto-signsgd-sim', lr: 3e-3, ties },
  });
}

interface Measured {
  /** CPU the aggregator's process used per round beyond its own gradient (webrtc only) */
  leadCpuMs?: number;
  /** CPU all peer processes used per round together, every thread counted (webrtc only) */
  totalCpuMs?: number;
  /** median overhead of the warm-up rounds left out of overheadMs (webrtc only) */
  warmupOverheadMs?: number;
  /** median overhead of each successive WINDOW rounds, the warm-up included (webrtc only) */
  windowsMs?: number[];
  /** median share of the members whose ballots a verdict counted (webrtc only) */
  countedShare?: number;
  overheadMs: number;
  roundMs: number;
  computeMs: number;
  up: number;
  down: number;
}

/** N `signvote peer` processes and a signaling server on loopback. */
async function overWebRtc(n: number, backend: 'wasm' | 'node' = 'wasm', rounds = ROUNDS, warmupRounds = WARMUP): Promise<Measured> {
  const server = await createSignalingServer({ port: 0, logger: false });
  try {
    const res = await fetch(`${server.url}/api/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(configFor(n, 'coin', rounds)) });
    const { id, token } = (await res.json()) as { id: string; token: string };
    const perPeer = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        new Promise<RoundRow[]>((resolvePeer, reject) => {
          const child = spawn(process.execPath, [...PEER_NODE_FLAGS, bin, 'peer', '--server', server.url, '--session', id, '--token', token, '--json', '--timings', '--backend', backend, '--label', `bench-${i}`], {
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          const rows: RoundRow[] = [];
          let err = '';
          child.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-2000)));
          createInterface({ input: child.stdout }).on('line', (line) => rows.push(JSON.parse(line) as RoundRow));
          const timer = setTimeout(() => child.kill('SIGKILL'), 300_000 + 60 * rounds * n);
          child.once('exit', (code) => {
            clearTimeout(timer);
            if (code === 0) resolvePeer(rows);
            else reject(new Error(`bench peer ${i} exited ${code}: ${err}`));
          });
        }),
      ),
    );
    const overhead: number[] = [], round: number[] = [], compute: number[] = [], up: number[] = [], down: number[] = [], leadCpu: number[] = [], totalCpu: number[] = [];
    const counted: number[] = [];
    const warmup: number[] = [];
    const windows: number[][] = [];
    const byRound = perPeer.map((rs) => new Map(rs.map((x) => [x.round, x])));
    for (let r = 0; r < rounds; r++) {
      const rows = byRound.flatMap((rs) => rs.get(r) ?? []);
      const lead = rows.find((x) => x.role === 'aggregator');
      if (!lead || rows.length < n) continue;
      const slowest = Math.max(...rows.map((x) => x.computeMs));
      (windows[Math.floor(r / WINDOW)] ??= []).push(lead.ms - slowest);
      if (r < warmupRounds) {
        warmup.push(lead.ms - slowest);
        continue;
      }
      round.push(lead.ms);
      counted.push(lead.counted / n);
      leadCpu.push(lead.cpuMs - lead.computeMs);
      totalCpu.push(rows.reduce((sum, x) => sum + x.cpuMs, 0));
      compute.push(slowest);
      overhead.push(lead.ms - slowest);
      for (const x of rows) {
        if (x.role !== 'worker') continue;
        up.push(x.bytesUp);
        down.push(x.bytesDown);
      }
    }
    return {
      overheadMs: median(overhead),
      warmupOverheadMs: median(warmup),
      windowsMs: windows.map(median),
      roundMs: median(round),
      computeMs: median(compute),
      up: median(up),
      down: median(down),
      leadCpuMs: median(leadCpu),
      totalCpuMs: median(totalCpu),
      countedShare: median(counted),
    };
  } finally {
    await server.close();
  }
}

/** The same session over the in-memory hub, N peers in this process. */
async function overMemory(n: number, ties: 'zero' | 'coin' = 'coin', rounds = ROUNDS, warmupRounds = WARMUP): Promise<Measured> {
  const config = configFor(n, ties, rounds);
  const model = createModel(config.model);
  const data = await loadDataset(config.dataset, { seed: config.seed });
  const shards = partitionFor(config.partition, data.train, n, createRng(config.seed).fork('partition'));
  const hub = createMemoryHub();
  // gradient calls of one round as [start, end] intervals: in one thread they interleave at
  // their awaits, so a sum of their wall times would count shared time twice; the union is the
  // time the round spent with compute in flight
  const compute = new Map<number, [number, number][]>();
  const rows: { round: number; ms: number; role: string; up: number; down: number }[] = [];
  const oracles = await Promise.all(Array.from({ length: n }, () => createNodeOracle(model, 'wasm')));
  const transports = Array.from({ length: n }, () => hub.join());
  const peers = transports.map((transport, i) => {
    const sampler = createBatchSampler(data.train, shards[i], config.batchSize, createRng(config.seed).fork(`sampler-${i}`), { reuseBuffers: true });
    return createSessionPeer({
      transport,
      config,
      session: 'bench',
      strategy: createStrategy(config.algorithm),
      params: model.init(config.seed),
      gradient: async (at, round) => {
        const t0 = performance.now();
        const { grad, loss } = await oracles[i].gradient(at, sampler.next());
        const spans = compute.get(round) ?? [];
        spans.push([t0, performance.now()]);
        compute.set(round, spans);
        return { grad, loss };
      },
      rng: createRng(config.seed).fork(`signs-${i}`),
      onEvent: (e: SessionEvent) => {
        if (e.type === 'round') rows.push({ round: e.round, ms: e.ms, role: e.role, up: e.bytesUp, down: e.bytesDown });
      },
    });
  });
  await Promise.all(peers.map((p) => p.finished));
  await Promise.all(peers.map((p) => p.stop()));
  await Promise.all(oracles.map((o) => o.dispose()));
  const overhead: number[] = [], round: number[] = [], comp: number[] = [], up: number[] = [], down: number[] = [];
  for (const r of rows) {
    if (r.round < warmupRounds) continue;
    if (r.role === 'aggregator') {
      const c = unionMs(compute.get(r.round) ?? []);
      round.push(r.ms);
      comp.push(c);
      overhead.push(r.ms - c);
    } else {
      up.push(r.up);
      down.push(r.down);
    }
  }
  return { overheadMs: median(overhead), roundMs: median(round), computeMs: median(comp), up: median(up), down: median(down) };
}

function unionMs(spans: [number, number][]): number {
  const sorted = [...spans].sort((a, b) => a[0] - b[0]);
  let total = 0, end = -Infinity;
  for (const [a, b] of sorted) {
    if (b <= end) continue;
    total += b - Math.max(a, end);
    end = b;
  }
  return total;
}

export const benches: Bench[] = [
  {
    name: 'p2p: round overhead and bytes per round, WebRTC processes vs in-memory hub',
    async run() {
      const out: BenchResult[] = [];
      const d = createModel('mlp').d;
      const oneBit = d / 8;
      let memoryAt4: number | undefined;
      // the peers share these cores: with more peer processes than cores, every message waits
      // for its receiver (and each wrtc send for its sender's network thread) to be scheduled
      const cores = availableParallelism();
      for (const n of PEERS) {
        const mem = await overMemory(n);
        // same bytes on either transport (session-level accounting), so the paper's rule is
        // measured in process only
        const paper = await overMemory(n, 'zero');
        const rtc = await overWebRtc(n);
        console.log(`  ${n} peers over WebRTC, median overhead per ${WINDOW} rounds: ${(rtc.windowsMs ?? []).map((x) => x.toFixed(1)).join(' ')} ms`);
        if (n === 4) memoryAt4 = mem.overheadMs;
        const f = (x: number) => x.toFixed(1);
        out.push(
          latency(
            `p2p round overhead, ${n} peers (webrtc vs memory)`,
            'ms',
            rtc.overheadMs,
            mem.overheadMs,
            `round ${f(rtc.roundMs)} ms, slowest compute ${f(rtc.computeMs)} ms, aggregator CPU beyond its gradient ${f(rtc.leadCpuMs ?? NaN)} ms, ` +
              `all peers' CPU ${f(rtc.totalCpuMs ?? NaN)} ms a round on ${cores} cores; first ${WARMUP} rounds (engine warm-up) ${f(rtc.warmupOverheadMs ?? NaN)} ms; memory: round ${f(mem.roundMs)} ms, compute in flight ${f(mem.computeMs)} ms; target <= 5 ms at 4 peers`,
          ),
          latency(`p2p bytes up per worker per round, ${n} peers`, 'B', rtc.up, oneBit, `vs d/8 = ${oneBit}; limit 1.05 d/8 + 200 = ${(1.05 * oneBit + 200).toFixed(0)}; memory ${mem.up}`),
          latency(`p2p bytes down per worker per round, ${n} peers`, 'B', rtc.down, oneBit, `vs d/8; limit ${(1.05 * oneBit + 200).toFixed(0)}; ties 'coin' (session default); memory ${mem.down}`),
          latency(`p2p bytes down per worker per round, ${n} peers, ties 'zero'`, 'B', paper.down, oneBit, `vs d/8; the paper's Sign(0) = 0 (tie bitmap), in-memory hub; up ${paper.up}`),
        );
      }
      // the default engine in Node is onnxruntime-web (wasm); the optional native one leaves the
      // protocol more of these 2 cores, which is what the overhead is made of here
      if (PEERS.includes(4) && (await loadOrtNode())) {
        const rtc = await overWebRtc(4, 'node');
        console.log(`  4 peers over WebRTC, --backend node, median overhead per ${WINDOW} rounds: ${(rtc.windowsMs ?? []).map((x) => x.toFixed(1)).join(' ')} ms`);
        out.push(
          latency(
            'p2p round overhead, 4 peers, --backend node (webrtc vs memory)',
            'ms',
            rtc.overheadMs,
            memoryAt4 ?? NaN,
            `round ${rtc.roundMs.toFixed(1)} ms, slowest compute ${rtc.computeMs.toFixed(1)} ms; baseline: the wasm run's in-memory overhead`,
          ),
        );
      }
      return out;
    },
  },
  {
    name: 'p2p at scale: round time, members counted and the aggregator\'s CPU at 16 and 32 peers',
    async run() {
      const out: BenchResult[] = [];
      const cores = availableParallelism();
      const warm = Math.floor(SCALE_ROUNDS / 3);
      for (const n of SCALE) {
        const mem = await overMemory(n, 'coin', SCALE_ROUNDS, warm);
        const rtc = await overWebRtc(n, 'wasm', SCALE_ROUNDS, warm);
        const f = (x: number) => x.toFixed(1);
        // CPU-bound when the peers' CPU per round fills the cores for the whole round
        const busy = (rtc.totalCpuMs ?? NaN) / cores / rtc.roundMs;
        out.push(
          latency(
            `p2p round time, ${n} peers (webrtc vs memory)`,
            'ms',
            rtc.roundMs,
            mem.roundMs,
            `members counted ${(100 * (rtc.countedShare ?? NaN)).toFixed(0)}% (median per verdict); aggregator CPU beyond its gradient ${f(rtc.leadCpuMs ?? NaN)} ms a round; ` +
              `all peers' CPU ${f(rtc.totalCpuMs ?? NaN)} ms a round = ${(100 * busy).toFixed(0)}% of ${cores} cores over the round; slowest compute ${f(rtc.computeMs)} ms; ` +
              `memory: one process, gradients in turn, round ${f(mem.roundMs)} ms`,
          ),
        );
      }
      return out;
    },
  },
];
