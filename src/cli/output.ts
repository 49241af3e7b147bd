import jmespath from 'jmespath';
import { stringify as toYaml } from 'yaml';
import { UsageError } from './usage-error.js';

/** az's formats; `none` prints nothing (the exit code alone tells: scripts that only need to know it worked). */
export type OutputFormat = 'json' | 'table' | 'yaml' | 'tsv' | 'none';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['json', 'table', 'yaml', 'tsv', 'none'];

/** One column of a command's table: az-like upper-case header and how to read the cell. */
export interface TableColumn {
  header: string;
  value(row: Record<string, unknown>): unknown;
}

export interface OutputOptions {
  output?: string;
  query?: string;
  /** The command's own table; used only when no --query reshaped the answer (as az does). */
  table?: TableSpec;
}

/** How a command shows its answer as a table: which rows (default: the answer) and columns. */
export interface TableSpec {
  columns: TableColumn[];
  rows?(data: unknown): unknown;
}

export function parseOutputFormat(value: string | undefined): OutputFormat {
  const format = (value ?? 'json').toLowerCase();
  const known = OUTPUT_FORMATS.find((f) => f === format);
  if (!known) throw new UsageError(`argument --output/-o: invalid choice: '${value}' (choose from ${OUTPUT_FORMATS.map((f) => `'${f}'`).join(', ')})`);
  return known;
}

/** Applies `--query` (JMESPath), then formats as `-o` says. Returns the text to print ('' for nothing). */
export function formatOutput(data: unknown, options: OutputOptions = {}): string {
  const format = parseOutputFormat(options.output);
  if (format === 'none') return '';
  let value = data;
  if (options.query !== undefined) value = applyQuery(data, options.query);
  if (value === undefined) return '';
  switch (format) {
    case 'json':
      return `${JSON.stringify(value, null, 2)}\n`;
    case 'yaml':
      return toYaml(value);
    case 'tsv':
      return formatTsv(value);
    case 'table':
      if (options.query === undefined && options.table) {
        return formatTable(options.table.rows ? options.table.rows(value) : value, options.table.columns);
      }
      return formatTable(value);
  }
}

export function applyQuery(data: unknown, query: string): unknown {
  try {
    // jmespath's types want JSON values; the answers are plain JSON.
    return jmespath.search(data as Parameters<typeof jmespath.search>[0], query);
  } catch (err) {
    const why = (err instanceof Error ? err.message : String(err)).replace(/^TypeError: /, '');
    const syntax = err instanceof Error && (err.name === 'ParserError' || err.name === 'LexerError');
    throw new UsageError(syntax ? `argument --query: invalid JMESPath query '${query}': ${why}` : `--query '${query}' failed on the answer: ${why}`);
  }
}

/** Rejects a `--query` that does not parse, before any request is sent. */
export function checkQuery(query: string | undefined): void {
  if (query === undefined) return;
  try {
    jmespath.search({}, query);
  } catch (err) {
    // Only syntax errors: type errors depend on the data the query will really get.
    if (err instanceof Error && (err.name === 'ParserError' || err.name === 'LexerError')) applyQuery({}, query);
  }
}

function isScalar(value: unknown): boolean {
  return value === null || ['string', 'number', 'boolean'].includes(typeof value);
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** `creationDate` → `CREATION DATE`, `scopeMapId` → `SCOPE MAP ID`. */
export function headerFor(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/[_-]+/g, ' ').toUpperCase();
}

/**
 * az's tsv: one line per object (or per list element), its scalar values separated by tabs, no
 * headers; nested objects and lists inside a row are left out.
 */
export function formatTsv(value: unknown): string {
  const rows = Array.isArray(value) ? value : [value];
  const lines = rows.map((row) => {
    if (isScalar(row)) return cell(row);
    if (Array.isArray(row)) return row.filter(isScalar).map(cell).join('\t');
    return Object.values(row as Record<string, unknown>).filter(isScalar).map(cell).join('\t');
  });
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** az's table (tabulate "simple"): headers, dashes, then rows; columns two spaces apart. */
export function formatTable(value: unknown, columns?: TableColumn[]): string {
  const rows = (Array.isArray(value) ? value : [value]).filter((row) => row !== undefined);
  if (rows.length === 0) return '';
  let header: string[];
  let body: string[][];
  if (rows.every(isScalar)) {
    header = ['RESULT'];
    body = rows.map((row) => [cell(row)]);
  } else if (columns) {
    header = columns.map((c) => c.header);
    body = rows.map((row) => columns.map((c) => cell(c.value(asRecord(row)))));
  } else {
    const keys: string[] = [];
    for (const row of rows) {
      for (const [key, v] of Object.entries(asRecord(row))) if (isScalar(v) && !keys.includes(key)) keys.push(key);
    }
    if (keys.length === 0) return '';
    header = keys.map(headerFor);
    body = rows.map((row) => keys.map((key) => cell(isScalar(asRecord(row)[key]) ? asRecord(row)[key] : null)));
  }
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return `${[line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n')}\n`;
}

function asRecord(row: unknown): Record<string, unknown> {
  if (row !== null && typeof row === 'object' && !Array.isArray(row)) return row as Record<string, unknown>;
  return { value: row };
}

/** Bytes for a table cell, in binary units as `df -h` shows them (`512 B`, `1.5 KiB`, `20.0 GiB`); '' when unknown. */
export function humanBytes(value: unknown): string {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let amount = value;
  let unit = 0;
  while (amount >= 1024 && unit < units.length - 1) {
    amount /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${amount} B` : `${amount.toFixed(1)} ${units[unit]}`;
}
