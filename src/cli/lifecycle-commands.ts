import { Command, Option } from 'commander';
import type { AuditLogState, ManagementClient, RegistryUsage, RetentionPolicy, UpdateRetentionRequest } from '../client/management-client.js';
import { runManaged, withCommonFlags, type CliContext, type CommonFlags } from './command-context.js';
import { parseChoice } from './connected-registry-args.js';
import type { TableSpec } from './output.js';
import { UsageError } from './usage-error.js';

export const RETENTION_STATUSES = ['enabled', 'disabled'] as const;
export const RETENTION_TYPES = ['UntaggedManifests'] as const;
export const MIN_RETENTION_DAYS = 0;
export const MAX_RETENTION_DAYS = 365;

/** `outpost show-usage`: the registry's usage figures, `{value: [{name, currentValue, limit, unit}]}` as az prints them. */
export function showUsage(client: ManagementClient): Promise<{ value: RegistryUsage[] }> {
  return client.showUsage();
}

/** `outpost config retention show`: `{days, lastUpdatedTime, status}`. */
export function retentionShow(client: ManagementClient): Promise<RetentionPolicy> {
  return client.showRetention();
}

export interface RetentionUpdateOptions {
  status?: string;
  days?: string;
  type?: string;
}

/** `--days`: a whole number of days from 0 to 365 (checked before anything is sent). */
export function parseDays(value: string): number {
  const days = /^\d+$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
  if (!Number.isSafeInteger(days) || days < MIN_RETENTION_DAYS || days > MAX_RETENTION_DAYS) {
    throw new UsageError(`argument --days: invalid value: '${value}' (a whole number of days from ${MIN_RETENTION_DAYS} to ${MAX_RETENTION_DAYS})`);
  }
  return days;
}

/**
 * The PATCH of `outpost config retention update`: only what was given (an omitted `--days` keeps
 * the stored number), and at least one of `--status` and `--days`.
 */
export function retentionUpdateRequest(options: RetentionUpdateOptions): UpdateRetentionRequest {
  const status = parseChoice(options.status, RETENTION_STATUSES, '--status');
  const type = parseChoice(options.type, RETENTION_TYPES, '--type');
  const days = options.days === undefined ? undefined : parseDays(options.days);
  if (status === undefined && days === undefined) throw new UsageError('usage error: nothing to update: give --status enabled|disabled, --days N, or both');
  return { ...(status !== undefined ? { status } : {}), ...(days !== undefined ? { days } : {}), ...(type !== undefined ? { type } : {}) };
}

export function retentionUpdate(client: ManagementClient, options: RetentionUpdateOptions): Promise<RetentionPolicy> {
  return client.updateRetention(retentionUpdateRequest(options));
}

/** `outpost config audit-log update --status enabled|disabled` (the root's own; an edge's is its resource's --audit-logs-enabled). */
export function auditLogUpdate(client: ManagementClient, options: { status?: string }): Promise<AuditLogState> {
  const status = parseChoice(options.status, RETENTION_STATUSES, '--status');
  if (status === undefined) throw new UsageError('usage error: give --status enabled|disabled');
  return client.updateAuditLog(status);
}

/** `show-usage -o table`: az's columns, one row per figure (raw numbers, as az shows them). */
export const USAGE_TABLE: TableSpec = {
  rows: (data) => (data !== null && typeof data === 'object' && Array.isArray((data as { value?: unknown }).value) ? (data as { value: unknown[] }).value : data),
  columns: [
    { header: 'NAME', value: (row) => row.name },
    { header: 'LIMIT', value: (row) => row.limit },
    { header: 'CURRENT VALUE', value: (row) => row.currentValue },
    { header: 'UNIT', value: (row) => row.unit },
  ],
};

/** Registers `outpost show-usage`, `outpost config retention …` and `outpost config audit-log …` (az's `acr show-usage`, `acr config retention`). */
export function registerLifecycleCommands(program: Command, ctx: CliContext): void {
  withCommonFlags(program.command('show-usage').description("show the registry's usage: size, disk, repositories, manifests, blobs, tokens, scope maps, connected registries"))
    .action((flags: CommonFlags) => runManaged(ctx, flags, showUsage, USAGE_TABLE));

  const config = program.command('config').description('configure registry policies');
  const retention = config.command('retention').description('the retention policy for untagged manifests');

  withCommonFlags(retention.command('show').description('show the retention policy for untagged manifests'))
    .action((flags: CommonFlags) => runManaged(ctx, flags, retentionShow));

  withCommonFlags(retention.command('update').description('change the retention policy for untagged manifests'))
    .addOption(new Option('--status <status>', `${RETENTION_STATUSES.join(' or ')}`))
    .option('--days <n>', `days an untagged manifest is kept, ${MIN_RETENTION_DAYS} to ${MAX_RETENTION_DAYS} (omitted: unchanged; 7 until set)`)
    .addOption(new Option('--type <type>', `the kind of retention: ${RETENTION_TYPES.join(', ')} (the only one)`))
    .addHelpText(
      'after',
      '\nUntagged manifests older than --days (counted from their push or from when their last tag left them, whichever is later)\n' +
        'are deleted by an hourly job while the policy is enabled, except those an index lists or whose subject is kept.\n\n' +
        'Examples:\n  outpost config retention update --status enabled --days 30\n  outpost config retention update --status disabled\n',
    )
    .action((flags: RetentionUpdateOptions & CommonFlags) => runManaged(ctx, flags, retentionUpdate));

  const auditLog = config.command('audit-log').description("the root's audit log switch (a connected registry's: connected-registry update --audit-logs-enabled)");
  withCommonFlags(auditLog.command('show').description("show whether the root's audit log records, and where"))
    .action((flags: CommonFlags) => runManaged(ctx, flags, (client) => client.showAuditLog()));
  withCommonFlags(auditLog.command('update').description("switch the root's audit log on or off while it runs (kept across restarts, over serve --audit-log-status)"))
    .addOption(new Option('--status <status>', RETENTION_STATUSES.join(' or ')))
    .addHelpText('after', '\nExamples:\n  outpost config audit-log update --status enabled\n  outpost config audit-log show -o table\n')
    .action((flags: { status?: string } & CommonFlags) => runManaged(ctx, flags, auditLogUpdate));
}
