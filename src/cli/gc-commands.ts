import type { Command } from 'commander';
import { formatBytes, type GcCount, type GcReport } from '../core/gc-report.js';
import type { ManagementClient } from '../client/management-client.js';
import { runManaged, withCommonFlags, type CliContext, type CommonFlags } from './command-context.js';
import type { TableSpec } from './output.js';

/** `outpost gc [--dry-run]`: the root collects its garbage now (or reports what it would free); the answer is the run's report. */
export function gcRun(client: ManagementClient, options: { dryRun?: boolean }): Promise<GcReport> {
  return client.collectGarbage({ dryRun: options.dryRun === true });
}

/** The report as a table: one row per kind of garbage and a total, with what was (or would be) freed. */
export const GC_REPORT_TABLE: TableSpec = {
  rows: (data) => {
    const report = data as GcReport;
    const row = (what: string, c: GcCount): Record<string, unknown> => ({ what, count: c.count, bytes: c.bytes, size: formatBytes(c.bytes) });
    const freed = report.blobs.count + report.manifests.count + report.uploads.count;
    return [
      row('links', report.links),
      row('blobs', report.blobs),
      row('manifests', report.manifests),
      row('uploads', report.uploads),
      { ...row(report.dryRun ? 'would free' : 'freed', { count: freed, bytes: report.freedBytes }), seconds: (report.timings.totalMs / 1000).toFixed(2) },
    ];
  },
  columns: [
    { header: 'WHAT', value: (row) => row.what },
    { header: 'COUNT', value: (row) => row.count },
    { header: 'BYTES', value: (row) => row.bytes },
    { header: 'SIZE', value: (row) => row.size },
    { header: 'SECONDS', value: (row) => row.seconds },
  ],
};

/** Registers `outpost gc`. */
export function registerGcCommands(program: Command, ctx: CliContext): void {
  withCommonFlags(program.command('gc').description("collect the root's garbage now: blobs, manifests and links nothing references, abandoned uploads"))
    .option('--dry-run', 'only report what would be freed')
    .addHelpText(
      'after',
      '\nWhat was written or used within the grace period (serve --gc-grace, 1 hour by default) stays.\n' +
        'A connected registry collects on its own schedule, or at its next contact: outpost connected-registry gc -n <name>\n\n' +
        'Examples:\n  outpost gc --dry-run -o table\n  outpost gc\n',
    )
    .action((flags: { dryRun?: boolean } & CommonFlags) => runManaged(ctx, flags, gcRun, GC_REPORT_TABLE));
}
