import { RegistryError } from '../oci/index.js';
import type { AuditLogStatus, ConnectionState, GarbageCollection, PasswordSlot } from '../metadata/index.js';
import {
  CONTINUOUS_SCHEDULE, DEFAULT_MESSAGE_TTL, assertConnectedRegistryName, assertCron, assertMessageTtl, assertNotification, assertSyncWindow,
  parseLogLevel, parseMode, stringList,
} from './connected-registry-rules.js';
import type { CreateConnectedRegistry, ListFilter, UpdateConnectedRegistry } from './connected-registry-service.js';

/**
 * The connected-registry API's request bodies and queries (docs/management-api.md) turned into the
 * service's typed inputs: JSON shapes and every value rule that needs no stored state, in the
 * reference's words (connected-registry-rules.ts). What needs the stores (existence, the parent's
 * mode, limits, set changes against the current lists) is the service's.
 */

const DEFAULT_GC_SCHEDULE = '0 0 * * *';
const CONNECTION_STATES: readonly ConnectionState[] = ['Online', 'Offline', 'Syncing', 'Unhealthy'];

function invalid(message: string): RegistryError {
  return new RegistryError('REQUEST_INVALID', message);
}

const given = (value: unknown): boolean => value !== undefined && value !== null;

/** `?parent=&noChildren=&mode=&connectionState=` of the list. */
export function parseListQuery(query: Record<string, string | undefined>): ListFilter {
  const filter: ListFilter = { noChildren: query.noChildren === 'true' || query.noChildren === '' };
  if (query.parent !== undefined) filter.parent = query.parent;
  if (query.mode !== undefined) filter.mode = parseMode(query.mode);
  if (query.connectionState !== undefined) {
    const wanted = query.connectionState.toLowerCase();
    const state = CONNECTION_STATES.find((s) => s.toLowerCase() === wanted);
    if (!state) throw invalid(`Invalid connectionState '${query.connectionState}': use one of ${CONNECTION_STATES.join(', ')}.`);
    filter.connectionState = state;
  }
  return filter;
}

/** The body of `POST /mgmt/v1/connected-registries`. */
export function parseCreateRequest(body: Record<string, unknown>): CreateConnectedRegistry {
  const name = assertConnectedRegistryName(body.name);
  const mode = parseMode(body.mode);
  const hasRepos = given(body.repositories);
  if (hasRepos === given(body.syncToken)) throw invalid('either --sync-token or --repository must be provided, but not both.');
  let parent: string | null = null;
  if (given(body.parent)) {
    if (typeof body.parent !== 'string') throw invalid('parent must be a string.');
    parent = body.parent;
  }
  const schedule = given(body.syncSchedule) ? assertCron(body.syncSchedule) : CONTINUOUS_SCHEDULE;
  const syncWindow = given(body.syncWindow) ? assertSyncWindow(body.syncWindow, schedule) : null;
  const messageTtl = given(body.syncMessageTtl) ? assertMessageTtl(body.syncMessageTtl) : DEFAULT_MESSAGE_TTL;
  const logLevel = given(body.logLevel) ? parseLogLevel(body.logLevel) : 'Information';
  const auditLogStatus = given(body.auditLogStatus) ? parseAuditLogStatus(body.auditLogStatus) : 'Disabled';
  const notificationsList = stringList(body.notifications, 'notifications', assertNotification);
  const clientTokenIds = stringList(body.clientTokens, 'clientTokens', tokenNameOf);
  const garbageCollection = { enabled: false, schedule: DEFAULT_GC_SCHEDULE, ...gcChangeOf(body.garbageCollection) };
  let sync: CreateConnectedRegistry['sync'];
  if (hasRepos) {
    const repositories = stringList(body.repositories, 'repositories', (r) => r.toLowerCase());
    if (repositories.length === 0) throw invalid('At least one repository must be provided with --repository.');
    sync = { repositories };
  } else {
    sync = { tokenName: tokenNameOf(body.syncToken) };
  }
  return {
    name, mode, parent, sync, schedule, syncWindow, messageTtl, logging: { logLevel, auditLogStatus }, notificationsList, clientTokenIds,
    garbageCollection,
  };
}

/** The body of `PATCH /mgmt/v1/connected-registries/<n>`: mode and parent never change. */
export function parseUpdateRequest(body: Record<string, unknown>): UpdateConnectedRegistry {
  if (body.mode !== undefined) throw invalid('The mode of a connected registry cannot be changed after it is created.');
  if (body.parent !== undefined) throw invalid('The parent of a connected registry cannot be changed after it is created.');
  const input: UpdateConnectedRegistry = {
    addClientTokens: [], removeClientTokens: [], addNotifications: [], removeNotifications: [], logging: {},
  };
  if (given(body.syncSchedule)) input.schedule = assertCron(body.syncSchedule);
  // Checked by the service against the schedule it will run with (this one or the stored one).
  if (body.syncWindow !== undefined) input.syncWindow = body.syncWindow === null ? null : String(body.syncWindow);
  if (given(body.syncMessageTtl)) input.messageTtl = assertMessageTtl(body.syncMessageTtl);
  input.addClientTokens = stringList(body.addClientTokens, 'addClientTokens', tokenNameOf);
  input.removeClientTokens = stringList(body.removeClientTokens, 'removeClientTokens', tokenNameOf);
  input.addNotifications = stringList(body.addNotifications, 'addNotifications', assertNotification);
  input.removeNotifications = stringList(body.removeNotifications, 'removeNotifications');
  if (given(body.logLevel)) input.logging.logLevel = parseLogLevel(body.logLevel);
  if (given(body.auditLogStatus)) input.logging.auditLogStatus = parseAuditLogStatus(body.auditLogStatus);
  if (given(body.garbageCollection)) input.garbageCollection = gcChangeOf(body.garbageCollection);
  return input;
}

/** The body of `PATCH …/permissions`: repository names, lower-cased. */
export function parsePermissionsRequest(body: Record<string, unknown>): { add: string[]; remove: string[] } {
  return {
    add: stringList(body.add, 'add', (r) => r.toLowerCase()),
    remove: stringList(body.remove, 'remove', (r) => r.toLowerCase()),
  };
}

/** The body of `POST …/settings`. */
export function parseSettingsRequest(body: Record<string, unknown>): { parentProtocol: 'http' | 'https'; generatePassword: PasswordSlot | null } {
  if (body.parentProtocol !== 'http' && body.parentProtocol !== 'https') {
    throw invalid(`Invalid parentProtocol '${String(body.parentProtocol)}': use "http" or "https".`);
  }
  let slot: PasswordSlot | null = null;
  if (given(body.generatePassword)) {
    if (body.generatePassword !== 1 && body.generatePassword !== 2 && body.generatePassword !== '1' && body.generatePassword !== '2') {
      throw invalid(`Invalid generatePassword '${String(body.generatePassword)}': use 1 or 2.`);
    }
    slot = Number(body.generatePassword) === 1 ? 'password1' : 'password2';
  }
  return { parentProtocol: body.parentProtocol, generatePassword: slot };
}

/** A token name, or its id `tokens/<name>`. */
function tokenNameOf(value: unknown): string {
  if (typeof value !== 'string' || value === '') throw invalid('A token name must be a non-empty string.');
  return value.startsWith('tokens/') ? value.slice('tokens/'.length) : value;
}

function parseAuditLogStatus(value: unknown): AuditLogStatus {
  if (value === 'Enabled' || value === 'Disabled') return value;
  throw invalid(`Invalid auditLogStatus '${String(value)}': use Enabled or Disabled.`);
}

/** `{enabled?, schedule?}`: what is given of the garbage-collection settings. */
function gcChangeOf(value: unknown): Partial<GarbageCollection> {
  if (!given(value)) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw invalid('garbageCollection must be an object {enabled, schedule}.');
  const v = value as Record<string, unknown>;
  if (v.enabled !== undefined && typeof v.enabled !== 'boolean') throw invalid('garbageCollection.enabled must be a boolean.');
  const change: Partial<GarbageCollection> = {};
  if (v.enabled !== undefined) change.enabled = v.enabled;
  if (v.schedule !== undefined) change.schedule = assertCron(v.schedule, 'garbage collection schedule');
  return change;
}
