import { useEffect, useRef, useState } from 'react';
import { localDataSchema, type LocalDataSpec, type ModelFile } from '@signvote/core';

/**
 * The create form's "bring your own" fields: an ONNX file uploaded to the signaling server at
 * once (POST /api/models imports it and answers its d, input and classes, or why it cannot
 * train), and the data each peer brings (a JSON data spec: docs/data.md). Both end up in the
 * session config (`modelFile`, `data`); the form's model and dataset fields are then unused.
 */

export interface OwnChoice {
  readonly modelFile?: ModelFile;
  readonly data?: LocalDataSpec;
}

interface Uploaded extends ModelFile {
  readonly d: number;
  readonly inputShape: readonly number[];
  readonly numClasses: number;
}

export const exampleDataSpec = JSON.stringify({ format: 'csv', labelColumn: 'label', classes: ['a', 'b', 'c'], testFraction: 0.2 }, null, 1);

/** what keeps the session from being created: a model that failed (or is still) uploading, a bad spec */
export interface OwnProblem {
  /** the field's id is `field-<field>` */
  readonly field: 'modelFile' | 'dataSpec';
  readonly message: string;
}

/**
 * Reports every change to the parent: the choice, and the first problem in field order (the
 * parent blocks creation and focuses that field). Mounted afresh, it holds nothing, so a parent
 * that remounts it (a key) must forget the old choice too.
 */
export function OwnModelData({ server, onChange }: { server: string; onChange: (choice: OwnChoice, problem: OwnProblem | null) => void }) {
  const [uploaded, setUploaded] = useState<Uploaded | null>(null);
  const [uploading, setUploading] = useState(false);
  const [modelError, setModelError] = useState<string | null>(null);
  const [specText, setSpecText] = useState('');
  // an upload answers later: it reports with the spec as typed by then, not as it was when it began
  const specNow = useRef('');
  const [specError, setSpecError] = useState<string | null>(null);

  // an upload that answers after Reset (which mounts a fresh one) must not bring its model back
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);

  const report = (file: Uploaded | null, text: string, modelProblem: string | null) => {
    if (!mounted.current) return;
    const spec = parseSpec(text);
    setSpecError(spec.error);
    const problem: OwnProblem | null = modelProblem
      ? { field: 'modelFile', message: modelProblem }
      : spec.error
        ? { field: 'dataSpec', message: spec.error }
        : null;
    onChange({ ...(file ? { modelFile: { sha256: file.sha256, bytes: file.bytes, name: file.name } } : {}), ...(spec.data ? { data: spec.data } : {}) }, problem);
  };

  const upload = async (file: File | undefined) => {
    setModelError(null);
    setUploaded(null);
    report(null, specText, file ? 'the model file is still uploading' : null);
    if (!file) return;
    setUploading(true);
    try {
      const url = new URL(`api/models?name=${encodeURIComponent(file.name)}`, server.endsWith('/') ? server : `${server}/`);
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: file });
      const body = (await res.json().catch(() => ({}))) as Partial<Uploaded> & { error?: string };
      if (!res.ok || typeof body.sha256 !== 'string') throw new Error(body.error ?? `the server answered ${res.status}`);
      const done = body as Uploaded;
      setUploaded(done);
      report(done, specNow.current, null);
    } catch (err) {
      // the session must not be created on the form's preset while this shows
      setModelError((err as Error).message);
      report(null, specNow.current, (err as Error).message);
    } finally {
      setUploading(false);
    }
  };

  return (
    <fieldset>
      <legend>Your own model and data (optional)</legend>
      <div className={modelError ? 'field invalid' : 'field'}>
        <label htmlFor="field-modelFile">Model file (ONNX)</label>
        <input
          id="field-modelFile"
          type="file"
          accept=".onnx"
          data-testid="model-file"
          aria-invalid={modelError ? true : undefined}
          aria-describedby={modelError ? 'field-modelFile-error' : uploaded || uploading ? 'field-modelFile-hint' : undefined}
          onChange={(e) => void upload(e.target.files?.[0])}
        />
        {uploading && <span className="hint" id="field-modelFile-hint">Uploading and checking…</span>}
        {modelError && (
          <span className="field-error" id="field-modelFile-error" role="alert" data-testid="model-file-error">
            {modelError}
          </span>
        )}
        {uploaded && (
          <span className="hint" id="field-modelFile-hint" data-testid="model-file-summary">
            {uploaded.name}: d = {uploaded.d.toLocaleString('en-US')}, input {uploaded.inputShape.join('×')}, {uploaded.numClasses} classes (replaces the model above)
          </span>
        )}
      </div>
      <div className={specError ? 'field invalid' : 'field'}>
        <label htmlFor="field-dataSpec">Peers' own data (JSON)</label>
        <textarea
          id="field-dataSpec"
          rows={3}
          placeholder={exampleDataSpec}
          value={specText}
          data-testid="data-spec"
          aria-invalid={specError ? true : undefined}
          aria-describedby={specError ? 'field-dataSpec-error' : 'field-dataSpec-hint'}
          onChange={(e) => {
            setSpecText(e.target.value);
            specNow.current = e.target.value;
            report(uploaded, e.target.value, modelError ?? (uploading ? 'the model file is still uploading' : null));
          }}
        />
        {specError ? (
          <span className="field-error" id="field-dataSpec-error" role="alert" data-testid="data-spec-error">
            {specError}
          </span>
        ) : (
          <span className="hint" id="field-dataSpec-hint">empty: peers train on the dataset above; see docs/data.md for images</span>
        )}
      </div>
    </fieldset>
  );
}

function parseSpec(text: string): { data?: LocalDataSpec; error: string | null } {
  if (text.trim() === '') return { error: null };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { error: 'not valid JSON' };
  }
  const parsed = localDataSchema.safeParse(json);
  if (!parsed.success) return { error: parsed.error.issues.map((i) => `${i.path.join('.') || 'spec'}: ${i.message}`).join('; ') };
  return { data: parsed.data, error: null };
}
