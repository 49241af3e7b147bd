import { resolve } from 'node:path';
import { ConfigError } from './config-error.js';
import { parseConnectionString, type ConnectionSettings } from './connection-string.js';

export { ConfigError };

export type LogLevel = 'Debug' | 'Information' | 'Warning' | 'Error' | 'None';
export const LOG_LEVELS: readonly LogLevel[] = ['Debug', 'Information', 'Warning', 'Error', 'None'];

/** Everything a node needs to start. Built from flags and environment by `resolveNodeConfig`. */
export interface NodeConfig {
  host: string;
  port: number;
  dataDir: string;
  tls: { certFile: string; keyFile: string } | null;
  logLevel: LogLevel;
  /**
   * The storage driver by name (OUTPOST_STORAGE): `filesystem` stores blobs under the data folder,
   * `memory` keeps them in memory (tests only). The storage layer's factory checks the name when
   * the node starts (`createStorageDriver`), so a new driver needs no change here.
   */
  storage: string;
  /** Anyone may pull (and list tags and the catalog) without credentials. */
  anonymousPull: boolean;
  /** The admin password from OUTPOST_ADMIN_PASSWORD; null to use (or generate) `<data>/admin-password`. */
  adminPassword: string | null;
  /**
   * How edges reach this node (`host[:port]`): the `ParentGatewayEndpoint` handed to top-level
   * connected registries. Null: the Host the admin used to reach the management API.
   */
  loginServer: string | null;
  /** Set on a connected node: its parent and sync credentials (from the connection string). */
  connection: ConnectionSettings | null;
  /** Extra CA certificates (PEM file) trusted for an https parent, besides the system's. */
  parentCaFile: string | null;
  /** Where Prometheus metrics are served (`--metrics-listen host:port`, its own listener); null: not served. */
  metricsListen: { host: string; port: number } | null;
  /**
   * Where audit lines go (`--audit-log <file|->`): a file, or `-` for standard output. Null: on
   * the root, no audit log; on a connected node, `<data>/audit.log` (its resource switches it on).
   */
  auditLog: string | null;
  /** On the root, whether the audit log records (`--audit-log-status`; Enabled by default once `auditLog` is set). A connected node takes its resource's. */
  auditLogEnabled: boolean;
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
  connectionString?: string;
  parentCa?: string;
  metricsListen?: string;
  auditLog?: string;
  auditLogStatus?: string;
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
  // An empty flag is a mistake (an unset shell variable), not a request to run as a root.
  if (flags.connectionString !== undefined && flags.connectionString.trim() === '') throw new ConfigError('--connection-string is empty');
  const connectionString = firstSet(flags.connectionString, env.OUTPOST_CONNECTION_STRING, env.ACR_REGISTRY_CONNECTION_STRING);
  const storage = firstSet(env.OUTPOST_STORAGE) ?? 'filesystem';
  const metricsListen = firstSet(flags.metricsListen, env.OUTPOST_METRICS_LISTEN);
  const auditLog = firstSet(flags.auditLog, env.OUTPOST_AUDIT_LOG);
  const auditLogStatus = firstSet(flags.auditLogStatus, env.OUTPOST_AUDIT_LOG_STATUS) ?? 'Enabled';
  if (!/^(enabled|disabled)$/i.test(auditLogStatus)) throw new ConfigError(`invalid audit log status: ${auditLogStatus} (Enabled or Disabled)`);
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
    connection: connectionString === undefined ? null : parseConnectionString(connectionString, firstSet(env.ACR_PARENT_GATEWAY_ENDPOINT)),
    parentCaFile: firstSet(flags.parentCa, env.OUTPOST_PARENT_CA) ?? null,
    metricsListen: metricsListen === undefined ? null : parseListenAddress(metricsListen),
    auditLog: auditLog === undefined ? null : auditLog === '-' ? '-' : resolve(auditLog),
    auditLogEnabled: auditLogStatus.toLowerCase() === 'enabled',
  };
}

/** `host:port`, `[v6]:port` or `:port` (every address) as the metrics listener takes it. */
export function parseListenAddress(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d+)$/.exec(text.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) throw new ConfigError(`invalid metrics listen address: ${text} (host:port, e.g. 127.0.0.1:9090)`);
  const host = match[1] ?? (match[2] === '' ? '0.0.0.0' : match[2]!);
  return { host, port };
}
