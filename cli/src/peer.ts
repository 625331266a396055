import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import {
  createProgressMeter,
  exportOnnx,
  formatDuration,
  formatRate,
  lowAgreement,
  SessionEndedError,
  SignalingError,
  startPeer,
  watchFewerPeers,
  type AdversaryKind,
  type CheckpointStore,
  type FewerPeersWatch,
  type PeerEvent,
  type SessionConfig,
  type TrainTest,
} from '@signvote/core';
import { createFileCheckpointStore, createNodeOracle, loadDataset, loadLocalData, nodeWrtc } from '@signvote/core/node';
import { CliError, EXIT } from './exit';
import { dataFlagMismatch } from './data-flag';
import { isCertificateError, untrustedCertificate } from './net-errors';
import { checkReadableFile, checkWritablePath } from './out-path';
import { createRoundRows } from './round-rows';
import { describeRecord } from './session';
import { serverList } from './servers';
import { describeVoteSplit, roleLabel } from './vote-split';

/** `signvote peer`: one headless Node peer, until the session's last round (docs/cli.md). */

/** how long a finished peer waits for its last messages to be taken by the data channels */
const FLUSH_MS = 5000;

function formatBytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)}MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)}KiB` : `${n}B`;
}

export interface PeerFlags {
  /** one URL, or several separated by commas (serverList) */
  server: string;
  session: string;
  token: string;
  backend: 'wasm' | 'node';
  json?: boolean;
  timings?: boolean;
  label?: string;
  checkpoint?: string;
  resume?: string;
  /** this peer's own data: a CSV file or a folder of images (sessions with `data`) */
  data?: string;
  /** write the trained model here (ONNX) when the session finishes */
  export?: string;
  /** FOR TESTS AND RESEARCH: vote as this kind of adversary (docs/algorithms.md) */
  adversary?: AdversaryKind;
}

/**
 * `--json`: stdout carries exactly one JSON object per applied round (for scripts and tests);
 * everything else (terms, resyncs, evaluations, dropped messages, errors) goes to stderr, one
 * JSON object a line with an "event" key, so stdout stays a clean stream of rounds. Without it,
 * a progress line with the pace (rounds/s) and the time left.
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
  let expectedPeers = 0;
  let d: number | undefined;
  /** the last term whose vote split was noted (once per term that applied rounds here) */
  let splitNoted = -1;
  let started = false;
  /** the session finished here */
  let done = false;
  let lastAccuracy: number | undefined;
  const pace = createProgressMeter();
  /** the last round's progress line, written again when an evaluation brings a new accuracy */
  let lastLine: ((acc: string) => string) | null = null;
  const rows = createRoundRows((row) => out(JSON.stringify(row)));
  // every peer's latest moving-average vote agreement, and who is flagged far below the rest
  const agreement: Record<string, number> = {};
  let flagged = '';
  if (flags.adversary !== undefined) note(`ADVERSARY (research only): this peer votes as '${flags.adversary}' (docs/algorithms.md "Adversarial peers")`);
  let lastCpu = process.cpuUsage();
  // transport bytes (framing included) at the previous round row; the peer exists from 'joined' on
  let wire: (() => { bytesSent: number; bytesReceived: number }) | null = null;
  let lastWire = { bytesSent: 0, bytesReceived: 0 };
  // without the signaling server the transport closes, so the session cannot go on here
  let leave: (reason: string) => void = () => {};
  const lost = new Promise<string>((r) => (leave = r));
  /** exit code when the signaling server is gone: 7 when it removed this peer (unreachable over WebRTC) */
  let lostCode: number = EXIT.error;
  /** a peer left training with fewer than the data was split for says so (set once joined) */
  let fewer: FewerPeersWatch | undefined;
  const noteFewer = (line: string | null | undefined) => {
    // past the last round (done) the others leave as they finish: that is not training with fewer
    if (line && !flags.json && !done) note(line);
  };
  const accuracyText = () => (lastAccuracy === undefined ? '' : ` acc ${(100 * lastAccuracy).toFixed(1)}%`);
  const onEvent = (e: PeerEvent) => {
    switch (e.type) {
      case 'joined':
        rounds = e.config.rounds;
        expectedPeers = e.config.expectedPeers;
        fewer = watchFewerPeers(expectedPeers);
        d = e.d;
        if (flags.json) event({ event: 'joined', peerId: e.peerId, backend: e.backend, shard: e.shard, d: e.d, rounds });
        else note(`joined ${flags.session} as ${e.peerId} (${e.backend}, d = ${e.d})`);
        break;
      case 'shard':
        if (flags.json) event({ event: 'shard', shard: e.shard, shards: e.shards, size: e.size });
        else note(`training shard ${e.shard + 1} of ${e.shards} (${e.size} samples)`);
        noteFewer(fewer?.shard(e));
        break;
      case 'members':
        // the aggregator says how many it waits for; a worker counts the members it hears of
        if (!flags.json && !started) progress(`waiting for peers: ${e.peers.length}/${expectedPeers}`);
        break;
      case 'round': {
        started = true;
        // the last round applied: what follows until 'finished' is the others leaving
        if (rounds > 0 && e.round + 1 >= rounds) done = true;
        pace.applied(e.round, performance.now());
        Object.assign(agreement, e.agreement);
        const low = lowAgreement(agreement).sort();
        if (flags.json) {
          const row = {
            round: e.round,
            term: e.term,
            role: e.role,
            split: e.split,
            voteShard: e.voteShard,
            loss: Number.isFinite(e.loss) ? e.loss : null,
            accuracy: null,
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
            // what actually crossed the data channels since the previous row (frame headers,
            // snapshots and catch-up included), and this process's memory: RSS and the JS heap
            const now = wire?.() ?? lastWire;
            const mem = process.memoryUsage();
            Object.assign(row, {
              wireUp: now.bytesSent - lastWire.bytesSent,
              wireDown: now.bytesReceived - lastWire.bytesReceived,
              rss: mem.rss,
              heap: mem.heapUsed,
              arrayBuffers: mem.arrayBuffers,
            });
            lastWire = { bytesSent: now.bytesSent, bytesReceived: now.bytesReceived };
          }
          rows.round(row, e.evaluating);
        } else {
          if (e.term !== splitNoted) {
            splitNoted = e.term;
            const split = describeVoteSplit(e.term, e.split, e.voteShard, d);
            if (split !== null) note(split);
          }
          if (low.join(',') !== flagged && low.length > 0) note(`low vote agreement (far below the rest): ${low.map((p) => `${p} ${(100 * agreement[p]).toFixed(1)}%`).join(', ')}`);
          const loss = Number.isFinite(e.loss) ? ` loss ${e.loss.toFixed(4)}` : '';
          const rate = pace.rate();
          const eta = pace.etaMs(rounds);
          const speed = rate === null ? '' : ` ${formatRate(rate)}${eta === null ? '' : ` ETA ${formatDuration(eta)}`}`;
          lastLine = (acc) =>
            `round ${e.round + 1}/${rounds} term ${e.term} ${roleLabel(e.role, e.split, e.voteShard)}${loss}${acc}${speed} ` +
            `up ${formatBytes(e.bytesUp)} down ${formatBytes(e.bytesDown)} ${e.ms.toFixed(0)} ms (compute ${e.computeMs.toFixed(0)} ms)`;
          progress(lastLine(accuracyText()));
        }
        flagged = low.join(',');
        break;
      }
      case 'evaluation':
        if (e.result) lastAccuracy = e.result.accuracy;
        if (!flags.json && e.result && lastLine) progress(lastLine(accuracyText()));
        if (flags.json) {
          event({ event: 'evaluation', round: e.round, loss: e.result?.loss ?? null, accuracy: e.result?.accuracy ?? null, ms: e.result?.ms ?? null, skipped: e.result === null });
          rows.evaluation(e.round, e.result);
        }
        break;
      case 'term':
        // once finished (or past the last round), new terms are the others leaving: nothing to
        // act on here, in either mode
        if (done) break;
        // the term's members are the ones training (membership as the session peer applied it)
        noteFewer(fewer?.members(e.peers.length));
        if (flags.json) event({ event: 'term', term: e.term, peers: e.peers, aggregator: e.aggregator, split: e.split, voteShard: e.voteShard, at: Date.now() });
        break;
      case 'aggregator':
        if (done) break;
        if (flags.json) event({ event: 'aggregator', term: e.term, aggregator: e.aggregator, previous: e.previous });
        else note(`term ${e.term}: aggregator is ${e.aggregator}${e.previous ? ` (was ${e.previous})` : ''}`);
        break;
      case 'waiting':
        if (done) break;
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
      case 'signaling':
        if (flags.json) event({ event: 'signaling', from: e.from, to: e.to, ok: e.ok, ...(e.error ? { error: e.error } : {}), at: Date.now() });
        else note(e.ok ? `signaling server ${e.from} went away; resumed through ${e.to}` : `signaling server ${e.from} went away; ${e.to} did not take this peer (${e.error ?? 'unknown'})`);
        break;
      case 'disconnected':
        if (flags.json) event({ event: 'disconnected', reason: e.reason, ...(e.dropped === undefined ? {} : { dropped: e.dropped }) });
        if (e.dropped !== undefined) {
          lostCode = EXIT.dropped;
          leave(`${e.dropped}. The ICE servers are the session's: \`signvote session create --ice turn:HOST:3478 ...\` (docs/cli.md)`);
        } else {
          leave(`disconnected from the signaling server (${e.reason})`);
        }
        break;
      case 'error':
        if (flags.json) event({ event: 'error', error: e.error });
        else note(`error: ${e.error}`);
        break;
      case 'committed':
        if (flags.json) event({ event: 'committed', round: e.round, hash: e.hash, term: e.term });
        break;
      case 'not-counted':
        if (flags.json) event({ event: 'not-counted', rounds: e.rounds, reason: e.reason, at: Date.now() });
        else note(`not counted for ${e.rounds} rounds: ${e.reason}`);
        break;
      case 'gave-up':
        if (flags.json) event({ event: 'gave-up', kind: e.kind, reason: e.reason });
        else note(`giving up: ${e.reason}`);
        break;
      case 'finished':
        if (flags.json) event({ event: 'finished', rounds: e.round, hash: e.hash });
        else note(`finished: ${e.round} rounds, parameters ${e.hash}`);
        done = true;
        break;
      default:
        break;
    }
  };
  /**
   * The session's server-hosted dataset, or this peer's own files prepared as the session says.
   * Runs before the peer joins: a DataError (naming the file, line, column) keeps it out.
   */
  const loadData = async (config: SessionConfig, model: { inputShape: readonly number[]; numClasses: number }): Promise<TrainTest> => {
    const mismatch = dataFlagMismatch(config, flags.data);
    if (mismatch !== null) throw mismatch;
    if (!config.data || flags.data === undefined) return loadDataset(config.dataset, { seed: config.seed });
    const local = await loadLocalData(resolve(flags.data), config.data, model, config.seed);
    const counts = local.counts.map((c) => `${c.name} ${c.count}`).join(', ');
    if (flags.json) event({ event: 'data', path: flags.data, train: local.train.count, test: local.test.count, counts: local.counts });
    else note(`data ${flags.data}: ${local.train.count} to train, ${local.test.count} held out to test; per class: ${counts}`);
    return local;
  };
  // files this peer will write or read: wrong ones fail now, not after a session's training
  const checkpointPath = flags.checkpoint === undefined ? undefined : checkWritablePath('--checkpoint', flags.checkpoint);
  const exportPath = flags.export === undefined ? undefined : checkWritablePath('--export', flags.export);
  const resumePath = flags.resume === undefined ? undefined : checkReadableFile('--resume', flags.resume);
  const [server, ...fallbacks] = await serverList(flags.server);
  const peer = await startPeer({
    serverUrl: server,
    fallbackUrls: fallbacks,
    sessionId: flags.session,
    token: flags.token,
    backend: flags.backend,
    label: flags.label,
    wrtc: nodeWrtc(),
    loadData,
    createOracle: (model, backend) => createNodeOracle(model, backend === 'node' ? 'node' : 'wasm'),
    checkpoints: checkpointPath ? trackSaves(createFileCheckpointStore(checkpointPath)) : undefined,
    resumeFrom: resumePath ? createFileCheckpointStore(resumePath) : undefined,
    ...(flags.adversary !== undefined && { adversary: flags.adversary }),
    onEvent,
  }).catch((err: unknown) => {
    // finding 3: a finished session is not trained again; say what it ended with instead
    if (err instanceof SignalingError && err.code === 'finished' && err.record?.finished) {
      const r = err.record;
      const f = r.finished!;
      const download = `${server}/api/sessions/${encodeURIComponent(flags.session)}/snapshot`;
      if (flags.json) event({ event: 'ended', rounds: f.round, hash: f.hash, accuracy: r.eval?.accuracy ?? null, snapshot: r.snapshot?.round ?? null, download });
      else for (const line of describeRecord(flags.session, f.round, r)) note(line);
      throw new CliError(`session ${flags.session} had already finished; nothing was trained here (signvote session download ${flags.session} saves its parameters)`, EXIT.finished);
    }
    // the config fetch names its cause; a certificate refused is not worth trying again
    const cert = err instanceof SignalingError && err.code === 'connect' ? /: ([A-Z_]+)$/.exec(err.message)?.[1] : undefined;
    if (cert !== undefined && isCertificateError(cert)) throw new CliError(untrustedCertificate(server, cert), EXIT.usage);
    throw err;
  });
  wire = () => peer.transportStats();
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
  const outcome = await Promise.race([
    peer.finished.then(
      () => null,
      (e: unknown) => (e instanceof SessionEndedError ? e : new SessionEndedError('dropped', e instanceof Error ? e.message : String(e))),
    ),
    lost,
  ]);
  if (outcome instanceof SessionEndedError) {
    // diverged: this peer cannot reach the state the session record holds (exit 6); dropped: it
    // was not counted for too long; failed: its gradient cannot be computed (exit 1). The reason
    // is in the gave-up event/line.
    return exit(outcome.kind === 'diverged' ? EXIT.diverged : EXIT.error);
  }
  if (outcome !== null) {
    if (flags.json) event({ event: 'left', reason: outcome });
    else note(`left the session: ${outcome}`);
    return exit(lostCode);
  }
  let exportFailed = false;
  if (exportPath !== undefined) {
    // the parameters every finisher holds (one hash), as a standalone forward ONNX graph
    const path = exportPath;
    const bytes = exportOnnx(peer.model, peer.session.state().x, { data: peer.config.data });
    try {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, bytes);
    } catch (err) {
      // checked before joining; a disk that filled or a folder removed since still names the flag
      const hint = `signvote session download ${flags.session} saves the final parameters as a checkpoint`;
      if (flags.json) event({ event: 'error', error: `--export ${flags.export}: ${(err as Error).message}` });
      else note(`--export ${flags.export}: cannot write it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); ${hint}`);
      // the others still need this peer's last messages: it ends as usual below, then exits 1
      exportFailed = true;
    }
    if (!exportFailed && flags.json) event({ event: 'exported', path, bytes: bytes.length, hash: peer.session.state().hash, accuracy: lastAccuracy ?? null });
    else if (!exportFailed) note(`exported the trained model to ${path} (${formatBytes(bytes.length)}${lastAccuracy === undefined ? '' : `, test accuracy ${(100 * lastAccuracy).toFixed(1)}% on this peer's held-out data`})`);
  }
  // what this peer sent last (the aggregator's last verdict, a range aggregator's part of it)
  // must leave before its channels close: a member still waiting for it would otherwise take
  // the end from the stored snapshot. First every send is taken by the data channels (bounded:
  // a member that stopped reading must not keep a finished peer), then a moment for the
  // channels' own buffers to empty
  await peer.session.flushed(FLUSH_MS);
  await new Promise((r) => setTimeout(r, 200));
  // and its upload of the final parameters must arrive (80 MB at d = 10M), within reason
  await Promise.race([peer.settled(), new Promise((r) => setTimeout(r, 60_000).unref())]);
  exit(exportFailed ? EXIT.error : EXIT.ok);
}
