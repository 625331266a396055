import { useEffect, useRef } from 'react';
import type { WeightsFrame } from './session-model';
import { unitToRgba } from './weights';

const columns = 8;
const gap = 2;
/** on-screen size of one picture: 28 px digits at 3x, 5 px filters at 16x */
const cell = 84;

/** First-layer hidden units drawn as grayscale images, redrawn whenever a new frame arrives. */
export function WeightGrid({ frame }: { frame: WeightsFrame | null }) {
  const canvas = useRef<HTMLCanvasElement>(null);

  useEffect(() => {
    const el = canvas.current;
    const ctx = el?.getContext('2d');
    if (!el || !ctx || !frame) return;
    const { units, width, height, data } = frame;
    const scale = Math.max(1, Math.floor(cell / Math.max(width, height)));
    const rows = Math.ceil(units / columns);
    el.width = columns * (width * scale + gap) - gap;
    el.height = rows * (height * scale + gap) - gap;
    ctx.imageSmoothingEnabled = false;
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, el.width, el.height);
    // draw each unit at native size on a scratch canvas, then scale it up without smoothing
    const scratch = new OffscreenCanvas(width, height);
    const sctx = scratch.getContext('2d');
    if (!sctx) return;
    const pixels = new Uint8ClampedArray(width * height * 4);
    for (let u = 0; u < units; u++) {
      unitToRgba(data.subarray(u * width * height, (u + 1) * width * height), pixels);
      sctx.putImageData(new ImageData(pixels, width, height), 0, 0);
      const x = (u % columns) * (width * scale + gap);
      const y = Math.floor(u / columns) * (height * scale + gap);
      ctx.drawImage(scratch, x, y, width * scale, height * scale);
    }
  }, [frame]);

  return (
    <figure className="weights">
      <canvas
        ref={canvas}
        width={columns * (cell + gap) - gap}
        height={2 * (cell + gap) - gap}
        data-testid="weights"
        data-round={frame?.round ?? -1}
        role="img"
        aria-label={frame ? `first-layer weights of ${frame.units} ${what(frame)} at round ${frame.round + 1}` : 'first-layer weights (none yet)'}
      />
      <figcaption>
        {frame ? `First-layer weights of ${frame.units} ${what(frame)}, round ${frame.round + 1}` : 'First-layer weights appear after the first rounds.'}
      </figcaption>
    </figure>
  );
}

function what(frame: WeightsFrame): string {
  return frame.width * frame.height > 100 ? 'hidden units' : `${frame.width}x${frame.height} filters`;
}
