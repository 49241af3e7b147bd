import { Command, Option } from 'commander';
import type { ManagementClient, ScopeMap } from '../client/management-client.js';
import { buildActions, collectGroups } from './action-args.js';
import { confirm, runManaged, withCommonFlags, type CliContext, type CommonFlags } from './command-context.js';
import type { TableSpec } from './output.js';
import { UsageError } from './usage-error.js';

const MAX_DESCRIPTION = 256;

function checkDescription(description: string | undefined): void {
  if (description !== undefined && description.length > MAX_DESCRIPTION) {
    throw new UsageError(`argument --description: at most ${MAX_DESCRIPTION} characters (got ${description.length})`);
  }
}

export interface ScopeMapCreateOptions {
  name: string;
  description?: string;
  /** `--repository REPO ACTION…` groups. */
  repository?: string[][];
  /** `--gateway GW ACTION…` groups. */
  gateway?: string[][];
}

export async function scopeMapCreate(client: ManagementClient, options: ScopeMapCreateOptions): Promise<ScopeMap> {
  checkDescription(options.description);
  const actions = [...buildActions(options.repository ?? [], 'repository'), ...buildActions(options.gateway ?? [], 'gateway')];
  if (actions.length === 0) throw new UsageError('usage error: give at least one --repository REPO ACTION… or --gateway GW ACTION…');
  return client.createScopeMap({ name: options.name, actions, ...(options.description !== undefined ? { description: options.description } : {}) });
}

export function scopeMapList(client: ManagementClient): Promise<ScopeMap[]> {
  return client.listScopeMaps();
}

export function scopeMapShow(client: ManagementClient, options: { name: string }): Promise<ScopeMap> {
  return client.showScopeMap(options.name);
}

export interface ScopeMapUpdateOptions {
  name: string;
  description?: string;
  addRepository?: string[][];
  removeRepository?: string[][];
  addGateway?: string[][];
  removeGateway?: string[][];
}

/** `outpost scope-map update`: adds and removes actions (set semantics on the server) and/or sets the description. */
export async function scopeMapUpdate(client: ManagementClient, options: ScopeMapUpdateOptions): Promise<ScopeMap> {
  checkDescription(options.description);
  const addActions = [...buildActions(options.addRepository ?? [], 'repository'), ...buildActions(options.addGateway ?? [], 'gateway')];
  const removeActions = [...buildActions(options.removeRepository ?? [], 'repository'), ...buildActions(options.removeGateway ?? [], 'gateway')];
  if (addActions.length === 0 && removeActions.length === 0 && options.description === undefined) {
    throw new UsageError('usage error: nothing to update: give --add-repository, --remove-repository, --add-gateway, --remove-gateway or --description');
  }
  return client.updateScopeMap(options.name, {
    ...(options.description !== undefined ? { description: options.description } : {}),
    ...(addActions.length > 0 ? { addActions } : {}),
    ...(removeActions.length > 0 ? { removeActions } : {}),
  });
}

export async function scopeMapDelete(client: ManagementClient, options: { name: string }): Promise<void> {
  await client.deleteScopeMap(options.name);
}

export const SCOPE_MAP_TABLE: TableSpec = {
  columns: [
    { header: 'NAME', value: (row) => row.name },
    { header: 'TYPE', value: (row) => row.type },
    { header: 'CREATION DATE', value: (row) => row.creationDate },
    { header: 'DESCRIPTION', value: (row) => row.description },
  ],
};

const nameOption = () => new Option('-n, --name <name>', 'name of the scope map').makeOptionMandatory();

/** Registers `outpost scope-map …`. */
export function registerScopeMapCommands(program: Command, ctx: CliContext): void {
  const scopeMap = program.command('scope-map').description('manage scope maps: the actions a token may perform');

  withCommonFlags(scopeMap.command('create').description('create a scope map'))
    .addOption(nameOption())
    .option('--description <text>', 'description (at most 256 characters)')
    .option('--repository <repo-and-actions...>', `REPO ACTION…: actions on a repository (${'content/read|write|delete, metadata/read|write'}); repeatable`)
    .option('--gateway <gw-and-actions...>', 'GW ACTION…: actions on a connected registry (config/read|write, message/read|write); repeatable')
    .addHelpText(
      'after',
      '\nREPO may be a repository name, "*", or end with one "/*".\n\nExample:\n  outpost scope-map create -n hello-world-scopemap --repository hello-world content/read metadata/read --repository other content/write\n',
    )
    .action((flags: ScopeMapCreateOptions & CommonFlags) =>
      runManaged(
        ctx,
        { ...flags, repository: collectGroups(ctx.argv, ['--repository']), gateway: collectGroups(ctx.argv, ['--gateway']) },
        scopeMapCreate,
        SCOPE_MAP_TABLE,
      ),
    );

  withCommonFlags(scopeMap.command('list').description('list the scope maps, system maps included'))
    .action((flags: CommonFlags) => runManaged(ctx, flags, scopeMapList, SCOPE_MAP_TABLE));

  withCommonFlags(scopeMap.command('show').description('show a scope map'))
    .addOption(nameOption())
    .action((flags: { name: string } & CommonFlags) => runManaged(ctx, flags, scopeMapShow, SCOPE_MAP_TABLE));

  withCommonFlags(scopeMap.command('update').description("add or remove a scope map's actions, or change its description"))
    .addOption(nameOption())
    .option('--description <text>', 'new description (at most 256 characters)')
    .option('--add-repository <repo-and-actions...>', 'REPO ACTION…: repository actions to add (repeatable)')
    .option('--remove-repository <repo-and-actions...>', 'REPO ACTION…: repository actions to remove (repeatable)')
    .option('--add-gateway <gw-and-actions...>', 'GW ACTION…: gateway actions to add (repeatable)')
    .option('--remove-gateway <gw-and-actions...>', 'GW ACTION…: gateway actions to remove (repeatable)')
    .addOption(new Option('--add <repo-and-actions...>').hideHelp())
    .addOption(new Option('--remove <repo-and-actions...>').hideHelp())
    .addHelpText('after', '\nExample:\n  outpost scope-map update -n hello-world-scopemap --add-repository other content/read --remove-repository hello-world metadata/read\n')
    .action((flags: ScopeMapUpdateOptions & CommonFlags) =>
      runManaged(
        ctx,
        {
          ...flags,
          addRepository: collectGroups(ctx.argv, ['--add-repository', '--add']),
          removeRepository: collectGroups(ctx.argv, ['--remove-repository', '--remove']),
          addGateway: collectGroups(ctx.argv, ['--add-gateway']),
          removeGateway: collectGroups(ctx.argv, ['--remove-gateway']),
        },
        scopeMapUpdate,
        SCOPE_MAP_TABLE,
      ),
    );

  withCommonFlags(scopeMap.command('delete').description('delete a scope map (not while a token uses it)'))
    .addOption(nameOption())
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (flags: { name: string; yes?: boolean } & CommonFlags) => {
      await confirm(`Are you sure you want to delete the scope map '${flags.name}'?`, flags.yes, ctx);
      await runManaged(ctx, flags, scopeMapDelete);
    });
}
