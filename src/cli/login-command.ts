import { Command } from 'commander';
import { text } from 'node:stream/consumers';
import { ManagementClient } from '../client/management-client.js';
import { cliConfigPath, normalizeRegistryUrl, removeLogin, saveLogin } from '../config/cli-config.js';
import type { CliContext } from './command-context.js';
import { UsageError } from './usage-error.js';

export interface LoginOptions {
  registry: string;
  username: string;
  password: string;
  /** Where the login is remembered (`cliConfigPath()` by default). */
  configPath: string;
}

/**
 * `outpost login URL -u admin -p …`: checks the credentials against the management API, then
 * remembers them (file mode 0600) and makes URL the default registry. Resolves with the URL.
 */
export async function login(options: LoginOptions): Promise<string> {
  const registry = normalizeRegistryUrl(options.registry);
  const client = new ManagementClient({ registry, username: options.username, password: options.password });
  await client.listRepositories();
  await saveLogin(options.configPath, { registry, username: options.username, password: options.password });
  return registry;
}

/** `outpost logout [URL]`: forgets a stored login (the current one by default). Resolves with the URL forgotten. */
export async function logout(options: { registry?: string; configPath: string }): Promise<string> {
  const forgotten = await removeLogin(options.configPath, options.registry);
  if (forgotten === null) {
    throw new UsageError(options.registry !== undefined ? `not logged in to ${normalizeRegistryUrl(options.registry)}` : 'not logged in to any registry');
  }
  return forgotten;
}

/** Registers `outpost login` and `outpost logout`. */
export function registerLoginCommands(program: Command, ctx: CliContext): void {
  program
    .command('login')
    .description('check and remember credentials for a registry (it becomes the default registry)')
    .argument('<url>', 'URL of the registry, e.g. https://registry.example or localhost:8080')
    .option('-u, --username <name>', 'user name', 'admin')
    .option('-p, --password <password>', 'password (env OUTPOST_PASSWORD)')
    .option('--password-stdin', 'read the password from stdin')
    .addHelpText('after', `\nThe login is stored in ${cliConfigPath(ctx.env)} (mode 0600).\n\nExample:\n  outpost login https://registry.example -u admin -p "$ADMIN_PASSWORD"\n`)
    .action(async (url: string, flags: { username: string; password?: string; passwordStdin?: boolean }) => {
      let password = flags.password;
      if (flags.passwordStdin) {
        if (password !== undefined) throw new UsageError('usage error: --password and --password-stdin cannot be used together');
        password = (await text(process.stdin)).replace(/\r?\n$/, '');
      }
      password ??= ctx.env.OUTPOST_PASSWORD;
      if (password === undefined || password === '') throw new UsageError('usage error: give the password with -p/--password, --password-stdin or env OUTPOST_PASSWORD');
      const registry = await login({ registry: url, username: flags.username, password, configPath: cliConfigPath(ctx.env) });
      ctx.stdout(`Login Succeeded: ${registry}\n`);
    });

  program
    .command('logout')
    .description('forget the stored login of a registry (default: the current one)')
    .argument('[url]', 'URL of the registry')
    .option('-r, --registry <url>', 'URL of the registry (same as the argument)')
    .action(async (url: string | undefined, flags: { registry?: string }) => {
      const registry = await logout({ registry: url ?? flags.registry, configPath: cliConfigPath(ctx.env) });
      ctx.stdout(`Removed login for ${registry}\n`);
    });
}
