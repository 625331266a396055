import { useState } from 'react';
import type { SessionConfig, TrainTest } from '@signvote/core';
import type { DataAnswer, PickedFile, PrepareRequest } from './data-protocol';

interface Props {
  readonly server: string;
  readonly config: SessionConfig;
  /** the prepared data: the peer starts with it and joins the vote */
  readonly onJoin: (data: TrainTest) => void;
}

/**
 * A session whose peers bring their own data: before this tab joins, the user picks a CSV file
 * or a folder of images; a worker decodes it as the session says, and the page shows the
 * samples per class (and any file, line or column that does not fit) before the vote is joined.
 * The files never leave the tab.
 */
export function DataPicker({ server, config, onJoin }: Props) {
  const spec = config.data!;
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [ready, setReady] = useState<Extract<DataAnswer, { ok: true }> | null>(null);

  const prepare = (source: PrepareRequest['source']) => {
    setBusy(true);
    setError(null);
    setReady(null);
    const worker = new Worker(new URL('./data-worker.ts', import.meta.url), { type: 'module', name: 'signvote-data' });
    worker.onmessage = (e: MessageEvent<DataAnswer>) => {
      worker.terminate();
      setBusy(false);
      if (e.data.ok) setReady(e.data);
      else setError(e.data.error);
    };
    worker.onerror = (e) => {
      e.preventDefault();
      worker.terminate();
      setBusy(false);
      setError(`the data worker crashed: ${e.message || 'unknown error'}`);
    };
    worker.postMessage({ server, config, source } satisfies PrepareRequest);
  };

  const pickCsv = (files: FileList | null) => {
    const file = files?.[0];
    if (file) prepare({ kind: 'csv', file: { path: file.name, file } });
  };
  const pickFolder = (files: FileList | null) => {
    if (!files || files.length === 0) return;
    const picked: PickedFile[] = [];
    let folder = '';
    for (const file of Array.from(files)) {
      // "pics/zero/001.png": the picked folder, then the path inside it
      const parts = (file.webkitRelativePath || file.name).split('/');
      folder ||= parts.length > 1 ? parts[0] : 'images';
      picked.push({ path: parts.length > 1 ? parts.slice(1).join('/') : file.name, file });
    }
    prepare({ kind: 'images', folder, files: picked });
  };

  const total = ready ? ready.train.count + ready.test.count : 0;
  return (
    <section className="panel data-picker" aria-labelledby="data-title">
      <h1 id="data-title">Your data for this session</h1>
      <p className="lede">
        Each peer trains on its own data, which never leaves this tab. This session expects{' '}
        {spec.format === 'csv' ? (
          <>
            a <strong>CSV file</strong> with a header row, numeric feature columns and the label column{' '}
            <code>{spec.labelColumn ?? '(the last one)'}</code>
          </>
        ) : (
          <>
            a <strong>folder of images</strong> (PNG or JPEG) with one sub-folder per class, resized to {spec.width}×{spec.height}
            {spec.channels === 1 ? ', grey' : ', colour'}
            {spec.invert ? ', inverted' : ''}
          </>
        )}
        ; classes: <span data-testid="data-classes">{spec.classes.join(', ')}</span>. {Math.round(100 * spec.testFraction)}% of each class is held out to measure this peer's accuracy.
      </p>
      <div className="field">
        {spec.format === 'csv' ? (
          <>
            <label htmlFor="data-file">CSV file</label>
            <input id="data-file" type="file" accept=".csv,text/csv" data-testid="data-file" disabled={busy} onChange={(e) => pickCsv(e.target.files)} />
          </>
        ) : (
          <>
            <label htmlFor="data-folder">Image folder</label>
            <input
              id="data-folder"
              type="file"
              data-testid="data-folder"
              disabled={busy}
              multiple
              ref={(el) => el?.setAttribute('webkitdirectory', '')}
              onChange={(e) => pickFolder(e.target.files)}
            />
          </>
        )}
      </div>
      {busy && <p role="status">Reading and checking the data…</p>}
      {error && (
        <p className="error" role="alert" data-testid="data-error">
          {error}
        </p>
      )}
      {ready && (
        <>
          <table className="peers" data-testid="data-counts" data-train={ready.train.count} data-test={ready.test.count}>
            <thead>
              <tr>
                <th scope="col">Class</th>
                <th scope="col">Samples</th>
              </tr>
            </thead>
            <tbody>
              {ready.counts.map((c) => (
                <tr key={c.name} data-testid="data-count" data-class={c.name} data-count={c.count}>
                  <td>{c.name}</td>
                  <td>{c.count}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <p className="hint">
            {total} samples: {ready.train.count} to train on, {ready.test.count} held out to test.
          </p>
          <div className="actions">
            <button type="button" className="primary" data-testid="join-vote" onClick={() => onJoin({ train: ready.train, test: ready.test })}>
              Join the vote
            </button>
          </div>
        </>
      )}
    </section>
  );
}
