import { useEffect, useRef, useState } from 'react';
import { imageToSample, type SessionConfig } from '@signvote/core';
import { saveBytes } from './save-file';
import type { Training } from './useTraining';

/**
 * What the trained model is for: "Download model (ONNX)" (core exportOnnx of the parameters
 * this tab holds: the input named as the model's, outputs `logits` and `probabilities`) and a
 * panel to try it: draw a digit or drop an image (image models), or paste a CSV row (tabular
 * ones), and see the class probabilities under the current parameters.
 */

interface Props {
  readonly training: Training;
  readonly config: SessionConfig;
}

const FASHION = ['T-shirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle boot'];

/** how a picture becomes a sample: the session's image spec, or the 28x28 grey of the hosted datasets */
function imageSpec(config: SessionConfig) {
  if (config.data?.format === 'images') return config.data;
  if (config.data?.format === 'csv') return null;
  return { channels: 1 as const, height: 28, width: 28, invert: false, standardize: undefined };
}

function classNames(config: SessionConfig, k: number): string[] {
  if (config.data) return config.data.classes;
  if (config.dataset === 'fashion-mnist' && k === 10) return FASHION;
  return Array.from({ length: k }, (_, i) => String(i));
}

export function ModelTools({ training, config }: Props) {
  const s = training.snapshot;
  const [probabilities, setProbabilities] = useState<Float64Array | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const hasModel = s.d !== null && (s.round >= 0 || s.state === 'finished');

  const download = () => {
    const exported = training.peer()?.exportModel();
    if (exported) saveBytes(exported.bytes, `${exported.name}-round${exported.round}.onnx`);
  };

  // a new sample, a cleared pad, or an input that is not one: the last answer is no longer about what is shown
  const showProblem = (p: string | null) => {
    setProblem(p);
    if (p !== null) setProbabilities(null);
  };
  const forget = () => {
    setProbabilities(null);
    setProblem(null);
  };

  const predict = (sample: Float32Array) => {
    try {
      const p = training.peer()?.predict(sample) ?? null;
      setProbabilities(p);
      setProblem(p ? null : 'the model is not loaded yet');
    } catch (err) {
      showProblem((err as Error).message);
    }
  };

  const image = imageSpec(config);
  const shape = training.peer()?.modelShape() ?? null;
  const names = classNames(config, shape?.numClasses ?? probabilities?.length ?? 0);
  const fits = image && shape && image.channels * image.height * image.width === shape.inputShape.reduce((a, b) => a * b, 1);

  return (
    <section className="panel model-tools" aria-labelledby="model-tools-title">
      <h2 id="model-tools-title">The trained model</h2>
      <div className="actions">
        <button type="button" onClick={download} disabled={!hasModel} data-testid="download-model">
          Download model (ONNX)
        </button>
        <span className="hint">
          the parameters this tab holds now; it takes {config.data?.format === 'csv' ? 'the raw feature columns of a CSV row' : 'pixels in [0, 1]'} (the session's standardization is inside it) and outputs <code>logits</code> and <code>probabilities</code>
        </span>
      </div>
      <h3>Try it</h3>
      {!hasModel ? (
        <p className="hint">Once training has started, draw or paste a sample here to see what the model says.</p>
      ) : image && fits ? (
        <DrawPad invert={image.invert} onSample={(img) => predict(imageToSample(img, image))} onClear={forget} onProblem={showProblem} />
      ) : config.data?.format === 'csv' ? (
        <CsvRow config={config} onSample={predict} onProblem={showProblem} />
      ) : (
        <p className="hint">This model's input ({shape?.inputShape.join('×')}) has no drawing pad here.</p>
      )}
      {problem && (
        <p className="error" role="alert" data-testid="try-problem">
          {problem}
        </p>
      )}
      {probabilities && (
        <ol className="probabilities" data-testid="probabilities">
          {Array.from(probabilities, (p, i) => (
            <li key={i} data-testid="prediction" data-class={names[i] ?? String(i)} data-p={p}>
              <span className="label">{names[i] ?? i}</span>
              <span className="bar" style={{ width: `${(100 * p).toFixed(1)}%` }} />
              <span className="value">{(100 * p).toFixed(1)}%</span>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

const PAD = 280;

/** a 280x280 drawing canvas (white on black, or black on white for inverted sessions) that also takes a dropped image */
function DrawPad({
  invert,
  onSample,
  onClear,
  onProblem,
}: {
  invert: boolean;
  onSample: (img: { width: number; height: number; data: Uint8Array }) => void;
  onClear: () => void;
  onProblem: (problem: string) => void;
}) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const drawing = useRef(false);
  const paper = invert ? '#fff' : '#000';
  const ink = invert ? '#000' : '#fff';

  const clear = () => {
    const ctx = canvas.current?.getContext('2d');
    if (!ctx) return;
    ctx.fillStyle = paper;
    ctx.fillRect(0, 0, PAD, PAD);
  };
  useEffect(clear, [paper]);

  const emit = () => {
    const ctx = canvas.current?.getContext('2d');
    if (!ctx) return;
    const img = ctx.getImageData(0, 0, PAD, PAD);
    onSample({ width: img.width, height: img.height, data: new Uint8Array(img.data.buffer) });
  };
  const at = (e: React.PointerEvent<HTMLCanvasElement>) => {
    const r = e.currentTarget.getBoundingClientRect();
    return [((e.clientX - r.left) / r.width) * PAD, ((e.clientY - r.top) / r.height) * PAD] as const;
  };
  const dropImage = async (file: File | undefined) => {
    const ctx = canvas.current?.getContext('2d');
    if (!file || !ctx) return;
    let bitmap: ImageBitmap;
    try {
      bitmap = await createImageBitmap(file);
    } catch {
      // the browser's own words ("The source image could not be decoded.") do not name the
      // file; the pad keeps what it shows
      onProblem(`${file.name} is not an image this browser can read: open a PNG or JPEG picture`);
      return;
    }
    clear();
    const scale = Math.min(PAD / bitmap.width, PAD / bitmap.height);
    const w = bitmap.width * scale, h = bitmap.height * scale;
    ctx.drawImage(bitmap, (PAD - w) / 2, (PAD - h) / 2, w, h);
    emit();
  };

  return (
    <div className="draw-pad">
      <canvas
        ref={canvas}
        width={PAD}
        height={PAD}
        data-testid="draw-pad"
        aria-label="drawing pad: draw a sample, or drop an image here"
        onPointerDown={(e) => {
          drawing.current = true;
          e.currentTarget.setPointerCapture(e.pointerId);
          const ctx = e.currentTarget.getContext('2d')!;
          const [x, y] = at(e);
          ctx.beginPath();
          ctx.moveTo(x, y);
        }}
        onPointerMove={(e) => {
          if (!drawing.current) return;
          const ctx = e.currentTarget.getContext('2d')!;
          const [x, y] = at(e);
          ctx.strokeStyle = ink;
          ctx.lineWidth = 20;
          ctx.lineCap = 'round';
          ctx.lineJoin = 'round';
          ctx.lineTo(x, y);
          ctx.stroke();
        }}
        onPointerUp={() => {
          drawing.current = false;
          emit();
        }}
        onDragOver={(e) => e.preventDefault()}
        onDrop={(e) => {
          e.preventDefault();
          void dropImage(e.dataTransfer.files[0]);
        }}
      />
      <div className="actions">
        <button
          type="button"
          data-testid="clear-pad"
          onClick={() => {
            clear();
            onClear();
          }}
        >
          Clear
        </button>
        <label className="file-button">
          Open an image…
          <input
            type="file"
            className="visually-hidden"
            data-testid="open-image"
            accept="image/png,image/jpeg"
            onChange={(e) => {
              void dropImage(e.target.files?.[0]);
              // the same file opened again is a new try
              e.target.value = '';
            }}
          />
        </label>
      </div>
    </div>
  );
}

/** one CSV row of the session's feature columns, standardized as the session says */
function CsvRow({ config, onSample, onProblem }: { config: SessionConfig; onSample: (x: Float32Array) => void; onProblem: (p: string | null) => void }) {
  const spec = config.data?.format === 'csv' ? config.data : null;
  const [row, setRow] = useState('');
  if (!spec) return null;
  const run = () => {
    const cells = row.split(',').map((c) => c.trim());
    const values = cells.map(Number);
    const bad = cells.findIndex((c, i) => c === '' || !Number.isFinite(values[i]));
    if (bad >= 0) return onProblem(`value ${bad + 1} ("${cells[bad]}") is not a number`);
    const std = spec.standardize;
    if (std && std.mean.length !== values.length) return onProblem(`${values.length} values, the session's features are ${std.mean.length}`);
    onProblem(null);
    onSample(Float32Array.from(values, (v, i) => (std ? (v - std.mean[i]) / std.std[i] : v)));
  };
  return (
    <div className="field">
      <label htmlFor="csv-row">A row of features{spec.features ? ` (${spec.features.join(', ')})` : ''}, comma-separated, without the label</label>
      <div className="row">
        <input id="csv-row" data-testid="csv-row" value={row} onChange={(e) => setRow(e.target.value)} onKeyDown={(e) => e.key === 'Enter' && run()} />
        <button type="button" onClick={run} data-testid="predict-row">
          Predict
        </button>
      </div>
    </div>
  );
}
