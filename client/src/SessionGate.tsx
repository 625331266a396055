import { useEffect, useState } from 'react';
import { fetchSessionConfig, type SessionConfig, type SessionRecordView, type TrainTest } from '@signvote/core';
import { fetchSessionRecord } from './api';
import { DataPicker } from './DataPicker';
import { FinishedView } from './FinishedView';
import { SessionView } from './SessionView';

interface Props {
  readonly server: string;
  /** other server processes of the session, for when `server` goes away */
  readonly fallbacks?: readonly string[];
  readonly session: string;
  readonly token: string;
  readonly onLeave: () => void;
}

/**
 * Reads the session's config and record before this tab joins: a finished session is shown as
 * such (FinishedView) and joins nothing; a session whose peers bring their own data first asks
 * for it (DataPicker); any other starts the peer at once (SessionView).
 */
export function SessionGate(props: Props) {
  const [config, setConfig] = useState<SessionConfig | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [data, setData] = useState<TrainTest | null>(null);
  // undefined until read; null when unreadable (the join then says what is wrong)
  const [record, setRecord] = useState<SessionRecordView | null | undefined>(undefined);

  useEffect(() => {
    let live = true;
    fetchSessionConfig(props.server, props.session, props.token).then(
      (c) => live && setConfig(c),
      (err: unknown) => {
        if (!live) return;
        const code = (err as { code?: string }).code;
        setFailure(code === 'unknown-session' ? 'this session does not exist (it may have expired)' : code === 'bad-token' ? 'the join link has a wrong token' : (err as Error).message);
      },
    );
    fetchSessionRecord(props.server, props.session, props.token).then(
      (status) => live && setRecord(status.record),
      () => live && setRecord(null),
    );
    return () => {
      live = false;
    };
  }, [props.server, props.session, props.token]);

  if (failure) {
    return (
      <section className="panel" role="alert">
        <h1>Cannot open this session</h1>
        <p className="state state-error">
          <span data-testid="state" data-state="error">
            {failure}
          </span>
        </p>
        <button type="button" onClick={props.onLeave}>
          New session
        </button>
      </section>
    );
  }
  if (!config || record === undefined) return <p className="panel">Reading the session…</p>;
  if (record?.finished) return <FinishedView {...props} config={config} record={record} />;
  if (config.data && !data) return <DataPicker server={props.server} config={config} onJoin={setData} />;
  return <SessionView {...props} config={config} localData={data ?? undefined} onEnded={setRecord} />;
}
