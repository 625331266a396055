import { useCallback, useEffect, useState } from 'react';
import type uPlot from 'uplot';
import { sessionModelName, type EvalHistory, type SessionConfig, type SessionRecordView } from '@signvote/core';
import { fetchEvalHistory } from './api';
import { Chart } from './Chart';
import { Fact } from './Fact';
import { finalOnnx, loadFinalModel, type FinalModel } from './final-model';
import { saveBytes } from './save-file';

/**
 * A finished session, opened from its link: nobody trains it again (the server refuses joins),
 * so this tab starts no peer. It shows the session record's end (final round, parameter hash,
 * the last evaluation and the evaluations before it) and offers the final parameters, read from
 * the snapshot the server keeps (final-model.ts): as ONNX built in the page, and as the raw
 * checkpoint.
 */

interface Props {
  readonly server: string;
  readonly session: string;
  readonly token: string;
  readonly config: SessionConfig;
  /** the record, finished */
  readonly record: SessionRecordView;
  readonly onLeave: () => void;
}

type Loaded = { readonly state: 'loading' } | { readonly state: 'ready'; readonly model: FinalModel } | { readonly state: 'failed'; readonly reason: string };

export function FinishedView({ server, session, token, config, record, onLeave }: Props) {
  const end = record.finished;
  const [loaded, setLoaded] = useState<Loaded>({ state: 'loading' });
  const [evals, setEvals] = useState<EvalHistory['evals']>([]);
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => {
    if (!end) return;
    let live = true;
    loadFinalModel(server, session, token, config, end).then(
      (model) => live && setLoaded({ state: 'ready', model }),
      (err: unknown) => live && setLoaded({ state: 'failed', reason: err instanceof Error ? err.message : String(err) }),
    );
    // the chart is a nicety: without the history the facts still say how it ended
    fetchEvalHistory(server, session, token).then(
      (e) => live && setEvals(e),
      () => {},
    );
    return () => {
      live = false;
    };
  }, [server, session, token, config, end]);

  useEffect(() => {
    document.title = `finished · round ${end?.round ?? '?'}${record.eval ? ` · ${(100 * record.eval.accuracy).toFixed(0)}%` : ''} · signvote`;
    return () => {
      document.title = 'signvote';
    };
  }, [end, record.eval]);

  const accData = useCallback((): uPlot.AlignedData => [evals.map((e) => e.round), evals.map((e) => 100 * e.accuracy)], [evals]);

  if (!end) return null;
  const model = loaded.state === 'ready' ? loaded.model : null;
  const downloadOnnx = () => {
    if (!model) return;
    try {
      const onnx = finalOnnx(model);
      saveBytes(onnx.bytes, onnx.name);
      setProblem(null);
    } catch (err) {
      setProblem(`cannot build the ONNX file: ${(err as Error).message}`);
    }
  };
  const ev = record.eval;

  return (
    <div className="session finished" data-testid="finished-view">
      <section className="panel status" aria-labelledby="session-title">
        <h1 id="session-title">
          Session <code data-testid="session-id">{session}</code>
        </h1>
        <p className="state state-finished" role="status">
          <span data-testid="state" data-state="finished">
            Finished at round {end.round} on {new Date(end.at).toLocaleString()}; nobody trains it again.
          </span>
        </p>
        <dl className="facts">
          <Fact label="Final round" testId="round" value={`${end.round} / ${config.rounds}`} raw={end.round} />
          <Fact label="Test accuracy" testId="accuracy" value={ev ? `${(100 * ev.accuracy).toFixed(1)}%` : 'not evaluated'} raw={ev?.accuracy ?? ''} note={ev ? `after round ${ev.round}` : undefined} />
          <Fact label="Test loss" testId="test-loss" value={ev?.loss == null ? '—' : ev.loss.toFixed(3)} raw={ev?.loss ?? ''} />
          <Fact label="Parameter hash" testId="hash" value={end.hash} raw={end.hash} mono />
          <Fact label="Algorithm" testId="algorithm" value={`${config.algorithm.name} · ${sessionModelName(config)}`} raw={config.algorithm.name} />
          <Fact label="Data" testId="dataset" value={config.data ? 'each peer its own' : config.dataset} raw={config.data ? '' : config.dataset} />
        </dl>
        <div className="actions">
          <button type="button" className="primary" onClick={downloadOnnx} disabled={!model} data-testid="download-model">
            Download model (ONNX)
          </button>
          <button type="button" onClick={() => model && saveBytes(model.checkpoint, `signvote-${session}-round-${model.round}.ckpt`)} disabled={!model} data-testid="download-checkpoint">
            Download checkpoint
          </button>
          <button type="button" onClick={onLeave}>
            New session
          </button>
        </div>
        {loaded.state === 'loading' && <p className="hint">Reading the final parameters from the server…</p>}
        {model && (
          <p className="hint" data-testid="final-model" data-d={model.model.d}>
            The final parameters ({model.model.d.toLocaleString()} numbers, hash checked against the session's record). The ONNX file takes the model's input and gives <code>logits</code> and{' '}
            <code>probabilities</code>; the checkpoint continues training in a new session with <code>signvote peer --resume FILE</code>.
          </p>
        )}
        {loaded.state === 'failed' && (
          <p className="error" role="alert" data-testid="final-model-error">
            The final parameters cannot be offered: {loaded.reason}
          </p>
        )}
        {problem && (
          <p className="error" role="alert">
            {problem}
          </p>
        )}
      </section>
      {evals.length > 0 && (
        <section className="panel charts" aria-labelledby="history-title">
          <h2 id="history-title">Evaluations</h2>
          <div className="chart-grid">
            <Chart title="Test accuracy" testId="chart-history" series={[{ label: 'accuracy %', color: '#27ae60', points: true }]} data={accData} version={evals.length} yLabel="%" yRange={[0, 100]} />
          </div>
        </section>
      )}
    </div>
  );
}
