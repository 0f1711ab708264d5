// A time-series chart (uPlot: canvas, ~50 kB, fast with thousands of points), sized to its box.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export const PALETTE = ['#2563eb', '#0d9488', '#d97706', '#9333ea', '#dc2626', '#0891b2', '#65a30d', '#db2777', '#475569', '#7c3aed'];

export interface Series {
  label: string;
  values: (number | null)[];
  color?: string;
  dash?: number[];
  fill?: boolean;
}

export interface TimeChartProps {
  /** Seconds since the epoch, ascending. */
  x: number[];
  series: Series[];
  height?: number;
  format?: (v: number) => string;
  /** Draw bars-like steps (counts per bucket) instead of lines. */
  stepped?: boolean;
  label: string;
}

export function TimeChart({ x, series, height = 220, format = (v) => String(v), stepped = false, label }: TimeChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      cursor: { drag: { x: false, y: false } },
      legend: { show: series.length > 1 || series.some((s) => s.label !== '') },
      scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] } },
      axes: [
        { stroke: '#64748b', grid: { stroke: '#e2e8f0', width: 1 }, ticks: { stroke: '#e2e8f0' } },
        { stroke: '#64748b', grid: { stroke: '#e2e8f0', width: 1 }, ticks: { stroke: '#e2e8f0' }, size: 78, values: (_u, splits) => splits.map((v) => format(v)) },
      ],
      series: [
        {},
        ...series.map((s, i) => {
          const color = s.color ?? PALETTE[i % PALETTE.length]!;
          return {
            label: s.label,
            stroke: color,
            width: 2,
            dash: s.dash,
            fill: s.fill ? `${color}22` : undefined,
            points: { show: x.length < 40 },
            paths: stepped ? uPlot.paths.stepped!({ align: 1 }) : undefined,
            value: (_u: uPlot, v: number | null) => (v === null ? '—' : format(v)),
          };
        }),
      ],
    };
    plot.current = new uPlot(opts, [x, ...series.map((s) => s.values)] as uPlot.AlignedData, el);
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(200, el.clientWidth), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [x, series, height, stepped]); // format is a pure function of its caller's choice

  return <div class="chart" ref={box} role="img" aria-label={label} />;
}
