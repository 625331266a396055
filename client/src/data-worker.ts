/// <reference lib="webworker" />
import { createModel, DataError, fetchModelFile, prepareLocalData, sessionModelSpec, type LocalSource } from '@signvote/core';
import type { DataAnswer, PrepareRequest } from './data-protocol';

/**
 * The data worker: reads the files a user picked, fetches and checks the session's model (for
 * its input shape and classes), and prepares the data as the session says (core/src/data/local:
 * csv-parse, fast-png, jpeg-js), so a folder of thousands of images decodes off the page's
 * thread. One request per worker; the page starts a fresh worker for another pick.
 */

const scope = self as unknown as DedicatedWorkerGlobalScope;

scope.onmessage = (e: MessageEvent<PrepareRequest>) => {
  prepare(e.data).then(
    (answer) => scope.postMessage(answer, answer.ok ? [answer.train.inputs.buffer, answer.train.labels.buffer, answer.test.inputs.buffer, answer.test.labels.buffer] : []),
    (err: unknown) => scope.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err), ...(err instanceof DataError ? { file: err.file } : {}) } satisfies DataAnswer),
  );
};

async function prepare({ server, config, source }: PrepareRequest): Promise<DataAnswer> {
  const spec = config.data;
  if (!spec) throw new Error('this session trains on the server\'s data, not on files of yours');
  const bytes = config.modelFile ? await fetchModelFile(server, config.modelFile) : undefined;
  const model = createModel(sessionModelSpec(config, bytes));
  const read = async (f: { path: string; file: File }) => ({ path: f.path, bytes: new Uint8Array(await f.file.arrayBuffer()) });
  const local: LocalSource = source.kind === 'csv'
    ? { kind: 'csv', file: source.file.path, bytes: (await read(source.file)).bytes }
    : { kind: 'images', folder: source.folder, files: await Promise.all(source.files.map(read)) };
  const data = prepareLocalData(spec, local, model, config.seed);
  const plain = (d: typeof data.train) => ({ name: d.name, inputs: d.inputs, labels: d.labels, count: d.count, inputShape: [...d.inputShape], numClasses: d.numClasses });
  return { ok: true, train: plain(data.train), test: plain(data.test), counts: data.counts };
}
