/**
 * The benchmark's chart as a self-contained SVG: throughput over time on the left (completions per second, one
 * line per phase) and the latency distribution on the right (start → settled, cumulative, log time axis). Pure
 * string building, no dependencies, so it renders the same everywhere and is unit-tested.
 */
import { percentile } from './stats';
import type { RatePoint } from './stats';

/** One phase's data on the chart. */
export interface ChartSeries {
  label: string;
  color: string;
  throughput: readonly RatePoint[];
  /** Start → settled latencies in milliseconds. */
  latenciesMs: readonly number[];
}

/** What to draw. */
export interface ChartInput {
  title: string;
  subtitle: string;
  series: readonly ChartSeries[];
}

const WIDTH = 960;
const HEIGHT = 460;
const PANEL_TOP = 84;
const PANEL_HEIGHT = 290;
const PANEL_WIDTH = 380;
const LEFT_X = 70;
const RIGHT_X = 540;

/** Escapes text for SVG content and attributes. */
export function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** About `count` round tick values covering 0..max (1, 2 or 5 times a power of ten apart). */
export function linearTicks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0];
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) ticks.push(Math.round(v * 1e6) / 1e6);
  return ticks;
}

/** Powers-of-ten ticks (with 2 and 5 between) covering min..max, for a log axis. */
export function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  const low = Math.floor(Math.log10(Math.max(min, 1e-3)));
  const high = Math.ceil(Math.log10(Math.max(max, min, 1e-3)));
  for (let e = low; e <= high; e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= min && v <= max) ticks.push(v);
    }
  }
  return ticks;
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${Math.round((ms / 1000) * 10) / 10}s` : `${Math.round(ms)}ms`;
}

function polyline(points: readonly [number, number][], color: string): string {
  if (points.length === 0) return '';
  const d = points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ');
  return `<polyline fill="none" stroke="${color}" stroke-width="2" points="${d}"/>`;
}

function axisFrame(x: number, title: string, xLabel: string, yLabel: string): string {
  const bottom = PANEL_TOP + PANEL_HEIGHT;
  return [
    `<text x="${x + PANEL_WIDTH / 2}" y="${PANEL_TOP - 12}" text-anchor="middle" font-weight="bold">${escapeXml(title)}</text>`,
    `<line x1="${x}" y1="${bottom}" x2="${x + PANEL_WIDTH}" y2="${bottom}" stroke="#333"/>`,
    `<line x1="${x}" y1="${PANEL_TOP}" x2="${x}" y2="${bottom}" stroke="#333"/>`,
    `<text x="${x + PANEL_WIDTH / 2}" y="${bottom + 36}" text-anchor="middle">${escapeXml(xLabel)}</text>`,
    `<text transform="translate(${x - 48},${PANEL_TOP + PANEL_HEIGHT / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>`,
  ].join('\n');
}

function throughputPanel(series: readonly ChartSeries[]): string {
  const maxT = Math.max(1, ...series.flatMap((s) => s.throughput.map((p) => p.t)));
  const maxY = Math.max(1, ...series.flatMap((s) => s.throughput.map((p) => p.perSec))) * 1.1;
  const bottom = PANEL_TOP + PANEL_HEIGHT;
  const sx = (t: number) => LEFT_X + (t / maxT) * PANEL_WIDTH;
  const sy = (v: number) => bottom - (v / maxY) * PANEL_HEIGHT;
  const parts = [
    axisFrame(LEFT_X, 'Throughput over time', 'seconds since the phase began', 'completed per second'),
  ];
  for (const tick of linearTicks(maxY)) {
    parts.push(
      `<line x1="${LEFT_X}" y1="${sy(tick).toFixed(1)}" x2="${LEFT_X + PANEL_WIDTH}" y2="${sy(tick).toFixed(1)}" stroke="#eee"/>`,
      `<text x="${LEFT_X - 6}" y="${(sy(tick) + 4).toFixed(1)}" text-anchor="end">${tick}</text>`,
    );
  }
  for (const tick of linearTicks(maxT)) {
    parts.push(`<text x="${sx(tick).toFixed(1)}" y="${bottom + 16}" text-anchor="middle">${tick}</text>`);
  }
  for (const s of series) {
    parts.push(
      polyline(
        s.throughput.map((p) => [sx(p.t), sy(p.perSec)]),
        s.color,
      ),
    );
  }
  return parts.join('\n');
}

function latencyPanel(series: readonly ChartSeries[]): string {
  const all = series.flatMap((s) => s.latenciesMs).filter((v) => v > 0);
  const min = all.length > 0 ? Math.min(...all) : 1;
  const max = all.length > 0 ? Math.max(...all) : 10;
  const lowLog = Math.log10(min) - 0.05;
  const highLog = Math.log10(Math.max(max, min * 1.01)) + 0.05;
  const bottom = PANEL_TOP + PANEL_HEIGHT;
  const sx = (ms: number) => RIGHT_X + ((Math.log10(ms) - lowLog) / (highLog - lowLog)) * PANEL_WIDTH;
  const sy = (fraction: number) => bottom - fraction * PANEL_HEIGHT;
  const parts = [
    axisFrame(
      RIGHT_X,
      'Latency start → settled (cumulative)',
      'latency (log scale)',
      'share of runs at or below',
    ),
  ];
  for (const fraction of [0, 0.25, 0.5, 0.75, 1]) {
    parts.push(
      `<line x1="${RIGHT_X}" y1="${sy(fraction).toFixed(1)}" x2="${RIGHT_X + PANEL_WIDTH}" y2="${sy(fraction).toFixed(1)}" stroke="#eee"/>`,
      `<text x="${RIGHT_X - 6}" y="${(sy(fraction) + 4).toFixed(1)}" text-anchor="end">${Math.round(fraction * 100)}%</text>`,
    );
  }
  for (const tick of logTicks(10 ** lowLog, 10 ** highLog)) {
    parts.push(
      `<text x="${sx(tick).toFixed(1)}" y="${bottom + 16}" text-anchor="middle">${formatMs(tick)}</text>`,
    );
  }
  for (const s of series) {
    const sorted = s.latenciesMs.filter((v) => v > 0).sort((a, b) => a - b);
    // At most ~200 points per line keeps the file small whatever the run size.
    const stride = Math.max(1, Math.floor(sorted.length / 200));
    const points: [number, number][] = [];
    for (let i = 0; i < sorted.length; i += stride) {
      const v = sorted[i];
      if (v !== undefined) points.push([sx(v), sy((i + 1) / sorted.length)]);
    }
    const last = sorted[sorted.length - 1];
    if (last !== undefined) points.push([sx(last), sy(1)]);
    parts.push(polyline(points, s.color));
  }
  return parts.join('\n');
}

function legend(series: readonly ChartSeries[]): string {
  return series
    .map((s, i) => {
      const sorted = [...s.latenciesMs].sort((a, b) => a - b);
      const y = HEIGHT - 18;
      const x = LEFT_X + i * 300;
      const text = `${s.label}: p50 ${formatMs(percentile(sorted, 50))}, p99 ${formatMs(percentile(sorted, 99))}`;
      return (
        `<rect x="${x}" y="${y - 10}" width="14" height="4" fill="${s.color}"/>` +
        `<text x="${x + 20}" y="${y - 4}">${escapeXml(text)}</text>`
      );
    })
    .join('\n');
}

/** Renders the chart as an SVG document. */
export function renderChart(input: ChartInput): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(input.title)}</text>`,
    `<text x="${WIDTH / 2}" y="44" text-anchor="middle" fill="#555">${escapeXml(input.subtitle)}</text>`,
    throughputPanel(input.series),
    latencyPanel(input.series),
    legend(input.series),
    '</svg>',
    '',
  ].join('\n');
}
