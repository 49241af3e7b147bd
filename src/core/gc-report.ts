/**
 * What one garbage collection found and freed (docs/operations.md, "Garbage collection"): plain
 * JSON, so the same object is logged, answered by the management API, stored by an edge and
 * carried up in its heartbeats. In a dry run the counts are what a real run would free now.
 */
export interface GcReport {
  dryRun: boolean;
  /** ISO 8601 times of the run. */
  startedAt: string;
  finishedAt: string;
  /** The grace period: anything written or used after `startedAt` minus this was left alone. */
  graceSeconds: number;
  /** Repository blob links that no manifest of their repository references; `bytes`: the sizes of the blobs they named. */
  links: GcCount;
  /** Blob files (layers, configs) that no repository links any more. */
  blobs: GcCount;
  /** Files of manifests that no repository holds any more. */
  manifests: GcCount;
  /** Abandoned upload sessions and temporary files of interrupted writes. */
  uploads: GcCount;
  /** Bytes freed on the storage: blobs, manifests and uploads (links are metadata rows). */
  freedBytes: number;
  /** Unreferenced blob files left for the next run because a write was using them at that moment. */
  skipped: number;
  /** Milliseconds spent: the link sweep, the mark (what the metadata references, against a listing of the blob store), the byte sweep, the uploads, and the whole run. */
  timings: { linksMs: number; markMs: number; sweepMs: number; uploadsMs: number; totalMs: number };
}

export interface GcCount {
  count: number;
  bytes: number;
}

/** A manual run asked of a connected registry (`outpost connected-registry gc`), as it travels in config documents. */
export interface GcRequestDoc {
  /** When the root recorded the request (ISO 8601): a new time is a new request. */
  requestedAt: string;
  dryRun: boolean;
}

/** `1536` → `1.5 KiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`;
}

/**
 * The report as one readable line (the log line of a run, the `LAST GC` cell of `connected-registry
 * show`): `garbage collection freed 12.1 MiB: 4 links, 3 blobs (12.0 MiB), 1 manifest (2.1 KiB),
 * 1 upload (100 KiB) in 0.42 s`; a dry run says `would free`.
 */
export function describeGcReport(report: GcReport): string {
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  const withBytes = (c: GcCount, word: string): string => `${plural(c.count, word)}${c.count > 0 ? ` (${formatBytes(c.bytes)})` : ''}`;
  const verb = report.dryRun ? 'garbage collection (dry run) would free' : 'garbage collection freed';
  const skipped = report.skipped > 0 ? `; ${report.skipped} in use, left for the next run` : '';
  return `${verb} ${formatBytes(report.freedBytes)}: ${plural(report.links.count, 'link')}, ${withBytes(report.blobs, 'blob')}, ` +
    `${withBytes(report.manifests, 'manifest')}, ${withBytes(report.uploads, 'upload')} in ${(report.timings.totalMs / 1000).toFixed(2)} s${skipped}`;
}
