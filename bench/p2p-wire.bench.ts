/**
 * Issue 14's benchmark: bytes on the wire per peer per round, and round time, for the star vote
 * (k = 1: one aggregator takes n-1 ballots and sends n-1 verdicts) against the sharded vote
 * (k = n shards, `voteShards`: each peer aggregates one slice of the coordinates).
 *
 * n real `signvote peer` processes and a signaling server on loopback, for n in
 * `P2P_WIRE_PEERS` (default 4,8,16) and the models in `P2P_WIRE_MODELS` (default mlp, d = 55,050,
 * and mlp-wide, d = 1,333,770), `P2P_WIRE_ROUNDS` rounds (default 80; the first half left out: with 16 peer processes on 2
 * cores, V8 is still tiering up onnxruntime's wasm and the round's JS for the first ~25-35
 * rounds, at twice the CPU of a steady round). Peers run with the bin's node flags
 * (cli/src/node-flags.ts).
 *
 * Bytes are counted at the transport (the WebRTC data channels' framed bytes: frame headers and
 * every message, `--timings` rows' wireUp / wireDown), per peer and round; a peer's figure is its
 * median over the steady rounds, and the row reports the busiest peer, aggregators included.
 * Target with k = n (issue 14): <= 1.15 d/8 + 300 bytes each way. The k = n rows also give the
 * least any exact sharded vote can move, 2 (n-1)/n d/8 each way (a range's aggregator receives
 * the other n-1 ballots' slices of it and sends its slice of the verdict to n-1 peers), and how
 * far above it the measurement is. Round time: the time between the rounds every peer has
 * applied (the last peer's row), so it does not depend on who aggregates. CPU: user + system
 * time of every peer process per round (each peer's median, summed); with n peer processes on
 * fewer cores the round time is about this over the core count, so it tells work from waiting.
 *
 * `P2P_WIRE_REPEATS` (default 1) runs each k that many times, alternating k = 1 and k = n so a
 * change in the machine's load hits both alike; times are the medians and each row's note lists
 * every run. `P2P_WIRE_NODE_ARGS` goes to each peer's node (`--cpu-prof --cpu-prof-dir=DIR`;
 * with `--trace-gc` each run also counts the full GCs of all peers per steady round).
 *
 * A build whose session config has no `voteShards` (the server stores the config it accepted,
 * and this reads it back) gets a k = n row that says so instead of a number.
 */
import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createSignalingServer } from '@signvote/signaling';
import { PEER_NODE_FLAGS } from '../cli/src/node-flags';
import { createModel, type ModelName } from '../core/src/models';
import { median } from '../e2e/src/round-times';
import { latency, type Bench, type BenchResult } from './harness';

const PEERS = (process.env.P2P_WIRE_PEERS ?? '4,8,16').split(',').filter(Boolean).map(Number);
const MODELS = (process.env.P2P_WIRE_MODELS ?? 'mlp,mlp-wide').split(',').filter(Boolean) as ModelName[];
const ROUNDS = Number(process.env.P2P_WIRE_ROUNDS ?? 80);
const WARMUP = Math.floor(ROUNDS / 2);
/** runs of each k per (model, n), alternating; times are the median of the runs */
const REPEATS = Number(process.env.P2P_WIRE_REPEATS ?? 1);
const bin = resolve(dirname(fileURLToPath(import.meta.url)), '../cli/bin/signvote.mjs');

interface WireRow {
  round: number;
  at: number;
  wireUp: number;
  wireDown: number;
  cpuMs: number;
}

interface WireRun {
  /** the busiest peer's median bytes sent / received per round */
  up: number;
  down: number;
  /** ms per round over the steady rounds, as the last peer applied them */
  roundMs: number;
  /** CPU per round summed over all peer processes (each peer's median over the steady rounds) */
  cpuMs: number;
  /** full (mark-compact) GCs per steady round over all peers; null unless the peers ran with --trace-gc */
  fullGcs: number | null;
}

/** The runs of one k: bytes from the first (every run moves the same bytes), times the median of all. */
function summarize(runs: readonly WireRun[]): WireRun & { trials: string } {
  return {
    up: runs[0].up,
    down: runs[0].down,
    roundMs: median(runs.map((r) => r.roundMs)),
    cpuMs: median(runs.map((r) => r.cpuMs)),
    fullGcs: runs[0].fullGcs === null ? null : median(runs.map((r) => r.fullGcs ?? NaN)),
    trials: runs.map((r) => `${r.roundMs.toFixed(0)}/${r.cpuMs.toFixed(0)}${r.fullGcs === null ? '' : `/${r.fullGcs.toFixed(2)} GC`}`).join(' '),
  };
}

type Created = { id: string; token: string } | { refused: string };

/** Creates the session; `voteShards` is sent only for k > 1, and read back to see whether the server kept it. */
async function createSession(url: string, model: ModelName, n: number, k: number): Promise<Created> {
  const config = {
    model,
    dataset: 'mnist',
    batchSize: 8,
    expectedPeers: n,
    rounds: ROUNDS,
    evalEvery: 0,
    // every ballot is waited for: the bytes of a round are those of n ballots
    deadlineMs: 30_000,
    seed: 3,
    algorithm: { name: 'mv-sto-signsgd-sim', lr: 3e-3 },
    ...(k > 1 ? { voteShards: k } : {}),
  };
  const res = await fetch(`${url}/api/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(config) });
  const body = (await res.json()) as { id?: string; token?: string; error?: string };
  if (!res.ok || !body.id || !body.token) return { refused: `the server refused voteShards: ${res.status} ${body.error ?? ''}` };
  if (k > 1) {
    const read = await fetch(`${url}/api/sessions/${body.id}/config`, { headers: { 'x-session-token': body.token } });
    const held = ((await read.json()) as { config?: { voteShards?: unknown } }).config?.voteShards;
    if (held !== k) return { refused: `the session config kept voteShards = ${JSON.stringify(held)}, not ${k}` };
  }
  return { id: body.id, token: body.token };
}

async function run(model: ModelName, n: number, session: { id: string; token: string }, url: string): Promise<WireRun> {
  // --trace-gc (through P2P_WIRE_NODE_ARGS) prints a line per GC on stdout among the JSON rows
  const fullGcAt: number[] = [];
  let traced = false;
  const perPeer = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      new Promise<WireRow[]>((resolvePeer, reject) => {
        const child = spawn(process.execPath, [...PEER_NODE_FLAGS, ...(process.env.P2P_WIRE_NODE_ARGS ?? '').split(' ').filter(Boolean), bin, 'peer', '--server', url, '--session', session.id, '--token', session.token, '--json', '--timings', '--label', `wire-${i}`], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const rows: WireRow[] = [];
        let err = '';
        child.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-2000)));
        createInterface({ input: child.stdout }).on('line', (line) => {
          if (line.startsWith('{')) return void rows.push(JSON.parse(line) as WireRow);
          if (!/ms: (Scavenge|Mark-Compact|Mark-Sweep)/.test(line)) return;
          traced = true;
          if (line.includes('Mark-Compact')) fullGcAt.push(Date.now());
        });
        const timer = setTimeout(() => child.kill('SIGKILL'), 300_000 + 2000 * ROUNDS * n);
        child.once('exit', (code) => {
          clearTimeout(timer);
          if (code === 0) resolvePeer(rows);
          else reject(new Error(`${model} bench peer ${i} of ${n} exited ${code}: ${err}`));
        });
      }),
    ),
  );
  const steady = (rows: WireRow[]) => rows.filter((r) => r.round >= WARMUP);
  const up = Math.max(...perPeer.map((rows) => median(steady(rows).map((r) => r.wireUp))));
  const down = Math.max(...perPeer.map((rows) => median(steady(rows).map((r) => r.wireDown))));
  const lastAt = (round: number) => Math.max(...perPeer.map((rows) => rows.find((r) => r.round === round)?.at ?? NaN));
  const roundMs = (lastAt(ROUNDS - 1) - lastAt(WARMUP)) / (ROUNDS - 1 - WARMUP);
  const cpuMs = perPeer.reduce((sum, rows) => sum + median(steady(rows).map((r) => r.cpuMs)), 0);
  const fullGcs = traced ? fullGcAt.filter((t) => t >= lastAt(WARMUP) && t <= lastAt(ROUNDS - 1)).length / (ROUNDS - 1 - WARMUP) : null;
  return { up, down, roundMs, cpuMs, fullGcs };
}

export const benches: Bench[] = [
  {
    name: 'p2p wire: bytes per peer per round (busiest peer) and round time, star vote (k = 1) vs sharded (k = n)',
    async run() {
      const out: BenchResult[] = [];
      const server = await createSignalingServer({ port: 0, logger: false });
      try {
        for (const model of MODELS) {
          const d = createModel(model).d;
          const oneBit = d / 8;
          const limit = 1.15 * oneBit + 300;
          const tag = `d = ${d.toLocaleString('en-US')} (${model})`;
          for (const n of PEERS) {
            // alternating k = 1 and k = n, so that a change in the machine's load hits both alike
            const stars: WireRun[] = [], shards: WireRun[] = [];
            let refused: string | null = null;
            for (let trial = 0; trial < REPEATS; trial++) {
              const star = await createSession(server.url, model, n, 1);
              if ('refused' in star) throw new Error(`${model}, ${n} peers: ${star.refused}`);
              stars.push(await run(model, n, star, server.url));
              const sharded = await createSession(server.url, model, n, n);
              if ('refused' in sharded) {
                refused = sharded.refused;
                break;
              }
              shards.push(await run(model, n, sharded, server.url));
            }
            const k1 = summarize(stars);
            const kn = refused === null ? summarize(shards) : null;
            const f = (x: number) => x.toFixed(0);
            out.push(
              latency(`p2p wire up, busiest peer, ${n} peers, ${tag}, k = 1`, 'B', k1.up, oneBit, `vs d/8 = ${f(oneBit)}; the aggregator sends n-1 verdicts`),
              latency(`p2p wire down, busiest peer, ${n} peers, ${tag}, k = 1`, 'B', k1.down, oneBit, `vs d/8; the aggregator receives n-1 ballots`),
              latency(`p2p round time, ${n} peers, ${tag}, k = 1`, 'ms', k1.roundMs, k1.roundMs, `baseline of the k = n row; runs (round/CPU ms): ${k1.trials}`),
              latency(`p2p CPU per round, all peers, ${n} peers, ${tag}, k = 1`, 'ms', k1.cpuMs, k1.cpuMs, 'baseline of the k = n row'),
            );
            if (kn === null) {
              const why = `k = n: not supported by this build (${refused})`;
              out.push(
                latency(`p2p wire up, busiest peer, ${n} peers, ${tag}, k = ${n}`, 'B', NaN, oneBit, why),
                latency(`p2p wire down, busiest peer, ${n} peers, ${tag}, k = ${n}`, 'B', NaN, oneBit, why),
                latency(`p2p round time, ${n} peers, ${tag}, k = ${n}`, 'ms', NaN, k1.roundMs, why),
              );
              continue;
            }
            // each shard aggregator needs the other n-1 ballots' slices of its range, and each
            // peer the other n-1 ranges of the verdict: 2 (n-1)/n d/8 each way, framing aside
            const bound = (2 * (n - 1) * oneBit) / n;
            const verdict = (x: number) =>
              `bound 2(n-1)/n d/8 = ${f(bound)} (+${((100 * (x - bound)) / bound).toFixed(1)}%); ${x <= limit ? 'meets' : 'MISSES'} the target 1.15 d/8 + 300 = ${f(limit)}`;
            out.push(
              latency(`p2p wire up, busiest peer, ${n} peers, ${tag}, k = ${n}`, 'B', kn.up, oneBit, `vs d/8; ${verdict(kn.up)}`),
              latency(`p2p wire down, busiest peer, ${n} peers, ${tag}, k = ${n}`, 'B', kn.down, oneBit, `vs d/8; ${verdict(kn.down)}`),
              latency(
                `p2p round time, ${n} peers, ${tag}, k = ${n}`,
                'ms',
                kn.roundMs,
                k1.roundMs,
                `baseline: k = 1 (${k1.roundMs.toFixed(0)} ms); runs (round/CPU ms): ${kn.trials}` +
                  (n >= 16 && d >= 1_000_000 ? `; target at 16 peers, d = 1M: no worse than k = 1: ${kn.roundMs <= k1.roundMs ? 'met' : 'MISSED'}` : ''),
              ),
              latency(`p2p CPU per round, all peers, ${n} peers, ${tag}, k = ${n}`, 'ms', kn.cpuMs, k1.cpuMs, `baseline: k = 1 (${k1.cpuMs.toFixed(0)} ms)`),
            );
          }
        }
      } finally {
        await server.close();
      }
      return out;
    },
  },
];
