import { Component, lazy, Suspense, useCallback, useEffect, useState, type ReactNode } from 'react';
import { readJoinLink } from './api';
import { CreateSession } from './CreateSession';
import { SessionList } from './SessionList';

// the session view carries the whole peer (signaling, WebRTC, protocol); the form needs none of it
const SessionGate = lazy(() => import('./SessionGate').then((m) => ({ default: m.SessionGate })));

/** The signaling server: the origin that served this page, unless a dev build points elsewhere. */
export function serverUrl(): string {
  return import.meta.env.VITE_SIGNALING_URL ?? window.location.origin;
}

export function App() {
  // a session to join, a link that cannot join one (and why), or neither: the home page
  const [link, setLink] = useState(() => readJoinLink(window.location.search));
  const join = link && 'join' in link ? link.join : null;

  useEffect(() => {
    const onPop = () => setLink(readJoinLink(window.location.search));
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);

  const open = useCallback((link: string) => {
    const url = new URL(link, window.location.href);
    window.history.pushState(null, '', `${window.location.pathname}${url.search}`);
    setLink(readJoinLink(url.search));
  }, []);

  const home = useCallback(() => {
    window.history.pushState(null, '', window.location.pathname);
    setLink(null);
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
          ) : link && 'problem' in link ? (
            <section className="panel" role="alert" aria-labelledby="link-problem-title">
              <h1 id="link-problem-title">Cannot open this link</h1>
              <p className="state state-error">
                <span data-testid="state" data-state="error">
                  {link.problem}
                </span>
              </p>
              <button type="button" onClick={home}>
                Home
              </button>
            </section>
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
