import { createInterface } from 'node:readline/promises';
import { Command, Option } from 'commander';
import { ManagementClient } from '../client/management-client.js';
import { cliConfigPath, readCliConfig, resolveTarget } from '../config/cli-config.js';
import { checkQuery, formatOutput, parseOutputFormat, OUTPUT_FORMATS, type TableSpec } from './output.js';
import { UsageError } from './usage-error.js';

type Env = Record<string, string | undefined>;

/** What commands read from and write to: the raw arguments, environment and the terminal. */
export interface CliContext {
  argv: readonly string[];
  env: Env;
  stdout(text: string): void;
  /** True when stdin is a terminal, so a confirmation can be asked. */
  interactive: boolean;
}

/** Flags every management command takes. */
export interface CommonFlags {
  registry?: string;
  output?: string;
  query?: string;
}

export function processContext(argv: readonly string[]): CliContext {
  return {
    argv,
    env: process.env,
    stdout: (text) => void process.stdout.write(text),
    interactive: process.stdin.isTTY === true,
  };
}

/** Adds `--registry/-r`, `--output/-o` and `--query` to a command. */
export function withCommonFlags(command: Command): Command {
  return command
    .option('-r, --registry <url>', 'URL of the registry (env OUTPOST_REGISTRY; default: the last `outpost login`)')
    .addOption(new Option('-o, --output <format>', `output format: ${OUTPUT_FORMATS.join(', ')}`).default('json'))
    .option('--query <jmespath>', 'JMESPath query applied to the answer before formatting');
}

/** The management client for the registry and credentials the flags, env and stored login name. */
export async function connect(flags: CommonFlags, ctx: CliContext): Promise<ManagementClient> {
  const config = await readCliConfig(cliConfigPath(ctx.env));
  return new ManagementClient(resolveTarget(flags.registry, ctx.env, config));
}

/**
 * Runs one management command: connects, calls `run`, and prints its answer with `--query` and
 * `--output` applied. Errors propagate to the entry point.
 */
export async function runManaged<O extends CommonFlags>(
  ctx: CliContext,
  flags: O,
  run: (client: ManagementClient, flags: O) => Promise<unknown>,
  table?: TableSpec,
): Promise<void> {
  // Reject a bad -o or --query before anything is changed on the registry.
  parseOutputFormat(flags.output);
  checkQuery(flags.query);
  const client = await connect(flags, ctx);
  const answer = await run(client, flags);
  ctx.stdout(formatOutput(answer, { output: flags.output, query: flags.query, table }));
}

/** az's confirmation: asks on a terminal, refuses without one unless `--yes` was given. */
export async function confirm(question: string, yes: boolean | undefined, ctx: CliContext): Promise<void> {
  if (yes) return;
  if (!ctx.interactive) throw new UsageError('Unable to prompt for confirmation as no tty available. Use --yes.');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${question} (y/n): `);
    if (!/^y(es)?$/i.test(answer.trim())) throw new UsageError('Operation cancelled.');
  } finally {
    rl.close();
  }
}
