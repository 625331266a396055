import { useEffect, useState } from 'react';
import { fetchListedSessions, fetchSessionStatus, joinLink, type SessionSummary } from './api';
import { forgetSessions, knownSessions } from './known-sessions';

/**
 * The home page's list of sessions on this server: the listed ones (anyone may join) and the
 * private ones this browser created or joined, each with its state, peers and progress.
 */

interface Row extends SessionSummary {
  readonly token: string;
  readonly listed: boolean;
}

const refreshMs = 3000;

export function SessionList({ server, onOpen }: { server: string; onOpen: (link: string) => void }) {
  const [rows, setRows] = useState<Row[] | null>(null);
  const [failure, setFailure] = useState<string | null>(null);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        const known = knownSessions();
        const [listed, mine] = await Promise.all([fetchListedSessions(server), fetchSessionStatus(server, known)]);
        forgetSessions(mine.missing);
        const tokens = new Map(known.map((k) => [k.id, k.token]));
        const byId = new Map<string, Row>();
        for (const s of mine.sessions) byId.set(s.id, { ...s, token: tokens.get(s.id) ?? '', listed: false });
        for (const s of listed) byId.set(s.id, { ...s, listed: true });
        if (!stopped) {
          setRows([...byId.values()].sort((a, b) => b.createdAt - a.createdAt));
          setFailure(null);
        }
      } catch (err) {
        if (!stopped) setFailure((err as Error).message);
      } finally {
        if (!stopped) timer = setTimeout(() => void load(), refreshMs);
      }
    };
    void load();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [server]);

  return (
    <section className="panel sessions" aria-labelledby="sessions-title" data-testid="session-list">
      <h2 id="sessions-title">Sessions on this server</h2>
      {failure && (
        <p className="error" role="alert">
          Could not load the sessions: {failure}
        </p>
      )}
      {rows === null ? (
        <p className="hint">Loading…</p>
      ) : rows.length === 0 ? (
        <p className="hint">
          None yet. Sessions created here appear in this browser; a session created as listed appears for everyone who opens this server.
        </p>
      ) : (
        <ul className="session-items">
          {rows.map((r) => (
            <SessionItem key={r.id} row={r} onOpen={onOpen} />
          ))}
        </ul>
      )}
    </section>
  );
}

const stateLabels: Record<string, string> = { waiting: 'Waiting for peers', running: 'Running', finished: 'Finished' };

function SessionItem({ row, onOpen }: { row: Row; onOpen: (link: string) => void }) {
  const link = joinLink(window.location.href, row.id, row.token);
  const progress = row.round === null ? null : Math.min(row.round + 1, row.rounds);
  return (
    <li className="session-item" data-testid="session-item" data-session={row.id} data-state={row.state} data-peers={row.peers} data-listed={row.listed}>
      <div className="session-head">
        <code>{row.id}</code>
        <span className={`badge badge-${row.state}`}>{stateLabels[row.state] ?? row.state}</span>
        <span className="hint">{row.listed ? 'listed: anyone here can join' : 'private: opened or created in this browser'}</span>
      </div>
      <div className="session-facts">
        <span>
          {row.peers} of {row.expectedPeers} peers
        </span>
        <span>{progress === null ? `${row.rounds} rounds` : `round ${progress} of ${row.rounds}`}</span>
        <span>
          {row.model} · {row.dataset} · {row.algorithm}
        </span>
      </div>
      {progress !== null && <progress max={row.rounds} value={progress} aria-label={`session ${row.id} progress`} />}
      <a
        href={link}
        className="button"
        onClick={(e) => {
          e.preventDefault();
          onOpen(link);
        }}
      >
        Join
      </a>
    </li>
  );
}
