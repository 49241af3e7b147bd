import { writeFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { formatBytes, type GcReport } from '../core/gc-report.js';
import type {
  ConnectedRegistry, ConnectedRegistryDeleted, ConnectedRegistryGcRequested, ConnectedRegistryResync, ConnectedRegistrySettings, ConnectedRegistrySettingsRequest,
  CreateConnectedRegistryRequest, GarbageCollection, ManagementClient, ScopeMap, StorageUsage, Token, UpdateConnectedRegistryRequest,
} from '../client/management-client.js';
import { isManagementError } from '../client/management-error.js';
import {
  CONNECTION_STATES, LOG_LEVELS, MODES, PARENT_PROTOCOLS, PASSWORD_NUMBERS,
  auditLogStatusOf, checkNewConnectedRegistryName, listOf, parseChoice, parseFlagBoolean,
} from './connected-registry-args.js';
import { confirm, runManaged, withCommonFlags, type CliContext, type CommonFlags } from './command-context.js';
import { humanBytes, type TableSpec } from './output.js';
import { SCOPE_MAP_TABLE } from './scope-map-commands.js';
import { TOKEN_TABLE } from './token-commands.js';
import { UsageError } from './usage-error.js';

/** A variadic option az declares with `nargs='*'`: commander gives `true` when it has no values. */
type ListFlag = string[] | boolean;

export interface ConnectedRegistryCreateOptions {
  name: string;
  repository?: string[];
  syncToken?: string;
  mode?: string;
  parent?: string;
  clientTokens?: string[];
  syncSchedule?: string;
  syncWindow?: string;
  syncMessageTtl?: string;
  logLevel?: string;
  notifications?: string[];
  /** `--audit-logs-enabled [true|false]`. */
  auditLogsEnabled?: string | boolean;
  gcEnabled?: string | boolean;
  gcSchedule?: string;
}

/** `--gc-enabled` / `--gc-schedule` as the API's partial `garbageCollection`, or undefined when neither is given. */
function garbageCollectionOf(options: { gcEnabled?: string | boolean; gcSchedule?: string }): Partial<GarbageCollection> | undefined {
  const enabled = parseFlagBoolean(options.gcEnabled, '--gc-enabled');
  if (enabled === undefined && options.gcSchedule === undefined) return undefined;
  return { ...(enabled !== undefined ? { enabled } : {}), ...(options.gcSchedule !== undefined ? { schedule: options.gcSchedule } : {}) };
}

/**
 * The create request of `outpost connected-registry create`, after az's client-side checks (in
 * its order): exactly one of `--sync-token` and `--repository`, then the name. Flags not given
 * are not sent, so the server's defaults apply (mode ReadOnly, schedule `* * * * *`, TTL `P2D`,
 * log level Information, audit logs Disabled).
 */
export function createRequest(options: ConnectedRegistryCreateOptions): CreateConnectedRegistryRequest {
  const repositories = listOf(options.repository);
  const syncToken = options.syncToken === '' ? undefined : options.syncToken;
  if ((repositories.length > 0) === (syncToken !== undefined)) {
    throw new UsageError('argument error: either --sync-token or --repository must be provided, but not both.');
  }
  checkNewConnectedRegistryName(options.name);
  const mode = parseChoice(options.mode, MODES, '--mode/-m');
  const logLevel = parseChoice(options.logLevel, LOG_LEVELS, '--log-level');
  const auditLogStatus = auditLogStatusOf(options.auditLogsEnabled);
  const garbageCollection = garbageCollectionOf(options);
  const clientTokens = listOf(options.clientTokens);
  const notifications = listOf(options.notifications);
  return {
    name: options.name,
    ...(syncToken !== undefined ? { syncToken } : { repositories }),
    ...(mode !== undefined ? { mode } : {}),
    ...(options.parent !== undefined ? { parent: options.parent } : {}),
    ...(clientTokens.length > 0 ? { clientTokens } : {}),
    ...(options.syncSchedule !== undefined ? { syncSchedule: options.syncSchedule } : {}),
    ...(options.syncWindow !== undefined && options.syncWindow !== '' ? { syncWindow: options.syncWindow } : {}),
    ...(options.syncMessageTtl !== undefined ? { syncMessageTtl: options.syncMessageTtl } : {}),
    ...(logLevel !== undefined ? { logLevel } : {}),
    ...(auditLogStatus !== undefined ? { auditLogStatus } : {}),
    ...(notifications.length > 0 ? { notifications } : {}),
    ...(garbageCollection !== undefined ? { garbageCollection } : {}),
  };
}

/** `outpost connected-registry create`: the connected registry, with its sync token and scope map when `--repository` is given. */
export async function connectedRegistryCreate(client: ManagementClient, options: ConnectedRegistryCreateOptions): Promise<ConnectedRegistry> {
  return client.createConnectedRegistry(createRequest(options));
}

/**
 * az warns before a create with `--repository` that a scope map and a token named after the
 * connected registry would be overwritten. Outpost looks first and says it only when it happened:
 * `existing` is what `existingSyncIdentities` found, the answer what to print after the create.
 */
export function overwriteWarnings(name: string, existing: { scopeMap: boolean; token: boolean }): string {
  return (
    (existing.scopeMap ? `WARNING: Sync scope map '${name}' already existed: its actions were overwritten.\n` : '') +
    (existing.token ? `WARNING: Sync token '${name}' already existed: its properties were overwritten.\n` : '')
  );
}

/** Whether a scope map and a token named `name` exist. */
export async function existingSyncIdentities(client: ManagementClient, name: string): Promise<{ scopeMap: boolean; token: boolean }> {
  const exists = (lookup: Promise<unknown>): Promise<boolean> =>
    lookup.then(
      () => true,
      (err: unknown) => {
        if (isManagementError(err) && err.code === 'NOT_FOUND') return false;
        throw err;
      },
    );
  const [scopeMap, token] = await Promise.all([exists(client.showScopeMap(name)), exists(client.showToken(name))]);
  return { scopeMap, token };
}

export interface ConnectedRegistryUpdateOptions {
  name: string;
  addClientTokens?: ListFlag;
  removeClientTokens?: ListFlag;
  addNotifications?: ListFlag;
  removeNotifications?: ListFlag;
  syncSchedule?: string;
  /** `''` clears the window (needed to go back to a continuous schedule). */
  syncWindow?: string;
  syncMessageTtl?: string;
  logLevel?: string;
  auditLogsEnabled?: string | boolean;
  gcEnabled?: string | boolean;
  gcSchedule?: string;
}

/**
 * The PATCH of `outpost connected-registry update`: only what was given. The add/remove lists go
 * to the server as they are; it applies (current ∪ add) − remove and refuses an item in both
 * lists with az's "Update ambiguity" message. Mode and parent never change (no such flags).
 */
export function updateRequest(options: ConnectedRegistryUpdateOptions): UpdateConnectedRegistryRequest {
  const lists = {
    addClientTokens: listOf(options.addClientTokens),
    removeClientTokens: listOf(options.removeClientTokens),
    addNotifications: listOf(options.addNotifications),
    removeNotifications: listOf(options.removeNotifications),
  };
  const logLevel = parseChoice(options.logLevel, LOG_LEVELS, '--log-level');
  const auditLogStatus = auditLogStatusOf(options.auditLogsEnabled);
  const garbageCollection = garbageCollectionOf(options);
  const request: UpdateConnectedRegistryRequest = {
    ...Object.fromEntries(Object.entries(lists).filter(([, values]) => values.length > 0)),
    ...(options.syncSchedule !== undefined ? { syncSchedule: options.syncSchedule } : {}),
    ...(options.syncWindow !== undefined ? { syncWindow: options.syncWindow === '' ? null : options.syncWindow } : {}),
    ...(options.syncMessageTtl !== undefined ? { syncMessageTtl: options.syncMessageTtl } : {}),
    ...(logLevel !== undefined ? { logLevel } : {}),
    ...(auditLogStatus !== undefined ? { auditLogStatus } : {}),
    ...(garbageCollection !== undefined ? { garbageCollection } : {}),
  };
  if (Object.keys(request).length === 0) {
    throw new UsageError(
      'usage error: nothing to update: give --add-client-tokens, --remove-client-tokens, --add-notifications, --remove-notifications, ' +
        '--sync-schedule, --sync-window, --sync-message-ttl, --log-level, --audit-logs-enabled, --gc-enabled or --gc-schedule',
    );
  }
  return request;
}

export async function connectedRegistryUpdate(client: ManagementClient, options: ConnectedRegistryUpdateOptions): Promise<ConnectedRegistry> {
  return client.updateConnectedRegistry(options.name, updateRequest(options));
}

export interface ConnectedRegistryListOptions {
  parent?: string;
  /** False for `--no-children`. */
  children?: boolean;
  mode?: string;
  connectionState?: string;
}

/**
 * `outpost connected-registry list`: all of them; `--parent P` all descendants of P;
 * `--no-children` only the direct children of P (without `--parent`: the top-level ones);
 * `--mode` and `--connection-state` filter further (the API's filters).
 */
export async function connectedRegistryList(client: ManagementClient, options: ConnectedRegistryListOptions): Promise<ConnectedRegistry[]> {
  const mode = parseChoice(options.mode, MODES, '--mode/-m');
  const connectionState = parseChoice(options.connectionState, CONNECTION_STATES, '--connection-state');
  return client.listConnectedRegistries({
    ...(options.parent !== undefined ? { parent: options.parent } : {}),
    ...(options.children === false ? { noChildren: true } : {}),
    ...(mode !== undefined ? { mode } : {}),
    ...(connectionState !== undefined ? { connectionState } : {}),
  });
}

export function connectedRegistryShow(client: ManagementClient, options: { name: string }): Promise<ConnectedRegistry> {
  return client.showConnectedRegistry(options.name);
}

export function connectedRegistryDelete(client: ManagementClient, options: { name: string; cleanup?: boolean }): Promise<ConnectedRegistryDeleted> {
  return client.deleteConnectedRegistry(options.name, { cleanup: options.cleanup === true });
}

/** az's question before a delete. */
export function deleteQuestion(name: string, registry: string, cleanup: boolean | undefined): string {
  return `Are you sure you want to delete the connected registry '${name}' in '${registry}'${cleanup ? '' : ' without cleanup flag enabled'}?`;
}

export function generatePasswordQuestion(token: string, password: 1 | 2): string {
  return `Are you sure you want to generate a new sync token '${token}' password${password}?`;
}

export function deactivateQuestion(name: string, registry: string): string {
  return `Are you sure you want to deactivate the connected registry '${name}' in '${registry}'?`;
}

/**
 * The warning of a delete without `--cleanup` (az prints it as a warning, on stderr): the
 * server's message, then its cleanup commands one per line, each given `--registry` so that it
 * reaches this registry whatever the default is. Null when there is nothing to say.
 */
export function cleanupWarning(answer: ConnectedRegistryDeleted, registry: string): string | null {
  if (answer.cleanup || answer.message === undefined) return null;
  const commands = (answer.cleanupCommands ?? []).map((command) => `    ${command.startsWith('outpost ') ? `${command} --registry ${registry}` : command}\n`);
  return `WARNING: ${answer.message}\n${commands.join('')}`;
}

export function connectedRegistryDeactivate(client: ManagementClient, options: { name: string }): Promise<ConnectedRegistry> {
  return client.deactivateConnectedRegistry(options.name);
}

export interface GetSettingsOptions {
  name: string;
  parentProtocol: string;
  generatePassword?: string;
  /** Write the parent's CA certificate (OUTPOST_PARENT_CA_CERT) to this file instead of printing it. */
  caFileOut?: string;
}

/** The settings request: `--parent-protocol http|https`, `--generate-password 1|2`. */
export function settingsRequest(options: GetSettingsOptions): ConnectedRegistrySettingsRequest {
  const parentProtocol = parseChoice(options.parentProtocol, PARENT_PROTOCOLS, '--parent-protocol')!;
  const password = parseChoice(options.generatePassword, PASSWORD_NUMBERS, '--generate-password');
  return { parentProtocol, ...(password !== undefined ? { generatePassword: password === '1' ? 1 : 2 } : {}) };
}

/**
 * `outpost connected-registry get-settings`: the runtime's settings and connection string.
 * With `--generate-password N` that password of the sync token is replaced (the old one stops
 * working) and shown, only in this answer.
 */
export async function connectedRegistryGetSettings(client: ManagementClient, options: GetSettingsOptions, warn: (line: string) => void = () => undefined): Promise<ConnectedRegistrySettings> {
  const settings = await client.getConnectedRegistrySettings(options.name, settingsRequest(options));
  if (options.caFileOut === undefined) return settings;
  const { OUTPOST_PARENT_CA_CERT: ca, ...rest } = settings;
  if (ca === undefined) {
    warn(`outpost: no CA certificate to write to ${options.caFileOut}: the parent is not a root with a CA of its own, or the protocol is http (docs/deploy.md, "TLS")`);
    return rest;
  }
  await writeFile(options.caFileOut, ca, { mode: 0o644 });
  return rest;
}

/** The client tokens as token objects; `[]` when there are none (as the current az). */
export function connectedRegistryListClientTokens(client: ManagementClient, options: { name: string }): Promise<Token[]> {
  return client.listConnectedRegistryClientTokens(options.name);
}

/** The sync token's scope map. */
export function connectedRegistryPermissionsShow(client: ManagementClient, options: { name: string }): Promise<ScopeMap> {
  return client.showConnectedRegistryPermissions(options.name);
}

export interface PermissionsUpdateOptions {
  name: string;
  add?: ListFlag;
  remove?: ListFlag;
}

/**
 * `outpost connected-registry permissions update`: `--add` grants the repositories (actions of
 * the target's mode) to the target and all its ancestors, `--remove` takes them from the target
 * and all its descendants. A repository in both lists is refused by the server ("Update ambiguity").
 */
export async function connectedRegistryPermissionsUpdate(client: ManagementClient, options: PermissionsUpdateOptions): Promise<ScopeMap> {
  const add = listOf(options.add);
  const remove = listOf(options.remove);
  if (add.length === 0 && remove.length === 0) throw new UsageError('No repository permissions to update.');
  return client.updateConnectedRegistryPermissions(options.name, { ...(add.length > 0 ? { add } : {}), ...(remove.length > 0 ? { remove } : {}) });
}

/** `outpost connected-registry gc`: the edge collects its garbage (or reports what it would free) at its next contact with its parent. */
export function connectedRegistryGc(client: ManagementClient, options: { name: string; dryRun?: boolean }): Promise<ConnectedRegistryGcRequested> {
  return client.requestConnectedRegistryGc(options.name, { dryRun: options.dryRun === true });
}

/** `outpost connected-registry resync`: the edge reconciles in full at its next contact with its parent. */
export function connectedRegistryResync(client: ManagementClient, options: { name: string }): Promise<ConnectedRegistryResync> {
  return client.resyncConnectedRegistry(options.name);
}

// --- tables -------------------------------------------------------------------------------------

function parentOf(row: Record<string, unknown>): Partial<ConnectedRegistry['parent']> {
  const parent = row.parent;
  return parent !== null && typeof parent === 'object' ? (parent as Partial<ConnectedRegistry['parent']>) : {};
}

/** `connectedRegistries/edge01` → `edge01`. */
function parentName(row: Record<string, unknown>): string {
  const id = parentOf(row).id;
  return typeof id === 'string' ? id.slice(id.lastIndexOf('/') + 1) : '';
}

/** `YYYY-MM-DDTHH:MM:SSZ`, as az's tables show times. */
function utcTime(value: unknown): string {
  if (typeof value !== 'string') return '';
  const time = new Date(value);
  return Number.isNaN(time.getTime()) ? value : `${time.toISOString().slice(0, 19)}Z`;
}

function storageOf(row: Record<string, unknown>): Partial<StorageUsage> | null {
  const storage = row.storage;
  return storage !== null && typeof storage === 'object' ? (storage as Partial<StorageUsage>) : null;
}

function loginServerHost(row: Record<string, unknown>): string {
  const server = row.loginServer;
  return server !== null && typeof server === 'object' && typeof (server as { host?: unknown }).host === 'string' ? (server as { host: string }).host : '';
}

const LIST_COLUMNS: TableSpec['columns'] = [
  { header: 'NAME', value: (row) => row.name },
  { header: 'MODE', value: (row) => row.mode },
  { header: 'CONNECTION STATE', value: (row) => row.connectionState },
  { header: 'PARENT', value: parentName },
  { header: 'LOGIN SERVER', value: loginServerHost },
  { header: 'LAST SYNC (UTC)', value: (row) => utcTime(parentOf(row).syncProperties?.lastSyncTime) },
  // What the edge stores, and what its disk still has for it, at its last heartbeat.
  { header: 'STORAGE USED', value: (row) => humanBytes(storageOf(row)?.usedBytes) },
  { header: 'STORAGE FREE', value: (row) => humanBytes(storageOf(row)?.availableBytes) },
];

/** az's `connected-registry list -o table` columns. */
export const CONNECTED_REGISTRY_LIST_TABLE: TableSpec = { columns: LIST_COLUMNS };

/** The edge's last garbage collection in a few words: `2025-01-02T03:04:05Z freed 1.2 MiB` (`would free` for a dry run). */
function lastGc(row: Record<string, unknown>): string {
  const report = row.lastGarbageCollection as GcReport | null | undefined;
  if (report === null || report === undefined || typeof report !== 'object') return '';
  return `${utcTime(report.finishedAt)} ${report.dryRun ? 'would free' : 'freed'} ${formatBytes(report.freedBytes)}`;
}

/** create, update, deactivate: the list columns plus SYNC SCHEDULE and SYNC WINDOW (az's `show` table). */
export const CONNECTED_REGISTRY_TABLE: TableSpec = {
  columns: [
    ...LIST_COLUMNS,
    { header: 'SYNC SCHEDULE', value: (row) => parentOf(row).syncProperties?.schedule },
    { header: 'SYNC WINDOW', value: (row) => parentOf(row).syncProperties?.syncWindow },
  ],
};

/** `show`: az's columns, then Outpost's own LAST GC (UTC), the edge's last garbage collection. */
export const CONNECTED_REGISTRY_SHOW_TABLE: TableSpec = {
  columns: [...CONNECTED_REGISTRY_TABLE.columns, { header: 'LAST GC (UTC)', value: lastGc }],
};

// --- registration -------------------------------------------------------------------------------

const nameOption = () => new Option('-n, --name <name>', 'name of the connected registry').makeOptionMandatory();
const yesOption = () => new Option('-y, --yes', 'do not ask for confirmation');
const logLevelOption = (extra = '') => new Option('--log-level <level>', `log level on the edge: ${LOG_LEVELS.join(', ')}${extra}`);
const auditOption = (extra = '') => new Option('--audit-logs-enabled [bool]', `synchronize audit logs: true or false (alone: true)${extra}`);
/** `--gc-enabled`, `--gc-schedule`; `withDefaults` names the server's defaults (create). */
const gcOptions = (command: Command, withDefaults: boolean) =>
  command
    .addOption(new Option('--gc-enabled [bool]', `garbage collection on the edge: true or false (alone: true)${withDefaults ? ' (default: false)' : ''}`))
    .option('--gc-schedule <cron>', `when garbage collection runs (5-field cron, UTC)${withDefaults ? ' (default: "0 0 * * *")' : ''}`);

/** Registers `outpost connected-registry …` (az's `acr connected-registry`). */
export function registerConnectedRegistryCommands(program: Command, ctx: CliContext): void {
  const group = program
    .command('connected-registry')
    .description('manage connected registries: edge nodes that sync content with this root, or with another connected registry');

  gcOptions(
    withCommonFlags(group.command('create').description('create a connected registry (and its sync token and scope map, with --repository)'))
      .addOption(nameOption())
      .option('--repository <repos...>', 'repositories to sync; creates the sync scope map and token named after the connected registry')
      .option('--sync-token <token>', 'an existing token to sync with instead (its scope map says what syncs)')
      .addOption(new Option('-m, --mode <mode>', `${MODES.join(' or ')} (default: ReadOnly)`))
      .option('-p, --parent <name>', 'the parent connected registry (default: this root)')
      .option('--client-tokens <tokens...>', 'tokens that clients of the connected registry use')
      .option('-s, --sync-schedule <cron>', 'when to sync: 5-field cron, UTC (default: "* * * * *", continuously)')
      .option('-w, --sync-window <duration>', 'how long each scheduled sync may run, ISO 8601, PT1H to P7D (only with a --sync-schedule that is not continuous)')
      .option('--sync-message-ttl <duration>', 'how long sync messages are kept, ISO 8601, P1D to P90D (default: P2D)')
      .addOption(logLevelOption(' (default: Information)'))
      .option('--notifications <patterns...>', 'artifacts to notify about: name[:tag][@digest]:push|delete|*')
      .addOption(auditOption(' (default: false)'))
      // az's create asks before enabling a data endpoint; Outpost has nothing to ask, but accepts the flag.
      .addOption(yesOption().hideHelp()),
    true,
  )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  outpost connected-registry create -n edge01 --repository hello-world acr/connected-registry\n' +
        '  outpost connected-registry create -n edge02 -p edge01 --repository hello-world -s "0 9 * * *" -w PT3H --client-tokens t-line1\n',
    )
    .action((flags: ConnectedRegistryCreateOptions & CommonFlags) =>
      runManaged(
        ctx,
        flags,
        async (client, f) => {
          // The arguments are checked before anything is asked of the registry.
          const existing = createRequest(f).repositories !== undefined ? await existingSyncIdentities(client, f.name) : null;
          const created = await connectedRegistryCreate(client, f);
          if (existing !== null) process.stderr.write(overwriteWarnings(f.name, existing));
          return created;
        },
        CONNECTED_REGISTRY_TABLE,
      ),
    );

  gcOptions(
    withCommonFlags(group.command('update').description("change a connected registry's client tokens, notifications, sync, logging or garbage collection"))
      .addOption(nameOption())
      .option('--add-client-tokens [tokens...]', 'client tokens to add')
      .option('--remove-client-tokens [tokens...]', 'client tokens to remove')
      .option('--add-notifications [patterns...]', 'notification patterns to add')
      .option('--remove-notifications [patterns...]', 'notification patterns to remove')
      .option('-s, --sync-schedule <cron>', 'when to sync: 5-field cron, UTC ("* * * * *": continuously)')
      .option('-w, --sync-window <duration>', 'how long each scheduled sync may run, ISO 8601, PT1H to P7D; "" removes it')
      .option('--sync-message-ttl <duration>', 'how long sync messages are kept, ISO 8601, P1D to P90D')
      .addOption(logLevelOption())
      .addOption(auditOption()),
    false,
  )
    .addHelpText(
      'after',
      '\nMode and parent cannot be changed. Lists change as sets: (current + add) - remove; a value in both is refused.\n\n' +
        'Examples:\n' +
        '  outpost connected-registry update -n edge01 --add-client-tokens t-line1 t-line2 --remove-client-tokens t-old1\n' +
        '  outpost connected-registry update -n edge01 -s "0 12 * * *" -w PT4H\n' +
        '  outpost connected-registry update -n edge01 -s "* * * * *" -w ""\n',
    )
    .action((flags: ConnectedRegistryUpdateOptions & CommonFlags) => runManaged(ctx, flags, connectedRegistryUpdate, CONNECTED_REGISTRY_TABLE));

  withCommonFlags(group.command('delete').description('delete a connected registry (not while it has children)'))
    .addOption(nameOption())
    .option('--cleanup', "also delete its sync token and scope map, and its gateway actions from its ancestors' sync scope maps")
    .addOption(yesOption())
    .action((flags: { name: string; cleanup?: boolean; yes?: boolean } & CommonFlags) =>
      runManaged(ctx, flags, async (client, f) => {
        await confirm(deleteQuestion(f.name, client.registry, f.cleanup), f.yes, ctx);
        const answer = await connectedRegistryDelete(client, f);
        // az's warning: stderr, so that the command, like every delete, prints nothing on stdout.
        const warning = cleanupWarning(answer, client.registry);
        if (warning !== null) process.stderr.write(warning);
        return undefined;
      }),
    );

  withCommonFlags(group.command('deactivate').description('deactivate a connected registry, so that another instance can activate it'))
    .addOption(nameOption())
    .addOption(yesOption())
    .action((flags: { name: string; yes?: boolean } & CommonFlags) =>
      runManaged(
        ctx,
        flags,
        async (client, f) => {
          await confirm(deactivateQuestion(f.name, client.registry), f.yes, ctx);
          return connectedRegistryDeactivate(client, f);
        },
        CONNECTED_REGISTRY_TABLE,
      ),
    );

  withCommonFlags(group.command('list').description('list connected registries'))
    .option('-p, --parent <name>', 'only the descendants of this connected registry')
    .option('--no-children', 'only direct children: of --parent, or (without it) of this root')
    .addOption(new Option('-m, --mode <mode>', `only this mode: ${MODES.join(', ')}`))
    .addOption(new Option('--connection-state <state>', `only this connection state: ${CONNECTION_STATES.join(', ')}`))
    .addHelpText(
      'after',
      '\nExamples:\n  outpost connected-registry list -o table\n  outpost connected-registry list --parent edge01 --no-children --query "[].name" -o tsv\n',
    )
    .action((flags: ConnectedRegistryListOptions & CommonFlags) => runManaged(ctx, flags, connectedRegistryList, CONNECTED_REGISTRY_LIST_TABLE));

  withCommonFlags(group.command('show').description('show a connected registry'))
    .addOption(nameOption())
    .action((flags: { name: string } & CommonFlags) => runManaged(ctx, flags, connectedRegistryShow, CONNECTED_REGISTRY_SHOW_TABLE));

  withCommonFlags(group.command('get-settings').description('the settings and connection string to run the connected registry with'))
    .addOption(nameOption())
    .addOption(new Option('--parent-protocol <protocol>', `protocol to reach the parent: ${PARENT_PROTOCOLS.join(' or ')}`).makeOptionMandatory())
    .addOption(new Option('--generate-password <n>', "replace the sync token's password1 or password2 (the old one stops working) and show it"))
    .addOption(yesOption())
    .option('--ca-file-out <file>', "write the parent's CA certificate (PEM) to this file, for the edge's --parent-ca (https parents with a CA of their own)")
    .addHelpText(
      'after',
      '\nExample:\n  outpost connected-registry get-settings -n edge01 --parent-protocol https --generate-password 1 --query ACR_REGISTRY_CONNECTION_STRING -o tsv --yes\n',
    )
    .action((flags: GetSettingsOptions & { yes?: boolean } & CommonFlags) =>
      runManaged(ctx, flags, async (client, f) => {
        const request = settingsRequest(f);
        if (request.generatePassword !== undefined && !f.yes) {
          // The question names the sync token, read from the connected registry as az does; without a terminal there is nothing to ask.
          const token = ctx.interactive ? syncTokenName(await client.showConnectedRegistry(f.name)) : '';
          await confirm(generatePasswordQuestion(token, request.generatePassword), f.yes, ctx);
        }
        return connectedRegistryGetSettings(client, f, (line) => void process.stderr.write(`${line}\n`));
      }),
    );

  withCommonFlags(group.command('list-client-tokens').description("list a connected registry's client tokens"))
    .addOption(nameOption())
    .action((flags: { name: string } & CommonFlags) => runManaged(ctx, flags, connectedRegistryListClientTokens, TOKEN_TABLE));

  const permissions = group.command('permissions').description("manage the repositories a connected registry's sync token may sync");
  withCommonFlags(permissions.command('show').description("show the sync token's scope map"))
    .addOption(nameOption())
    .action((flags: { name: string } & CommonFlags) => runManaged(ctx, flags, connectedRegistryPermissionsShow, SCOPE_MAP_TABLE));

  withCommonFlags(permissions.command('update').description('add or remove repositories to sync'))
    .addOption(nameOption())
    .option('--add [repos...]', 'repositories to add to it and its ancestors (actions of its mode)')
    .option('--remove [repos...]', 'repositories to remove from it and its descendants')
    .addHelpText('after', '\nExample:\n  outpost connected-registry permissions update -n edge01 --add team/app --remove old-repo\n')
    .action((flags: PermissionsUpdateOptions & CommonFlags) => runManaged(ctx, flags, connectedRegistryPermissionsUpdate, SCOPE_MAP_TABLE));

  withCommonFlags(group.command('gc').description('ask the connected registry to collect its garbage at its next contact with its parent'))
    .addOption(nameOption())
    .option('--dry-run', 'only report what would be freed')
    .addHelpText(
      'after',
      '\nThe edge runs it once and reports in its status: outpost connected-registry show -n <name> --query lastGarbageCollection\n\n' +
        'Example:\n  outpost connected-registry gc -n edge01 --dry-run\n',
    )
    .action((flags: { name: string; dryRun?: boolean } & CommonFlags) => runManaged(ctx, flags, connectedRegistryGc));

  withCommonFlags(group.command('resync').description('ask the connected registry to reconcile in full at its next contact with its parent'))
    .addOption(nameOption())
    .action((flags: { name: string } & CommonFlags) => runManaged(ctx, flags, connectedRegistryResync));
}

/** `tokens/edge01` → `edge01`. */
function syncTokenName(registry: ConnectedRegistry): string {
  const id = registry.parent.syncProperties.tokenId;
  return id.slice(id.lastIndexOf('/') + 1);
}
