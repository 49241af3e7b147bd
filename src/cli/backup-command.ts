import { resolveDataLocation } from '../config/node-config.js';
import { OUTPOST_VERSION } from '../config/version.js';
import { systemClock } from '../core/clock.js';
import { backupNode, type BackupSummary } from '../lifecycle/backup.js';
import { restoreNode, type RestoreSummary } from '../lifecycle/restore.js';
import type { BackupFlags, RestoreFlags } from './backup-commands.js';
import type { CliContext } from './command-context.js';
import { checkQuery, formatOutput, parseOutputFormat, type TableSpec } from './output.js';
import { UsageError } from './usage-error.js';

export const BACKUP_TABLE: TableSpec = {
  columns: [
    { header: 'BACKUP', value: (row) => row.backup },
    { header: 'CREATED', value: (row) => row.createdAt },
    { header: 'SCHEMA', value: (row) => row.schemaVersion },
    { header: 'REPOSITORIES', value: (row) => row.repositories },
    { header: 'TAGS', value: (row) => row.tags },
    { header: 'MANIFESTS', value: (row) => row.manifests },
    { header: 'BLOBS', value: (row) => (row.blobs as BackupSummary['blobs']).count },
    { header: 'BLOB BYTES', value: (row) => (row.blobs as BackupSummary['blobs']).bytes },
    { header: 'SNAPSHOTS', value: (row) => row.snapshots },
  ],
};

export const RESTORE_TABLE: TableSpec = {
  columns: [
    { header: 'DATA DIR', value: (row) => row.dataDir },
    { header: 'BACKUP CREATED', value: (row) => row.createdAt },
    { header: 'SCHEMA', value: (row) => row.schemaVersion },
    { header: 'REPOSITORIES', value: (row) => row.repositories },
    { header: 'TAGS', value: (row) => row.tags },
    { header: 'MANIFESTS', value: (row) => row.manifests },
    { header: 'BLOBS', value: (row) => (row.blobs as RestoreSummary['blobs']).count },
    { header: 'BLOB BYTES', value: (row) => (row.blobs as RestoreSummary['blobs']).bytes },
  ],
};

/** `outpost backup --to DIR [--data-dir D]`: prints the backup's summary (never a secret). */
export async function backupCommand(flags: BackupFlags, ctx: CliContext): Promise<BackupSummary> {
  checkOutputFlags(flags);
  const to = nonEmpty('--to', flags.to);
  const { dataDir, storage } = resolveDataLocation(flags.dataDir === undefined ? undefined : nonEmpty('--data-dir', flags.dataDir), ctx.env);
  const summary = await untilInterrupted((signal) => backupNode({ dataDir, storage, to, outpostVersion: OUTPOST_VERSION, clock: systemClock, signal }));
  ctx.stdout(formatOutput(summary, { output: flags.output, query: flags.query, table: BACKUP_TABLE }));
  return summary;
}

/** `outpost restore --from DIR --data-dir D`: prints what was restored. */
export async function restoreCommand(flags: RestoreFlags, ctx: CliContext): Promise<RestoreSummary> {
  checkOutputFlags(flags);
  const from = nonEmpty('--from', flags.from);
  const { dataDir, storage } = resolveDataLocation(nonEmpty('--data-dir', flags.dataDir), ctx.env);
  const summary = await untilInterrupted((signal) => restoreNode({ from, dataDir, storage, clock: systemClock, signal }));
  ctx.stdout(formatOutput(summary, { output: flags.output, query: flags.query, table: RESTORE_TABLE }));
  return summary;
}

/** A bad `-o` or `--query` is refused before any folder is touched. */
function checkOutputFlags(flags: { output?: string; query?: string }): void {
  parseOutputFormat(flags.output);
  checkQuery(flags.query);
}

/** An empty value (an unset shell variable) would name the current folder: refused. */
function nonEmpty(flag: string, value: string): string {
  if (value.trim() === '') throw new UsageError(`argument ${flag}: expected a folder, got an empty value`);
  return value;
}

/**
 * Runs `work` with a signal that SIGINT and SIGTERM abort: the command then stops, removes what
 * it had written and fails with INTERRUPTED (exit 130), instead of dying with a partial folder.
 */
async function untilInterrupted<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const stop = (): void => controller.abort(new Error('interrupted by a signal'));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    return await work(controller.signal);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
