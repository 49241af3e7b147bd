import { resolve } from 'node:path';

export type LogLevel = 'Debug' | 'Information' | 'Warning' | 'Error' | 'None';
export const LOG_LEVELS: readonly LogLevel[] = ['Debug', 'Information', 'Warning', 'Error', 'None'];

/** Everything a node needs to start. Built from flags and environment by `resolveNodeConfig`. */
export interface NodeConfig {
  host: string;
  port: number;
  dataDir: string;
  tls: { certFile: string; keyFile: string } | null;
  logLevel: LogLevel;
  /** `memory` keeps blobs in memory (tests only); `filesystem` stores them under the data folder. */
  storage: 'filesystem' | 'memory';
  /** Anyone may pull (and list tags and the catalog) without credentials. */
  anonymousPull: boolean;
  /** The admin password from OUTPOST_ADMIN_PASSWORD; null to use (or generate) `<data>/admin-password`. */
  adminPassword: string | null;
  /**
   * How edges reach this node (`host[:port]`): the `ParentGatewayEndpoint` handed to top-level
   * connected registries. Null: the Host the admin used to reach the management API.
   */
  loginServer: string | null;
}

export interface NodeFlags {
  host?: string;
  port?: string;
  dataDir?: string;
  tlsCert?: string;
  tlsKey?: string;
  logLevel?: string;
  anonymousPull?: boolean;
  loginServer?: string;
}

/** A setting (flag, environment, stored CLI login) that cannot be used; the message says which and why. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function firstSet(...values: Array<string | undefined>): string | undefined {
  return values.find((value) => value !== undefined && value !== '');
}

/**
 * Flags win over environment (`OUTPOST_*`, then the ACR names accepted as aliases), which win
 * over the embedded defaults: port 8080, `./data`, plain HTTP, Information logs.
 */
export function resolveNodeConfig(flags: NodeFlags, env: Env = process.env): NodeConfig {
  const portText = firstSet(flags.port, env.OUTPOST_PORT) ?? '8080';
  if (!/^\d+$/.test(portText) || Number(portText) > 65535) throw new ConfigError(`invalid port: ${portText}`);
  const certFile = firstSet(flags.tlsCert, env.OUTPOST_TLS_CERT);
  const keyFile = firstSet(flags.tlsKey, env.OUTPOST_TLS_KEY);
  if ((certFile === undefined) !== (keyFile === undefined)) throw new ConfigError('--tls-cert and --tls-key must be given together');
  const logLevel = firstSet(flags.logLevel, env.OUTPOST_LOG_LEVEL) ?? 'Information';
  const level = LOG_LEVELS.find((l) => l.toLowerCase() === logLevel.toLowerCase());
  if (!level) throw new ConfigError(`invalid log level: ${logLevel} (one of ${LOG_LEVELS.join(', ')})`);
  const storage = firstSet(env.OUTPOST_STORAGE) ?? 'filesystem';
  if (storage !== 'filesystem' && storage !== 'memory') throw new ConfigError(`invalid storage: ${storage} (filesystem or memory)`);
  return {
    host: firstSet(flags.host, env.OUTPOST_HOST) ?? '0.0.0.0',
    port: Number(portText),
    dataDir: resolve(firstSet(flags.dataDir, env.OUTPOST_DATA_DIR, env.ACR_REGISTRY_DATA_VOLUME) ?? './data'),
    tls: certFile && keyFile ? { certFile, keyFile } : null,
    logLevel: level,
    storage,
    anonymousPull: flags.anonymousPull === true || /^(true|1|yes)$/i.test(env.OUTPOST_ANONYMOUS_PULL ?? ''),
    adminPassword: firstSet(env.OUTPOST_ADMIN_PASSWORD) ?? null,
    loginServer: firstSet(flags.loginServer, env.OUTPOST_LOGIN_SERVER, env.ACR_REGISTRY_LOGIN_SERVER) ?? null,
  };
}
