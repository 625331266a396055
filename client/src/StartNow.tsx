import { useEffect, useRef, useState } from 'react';
import { startSessionNow } from './api';
import { creatorKey } from './known-sessions';
import { plural } from './session-text';

/**
 * The creator's "Start now (n of N here)": a session waits for `expectedPeers` before its first
 * round, and its creator may start it with the peers present instead (POST
 * /api/sessions/ID/start with the creator key; the server then splits the training set over
 * them). Shown only while this tab waits, and only in the browser that created the session:
 * the key is read from localStorage (known-sessions.ts) when the button is drawn and again when
 * it is pressed, so a reload keeps it and a stale key gets the server's refusal, not a guess.
 */

interface Props {
  readonly server: string;
  readonly session: string;
  /** this tab's peer waits for the session to start */
  readonly waiting: boolean;
  /** peers present (this tab among them) and the count the session waits for */
  readonly present: number;
  readonly expected: number | null;
}

export function StartNow({ server, session, waiting, present, expected }: Props) {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [started, setStarted] = useState<string | null>(null);
  // back to waiting (everyone left, then this tab joined again): that start is history, the
  // button is live again
  const wasWaiting = useRef(waiting);
  useEffect(() => {
    if (waiting && !wasWaiting.current) {
      setStarted(null);
      setProblem(null);
    }
    wasWaiting.current = waiting;
  }, [waiting]);

  const start = async () => {
    const admin = creatorKey(session);
    if (!admin) {
      setProblem('this browser no longer holds the creator key of this session');
      return;
    }
    setBusy(true);
    setProblem(null);
    try {
      const answer = await startSessionNow(server, session, admin);
      const shards = answer.record.shards ?? answer.members;
      setStarted(`Started with ${plural(answer.members, 'peer')}: the training set is split into ${plural(shards, 'shard')}.`);
    } catch (err) {
      setProblem((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const show = waiting && creatorKey(session) !== null;
  if (!show && !problem && !started) return null;
  return (
    <div className="start-now">
      {show && (
        <button type="button" className="primary" onClick={() => void start()} disabled={busy || started !== null} data-testid="start-now" data-present={present}>
          {busy ? 'Starting…' : `Start now (${present}${expected === null ? '' : ` of ${expected}`} here)`}
        </button>
      )}
      {show && !started && <span className="hint">you created this session: start it with the peers here instead of waiting for all of them</span>}
      {started && (
        <p className="notice" role="status" data-testid="start-now-done">
          {started}
        </p>
      )}
      {problem && (
        <p className="error" role="alert" data-testid="start-now-error">
          Could not start the session: {problem}
        </p>
      )}
    </div>
  );
}
