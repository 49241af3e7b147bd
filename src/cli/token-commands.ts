import { Command, Option } from 'commander';
import type { ManagementClient, PasswordName, Token, TokenStatus } from '../client/management-client.js';
import { buildActions, collectGroups, parseExpiry } from './action-args.js';
import { confirm, runManaged, withCommonFlags, type CliContext, type CommonFlags } from './command-context.js';
import type { TableSpec } from './output.js';
import { UsageError } from './usage-error.js';

export interface TokenCreateOptions {
  name: string;
  scopeMap?: string;
  /** `--repository REPO ACTION…` groups. */
  repository?: string[][];
  /** `--gateway GW ACTION…` groups. */
  gateway?: string[][];
  status?: TokenStatus;
  /** False for `--no-passwords`. */
  passwords?: boolean;
  expirationInDays?: string;
  expiration?: string;
}

/** `outpost token create`: a token on an existing scope map, or on a new `<name>-scope-map`. */
export async function tokenCreate(client: ManagementClient, options: TokenCreateOptions): Promise<Token> {
  const actions = [...buildActions(options.repository ?? [], 'repository'), ...buildActions(options.gateway ?? [], 'gateway')];
  const hasActions = (options.repository?.length ?? 0) + (options.gateway?.length ?? 0) > 0;
  if (options.scopeMap !== undefined && hasActions) {
    throw new UsageError('usage error: --scope-map cannot be used together with --repository or --gateway');
  }
  if (options.scopeMap === undefined && !hasActions) {
    throw new UsageError('usage error: give --scope-map, or --repository/--gateway to create the scope map "<token>-scope-map"');
  }
  const expiry = parseExpiry(options);
  if (options.passwords === false && expiry !== undefined) {
    throw new UsageError('usage error: --expiration-in-days/--expiration cannot be used with --no-passwords');
  }
  return client.createToken({
    name: options.name,
    ...(options.scopeMap !== undefined ? { scopeMap: options.scopeMap } : { actions }),
    ...(options.status !== undefined ? { status: options.status } : {}),
    ...(options.passwords === false ? { noPasswords: true } : {}),
    ...(expiry !== undefined ? { expiry } : {}),
  });
}

export function tokenList(client: ManagementClient): Promise<Token[]> {
  return client.listTokens();
}

export function tokenShow(client: ManagementClient, options: { name: string }): Promise<Token> {
  return client.showToken(options.name);
}

export interface TokenUpdateOptions {
  name: string;
  scopeMap?: string;
  status?: TokenStatus;
}

/**
 * `outpost token update`. Unlike az, leaving out `--scope-map` keeps the current scope map (az
 * disassociates it); nothing is sent for flags not given.
 */
export async function tokenUpdate(client: ManagementClient, options: TokenUpdateOptions): Promise<Token> {
  if (options.scopeMap === undefined && options.status === undefined) {
    throw new UsageError('usage error: nothing to update: give --scope-map and/or --status');
  }
  return client.updateToken(options.name, {
    ...(options.scopeMap !== undefined ? { scopeMap: options.scopeMap } : {}),
    ...(options.status !== undefined ? { status: options.status } : {}),
  });
}

export async function tokenDelete(client: ManagementClient, options: { name: string }): Promise<void> {
  await client.deleteToken(options.name);
}

export interface CredentialGenerateOptions {
  name: string;
  password1?: boolean;
  password2?: boolean;
  expirationInDays?: string;
  expiration?: string;
}

/**
 * `outpost token credential generate`: new password1 and/or password2 (both when neither flag is
 * given, as az). Answers the token with each new password's `value`, shown only this once.
 */
export async function tokenCredentialGenerate(client: ManagementClient, options: CredentialGenerateOptions): Promise<Token> {
  const expiry = parseExpiry(options);
  const names = selectedPasswords(options) ?? (['password1', 'password2'] as PasswordName[]);
  const values = new Map<PasswordName, string>();
  let token: Token | undefined;
  for (const passwordName of names) {
    token = await client.generateCredential(options.name, passwordName, expiry);
    const value = token.credentials.passwords.find((p) => p.name === passwordName)?.value;
    if (value !== undefined) values.set(passwordName, value);
  }
  // The last answer has the current state of both passwords; put back the values of the earlier ones.
  const passwords = token!.credentials.passwords.map((p) => (values.has(p.name) ? { ...p, value: values.get(p.name)! } : p));
  return { ...token!, credentials: { ...token!.credentials, passwords } };
}

export interface CredentialDeleteOptions {
  name: string;
  password1?: boolean;
  password2?: boolean;
}

export async function tokenCredentialDelete(client: ManagementClient, options: CredentialDeleteOptions): Promise<Token> {
  const names = selectedPasswords(options);
  if (!names) throw new UsageError('usage error: nothing to delete: give --password1 and/or --password2');
  let token: Token | undefined;
  for (const passwordName of names) token = await client.deleteCredential(options.name, passwordName);
  return token!;
}

function selectedPasswords(options: { password1?: boolean; password2?: boolean }): PasswordName[] | null {
  const names: PasswordName[] = [];
  if (options.password1) names.push('password1');
  if (options.password2) names.push('password2');
  return names.length > 0 ? names : null;
}

function expiryOf(name: PasswordName) {
  return (row: Record<string, unknown>) => (row as unknown as Token).credentials?.passwords?.find((p) => p.name === name)?.expiry ?? '';
}

export const TOKEN_TABLE: TableSpec = {
  columns: [
    { header: 'NAME', value: (row) => row.name },
    { header: 'STATUS', value: (row) => row.status },
    { header: 'SCOPE MAP', value: (row) => (typeof row.scopeMapId === 'string' ? row.scopeMapId.replace(/^scopeMaps\//, '') : '') },
    { header: 'PASSWORD1 EXPIRY', value: expiryOf('password1') },
    { header: 'PASSWORD2 EXPIRY', value: expiryOf('password2') },
    { header: 'CREATION DATE', value: (row) => row.creationDate },
  ],
};

/** The table of `token create` and `credential generate`: the new passwords, since they show only once. */
export const NEW_PASSWORDS_TABLE: TableSpec = {
  rows: (data) => (data as Token).credentials.passwords.filter((p) => p.value !== undefined),
  columns: [
    { header: 'PASSWORD', value: (row) => row.name },
    { header: 'VALUE', value: (row) => row.value },
    { header: 'EXPIRY', value: (row) => row.expiry },
  ],
};

const statusOption = () => new Option('--status <status>', 'status of the token').choices(['enabled', 'disabled']);
const nameOption = () => new Option('-n, --name <name>', 'name of the token').makeOptionMandatory();
const expiryOptions = (command: Command) =>
  command
    .option('--expiration-in-days <days>', 'the password expires after this many days (default: never)')
    .option('--expiration <datetime>', 'the password expires at this UTC time, YYYY-MM-DDTHH:MM:SSZ (default: never)');

/** Registers `outpost token …` and `outpost token credential …`. */
export function registerTokenCommands(program: Command, ctx: CliContext): void {
  const token = program.command('token').description('manage tokens: credentials for clients, scoped by a scope map');

  expiryOptions(
    withCommonFlags(token.command('create').description('create a token; its passwords are shown once, in this answer'))
      .addOption(nameOption())
      .option('--scope-map <name>', 'name of the scope map the token gets')
      .option('--repository <repo-and-actions...>', 'REPO ACTION…: create "<token>-scope-map" with these repository actions (repeatable)')
      .option('--gateway <gw-and-actions...>', 'GW ACTION…: create "<token>-scope-map" with these gateway actions (repeatable)')
      .addOption(statusOption().default('enabled'))
      .option('--no-passwords', 'create the token without passwords (generate them later)'),
  )
    .addHelpText('after', '\nExamples:\n  outpost token create -n t-line1 --scope-map hello-world-scopemap\n  outpost token create -n t-line2 --repository hello content/read metadata/read --expiration-in-days 30\n')
    .action((flags: TokenCreateOptions & CommonFlags) =>
      runManaged(
        ctx,
        { ...flags, repository: collectGroups(ctx.argv, ['--repository']), gateway: collectGroups(ctx.argv, ['--gateway']) },
        tokenCreate,
        NEW_PASSWORDS_TABLE,
      ),
    );

  withCommonFlags(token.command('list').description('list the tokens of the registry'))
    .action((flags: CommonFlags) => runManaged(ctx, flags, tokenList, TOKEN_TABLE));

  withCommonFlags(token.command('show').description('show a token'))
    .addOption(nameOption())
    .action((flags: { name: string } & CommonFlags) => runManaged(ctx, flags, tokenShow, TOKEN_TABLE));

  withCommonFlags(token.command('update').description("change a token's status or scope map"))
    .addOption(nameOption())
    .option('--scope-map <name>', 'the scope map the token gets (left out: unchanged)')
    .addOption(statusOption())
    .action((flags: TokenUpdateOptions & CommonFlags) => runManaged(ctx, flags, tokenUpdate, TOKEN_TABLE));

  withCommonFlags(token.command('delete').description('delete a token'))
    .addOption(nameOption())
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (flags: { name: string; yes?: boolean } & CommonFlags) => {
      await confirm(`Are you sure you want to delete the token '${flags.name}'?`, flags.yes, ctx);
      await runManaged(ctx, flags, tokenDelete);
    });

  const credential = token.command('credential').description("manage a token's passwords");
  expiryOptions(
    withCommonFlags(credential.command('generate').description('generate password1 and/or password2 (both when neither is given); shown once'))
      .addOption(nameOption())
      .option('--password1', 'generate password1')
      .option('--password2', 'generate password2'),
  )
    .addHelpText('after', '\nExample:\n  outpost token credential generate -n t-line1 --password1 --expiration-in-days 30\n')
    .action((flags: CredentialGenerateOptions & CommonFlags) => runManaged(ctx, flags, tokenCredentialGenerate, NEW_PASSWORDS_TABLE));

  withCommonFlags(credential.command('delete').description('delete password1 and/or password2'))
    .addOption(nameOption())
    .option('--password1', 'delete password1')
    .option('--password2', 'delete password2')
    .action((flags: CredentialDeleteOptions & CommonFlags) => runManaged(ctx, flags, tokenCredentialDelete, TOKEN_TABLE));
}
