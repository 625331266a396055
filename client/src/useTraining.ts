import { useCallback, useEffect, useMemo, useRef, useSyncExternalStore } from 'react';
import type { SessionRecordView, TrainTest } from '@signvote/core';
import { fetchEvalHistory } from './api';
import { startBrowserPeer, type BrowserPeer } from './browser-peer';
import type { BackendChoice } from './oracle-protocol';
import { SessionModel, type SessionSnapshot } from './session-model';

export interface Training {
  readonly snapshot: SessionSnapshot;
  readonly model: SessionModel;
  start(): void;
  pause(): void;
  resume(): void;
  leave(): void;
  /** this tab's peer while it runs (export, predict), else null */
  peer(): BrowserPeer | null;
}

/** How often (in rounds) the first-layer weight pictures are refreshed. */
const weightsEvery = 5;

/**
 * This tab's peer, folded into a SessionModel for the view. The peer starts when the view
 * mounts: opening a join link joins.
 */
export function useTraining(
  server: string,
  session: string,
  token: string,
  backend: BackendChoice,
  localData?: TrainTest,
  /** the session finished before this tab joined */
  onEnded?: (record: SessionRecordView) => void,
  /** other server processes of the session, for when `server` goes away */
  fallbacks: readonly string[] = [],
): Training {
  // a new array each render must not restart the peer
  const fallbackKey = fallbacks.join(',');
  const model = useMemo(() => new SessionModel(), []);
  const peer = useRef<BrowserPeer | null>(null);
  // read when it fires: a new callback must not restart the peer
  const ended = useRef(onEnded);
  ended.current = onEnded;

  const leave = useCallback(() => {
    const p = peer.current;
    peer.current = null;
    if (!p) return;
    model.apply({ type: 'state', state: 'left' });
    void p.leave();
  }, [model]);

  const start = useCallback(() => {
    // one tab is one peer: a restart after an error or leaving replaces the old one
    void peer.current?.leave();
    peer.current = startBrowserPeer({
      server,
      fallbacks: fallbackKey ? fallbackKey.split(',') : [],
      session,
      token,
      backend,
      weightsEvery,
      localData,
      onMessage: (m) => model.apply(m),
      onEnded: (record) => ended.current?.(record),
    });
  }, [model, server, fallbackKey, session, token, backend, localData]);

  useEffect(() => {
    start();
    return () => {
      void peer.current?.leave();
      peer.current = null;
    };
  }, [start]);

  // a tab that joins a running session charts it from round 0: the record's evaluations before
  // this tab's first round are seeded once (the history is a nicety; without it the charts
  // start at the join round, so a failed fetch is only logged)
  useEffect(() => {
    let live = true;
    fetchEvalHistory(server, session, token).then(
      (evals) => {
        if (live) model.seedHistory(evals);
      },
      (err: unknown) => {
        if (live) model.apply({ type: 'log', message: `no chart history: ${err instanceof Error ? err.message : String(err)}` });
      },
    );
    return () => {
      live = false;
    };
  }, [model, server, session, token]);

  // a closing tab leaves cleanly, so the others re-elect at once instead of after a timeout
  useEffect(() => {
    const onHide = () => void peer.current?.leave();
    window.addEventListener('pagehide', onHide);
    return () => window.removeEventListener('pagehide', onHide);
  }, []);

  const snapshot = useSyncExternalStore(model.subscribe, model.getSnapshot);
  return {
    snapshot,
    model,
    start,
    pause: () => {
      peer.current?.pause();
      model.apply({ type: 'state', state: 'paused' });
    },
    resume: () => {
      peer.current?.resume();
      model.apply({ type: 'state', state: 'training' });
    },
    leave,
    peer: () => peer.current,
  };
}
