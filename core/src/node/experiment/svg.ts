/**
 * A small SVG line-chart writer for the paper-style figures: a row of panels sharing a
 * y axis range, one line per series with a shaded band, one legend for the figure.
 * Plain strings, no dependencies, deterministic output (stable diffs in results/).
 */

export interface Series {
  readonly label: string;
  readonly x: readonly number[];
  readonly mean: readonly number[];
  /** band lower/upper edge, same length as x (e.g. min and max over seeds) */
  readonly lo?: readonly number[];
  readonly hi?: readonly number[];
  readonly dashed?: boolean;
}

export interface Panel {
  readonly title: string;
  readonly series: readonly Series[];
}

export interface Figure {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly panels: readonly Panel[];
  /** fixed y range; computed from the data when absent */
  readonly yRange?: readonly [number, number];
  readonly panelWidth?: number;
  readonly panelHeight?: number;
}

const palette = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** About `count` round tick values covering [lo, hi] (1, 2, 5 x 10^k steps). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function fmtTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-3) return v.toExponential(0);
  return String(Number(v.toPrecision(4)));
}

/** greedy word wrap; 14 px bold Helvetica averages about 8 px per character */
function wrap(text: string, maxChars: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > maxChars) { lines.push(line); line = word; }
    else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

const f1 = (v: number) => (Math.round(v * 10) / 10).toString();

export function renderFigure(fig: Figure): string {
  const pw = fig.panelWidth ?? 320;
  const ph = fig.panelHeight ?? 240;
  const margin = { left: 56, right: 16, top: 30, bottom: 44 };
  const labels = [...new Set(fig.panels.flatMap((p) => p.series.map((s) => s.label)))];
  const colorOf = new Map(labels.map((l, i) => [l, palette[i % palette.length]]));
  const legendRowH = 18;
  const legendPerRow = Math.max(1, Math.floor((fig.panels.length * (pw + margin.left + margin.right)) / 220));
  const legendH = Math.ceil(labels.length / legendPerRow) * legendRowH + 8;
  const width = fig.panels.length * (pw + margin.left + margin.right);
  const titleLines = wrap(fig.title, Math.max(20, Math.floor(width / 8)));
  const titleH = 10 + 18 * titleLines.length;
  const height = titleH + legendH + ph + margin.top + margin.bottom;

  let yLo = Infinity;
  let yHi = -Infinity;
  for (const p of fig.panels) {
    for (const s of p.series) {
      for (let i = 0; i < s.x.length; i++) {
        for (const v of [s.mean[i], s.lo?.[i], s.hi?.[i]]) {
          if (v !== undefined && Number.isFinite(v)) { yLo = Math.min(yLo, v); yHi = Math.max(yHi, v); }
        }
      }
    }
  }
  if (fig.yRange) [yLo, yHi] = fig.yRange;
  if (!Number.isFinite(yLo)) { yLo = 0; yHi = 1; }
  if (yHi <= yLo) yHi = yLo + 1;

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`);
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  titleLines.forEach((line, i) => {
    out.push(`<text x="${width / 2}" y="${18 + 18 * i}" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(line)}</text>`);
  });
  labels.forEach((label, i) => {
    const col = i % legendPerRow;
    const row = Math.floor(i / legendPerRow);
    const lx = 16 + col * 220;
    const ly = titleH + row * legendRowH + 10;
    const dashed = fig.panels.some((p) => p.series.some((s) => s.label === label && s.dashed));
    out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="${colorOf.get(label)}" stroke-width="2.5"${dashed ? ' stroke-dasharray="5,3"' : ''}/>`);
    out.push(`<text x="${lx + 30}" y="${ly + 4}">${escapeXml(label)}</text>`);
  });

  const yTicks = niceTicks(yLo, yHi);
  fig.panels.forEach((panel, pi) => {
    // each panel spans its own x range: panels may differ in rounds (fixed epochs per batch size)
    const xs = panel.series.flatMap((s) => s.x.filter((v) => Number.isFinite(v)));
    const xLo = xs.length > 0 ? Math.min(...xs) : 0;
    const xHi = xs.length > 0 && Math.max(...xs) > xLo ? Math.max(...xs) : xLo + 1;
    const xTicks = niceTicks(xLo, xHi);
    const ox = pi * (pw + margin.left + margin.right) + margin.left;
    const oy = titleH + legendH + margin.top;
    const sx = (x: number) => ox + ((x - xLo) / (xHi - xLo)) * pw;
    const sy = (y: number) => oy + ph - ((Math.min(Math.max(y, yLo), yHi) - yLo) / (yHi - yLo)) * ph;
    out.push(`<g>`);
    out.push(`<text x="${ox + pw / 2}" y="${oy - 10}" text-anchor="middle" font-size="12">${escapeXml(panel.title)}</text>`);
    for (const t of yTicks) {
      out.push(`<line x1="${ox}" y1="${f1(sy(t))}" x2="${ox + pw}" y2="${f1(sy(t))}" stroke="#e5e5e5"/>`);
      out.push(`<text x="${ox - 6}" y="${f1(sy(t) + 4)}" text-anchor="end">${fmtTick(t)}</text>`);
    }
    for (const t of xTicks) {
      out.push(`<line x1="${f1(sx(t))}" y1="${oy + ph}" x2="${f1(sx(t))}" y2="${oy + ph + 4}" stroke="#333"/>`);
      out.push(`<text x="${f1(sx(t))}" y="${oy + ph + 16}" text-anchor="middle">${fmtTick(t)}</text>`);
    }
    out.push(`<rect x="${ox}" y="${oy}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
    out.push(`<text x="${ox + pw / 2}" y="${oy + ph + 34}" text-anchor="middle">${escapeXml(fig.xLabel)}</text>`);
    out.push(`<text transform="translate(${ox - 42},${oy + ph / 2}) rotate(-90)" text-anchor="middle">${escapeXml(fig.yLabel)}</text>`);
    for (const s of panel.series) {
      const color = colorOf.get(s.label);
      const idx = s.x.map((_, i) => i).filter((i) => Number.isFinite(s.x[i]) && Number.isFinite(s.mean[i]));
      if (idx.length === 0) continue;
      if (s.lo && s.hi) {
        const bandIdx = idx.filter((i) => Number.isFinite(s.lo![i]) && Number.isFinite(s.hi![i]));
        if (bandIdx.length > 1) {
          const top = bandIdx.map((i) => `${f1(sx(s.x[i]))},${f1(sy(s.hi![i]))}`);
          const bottom = bandIdx.slice().reverse().map((i) => `${f1(sx(s.x[i]))},${f1(sy(s.lo![i]))}`);
          out.push(`<polygon points="${[...top, ...bottom].join(' ')}" fill="${color}" fill-opacity="0.15" stroke="none"/>`);
        }
      }
      const pts = idx.map((i) => `${f1(sx(s.x[i]))},${f1(sy(s.mean[i]))}`).join(' ');
      out.push(`<polyline points="${pts}" fill="none" stroke="${color}" stroke-width="1.8"${s.dashed ? ' stroke-dasharray="5,3"' : ''}><title>${escapeXml(s.label)}</title></polyline>`);
    }
    out.push(`</g>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
