import { RegistryError } from '../oci/index.js';
import type {
  ActivateRequest, DescendantStatus, GcReport, LoginServerDoc, RepositoryStatusDoc, StatusDetailDoc, StatusReport, StorageUsageDoc,
} from '../client/gateway-protocol.js';

/**
 * Checks the JSON bodies a child sends to the gateway (client/gateway-protocol.ts) and returns
 * them typed. Each throws REQUEST_INVALID naming the first field that is wrong.
 */

const MAX_TEXT = 1024;
const MAX_LIST = 1000;

function invalid(message: string): RegistryError {
  return new RegistryError('REQUEST_INVALID', message);
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(`${what} must be a JSON object.`);
  return value as Record<string, unknown>;
}

function text(value: unknown, what: string, allowEmpty = false): string {
  if (typeof value !== 'string' || (!allowEmpty && value === '') || value.length > MAX_TEXT) {
    throw invalid(`${what} must be a ${allowEmpty ? '' : 'non-empty '}string of at most ${MAX_TEXT} characters.`);
  }
  return value;
}

function nullableText(value: unknown, what: string): string | null {
  return value === null || value === undefined ? null : text(value, what);
}

function isoTime(value: unknown, what: string): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) throw invalid(`${what} must be an ISO 8601 time or null.`);
  return value;
}

function list(value: unknown, what: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.length > MAX_LIST) throw invalid(`${what} must be an array of at most ${MAX_LIST} entries.`);
  return value;
}

function count(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw invalid(`${what} must be a non-negative integer.`);
  return value;
}

export function parseActivateRequest(body: unknown): ActivateRequest {
  const b = object(body, 'The activate request');
  return { instanceId: text(b.instanceId, 'instanceId'), version: text(b.version, 'version') };
}

function statusDetails(value: unknown, what: string): StatusDetailDoc[] {
  return list(value, what).map((entry, i) => {
    const d = object(entry, `${what}[${i}]`);
    const detail: StatusDetailDoc = {
      type: text(d.type, `${what}[${i}].type`),
      code: text(d.code, `${what}[${i}].code`),
      description: text(d.description ?? '', `${what}[${i}].description`, true),
      timestamp: text(d.timestamp ?? '', `${what}[${i}].timestamp`, true),
      correlationId: text(d.correlationId ?? '', `${what}[${i}].correlationId`, true),
    };
    // What an item detail is about (optional): kept only when present.
    for (const field of ['repository', 'digest', 'tag'] as const) {
      if (d[field] !== undefined && d[field] !== null) detail[field] = text(d[field], `${what}[${i}].${field}`);
    }
    return detail;
  });
}

function loginServer(value: unknown, what: string): LoginServerDoc | null {
  if (value === null || value === undefined) return null;
  const l = object(value, what);
  const out: LoginServerDoc = { host: text(l.host, `${what}.host`) };
  if (l.tls !== undefined && l.tls !== null) {
    const status = object(l.tls, `${what}.tls`).status;
    if (status !== 'Enabled' && status !== 'Disabled') throw invalid(`${what}.tls.status must be Enabled or Disabled.`);
    out.tls = { status };
  }
  return out;
}

function repositories(value: unknown, what: string): RepositoryStatusDoc[] {
  return list(value, what).map((entry, i) => {
    const r = object(entry, `${what}[${i}]`);
    return { name: text(r.name, `${what}[${i}].name`), pendingChanges: count(r.pendingChanges, `${what}[${i}].pendingChanges`) };
  });
}

function nullableCount(value: unknown, what: string): number | null {
  return value === null || value === undefined ? null : count(value, what);
}

/** A storage report; absent or null: unknown (a node of an earlier version sends none). */
function storageUsage(value: unknown, what: string): StorageUsageDoc | null {
  if (value === null || value === undefined) return null;
  const s = object(value, what);
  const measuredAt = isoTime(s.measuredAt, `${what}.measuredAt`);
  if (measuredAt === null) throw invalid(`${what}.measuredAt must be an ISO 8601 time.`);
  return {
    usedBytes: count(s.usedBytes, `${what}.usedBytes`),
    totalBytes: nullableCount(s.totalBytes, `${what}.totalBytes`),
    freeBytes: nullableCount(s.freeBytes, `${what}.freeBytes`),
    availableBytes: nullableCount(s.availableBytes, `${what}.availableBytes`),
    measuredAt,
  };
}

function gcCount(value: unknown, what: string): { count: number; bytes: number } {
  const c = object(value, what);
  return { count: count(c.count, `${what}.count`), bytes: count(c.bytes, `${what}.bytes`) };
}

/** A garbage-collection report (core/gc-report.ts); absent stays absent (an older child), null is "none yet". */
function gcReport(value: unknown, what: string): GcReport | null | undefined {
  if (value === undefined) return undefined;
  if (value === null) return null;
  const r = object(value, what);
  if (typeof r.dryRun !== 'boolean') throw invalid(`${what}.dryRun must be a boolean.`);
  const t = object(r.timings, `${what}.timings`);
  const startedAt = isoTime(r.startedAt, `${what}.startedAt`);
  const finishedAt = isoTime(r.finishedAt, `${what}.finishedAt`);
  if (startedAt === null || finishedAt === null) throw invalid(`${what}.startedAt and ${what}.finishedAt are required.`);
  return {
    dryRun: r.dryRun,
    startedAt,
    finishedAt,
    graceSeconds: count(r.graceSeconds, `${what}.graceSeconds`),
    links: gcCount(r.links, `${what}.links`),
    blobs: gcCount(r.blobs, `${what}.blobs`),
    manifests: gcCount(r.manifests, `${what}.manifests`),
    uploads: gcCount(r.uploads, `${what}.uploads`),
    freedBytes: count(r.freedBytes, `${what}.freedBytes`),
    skipped: count(r.skipped, `${what}.skipped`),
    timings: {
      linksMs: count(t.linksMs, `${what}.timings.linksMs`),
      markMs: count(t.markMs, `${what}.timings.markMs`),
      sweepMs: count(t.sweepMs, `${what}.timings.sweepMs`),
      uploadsMs: count(t.uploadsMs, `${what}.timings.uploadsMs`),
      totalMs: count(t.totalMs, `${what}.timings.totalMs`),
    },
  };
}

const CONNECTION_STATES = ['Online', 'Offline', 'Syncing', 'Unhealthy'] as const;

function descendantStatus(value: unknown, what: string): DescendantStatus {
  const d = object(value, what);
  const state = d.connectionState;
  if (typeof state !== 'string' || !(CONNECTION_STATES as readonly string[]).includes(state)) {
    throw invalid(`${what}.connectionState must be one of ${CONNECTION_STATES.join(', ')}.`);
  }
  if (d.activationStatus !== 'Active' && d.activationStatus !== 'Inactive') throw invalid(`${what}.activationStatus must be Active or Inactive.`);
  return {
    name: text(d.name, `${what}.name`),
    activationEpoch: count(d.activationEpoch, `${what}.activationEpoch`),
    activationStatus: d.activationStatus,
    instanceId: nullableText(d.instanceId, `${what}.instanceId`),
    connectionState: state as DescendantStatus['connectionState'],
    lastActivityTime: isoTime(d.lastActivityTime, `${what}.lastActivityTime`),
    lastSyncTime: isoTime(d.lastSyncTime, `${what}.lastSyncTime`),
    version: nullableText(d.version, `${what}.version`),
    loginServer: loginServer(d.loginServer, `${what}.loginServer`),
    statusDetails: statusDetails(d.statusDetails, `${what}.statusDetails`),
    repositories: repositories(d.repositories, `${what}.repositories`),
    outbox: d.outbox === undefined || d.outbox === null ? null : count(d.outbox, `${what}.outbox`),
    storage: storageUsage(d.storage, `${what}.storage`),
    ...withGcReport(gcReport(d.lastGarbageCollection, `${what}.lastGarbageCollection`)),
  };
}

function withGcReport(report: GcReport | null | undefined): { lastGarbageCollection?: GcReport | null } {
  return report === undefined ? {} : { lastGarbageCollection: report };
}

export function parseStatusReport(body: unknown): StatusReport {
  const b = object(body, 'The status report');
  if (b.connectionState !== 'Online' && b.connectionState !== 'Syncing') throw invalid('connectionState must be Online or Syncing.');
  const cursor = b.cursor === null || b.cursor === undefined ? null : count(b.cursor, 'cursor');
  return {
    instanceId: text(b.instanceId, 'instanceId'),
    connectionState: b.connectionState,
    statusDetails: statusDetails(b.statusDetails, 'statusDetails'),
    lastSyncTime: isoTime(b.lastSyncTime, 'lastSyncTime'),
    version: text(b.version, 'version'),
    loginServer: loginServer(b.loginServer, 'loginServer'),
    cursor,
    outbox: b.outbox === undefined || b.outbox === null ? 0 : count(b.outbox, 'outbox'),
    storage: storageUsage(b.storage, 'storage'),
    ...withGcReport(gcReport(b.lastGarbageCollection, 'lastGarbageCollection')),
    descendants: list(b.descendants, 'descendants').map((d, i) => descendantStatus(d, `descendants[${i}]`)),
  };
}
