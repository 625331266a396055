import { resolve } from 'node:path';
import { lowAgreement, startPeer, type AdversaryKind, type CheckpointStore, type PeerEvent } from '@signvote/core';
import { createFileCheckpointStore, createNodeOracle, loadDataset, nodeWrtc } from '@signvote/core/node';
import { EXIT } from './exit';

/** `signvote peer`: one headless Node peer in a session until its last round, reporting as it goes. */

function formatBytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)}MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)}KiB` : `${n}B`;
}

export interface PeerFlags {
  server: string;
  session: string;
  token: string;
  backend: 'wasm' | 'node';
  json?: boolean;
  timings?: boolean;
  label?: string;
  checkpoint?: string;
  resume?: string;
  /** FOR TESTS AND RESEARCH: vote as this kind of adversary (docs/algorithms.md) */
  adversary?: AdversaryKind;
}

/**
 * `--json`: stdout carries exactly one JSON object per applied round (for scripts and tests);
 * everything else (terms, resyncs, dropped messages, errors) goes to stderr, one JSON object a
 * line with an "event" key, so stdout stays a clean stream of rounds.
 */
export async function runPeer(flags: PeerFlags): Promise<void> {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const tty = !flags.json && process.stderr.isTTY;
  const note = (line: string) => process.stderr.write(tty ? `\r\x1b[K${line}\n` : `${line}\n`);
  const progress = (line: string) => process.stderr.write(tty ? `\r\x1b[K${line}` : `${line}\n`);
  const event = (e: object) => process.stderr.write(`${JSON.stringify(e)}\n`);
  let pendingSaves: Promise<unknown> = Promise.resolve();
  const savesDone = () => pendingSaves;
  const trackSaves = (store: CheckpointStore): CheckpointStore => ({
    load: () => store.load(),
    save: (cp) => {
      const saving = store.save(cp);
      pendingSaves = Promise.all([pendingSaves, saving.catch(() => undefined)]);
      return saving;
    },
  });
  let rounds = 0;
  let lastAccuracy: number | undefined;
  // every peer's latest moving-average vote agreement, and who is flagged far below the rest
  const agreement: Record<string, number> = {};
  let flagged = '';
  if (flags.adversary !== undefined) note(`ADVERSARY (research only): this peer votes as '${flags.adversary}' (docs/algorithms.md "Adversarial peers")`);
  let lastCpu = process.cpuUsage();
  // without the signaling server the transport closes, so the session cannot go on here
  let leave: (reason: string) => void = () => {};
  const lost = new Promise<string>((r) => (leave = r));
  const onEvent = (e: PeerEvent) => {
    switch (e.type) {
      case 'joined':
        rounds = e.config.rounds;
        if (flags.json) event({ event: 'joined', peerId: e.peerId, backend: e.backend, shard: e.shard, shardSize: e.shardSize, d: e.d, rounds });
        else note(`joined ${flags.session} as ${e.peerId} (${e.backend}, shard ${e.shard}: ${e.shardSize} samples, d = ${e.d})`);
        break;
      case 'round': {
        if (e.accuracy !== undefined) lastAccuracy = e.accuracy;
        Object.assign(agreement, e.agreement);
        const low = lowAgreement(agreement).sort();
        if (flags.json) {
          const row: Record<string, unknown> = {
            round: e.round,
            term: e.term,
            role: e.role,
            loss: Number.isFinite(e.loss) ? e.loss : null,
            accuracy: e.accuracy ?? null,
            hash: e.hash,
            bytesUp: e.bytesUp,
            bytesDown: e.bytesDown,
            agreement: e.agreement,
            lowAgreement: low,
          };
          if (flags.timings) {
            // CPU of the whole process (all threads: ORT, wrtc) since the previous round: tells
            // work from waiting when the wall time of a round is mostly scheduling
            const cpu = process.cpuUsage(lastCpu);
            lastCpu = process.cpuUsage();
            Object.assign(row, { ms: e.ms, computeMs: e.computeMs, cpuMs: (cpu.user + cpu.system) / 1000, counted: e.counted, at: Date.now() });
          }
          out(JSON.stringify(row));
        } else {
          if (low.join(',') !== flagged && low.length > 0) note(`low vote agreement (far below the rest): ${low.map((p) => `${p} ${(100 * agreement[p]).toFixed(1)}%`).join(', ')}`);
          const acc = lastAccuracy === undefined ? '' : ` acc ${(100 * lastAccuracy).toFixed(1)}%`;
          const loss = Number.isFinite(e.loss) ? ` loss ${e.loss.toFixed(4)}` : '';
          progress(
            `round ${e.round + 1}/${rounds} term ${e.term} ${e.role}${loss}${acc} ` +
              `up ${formatBytes(e.bytesUp)} down ${formatBytes(e.bytesDown)} ${e.ms.toFixed(0)} ms (compute ${e.computeMs.toFixed(0)} ms)`,
          );
        }
        flagged = low.join(',');
        break;
      }
      case 'term':
        if (flags.json) event({ event: 'term', term: e.term, peers: e.peers, aggregator: e.aggregator, at: Date.now() });
        break;
      case 'aggregator':
        if (flags.json) event({ event: 'aggregator', term: e.term, aggregator: e.aggregator, previous: e.previous });
        else note(`term ${e.term}: aggregator is ${e.aggregator}${e.previous ? ` (was ${e.previous})` : ''}`);
        break;
      case 'waiting':
        if (flags.json) event({ event: 'waiting', term: e.term, have: e.have, need: e.need });
        else progress(`waiting for peers: ${e.have}/${e.need}`);
        break;
      case 'resume':
        if (flags.json) event({ event: 'resume', round: e.round, hash: e.hash, fromSession: e.fromSession });
        else note(`resuming at round ${e.round} (parameters ${e.hash}) from a checkpoint of session ${e.fromSession}`);
        break;
      case 'resync':
        if (flags.json) event({ event: 'resync', round: e.round, from: e.from, hash: e.hash });
        else note(`synced to round ${e.round} from ${e.from}`);
        break;
      case 'drop':
        // refused messages are expected under attack or churn; only scripts want each one
        if (flags.json) event({ event: 'drop', reason: e.reason, from: e.from, detail: e.detail });
        break;
      case 'disconnected':
        if (flags.json) event({ event: 'disconnected', reason: e.reason });
        leave(`disconnected from the signaling server (${e.reason})`);
        break;
      case 'error':
        if (flags.json) event({ event: 'error', error: e.error });
        else note(`error: ${e.error}`);
        break;
      case 'finished':
        if (flags.json) event({ event: 'finished', rounds: e.round, hash: e.hash });
        else note(`finished: ${e.round} rounds, parameters ${e.hash}`);
        break;
      default:
        break;
    }
  };
  const peer = await startPeer({
    serverUrl: flags.server,
    sessionId: flags.session,
    token: flags.token,
    backend: flags.backend,
    label: flags.label,
    wrtc: nodeWrtc(),
    loadData: (config) => loadDataset(config.dataset, { seed: config.seed }),
    createOracle: (model, backend) => createNodeOracle(model, backend === 'node' ? 'node' : 'wasm'),
    checkpoints: flags.checkpoint ? trackSaves(createFileCheckpointStore(resolve(flags.checkpoint))) : undefined,
    resumeFrom: flags.resume ? createFileCheckpointStore(resolve(flags.resume)) : undefined,
    ...(flags.adversary !== undefined && { adversary: flags.adversary }),
    onEvent,
  });
  let exiting = false;
  const exit = (code: number | NodeJS.Signals) => {
    // the first reason wins: our own stop() also closes the signaling socket, which is no error
    if (exiting) return;
    exiting = true;
    const end = (): void => {
      if (typeof code === 'number') return process.exit(code);
      // dying by the signal itself runs no exit teardown of native objects (@roamhq/wrtc has
      // crashed with SIGSEGV around exit), and the shell still sees 130 / 143
      process.removeAllListeners(code);
      process.kill(process.pid, code);
    };
    // a stuck native teardown (wrtc, ORT) must not keep a finished peer alive
    setTimeout(end, 2000).unref();
    // a checkpoint being written when Ctrl-C comes is finished, not torn off
    void peer
      .leave()
      .then(() => savesDone())
      .finally(end);
  };
  process.once('SIGINT', () => exit('SIGINT'));
  process.once('SIGTERM', () => exit('SIGTERM'));
  const outcome = await Promise.race([peer.finished.then(() => null), lost]);
  if (outcome !== null) {
    if (flags.json) event({ event: 'left', reason: outcome });
    else note(`left the session: ${outcome}`);
    return exit(EXIT.error);
  }
  // the aggregator's last verdict must leave before its channels close
  await new Promise((r) => setTimeout(r, 200));
  exit(EXIT.ok);
}
