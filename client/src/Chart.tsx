import { useEffect, useRef } from 'react';
import uPlot from 'uplot';

export interface ChartSeries {
  readonly label: string;
  readonly color: string;
  readonly dash?: number[];
  /** draw points only (sparse series such as test accuracy) */
  readonly points?: boolean;
}

interface Props {
  readonly title: string;
  readonly testId: string;
  readonly series: readonly ChartSeries[];
  /** x values then one array per series (null = no value at that x) */
  readonly data: () => uPlot.AlignedData;
  /** changes whenever `data` would return something new */
  readonly version: number;
  readonly yLabel?: string;
  readonly yRange?: [number, number];
  readonly log?: boolean;
  /** y-axis tick labels */
  readonly format?: (v: number) => string;
}

/** A uPlot line chart that redraws in place when `version` changes (no React re-render of the canvas). */
export function Chart({ title, testId, series, data, version, yLabel, yRange, log, format }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const latest = useRef(data);
  latest.current = data;

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const width = Math.max(200, el.clientWidth);
    const opts: uPlot.Options = {
      title,
      width,
      height: 180,
      scales: { x: { time: false }, y: log ? { distr: 3 } : yRange ? { range: yRange } : {} },
      // rounds are whole numbers: no 2.5 ticks on short runs
      axes: [{ label: 'round', incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 100000] }, { label: yLabel, size: 60, ...(format ? { values: (_u: uPlot, ticks: number[]) => ticks.map((v) => label(v, format, log)) } : {}) }],
      legend: { live: false },
      series: [
        { label: 'round' },
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 1.5,
          dash: s.dash,
          spanGaps: true,
          points: s.points ? { show: true, size: 5, fill: s.color } : { show: false },
        })),
      ],
    };
    const initial = latest.current();
    const u = new uPlot(opts, initial, el);
    // the container is the chart's image for assistive tech; uPlot's canvas carries the name too,
    // so nothing on the page is an unnamed drawing
    u.ctx.canvas.setAttribute('aria-label', `${title} chart`);
    markFirstRound(el, initial);
    plot.current = u;
    const resize = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height: 180 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
    // the chart's shape is fixed for its lifetime; only data changes afterwards
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    const d = latest.current();
    plot.current?.setData(d);
    if (host.current) markFirstRound(host.current, d);
  }, [version]);

  return <div className="chart" ref={host} data-testid={testId} role="img" aria-label={title} />;
}

/**
 * `data-first-round`: the first x with a value in any series (tests read it: a late joiner's
 * accuracy chart starts before its own first round). Set on the element, not through React,
 * like the canvas it describes.
 */
function markFirstRound(el: HTMLElement, data: uPlot.AlignedData): void {
  const [xs, ...ys] = data;
  const i = xs.findIndex((_, j) => ys.some((y) => y[j] !== null && y[j] !== undefined));
  if (i >= 0) el.dataset.firstRound = String(xs[i]);
  else delete el.dataset.firstRound;
}

/** On a log axis uPlot ticks every 1..9 x 10^k; only the powers of ten get a label. */
function label(v: number, format: (v: number) => string, log: boolean | undefined): string {
  if (!log) return format(v);
  const exponent = Math.log10(v);
  return Math.abs(exponent - Math.round(exponent)) < 1e-9 ? format(v) : '';
}
