import { useCallback, useEffect, useRef } from 'react';
import type { SessionConfig, SessionRecordView, TrainTest } from '@signvote/core';
import { ModelTools } from './ModelTools';
import type uPlot from 'uplot';
import { Chart } from './Chart';
import { Fact } from './Fact';
import type { BackendChoice } from './oracle-protocol';
import { shareLink } from './api';
import { rememberSession } from './known-sessions';
import { ShareLink, useServerInfo } from './ShareLink';
import { StartNow } from './StartNow';
import { formatDuration, formatRate } from '@signvote/core';
import type { SessionSnapshot } from './session-model';
import { aggregatorRecentlyChanged, describeRole, describeSplit, describeState, recentlyNotCounted, short } from './session-text';
import { useTraining } from './useTraining';
import { WeightGrid } from './WeightGrid';

interface Props {
  readonly server: string;
  /** other server processes of the session, for when `server` goes away */
  readonly fallbacks?: readonly string[];
  readonly session: string;
  readonly token: string;
  readonly onLeave: () => void;
  readonly config: SessionConfig;
  /** this tab's own data (sessions whose peers bring their own) */
  readonly localData?: TrainTest;
  /** the session finished before this tab could join: show it finished */
  readonly onEnded?: (record: SessionRecordView) => void;
}

export function SessionView({ server, fallbacks, session, token, onLeave, config, localData, onEnded }: Props) {
  const t = useTraining(server, session, token, backendChoice(), localData, onEnded, fallbacks);
  const info = useServerInfo(server);
  const s = t.snapshot;
  const x = t.model.series;
  const fp32 = s.d === null ? null : 4 * s.d;

  const lossData = useCallback((): uPlot.AlignedData => [x.round, x.loss, x.testLoss], [x]);
  const accData = useCallback((): uPlot.AlignedData => [x.round, x.accuracy.map((a) => (a === null ? null : 100 * a))], [x]);
  const msData = useCallback((): uPlot.AlignedData => [x.round, x.ms], [x]);
  const bytesData = useCallback(
    // a log scale has no zero: rounds this peer sent nothing are gaps
    (): uPlot.AlignedData => [x.round, x.bytesUp.map(positive), x.bytesDown.map(positive), x.round.map(() => fp32)],
    [x, fp32],
  );

  // the home page lists the sessions this browser has links for
  useEffect(() => rememberSession(session, token), [session, token]);

  useEffect(() => {
    // a background tab's title says how its peer is doing
    const acc = s.accuracy === null ? '' : ` · ${(100 * s.accuracy).toFixed(0)}%`;
    const round = s.round < 0 ? '' : ` · round ${s.round + 1}${s.totalRounds ? `/${s.totalRounds}` : ''}`;
    document.title = `${s.state === 'training' ? 'training' : s.state}${round}${acc} · signvote`;
    return () => {
      document.title = 'signvote';
    };
  }, [s.state, s.round, s.totalRounds, s.accuracy]);

  const running = s.state === 'connecting' || s.state === 'waiting' || s.state === 'training';
  const canStart = s.state === 'idle' || s.state === 'left' || s.state === 'error';

  // a pressed button that turns disabled would drop keyboard focus to <body>: it moves to the
  // control that takes over (Pause -> Resume, Resume -> Pause, Leave -> Start, Start -> Leave)
  const buttons = { start: useRef<HTMLButtonElement>(null), pause: useRef<HTMLButtonElement>(null), leave: useRef<HTMLButtonElement>(null) };
  const focusNext = useRef<keyof typeof buttons | null>(null);
  useEffect(() => {
    const next = focusNext.current && buttons[focusNext.current].current;
    if (!next || next.disabled) return;
    focusNext.current = null;
    next.focus();
  });
  const then = (action: () => void, focus: keyof typeof buttons) => () => {
    focusNext.current = focus;
    action();
  };

  return (
    <div className="session">
      <div className="session-top">
        <section className="panel status" aria-labelledby="session-title">
          <h1 id="session-title">
            Session <code data-testid="session-id">{session}</code>
          </h1>
          <p className={`state state-${s.state}`} role="status" aria-live="polite">
            <span data-testid="state" data-state={s.state}>
              {describeState(s)}
            </span>
          </p>
          {aggregatorRecentlyChanged(s) && (
            <p className="notice" data-testid="aggregator-changed">
              Aggregator changed: {short(s.previousAggregator)} → {short(s.aggregator)} (term {s.term}).
            </p>
          )}
          {recentlyNotCounted(s) && s.notCounted && (
            <p className="notice" data-testid="not-counted" data-round={s.notCounted.round}>
              This tab's ballot for round {s.notCounted.round + 1} arrived after the deadline and was not counted.
            </p>
          )}
          <dl className="facts">
            <Fact label="Round" testId="round" value={s.round < 0 ? '—' : `${s.round + 1}${s.totalRounds ? ` / ${s.totalRounds}` : ''}`} raw={s.round + 1} />
            <Fact label="Pace" testId="rate" value={s.rate === null ? '—' : formatRate(s.rate)} raw={s.rate ?? ''} />
            <Fact
              label="Time left"
              testId="eta"
              value={s.state === 'finished' ? 'done' : s.etaMs === null || s.state !== 'training' ? '—' : formatDuration(s.etaMs)}
              raw={s.etaMs ?? ''}
            />
            <Fact label="Test accuracy" testId="accuracy" value={s.accuracy === null ? '—' : `${(100 * s.accuracy).toFixed(1)}%`} raw={s.accuracy ?? ''} />
            <Fact label="Train loss" testId="loss" value={s.loss === null ? '—' : s.loss.toFixed(3)} raw={s.loss ?? ''} />
            <Fact
              label="My role"
              testId="role"
              value={s.role === null ? '—' : describeRole(s.role, s.voteShard)}
              raw={s.role ?? ''}
              title={s.voteShard !== null && s.voteShard.of > 1 ? `this peer tallies coordinates [${s.voteShard.start}, ${s.voteShard.end}) of every ballot` : undefined}
            />
            <Fact
              label="Vote shards"
              testId="vote-shards"
              value={describeSplit(s.split, s.d)}
              raw={s.split?.k ?? ''}
              title={s.split === null ? undefined : `asked ${s.split.asked}; a term has k = min(asked, members, ceil(d/8)) ranges, each tallied by one member`}
            />
            <Fact label="Aggregator" testId="aggregator" value={short(s.aggregator)} raw={s.aggregator ?? ''} title={s.aggregator ?? undefined} />
            <Fact label="Term" testId="term" value={s.term < 0 ? '—' : String(s.term)} raw={s.term} />
            <Fact label="Backend" testId="backend" value={s.backend ?? '—'} raw={s.backend ?? ''} note={s.backendReason ?? undefined} />
            <Fact label="Parameter hash" testId="hash" value={s.hash ?? '—'} raw={s.hash ?? ''} mono />
            <Fact label="Peer id" testId="peer-id" value={short(s.peerId)} raw={s.peerId ?? ''} title={s.peerId ?? undefined} />
            <Fact label="Algorithm" testId="algorithm" value={s.algorithm ? `${s.algorithm} · ${s.model ?? ''}` : '—'} raw={s.algorithm ?? ''} />
          </dl>
          <div className="actions">
            <button
              type="button"
              className="primary"
              ref={buttons.start}
              onClick={s.state === 'paused' ? then(t.resume, 'pause') : then(t.start, 'leave')}
              disabled={!canStart && s.state !== 'paused'}
              data-testid="start"
            >
              {s.state === 'paused' ? 'Resume' : 'Start'}
            </button>
            <button type="button" ref={buttons.pause} onClick={then(t.pause, 'start')} disabled={s.state !== 'training'} data-testid="pause">
              Pause
            </button>
            <button type="button" ref={buttons.leave} onClick={then(t.leave, 'start')} disabled={!running && s.state !== 'paused'} data-testid="leave">
              Leave
            </button>
            <button type="button" onClick={onLeave}>
              New session
            </button>
          </div>
          <StartNow server={server} session={session} waiting={s.state === 'waiting'} present={s.peers.length} expected={s.expectedPeers} />
        </section>
        <section className="panel invite" aria-labelledby="invite-title">
          <h2 id="invite-title">{s.state === 'finished' ? 'Session finished' : 'Invite peers'}</h2>
          {s.state === 'finished' ? (
            <p className="hint" data-testid="invite-finished">
              This session has run all its rounds: nobody can join it any more. Download the model below, or start a new session.
            </p>
          ) : (
            <ShareLink link={shareLink(window.location.href, info, session, token, fallbacks)} info={info} />
          )}
        </section>
      </div>

      <section className="panel" aria-labelledby="peers-title">
        <h2 id="peers-title">Peers</h2>
        <div className="scroll-x">
          <PeersTable s={s} />
        </div>
      </section>

      <section className="panel charts" aria-labelledby="charts-title">
        <h2 id="charts-title">Training</h2>
        <div className="chart-grid">
          <Chart
            title="Loss"
            testId="chart-loss"
            series={[
              { label: 'train (this peer)', color: '#c0392b' },
              { label: 'test', color: '#27ae60', points: true },
            ]}
            data={lossData}
            version={s.seriesVersion}
            yLabel="cross-entropy"
          />
          <Chart
            title="Test accuracy"
            testId="chart-accuracy"
            series={[{ label: 'accuracy %', color: '#27ae60', points: true }]}
            data={accData}
            version={s.seriesVersion}
            yLabel="%"
            yRange={[0, 100]}
          />
          <Chart title="Round time" testId="chart-ms" series={[{ label: 'ms', color: '#2c3e50' }]} data={msData} version={s.seriesVersion} yLabel="ms" />
          <Chart
            title="Bytes per round (log scale)"
            testId="chart-bytes"
            series={[
              { label: 'up', color: '#2980b9' },
              { label: 'down', color: '#8e44ad' },
              { label: 'fp32 (4d)', color: '#7f8c8d', dash: [6, 4] },
            ]}
            data={bytesData}
            version={s.seriesVersion + (fp32 ?? 0)}
            yLabel="bytes"
            format={formatBytes}
            log
          />
        </div>
      </section>

      <ModelTools training={t} config={config} />

      <section className="panel" aria-labelledby="weights-title">
        <h2 id="weights-title">What the first layer learns</h2>
        <WeightGrid frame={s.weights} />
      </section>

      {s.log.length > 0 && (
        <section className="panel" aria-labelledby="log-title">
          <h2 id="log-title">Log</h2>
          <ol className="log" data-testid="log">
            {s.log.map((line, i) => (
              <li key={i}>{line}</li>
            ))}
          </ol>
        </section>
      )}
    </div>
  );
}

function formatBytes(v: number): string {
  return v >= 1e6 ? `${v / 1e6} MB` : v >= 1e3 ? `${v / 1e3} kB` : `${v} B`;
}

function positive(v: number | null): number | null {
  return v !== null && v > 0 ? v : null;
}

/** `?backend=wasm|webgpu` forces a backend (comparisons, broken GPU drivers); default auto. */
function backendChoice(): BackendChoice {
  const named = new URLSearchParams(window.location.search).get('backend');
  return named === 'wasm' || named === 'webgpu' ? named : 'auto';
}

function PeersTable({ s }: { s: SessionSnapshot }) {
  if (s.peers.length === 0) return <p className="hint">No peers yet.</p>;
  return (
    <table className="peers" data-testid="peers">
      <thead>
        <tr>
          <th scope="col">Peer</th>
          <th scope="col">Role</th>
          <th scope="col">Backend</th>
          <th scope="col" title="rounds since this tab joined whose verdict counted the peer's ballot">
            Rounds voted
          </th>
          <th scope="col" title="from the round's opening at the aggregator to the arrival of the peer's last counted ballot">
            Last ballot latency
          </th>
          <th scope="col" title="share of coordinates on which the peer's recent ballots agreed with the verdict (moving average); flagged when far below the rest">
            Vote agreement
          </th>
        </tr>
      </thead>
      <tbody>
        {s.peers.map((p) => (
          <tr key={p.id} data-testid="peer-row" data-peer={p.id} data-role={p.role} data-vote-shard={p.voteShard?.index ?? ''} data-self={p.self} data-voted={p.voted ?? ''} data-latency={p.latencyMs ?? ''} data-agreement={p.agreement ?? ''} data-low-agreement={p.lowAgreement === true} className={[p.self ? 'self' : '', p.lowAgreement ? 'low-agreement' : ''].filter(Boolean).join(' ') || undefined}>
            <td title={p.id}>
              {short(p.id)}
              {p.self ? ' (this tab)' : p.label ? ` (${p.label})` : ''}
            </td>
            <td>{describeRole(p.role, p.voteShard)}</td>
            <td>{p.backend ?? '—'}</td>
            <td>{p.voted ?? '—'}</td>
            <td>{p.latencyMs === undefined ? '—' : `${Math.round(p.latencyMs)} ms`}</td>
            <td title={p.lowAgreement ? 'far below the other peers: it often votes against the group' : undefined}>
              {p.agreement === undefined ? '—' : `${(100 * p.agreement).toFixed(1)}%`}
              {p.lowAgreement ? ' ⚠ low' : ''}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
