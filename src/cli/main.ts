import { Command, CommanderError } from 'commander';
import { serveCommand } from './serve-command.js';

/** Where the program starts: builds the command tree and turns errors into one line and an exit code. */
export async function main(argv: string[]): Promise<void> {
  const program = new Command('outpost')
    .description('Outpost: a connected container registry for the edge')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text) });

  program
    .command('serve')
    .description('start a registry node (a root without a connection string)')
    .option('--host <host>', 'address to listen on (env OUTPOST_HOST)', undefined)
    .option('--port <port>', 'port to listen on, 0 for any free port (env OUTPOST_PORT; default 8080)')
    .option('--data-dir <dir>', 'data folder (env OUTPOST_DATA_DIR or ACR_REGISTRY_DATA_VOLUME; default ./data)')
    .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM; env OUTPOST_TLS_CERT)')
    .option('--tls-key <file>', 'private key of --tls-cert (PEM; env OUTPOST_TLS_KEY)')
    .option('--log-level <level>', 'Debug|Information|Warning|Error|None (env OUTPOST_LOG_LEVEL)')
    .action(serveCommand);

  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has already printed its message (or the help/version text).
      process.exitCode = err.exitCode;
      return;
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`outpost: ${message}\n`);
    process.exitCode = 1;
  }
}
