import { Component, lazy, Suspense, useCallback, useEffect, useState, type ReactNode } from 'react';
import { readJoinParams, type JoinParams } from './api';
import { CreateSession } from './CreateSession';
import { SessionList } from './SessionList';

// the session view carries the whole peer (signaling, WebRTC, protocol); the form needs none of it
const SessionGate = lazy(() => import('./SessionGate').then((m) => ({ default: m.SessionGate })));

/** The signaling server: the origin that served this page, unless a dev build points elsewhere. */
export function serverUrl(): string {
  return import.meta.env.VITE_SIGNALING_URL ?? window.location.origin;
}

export function App() {
  const [join, setJoin] = useState<JoinParams | null>(() => readJoinParams(window.location.search));

  useEffect(() => {
    const onPop = () => setJoin(readJoinParams(window.location.search));
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);

  const open = useCallback((link: string) => {
    const url = new URL(link, window.location.href);
    window.history.pushState(null, '', `${window.location.pathname}${url.search}`);
    setJoin(readJoinParams(url.search));
  }, []);

  const home = useCallback(() => {
    window.history.pushState(null, '', window.location.pathname);
    setJoin(null);
  }, []);

  return (
    <>
      <header className="top">
        <a
          href={window.location.pathname}
          className="brand"
          onClick={(e) => {
            e.preventDefault();
            home();
          }}
        >
          signvote
        </a>
        <span className="tagline">peer-to-peer training on one bit per parameter</span>
      </header>
      <main>
        <Crashed>
          {join ? (
            <Suspense fallback={<p className="panel">Loading the session view…</p>}>
              <SessionGate key={`${join.session}/${join.token}`} server={serverUrl()} fallbacks={join.servers} session={join.session} token={join.token} onLeave={home} />
            </Suspense>
          ) : (
            <div className="home">
              <SessionList server={serverUrl()} onOpen={open} />
              <CreateSession server={serverUrl()} onOpen={open} />
            </div>
          )}
        </Crashed>
      </main>
    </>
  );
}

/** A rendering bug shows a sentence and a way out instead of a blank page. */
class Crashed extends Component<{ children: ReactNode }, { error: Error | null }> {
  override state = { error: null as Error | null };

  static getDerivedStateFromError(error: Error) {
    return { error };
  }

  override render() {
    if (!this.state.error) return this.props.children;
    return (
      <section className="panel" role="alert">
        <h1>Something went wrong on this page</h1>
        <p className="error">{this.state.error.message}</p>
        <button type="button" onClick={() => window.location.reload()}>
          Reload
        </button>
      </section>
    );
  }
}
