import { Command, CommanderError, Option } from 'commander';
import type { NodeFlags } from '../config/node-config.js';
import { OUTPOST_VERSION } from '../config/version.js';
import { processContext } from './command-context.js';
import { registerTokenCommands } from './token-commands.js';
import { registerScopeMapCommands } from './scope-map-commands.js';
import { registerRepositoryCommands } from './repository-commands.js';
import { registerLoginCommands } from './login-command.js';
import { registerConnectedRegistryCommands } from './connected-registry-commands.js';
import { registerLifecycleCommands } from './lifecycle-commands.js';
import { registerBackupCommands } from './backup-commands.js';
import { registerWebhookCommands } from './webhook-commands.js';
import { registerGcCommands } from './gc-commands.js';

/** Where the program starts: builds the command tree and turns errors into one line and an exit code. */
/** `outpost … | head` closes the pipe early: that is not a failure worth a stack trace. Once per process. */
function exitQuietlyOnClosedPipe(): void {
  if (process.stdout.listeners('error').includes(onStdoutError)) return;
  process.stdout.on('error', onStdoutError);
}

function onStdoutError(err: NodeJS.ErrnoException): void {
  if (err.code !== 'EPIPE') throw err;
  process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
}

export async function main(argv: string[]): Promise<void> {
  exitQuietlyOnClosedPipe();
  const program = new Command('outpost')
    .description('Outpost: a connected container registry for the edge')
    .version(OUTPOST_VERSION)
    .exitOverride()
    // Commander's own errors ("error: required option …") get the same one-line form as ours.
    .configureOutput({ outputError: (text, write) => write(`outpost: ${text.replace(/^error: /, '').trim().replace(/\s*\n\s*/g, ' ')}\n`) });
  const ctx = processContext(argv.slice(2));

  program
    .command('serve')
    .description('start a registry node (a root without a connection string)')
    .option('--host <host>', 'address to listen on (env OUTPOST_HOST)', undefined)
    .option('--port <port>', 'port to listen on, 0 for any free port (env OUTPOST_PORT; default 8080)')
    .option('--data-dir <dir>', 'data folder (env OUTPOST_DATA_DIR or ACR_REGISTRY_DATA_VOLUME; default ./data)')
    .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM; env OUTPOST_TLS_CERT)')
    .option('--tls-key <file>', 'private key of --tls-cert (PEM; env OUTPOST_TLS_KEY)')
    .option('--tls-auto', 'serve HTTPS with a certificate from a private CA the node makes and keeps in the certificate folder (env OUTPOST_TLS_AUTO=true)')
    .option('--cert-dir <dir>', 'certificate folder: serve HTTPS with its tls.crt and tls.key (with --tls-auto: where they are made; default <data>/certs) (env OUTPOST_CERT_DIR or ACR_REGISTRY_CERTIFICATE_VOLUME)')
    .option('--log-level <level>', 'Debug|Information|Warning|Error|None (env OUTPOST_LOG_LEVEL)')
    .option('--log-format <format>', 'pretty|json (env OUTPOST_LOG_FORMAT; default: pretty on a terminal, json otherwise)')
    .option('--anonymous-pull', 'let anyone pull without credentials (env OUTPOST_ANONYMOUS_PULL=true)')
    .option('--login-server <host:port>', 'how clients and children reach this node (their connection strings name it); a connected node refuses other Host values (env OUTPOST_LOGIN_SERVER or ACR_REGISTRY_LOGIN_SERVER)')
    .option('--connection-string <cs>', 'run as this connected registry: ConnectedRegistryName=…;SyncTokenName=…;SyncTokenPassword=…;ParentGatewayEndpoint=host:port;ParentEndpointProtocol=https (env OUTPOST_CONNECTION_STRING or ACR_REGISTRY_CONNECTION_STRING; ACR_PARENT_GATEWAY_ENDPOINT overrides the parent; the process list shows a flag: prefer --connection-string-file or the environment)')
    .option('--connection-string-file <file>', 'read the connection string from this file (keeps the sync password out of the process list)')
    .option('--parent-ca <file>', 'PEM file of CA certificates trusted for an https parent, besides the system ones (env OUTPOST_PARENT_CA)')
    .option('--metrics-listen <host:port>', 'serve Prometheus metrics at GET /metrics on this address, a listener of its own without authentication: bind it to a private address (env OUTPOST_METRICS_LISTEN; off by default)')
    .option('--audit-log <file|->', 'write the audit log (one JSON line per write, failed sign-in, management change and sync action) to this file, or - for standard output; reopened on SIGHUP (env OUTPOST_AUDIT_LOG; default <data-dir>/audit.log, where a root records only once switched on)')
    .option('--audit-log-status <status>', 'Enabled|Disabled: whether the root records to --audit-log (env OUTPOST_AUDIT_LOG_STATUS; default Enabled) until an administrator switches it with outpost config audit-log update (kept across restarts); a connected node follows its resource\'s auditLogStatus')
    .option('--gc-schedule <cron>', 'root only: collect garbage at each occurrence of this 5-field cron, UTC (env OUTPOST_GC_SCHEDULE; default: only when asked, outpost gc)')
    .option('--gc-grace <duration>', 'garbage collection leaves alone what was written or used within this long: ISO 8601 (PT1H) or 30m, 2h (env OUTPOST_GC_GRACE; default PT1H)')
    // Loaded only for `serve`: the server's modules cost ~0.6 s of start-up every management command would pay.
    .action(async (flags: NodeFlags) => (await import('./serve-command.js')).serveCommand(flags));

  program
    .command('version')
    .description('print the version of this outpost (the same as --version)')
    .addOption(new Option('-o, --output <format>', 'text (default), json or none').choices(['text', 'json', 'none']).default('text'))
    .action((flags: { output: string }) => {
      if (flags.output === 'none') return;
      ctx.stdout(flags.output === 'json' ? `${JSON.stringify({ version: OUTPOST_VERSION }, null, 2)}\n` : `outpost ${OUTPOST_VERSION}\n`);
    });

  registerLoginCommands(program, ctx);
  registerTokenCommands(program, ctx);
  registerScopeMapCommands(program, ctx);
  registerRepositoryCommands(program, ctx);
  registerConnectedRegistryCommands(program, ctx);
  registerLifecycleCommands(program, ctx);
  registerBackupCommands(program, ctx);
  registerWebhookCommands(program, ctx);
  registerGcCommands(program, ctx);

  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has already printed its message (or the help/version text).
      process.exitCode = err.exitCode;
      return;
    }
    // One line, never a stack: usage errors exit 2 (as az), everything else 1.
    const message = (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' ');
    process.stderr.write(`outpost: ${message}\n`);
    process.exitCode = typeof (err as { exitCode?: unknown }).exitCode === 'number' ? (err as { exitCode: number }).exitCode : 1;
  }
}
