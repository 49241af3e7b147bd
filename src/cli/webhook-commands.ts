import { Command, Option } from 'commander';
import type { ManagementClient } from '../client/management-client.js';
import type { UpdateWebhookRequest, Webhook, WebhookEvent, WebhookPing, WebhookStatus } from '../client/webhook-types.js';
import { parseChoice } from './connected-registry-args.js';
import { confirm, runManaged, withCommonFlags, type CliContext, type CommonFlags } from './command-context.js';
import type { TableSpec } from './output.js';
import { UsageError } from './usage-error.js';

/**
 * `outpost webhook …`: the root's webhooks, as `az acr webhook` manages them
 * (docs/cli.md, "Webhooks"). The checks az makes before sending anything are made here (exit 2,
 * nothing sent); the server has the rest of the rules (URI, scope, header names and values).
 */

const STATUSES: readonly WebhookStatus[] = ['enabled', 'disabled'];
const ACTIONS = ['push', 'delete'] as const;
/** The reference's actions Outpost has no source for: refused with why. */
const FOREIGN_ACTIONS: Record<string, string> = {
  quarantine: 'Outpost has no quarantine',
  chart_push: 'Outpost has no Helm chart repositories (a chart pushed as an OCI artifact is a push event)',
  chart_delete: 'Outpost has no Helm chart repositories (a chart deleted as an OCI artifact is a delete event)',
};

/** `--actions push delete`: push and/or delete; quarantine and chart actions are refused with why. */
export function parseActions(values: readonly string[]): string[] {
  if (values.length === 0) throw new UsageError('argument --actions: expected one or more of push, delete');
  const actions: string[] = [];
  for (const value of values) {
    const lower = value.toLowerCase();
    if (lower in FOREIGN_ACTIONS) throw new UsageError(`argument --actions: '${value}' is not supported: ${FOREIGN_ACTIONS[lower]}. Use push and/or delete.`);
    const action = parseChoice(lower, ACTIONS, '--actions');
    if (action !== undefined && !actions.includes(action)) actions.push(action);
  }
  return actions;
}

/**
 * `--headers k=v …` (az's "key[=value]" pairs; a value may hold '=' and spaces when quoted): an
 * object of header names to values; `""` alone is no headers (to clear them on update). The
 * messages never repeat a value: it may be a secret.
 */
export function parseHeaders(values: readonly string[]): Record<string, string> {
  if (values.length === 1 && values[0] === '') return {};
  const headers: Record<string, string> = {};
  for (const pair of values) {
    const eq = pair.indexOf('=');
    const name = (eq === -1 ? pair : pair.slice(0, eq)).trim();
    if (name === '') throw new UsageError('argument --headers: use NAME=VALUE pairs, e.g. --headers "Authorization=Basic …" X-Env=prod');
    if (Object.keys(headers).some((h) => h.toLowerCase() === name.toLowerCase())) throw new UsageError(`argument --headers: the header '${name}' is given twice`);
    headers[name] = eq === -1 ? '' : pair.slice(eq + 1);
  }
  return headers;
}

export interface WebhookCreateOptions {
  name: string;
  uri: string;
  actions: string[];
  scope?: string;
  headers?: string[];
  status?: string;
}

export function webhookCreate(client: ManagementClient, options: WebhookCreateOptions): Promise<Webhook> {
  const status = parseChoice(options.status, STATUSES, '--status');
  return client.createWebhook({
    name: options.name,
    serviceUri: options.uri,
    actions: parseActions(options.actions),
    ...(options.scope !== undefined ? { scope: options.scope } : {}),
    ...(options.headers !== undefined ? { customHeaders: parseHeaders(options.headers) } : {}),
    ...(status !== undefined ? { status } : {}),
  });
}

export function webhookList(client: ManagementClient): Promise<Webhook[]> {
  return client.listWebhooks();
}

export function webhookShow(client: ManagementClient, options: { name: string }): Promise<Webhook> {
  return client.showWebhook(options.name);
}

export interface WebhookUpdateOptions {
  name: string;
  uri?: string;
  actions?: string[];
  scope?: string;
  headers?: string[];
  status?: string;
}

/** `outpost webhook update`: what is given changes; `--headers` replaces the whole set (`--headers ""` clears it). */
export function webhookUpdate(client: ManagementClient, options: WebhookUpdateOptions): Promise<Webhook> {
  const status = parseChoice(options.status, STATUSES, '--status');
  const change: UpdateWebhookRequest = {
    ...(options.uri !== undefined ? { serviceUri: options.uri } : {}),
    ...(options.actions !== undefined ? { actions: parseActions(options.actions) } : {}),
    ...(options.scope !== undefined ? { scope: options.scope } : {}),
    ...(options.headers !== undefined ? { customHeaders: parseHeaders(options.headers) } : {}),
    ...(status !== undefined ? { status } : {}),
  };
  if (Object.keys(change).length === 0) throw new UsageError('usage error: nothing to update: give --uri, --actions, --scope, --headers or --status');
  return client.updateWebhook(options.name, change);
}

export async function webhookDelete(client: ManagementClient, options: { name: string }): Promise<void> {
  await client.deleteWebhook(options.name);
}

export function webhookPing(client: ManagementClient, options: { name: string }): Promise<WebhookPing> {
  return client.pingWebhook(options.name);
}

export function webhookListEvents(client: ManagementClient, options: { name: string; top?: string }): Promise<WebhookEvent[]> {
  let top: number | undefined;
  if (options.top !== undefined) {
    if (!/^\d{1,4}$/.test(options.top) || Number(options.top) < 1 || Number(options.top) > 1000) throw new UsageError(`argument --top: expected a whole number from 1 to 1000 (got '${options.top}')`);
    top = Number(options.top);
  }
  return client.listWebhookEvents(options.name, top);
}

export const WEBHOOK_TABLE: TableSpec = {
  columns: [
    { header: 'NAME', value: (row) => row.name },
    { header: 'STATUS', value: (row) => row.status },
    { header: 'ACTIONS', value: (row) => (row.actions as string[]).join(', ') },
    { header: 'SCOPE', value: (row) => row.scope },
    { header: 'SERVICE URI', value: (row) => row.serviceUri },
    { header: 'PENDING', value: (row) => (row.deliveries as Webhook['deliveries']).pending },
    { header: 'DELIVERED', value: (row) => (row.deliveries as Webhook['deliveries']).delivered },
    { header: 'FAILED', value: (row) => (row.deliveries as Webhook['deliveries']).failed },
  ],
};

export const PING_TABLE: TableSpec = {
  columns: [
    { header: 'ID', value: (row) => row.id },
    { header: 'DELIVERED', value: (row) => row.delivered },
    { header: 'STATUS', value: (row) => row.status },
    { header: 'DURATION MS', value: (row) => row.durationMs },
    { header: 'ERROR', value: (row) => row.error },
  ],
};

export const EVENTS_TABLE: TableSpec = {
  columns: [
    { header: 'TIMESTAMP', value: (row) => row.timestamp },
    { header: 'ID', value: (row) => row.id },
    { header: 'ACTION', value: (row) => row.action },
    { header: 'ATTEMPT', value: (row) => row.attempt },
    { header: 'STATE', value: (row) => row.state },
    { header: 'STATUS', value: (row) => (row.eventResponseMessage as WebhookEvent['eventResponseMessage'])?.statusCode ?? null },
    { header: 'DURATION MS', value: (row) => row.durationMs },
    { header: 'ERROR', value: (row) => row.error },
  ],
};

const nameOption = () => new Option('-n, --name <name>', 'name of the webhook (5 to 50 letters and digits)').makeOptionMandatory();
const actionsHelp = 'push and/or delete (space-separated): the events that trigger the webhook';
const scopeHelp = "repository[:tag] the events must be about: 'foo:*' every event of foo, 'foo:bar' tag bar only, 'foo' is foo:latest; "
  + "the repository may be '*' or 'prefix/*'; empty for every event";
const headersHelp = 'custom headers as NAME=VALUE pairs (space-separated), sent with every delivery; values of secret-looking ones are never shown';

/** Registers `outpost webhook …`. */
export function registerWebhookCommands(program: Command, ctx: CliContext): void {
  const webhook = program.command('webhook').description("manage the root's webhooks: HTTP notifications of pushes and deletes");

  withCommonFlags(webhook.command('create').description('create a webhook'))
    .addOption(nameOption())
    .addOption(new Option('--uri <uri>', 'the service URI the events are POSTed to (http or https)').makeOptionMandatory())
    .addOption(new Option('--actions <action...>', actionsHelp).makeOptionMandatory())
    .option('--scope <scope>', scopeHelp)
    .option('--headers <name=value...>', headersHelp)
    .option('--status <status>', 'enabled (default) or disabled')
    .addHelpText('after', '\nExamples:\n  outpost webhook create -n mywebhook --uri http://myservice.example/hook --actions push delete\n'
      + '  outpost webhook create -n prodpushes --uri https://hooks.example/acr --actions push --scope "prod/*:*" --headers "Authorization=Basic 000000"\n')
    .action((flags: WebhookCreateOptions & CommonFlags) => runManaged(ctx, flags, webhookCreate, WEBHOOK_TABLE));

  withCommonFlags(webhook.command('list').description('list the webhooks'))
    .action((flags: CommonFlags) => runManaged(ctx, flags, webhookList, WEBHOOK_TABLE));

  withCommonFlags(webhook.command('show').description('show a webhook'))
    .addOption(nameOption())
    .action((flags: { name: string } & CommonFlags) => runManaged(ctx, flags, webhookShow, WEBHOOK_TABLE));

  withCommonFlags(webhook.command('update').description('change a webhook (what is given changes)'))
    .addOption(nameOption())
    .option('--uri <uri>', 'a new service URI')
    .option('--actions <action...>', actionsHelp)
    .option('--scope <scope>', scopeHelp)
    .option('--headers <name=value...>', `${headersHelp}; replaces the current set, "" clears it`)
    .option('--status <status>', 'enabled or disabled')
    .action((flags: WebhookUpdateOptions & CommonFlags) => runManaged(ctx, flags, webhookUpdate, WEBHOOK_TABLE));

  withCommonFlags(webhook.command('delete').description('delete a webhook with its queued deliveries and history'))
    .addOption(nameOption())
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (flags: { name: string; yes?: boolean } & CommonFlags) => {
      await confirm(`Are you sure you want to delete the webhook '${flags.name}'?`, flags.yes, ctx);
      await runManaged(ctx, flags, webhookDelete);
    });

  withCommonFlags(webhook.command('ping').description('send a ping event to the webhook now (once, recorded in its history)'))
    .addOption(nameOption())
    .action((flags: { name: string } & CommonFlags) => runManaged(ctx, flags, webhookPing, PING_TABLE));

  withCommonFlags(webhook.command('list-events').description("list the webhook's delivery attempts, newest first (request and response)"))
    .addOption(nameOption())
    .option('--top <n>', 'how many attempts (1 to 1000; default 50)')
    .action((flags: { name: string; top?: string } & CommonFlags) => runManaged(ctx, flags, webhookListEvents, EVENTS_TABLE));
}
