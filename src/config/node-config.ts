import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Cron } from 'croner';
import { isoDurationMs } from '../oci/durations.js';
import { ConfigError } from './config-error.js';
import { parseConnectionString, type ConnectionSettings } from './connection-string.js';

export { ConfigError };

export type LogLevel = 'Debug' | 'Information' | 'Warning' | 'Error' | 'None';
export const LOG_LEVELS: readonly LogLevel[] = ['Debug', 'Information', 'Warning', 'Error', 'None'];
/** `pretty`: one readable line per event (pino-pretty); `json`: one JSON object per line, for log collectors. */
export type LogFormat = 'pretty' | 'json';
export const LOG_FORMATS: readonly LogFormat[] = ['pretty', 'json'];

/**
 * Where the served certificate comes from (docs/deploy.md, "TLS"):
 * - `files`: --tls-cert and --tls-key, as given;
 * - `folder`: `tls.crt` and `tls.key` in the certificate folder (ACR_REGISTRY_CERTIFICATE_VOLUME or
 *   OUTPOST_CERT_DIR, the reference's layout; `ca.crt` beside them is handed to children);
 * - `auto`: --tls-auto: the node makes a private CA (`ca.crt`, `ca.key`) and a serving certificate
 *   (`tls.crt`, `tls.key`) in the certificate folder (default `<data>/certs`), keeps them, and
 *   renews the serving certificate when it nears its end or the node's names change.
 * Either way the files are reloaded when they change (and on SIGHUP), without a restart.
 */
export interface TlsConfig {
  source: 'files' | 'folder' | 'auto';
  certFile: string;
  keyFile: string;
  /** The certificate folder (`folder` and `auto`); null for `files`. */
  dir: string | null;
}

/** Everything a node needs to start. Built from flags and environment by `resolveNodeConfig`. */
export interface NodeConfig {
  host: string;
  port: number;
  dataDir: string;
  /** HTTPS, or null for plain HTTP. */
  tls: TlsConfig | null;
  logLevel: LogLevel;
  logFormat: LogFormat;
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
  /**
   * The same as PEM text (OUTPOST_PARENT_CA_CERT, as `connected-registry get-settings` prints it,
   * so that the settings alone make a new edge trust its parent); trusted besides the file's.
   */
  parentCaPem: string | null;
  /** Where Prometheus metrics are served (`--metrics-listen host:port`, its own listener); null: not served. */
  metricsListen: { host: string; port: number } | null;
  /**
   * Where audit lines go (`--audit-log <file|->`): a file, or `-` for standard output. Null:
   * `<data>/audit.log`, where a root records only once an administrator switches it on and a
   * connected node while its resource has it on.
   */
  auditLog: string | null;
  /** On the root, whether the audit log records (`--audit-log-status`; Enabled by default once `auditLog` is set) until an administrator switches it (stored; wins from then on). A connected node takes its resource's. */
  auditLogEnabled: boolean;
  /**
   * When the root collects its garbage (5-field cron, UTC); null: only when asked (`outpost gc`).
   * A connected node takes its schedule from its connected-registry resource instead.
   */
  gcSchedule: string | null;
  /** Garbage collection leaves alone what was written or used within this long (1 hour by default). */
  gcGraceMs: number;
}

export interface NodeFlags {
  host?: string;
  port?: string;
  dataDir?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsAuto?: boolean;
  certDir?: string;
  logLevel?: string;
  logFormat?: string;
  anonymousPull?: boolean;
  loginServer?: string;
  connectionString?: string;
  connectionStringFile?: string;
  parentCa?: string;
  metricsListen?: string;
  auditLog?: string;
  auditLogStatus?: string;
  gcSchedule?: string;
  gcGrace?: string;
}

/** The default of `gcGraceMs`. */
export const DEFAULT_GC_GRACE_MS = 60 * 60 * 1000;


type Env = Record<string, string | undefined>;

function firstSet(...values: Array<string | undefined>): string | undefined {
  return values.find((value) => value !== undefined && value !== '');
}

const truthy = (value: string | undefined): boolean => /^(true|1|yes)$/i.test(value ?? '');

/**
 * Flags win over environment (`OUTPOST_*`, then the ACR names accepted as aliases), which win
 * over the embedded defaults: port 8080, `./data`, plain HTTP, Information logs (pretty on a
 * terminal, JSON otherwise: `stdoutIsTerminal`).
 */
export function resolveNodeConfig(flags: NodeFlags, env: Env = process.env, stdoutIsTerminal = false): NodeConfig {
  const portText = firstSet(flags.port, env.OUTPOST_PORT) ?? '8080';
  if (!/^\d+$/.test(portText) || Number(portText) > 65535) throw new ConfigError(`invalid port: ${portText}`);
  const logLevel = firstSet(flags.logLevel, env.OUTPOST_LOG_LEVEL) ?? 'Information';
  const level = LOG_LEVELS.find((l) => l.toLowerCase() === logLevel.toLowerCase());
  if (!level) throw new ConfigError(`invalid log level: ${logLevel} (one of ${LOG_LEVELS.join(', ')})`);
  const formatText = firstSet(flags.logFormat, env.OUTPOST_LOG_FORMAT);
  const logFormat = formatText === undefined ? (stdoutIsTerminal ? 'pretty' : 'json') : LOG_FORMATS.find((f) => f === formatText.toLowerCase());
  if (!logFormat) throw new ConfigError(`invalid log format: ${formatText} (one of ${LOG_FORMATS.join(', ')})`);
  const { dataDir, storage } = resolveDataLocation(flags.dataDir, env);
  const metricsListen = firstSet(flags.metricsListen, env.OUTPOST_METRICS_LISTEN);
  const auditLog = firstSet(flags.auditLog, env.OUTPOST_AUDIT_LOG);
  const auditLogStatus = firstSet(flags.auditLogStatus, env.OUTPOST_AUDIT_LOG_STATUS) ?? 'Enabled';
  if (!/^(enabled|disabled)$/i.test(auditLogStatus)) throw new ConfigError(`invalid audit log status: ${auditLogStatus} (Enabled or Disabled)`);
  const connection = resolveConnection(flags, env);
  const gcSchedule = firstSet(flags.gcSchedule, env.OUTPOST_GC_SCHEDULE) ?? null;
  if (gcSchedule !== null) {
    if (connection !== null) {
      throw new ConfigError('--gc-schedule (OUTPOST_GC_SCHEDULE) is for the root: a connected registry collects on the schedule of its resource (outpost connected-registry update --gc-enabled --gc-schedule)');
    }
    assertCron(gcSchedule, '--gc-schedule');
  }
  const gcGrace = firstSet(flags.gcGrace, env.OUTPOST_GC_GRACE);
  return {
    host: firstSet(flags.host, env.OUTPOST_HOST) ?? '0.0.0.0',
    port: Number(portText),
    dataDir,
    tls: resolveTls(flags, env, dataDir),
    logLevel: level,
    logFormat,
    storage,
    anonymousPull: flags.anonymousPull === true || truthy(env.OUTPOST_ANONYMOUS_PULL),
    adminPassword: firstSet(env.OUTPOST_ADMIN_PASSWORD) ?? null,
    loginServer: firstSet(flags.loginServer, env.OUTPOST_LOGIN_SERVER, env.ACR_REGISTRY_LOGIN_SERVER) ?? null,
    connection,
    parentCaFile: firstSet(flags.parentCa, env.OUTPOST_PARENT_CA) ?? null,
    parentCaPem: firstSet(env.OUTPOST_PARENT_CA_CERT) ?? null,
    metricsListen: metricsListen === undefined ? null : parseListenAddress(metricsListen),
    auditLog: auditLog === undefined ? null : auditLog === '-' ? '-' : resolve(auditLog),
    auditLogEnabled: auditLogStatus.toLowerCase() === 'enabled',
    gcSchedule,
    gcGraceMs: gcGrace === undefined ? DEFAULT_GC_GRACE_MS : parseGrace(gcGrace),
  };
}

/**
 * Where a node keeps its data: the data folder (`--data-dir`, else OUTPOST_DATA_DIR or
 * ACR_REGISTRY_DATA_VOLUME, else `./data`; absolute) and the storage driver (OUTPOST_STORAGE,
 * `filesystem` by default). `serve` and `backup` read them the same way, so a backup finds the
 * node's data where the node keeps it.
 */
export function resolveDataLocation(dataDirFlag: string | undefined, env: Env = process.env): { dataDir: string; storage: string } {
  return {
    dataDir: resolve(firstSet(dataDirFlag, env.OUTPOST_DATA_DIR, env.ACR_REGISTRY_DATA_VOLUME) ?? './data'),
    storage: firstSet(env.OUTPOST_STORAGE) ?? 'filesystem',
  };
}

/** --tls-cert/--tls-key, else --tls-auto, else a certificate folder, else plain HTTP (TlsConfig). */
function resolveTls(flags: NodeFlags, env: Env, dataDir: string): TlsConfig | null {
  const certFile = firstSet(flags.tlsCert, env.OUTPOST_TLS_CERT);
  const keyFile = firstSet(flags.tlsKey, env.OUTPOST_TLS_KEY);
  if ((certFile === undefined) !== (keyFile === undefined)) throw new ConfigError('--tls-cert and --tls-key must be given together');
  const auto = flags.tlsAuto === true || truthy(env.OUTPOST_TLS_AUTO);
  if (certFile !== undefined && keyFile !== undefined) {
    if (auto) throw new ConfigError('--tls-auto makes its own certificate: give either it or --tls-cert and --tls-key');
    return { source: 'files', certFile: resolve(certFile), keyFile: resolve(keyFile), dir: null };
  }
  const folder = firstSet(flags.certDir, env.OUTPOST_CERT_DIR, env.ACR_REGISTRY_CERTIFICATE_VOLUME);
  if (!auto && folder === undefined) return null;
  const dir = resolve(folder ?? join(dataDir, 'certs'));
  return { source: auto ? 'auto' : 'folder', certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), dir };
}

/**
 * The connection string: --connection-string, --connection-string-file, OUTPOST_CONNECTION_STRING,
 * ACR_REGISTRY_CONNECTION_STRING (first set wins); none: a root. A set but empty one is refused:
 * it is an unset shell variable or an empty secret, and starting as a root instead would be wrong.
 */
function resolveConnection(flags: NodeFlags, env: Env): ConnectionSettings | null {
  if (flags.connectionString !== undefined && flags.connectionString.trim() === '') throw new ConfigError('--connection-string is empty');
  let fromFile: string | undefined;
  if (flags.connectionStringFile !== undefined) {
    try {
      fromFile = readFileSync(flags.connectionStringFile, 'utf8').trim();
    } catch (err) {
      throw new ConfigError(`--connection-string-file ${flags.connectionStringFile}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
    }
    if (fromFile === '') throw new ConfigError(`--connection-string-file ${flags.connectionStringFile} is empty`);
  }
  for (const name of ['OUTPOST_CONNECTION_STRING', 'ACR_REGISTRY_CONNECTION_STRING'] as const) {
    const value = env[name];
    if (value !== undefined && value.trim() === '' && flags.connectionString === undefined && fromFile === undefined) {
      throw new ConfigError(`${name} is set but empty: give the connected registry's connection string, or unset it to run a root`);
    }
  }
  const text = firstSet(flags.connectionString, fromFile, env.OUTPOST_CONNECTION_STRING, env.ACR_REGISTRY_CONNECTION_STRING);
  return text === undefined ? null : parseConnectionString(text, firstSet(env.ACR_PARENT_GATEWAY_ENDPOINT));
}

/** `host:port`, `[v6]:port` or `:port` (every address) as the metrics listener takes it. */
export function parseListenAddress(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d+)$/.exec(text.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) throw new ConfigError(`invalid metrics listen address: ${text} (host:port, e.g. 127.0.0.1:9090)`);
  const host = match[1] ?? (match[2] === '' ? '0.0.0.0' : match[2]!);
  return { host, port };
}

/** A 5-field cron (UTC), as the connected registries' schedules. */
function assertCron(value: string, what: string): void {
  const fields = value.trim().split(/\s+/);
  let valid = fields.length === 5;
  if (valid) {
    try {
      new Cron(value, { paused: true, timezone: 'UTC' }).stop();
    } catch {
      valid = false;
    }
  }
  if (!valid) throw new ConfigError(`${what}: '${value}' is not a 5-field cron expression (minute hour day-of-month month day-of-week), e.g. "0 3 * * *"`);
}

/** An ISO 8601 duration (`PT1H`, `PT30M`, `P1D`, `PT0S`) or a number with a unit (`90s`, `30m`, `1h`, `2d`). */
export function parseGrace(value: string): number {
  const text = value.trim();
  const short = /^(\d+)(s|m|h|d)$/i.exec(text);
  const ms = short
    ? Number(short[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[short[2]!.toLowerCase() as 's' | 'm' | 'h' | 'd']
    : isoDurationMs(text.toUpperCase());
  if (ms === null || !Number.isFinite(ms)) {
    throw new ConfigError(`--gc-grace: '${value}' is not a duration: use ISO 8601 (PT1H, PT30M, P1D) or 90s, 30m, 1h, 2d`);
  }
  return ms;
}
