import { resolve } from 'node:path';
import { Cron } from 'croner';
import { isoDurationMs } from '../oci/durations.js';
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
  logLevel?: string;
  anonymousPull?: boolean;
  loginServer?: string;
  connectionString?: string;
  parentCa?: string;
  gcSchedule?: string;
  gcGrace?: string;
}

/** The default of `gcGraceMs`. */
export const DEFAULT_GC_GRACE_MS = 60 * 60 * 1000;


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
  const gcSchedule = firstSet(flags.gcSchedule, env.OUTPOST_GC_SCHEDULE) ?? null;
  if (gcSchedule !== null) {
    if (connectionString !== undefined) {
      throw new ConfigError('--gc-schedule (OUTPOST_GC_SCHEDULE) is for the root: a connected registry collects on the schedule of its resource (outpost connected-registry update --gc-enabled --gc-schedule)');
    }
    assertCron(gcSchedule, '--gc-schedule');
  }
  const gcGrace = firstSet(flags.gcGrace, env.OUTPOST_GC_GRACE);
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
    gcSchedule,
    gcGraceMs: gcGrace === undefined ? DEFAULT_GC_GRACE_MS : parseGrace(gcGrace),
  };
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
