// Result table (stdout) and JSON report.
import fs from 'node:fs';
import path from 'node:path';
import { round } from './util.mjs';

function fmt(v) {
  if (v === undefined) return '-';
  if (v === null || Number.isNaN(v)) return 'ERR';
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  if (Math.abs(v) >= 100) return v.toFixed(0);
  return v.toFixed(1);
}

/**
 * rows: [{ id, label, unit, better, results: { [target]: { value, error?, detail? } }, ratio }]
 * targets: [{ name, label }]
 */
export function renderTable(rows, targets) {
  const showRatio = targets.some((t) => t.name === 'outpost') && targets.some((t) => t.name === 'distribution');
  const header = ['figure', 'unit', ...targets.map((t) => t.label)];
  if (showRatio) header.push('ratio O/d', 'better');
  const body = rows.map((r) => {
    const cells = [r.label, r.unit, ...targets.map((t) => fmt(r.results[t.name]?.value))];
    if (showRatio) {
      cells.push(r.ratio === null ? '-' : `${r.ratio.toFixed(2)}x`, r.better === 'higher' ? 'higher' : 'lower');
    }
    return cells;
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((c) => c[i].length)));
  const line = (cells) =>
    cells.map((c, i) => (i === 0 || i === 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ');
  const sep = widths.map((w) => '-'.repeat(w)).join('-|-');
  return [line(header), sep, ...body.map(line)].join('\n');
}

export function computeRatios(rows) {
  for (const r of rows) {
    const o = r.results.outpost?.value;
    const d = r.results.distribution?.value;
    r.ratio = Number.isFinite(o) && Number.isFinite(d) && d !== 0 ? round(o / d, 4) : null;
  }
}

export function writeJson(file, report) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
}
