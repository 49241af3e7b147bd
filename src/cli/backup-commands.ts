import { Option, type Command } from 'commander';
import type { CliContext } from './command-context.js';
import { OUTPUT_FORMATS } from './output.js';

/** The flags of `outpost backup`. */
export interface BackupFlags {
  to: string;
  dataDir?: string;
  output?: string;
  query?: string;
}

/** The flags of `outpost restore`. */
export interface RestoreFlags {
  from: string;
  dataDir: string;
  output?: string;
  query?: string;
}

/** `-o` and `--query`, as the management commands take them (no `--registry`: these work on folders). */
function withOutputFlags(command: Command): Command {
  return command
    .addOption(new Option('-o, --output <format>', `output format: ${OUTPUT_FORMATS.join(', ')}`).default('json'))
    .option('--query <jmespath>', 'JMESPath query applied to the answer before formatting');
}

/**
 * `outpost backup` and `outpost restore` (docs/cli.md, docs/operations.md). They work on a
 * node's data folder directly, not through a registry; their code (SQLite, the storage drivers)
 * is loaded only when one of them runs, as `serve`'s is.
 */
export function registerBackupCommands(program: Command, ctx: CliContext): void {
  withOutputFlags(program
    .command('backup')
    .description("copy a node's data folder into a new backup folder, while the node runs (metadata snapshot, the blobs it references, keys)")
    .requiredOption('--to <dir>', 'the backup folder to create (absent or empty)')
    .option('--data-dir <dir>', "the node's data folder (env OUTPOST_DATA_DIR or ACR_REGISTRY_DATA_VOLUME; default ./data); its storage is OUTPOST_STORAGE, as for serve"))
    .action(async (flags: BackupFlags) => {
      await (await import('./backup-command.js')).backupCommand(flags, ctx);
    });

  withOutputFlags(program
    .command('restore')
    .description('restore a backup into an empty or new data folder, verifying every blob; then start the node with `outpost serve --data-dir`')
    .requiredOption('--from <dir>', 'the backup folder (made by `outpost backup`)')
    .requiredOption('--data-dir <dir>', 'the data folder to fill (absent or empty); the storage is OUTPOST_STORAGE, as for serve'))
    .action(async (flags: RestoreFlags) => {
      await (await import('./backup-command.js')).restoreCommand(flags, ctx);
    });
}
