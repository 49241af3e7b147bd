import type { FastifyInstance, FastifyRequest } from 'fastify';
import { RegistryError } from '../oci/index.js';
import {
  MAX_CLIENT_TOKENS,
  type AuditLogStatus, type ConnectedRegistryChange, type ConnectedRegistryMode, type ConnectedRegistryRecord, type ConnectedRegistryStore,
  type ConnectionState, type GarbageCollection, type IdentityStore, type PasswordSlot, effectiveConnectionState,
} from '../metadata/index.js';
import { type AccessGuard, GATEWAY_PERMISSIONS, REPOSITORY_PERMISSIONS, buildActions, generatePassword, hashPassword, parseAction } from '../auth/index.js';
import {
  CLIENT_TOKEN_AMBIGUITY, CONTINUOUS_SCHEDULE, DEFAULT_MESSAGE_TTL, NOTIFICATION_AMBIGUITY, REPOSITORY_AMBIGUITY,
  applySetChange, assertConnectedRegistryName, assertCron, assertHierarchy, assertMessageTtl, assertNotification, assertSyncWindow,
  parseLogLevel, parseMode, stringList,
} from './connected-registry-rules.js';
import { objectBody, param, scopeMapJson, tokenJson, useAdminJson } from './management-routes.js';

export interface ConnectedRegistryDeps {
  identities: IdentityStore;
  connectedRegistries: ConnectedRegistryStore;
  guard: AccessGuard;
  /** The root's address for edges (`host:port`); the request's Host header when absent. */
  loginServer?: string;
  /** The node's clock, milliseconds since the epoch (tests move time forward). */
  clock: () => number;
}

const PREFIX = '/mgmt/v1/connected-registries';
const READ_ONLY_PERMISSIONS = ['content/read', 'metadata/read'];
const READ_WRITE_PERMISSIONS = ['content/read', 'metadata/read', 'content/write', 'content/delete', 'metadata/write'];
const DEFAULT_GC_SCHEDULE = '0 0 * * *';
const CONNECTION_STATES: readonly ConnectionState[] = ['Online', 'Offline', 'Syncing', 'Unhealthy'];
export const PASSWORD_PLACEHOLDER = '<use --generate-password to generate a new password>';
export const LOGIN_SERVER_PLACEHOLDER = '<Optional: connected registry login server. More info at https://aka.ms/acr/connected-registry>';
export const PARENT_ENDPOINT_PLACEHOLDER = '<parent gateway endpoint>';
export const RESYNC_MESSAGE = 'Resync requested: the connected registry reconciles in full at its next contact with its parent.';

/** The repository actions a connected registry of `mode` needs on `repos` (docs/management-api.md, "Connected registries": its sync token). */
export function repositoryActionsFor(mode: ConnectedRegistryMode, repos: readonly string[]): string[] {
  const permissions = mode === 'ReadOnly' ? READ_ONLY_PERMISSIONS : READ_WRITE_PERMISSIONS;
  return repos.flatMap((repo) => buildActions('repositories', repo, permissions));
}

/** `gateway/<cr>/config/read|write`, `gateway/<cr>/message/read|write`. */
export function gatewayActionsFor(name: string): string[] {
  return buildActions('gateway', name, GATEWAY_PERMISSIONS);
}

/**
 * Connected registries as resources (docs/management-api.md): create with its sync token and scope
 * map, list with filters, show, update, delete (optionally with cleanup), deactivate, repository
 * permissions, client tokens and get-settings. Its own plugin, admin only, with the management API's JSON parser.
 */
export async function registerConnectedRegistryRoutes(app: FastifyInstance, deps: ConnectedRegistryDeps): Promise<void> {
  await app.register(async (api) => {
    useAdminJson(api, deps.guard);
    connectedRegistryRoutes(api, deps);
  });
}

function connectedRegistryRoutes(api: FastifyInstance, deps: ConnectedRegistryDeps): void {
  const { identities, connectedRegistries: store } = deps;
  const clock = deps.clock;
  const rootEndpoint = (request: FastifyRequest): string => deps.loginServer ?? request.headers.host ?? PARENT_ENDPOINT_PLACEHOLDER;

  const must = async (name: string): Promise<ConnectedRegistryRecord> => {
    const found = await store.getConnectedRegistry(name);
    if (!found) throw new RegistryError('NOT_FOUND', `Connected registry '${name}' doesn't exist.`);
    return found;
  };
  /** Parent first, up to the top-level one. */
  const ancestorsOf = async (record: ConnectedRegistryRecord): Promise<ConnectedRegistryRecord[]> => {
    const out: ConnectedRegistryRecord[] = [];
    let next = record.parent;
    while (next !== null) {
      const found = await store.getConnectedRegistry(next);
      if (!found || out.some((a) => a.name === found.name)) break;
      out.push(found);
      next = found.parent;
    }
    return out;
  };
  const descendantsOf = (name: string, all: ConnectedRegistryRecord[]): ConnectedRegistryRecord[] => {
    const out: ConnectedRegistryRecord[] = [];
    const queue = [name];
    while (queue.length > 0) {
      const current = queue.shift()!;
      for (const child of all.filter((c) => c.parent === current)) {
        out.push(child);
        queue.push(child.name);
      }
    }
    return out;
  };
  /** The scope map of a connected registry's sync token, or null when it has none. */
  const syncScopeMapOf = async (record: ConnectedRegistryRecord): Promise<string | null> => {
    const token = await identities.getToken(record.sync.tokenName);
    return token?.scopeMap ?? null;
  };
  /**
   * Changes to several sync scope maps, gathered first and written in one transaction by commit(),
   * so a refusal (the permission limit of one map) leaves every map as it was. A map may be changed
   * more than once before the commit; system maps and missing ones are left alone.
   */
  const scopeMapEdits = (): {
    change(name: string | null, add: readonly string[], remove: (action: string) => boolean): Promise<void>;
    commit(): Promise<void>;
  } => {
    const edits = new Map<string, { before: readonly string[]; actions: string[] }>();
    return {
      async change(name, add, remove) {
        if (name === null) return;
        let edit = edits.get(name);
        if (!edit) {
          const map = await identities.getScopeMap(name);
          if (!map || map.type === 'SystemDefined') return;
          edit = { before: map.actions, actions: map.actions };
          edits.set(name, edit);
        }
        const current = edit.actions;
        edit.actions = [...current, ...add.filter((a) => !current.includes(a))].filter((a) => !remove(a));
      },
      async commit() {
        const changed = [...edits]
          .filter(([, e]) => e.actions.length !== e.before.length || e.actions.some((a, i) => a !== e.before[i]))
          .map(([name, e]) => ({ name, actions: e.actions }));
        if (changed.length > 0) await identities.updateScopeMapActions(changed);
      },
    };
  };
  const json = (record: ConnectedRegistryRecord, request: FastifyRequest, parents: Map<string, ConnectedRegistryRecord>): Record<string, unknown> => {
    const parent = record.parent === null ? null : parents.get(record.parent) ?? null;
    const gatewayEndpoint = record.parent === null ? rootEndpoint(request) : parent?.runtime.loginServer?.host ?? null;
    return connectedRegistryJson(record, gatewayEndpoint, clock());
  };
  const byName = async (): Promise<Map<string, ConnectedRegistryRecord>> => new Map((await store.listConnectedRegistries()).map((c) => [c.name, c]));

  // --- list -------------------------------------------------------------------------------
  api.get(PREFIX, async (request) => {
    const query = request.query as Record<string, string | undefined>;
    const all = await store.listConnectedRegistries();
    const map = new Map(all.map((c) => [c.name, c]));
    const noChildren = query.noChildren === 'true' || query.noChildren === '';
    let selected = all;
    if (query.parent !== undefined) {
      if (!map.has(query.parent)) throw new RegistryError('NOT_FOUND', `Parent connected registry '${query.parent}' doesn't exist.`);
      selected = noChildren ? all.filter((c) => c.parent === query.parent) : descendantsOf(query.parent, all);
    } else if (noChildren) {
      selected = all.filter((c) => c.parent === null);
    }
    if (query.mode !== undefined) {
      const mode = parseMode(query.mode);
      selected = selected.filter((c) => c.mode === mode);
    }
    if (query.connectionState !== undefined) {
      const state = CONNECTION_STATES.find((s) => s.toLowerCase() === query.connectionState!.toLowerCase());
      if (!state) throw new RegistryError('REQUEST_INVALID', `Invalid connectionState '${query.connectionState}': use one of ${CONNECTION_STATES.join(', ')}.`);
      const now = clock();
      selected = selected.filter((c) => effectiveConnectionState(c, now) === state);
    }
    return selected.sort((a, b) => (a.name < b.name ? -1 : 1)).map((c) => json(c, request, map));
  });

  // --- create -----------------------------------------------------------------------------
  api.post(PREFIX, async (request, reply) => {
    const body = objectBody(request);
    const name = assertConnectedRegistryName(body.name);
    const mode = parseMode(body.mode);
    const hasRepos = body.repositories !== undefined && body.repositories !== null;
    const hasToken = body.syncToken !== undefined && body.syncToken !== null;
    if (hasRepos === hasToken) throw new RegistryError('REQUEST_INVALID', 'either --sync-token or --repository must be provided, but not both.');
    if (await store.getConnectedRegistry(name)) throw new RegistryError('CONFLICT', `Connected registry '${name}' already exists.`);
    let parent: ConnectedRegistryRecord | null = null;
    if (body.parent !== undefined && body.parent !== null) {
      if (typeof body.parent !== 'string') throw new RegistryError('REQUEST_INVALID', 'parent must be a string.');
      parent = await store.getConnectedRegistry(body.parent);
      if (!parent) throw new RegistryError('NOT_FOUND', `The parent connected registry '${body.parent}' could not be found.`);
      assertHierarchy(name, mode, parent.name, parent.mode);
    }
    const schedule = body.syncSchedule === undefined || body.syncSchedule === null ? CONTINUOUS_SCHEDULE : assertCron(body.syncSchedule);
    const syncWindow = body.syncWindow === undefined || body.syncWindow === null ? null : assertSyncWindow(body.syncWindow, schedule);
    const messageTtl = body.syncMessageTtl === undefined || body.syncMessageTtl === null ? DEFAULT_MESSAGE_TTL : assertMessageTtl(body.syncMessageTtl);
    const logLevel = body.logLevel === undefined || body.logLevel === null ? 'Information' : parseLogLevel(body.logLevel);
    const auditLogStatus = body.auditLogStatus === undefined || body.auditLogStatus === null ? 'Disabled' : parseAuditLogStatus(body.auditLogStatus);
    const notificationsList = stringList(body.notifications, 'notifications', assertNotification);
    const clientTokenIds = stringList(body.clientTokens, 'clientTokens', tokenNameOf);
    await assertClientTokens(identities, clientTokenIds);
    const garbageCollection = gcOf(body.garbageCollection, { enabled: false, schedule: DEFAULT_GC_SCHEDULE });
    // The store enforces the limit too; checking first leaves tokens and scope maps untouched.
    if ((await store.listConnectedRegistries()).length >= store.maxConnectedRegistries) {
      throw new RegistryError('TOOMANYREQUESTS', `The registry already has the maximum of ${store.maxConnectedRegistries} connected registries.`);
    }

    // The sync token: created with its scope map, or an existing one.
    let tokenName: string;
    let repos: string[];
    if (hasRepos) {
      repos = stringList(body.repositories, 'repositories', (r) => r.toLowerCase());
      if (repos.length === 0) throw new RegistryError('REQUEST_INVALID', 'At least one repository must be provided with --repository.');
      const actions = [...repositoryActionsFor(mode, repos), ...gatewayActionsFor(name)];
      const description = `Created by connected registry sync token: ${name}`;
      // As the reference does, an existing scope map or token of that name is overwritten.
      if (await identities.getScopeMap(name)) await identities.updateScopeMap(name, { description, actions });
      else await identities.createScopeMap({ name, description, actions });
      if (await identities.getToken(name)) await identities.updateToken(name, { status: 'enabled', scopeMap: name });
      else await identities.createToken({ name, status: 'enabled', scopeMap: name, password1: null, password2: null });
      tokenName = name;
    } else {
      tokenName = tokenNameOf(body.syncToken);
      const token = await identities.getToken(tokenName);
      if (!token) throw new RegistryError('NOT_FOUND', `Token '${tokenName}' not found.`);
      const map = token.scopeMap === null ? null : await identities.getScopeMap(token.scopeMap);
      repos = [...new Set((map?.actions ?? []).map(parseAction).filter((a) => a.kind === 'repositories').map((a) => a.resource))];
    }

    // Every ancestor's sync token may read the child's repositories and its gateway messages:
    // granted all at once before the record exists, so an ancestor's permission limit refuses the
    // create without leaving a child its ancestors cannot sync.
    const childActions = [...repositoryActionsFor(mode, repos), ...gatewayActionsFor(name)];
    const grants = scopeMapEdits();
    for (const ancestor of parent ? [parent, ...(await ancestorsOf(parent))] : []) {
      await grants.change(await syncScopeMapOf(ancestor), childActions, () => false);
    }
    await grants.commit();
    const record = await store.createConnectedRegistry({
      name, mode, parent: parent?.name ?? null, sync: { tokenName, schedule, syncWindow, messageTtl },
      clientTokenIds, logging: { logLevel, auditLogStatus }, notificationsList, garbageCollection,
    });
    return reply.code(201).send(json(record, request, await byName()));
  });

  // --- show, update -------------------------------------------------------------------------
  api.get(`${PREFIX}/:name`, async (request) => json(await must(param(request, 'name')), request, await byName()));

  api.patch(`${PREFIX}/:name`, async (request) => {
    const current = await must(param(request, 'name'));
    const body = objectBody(request);
    if (body.mode !== undefined) throw new RegistryError('REQUEST_INVALID', 'The mode of a connected registry cannot be changed after it is created.');
    if (body.parent !== undefined) throw new RegistryError('REQUEST_INVALID', 'The parent of a connected registry cannot be changed after it is created.');
    const change: ConnectedRegistryChange = {};
    const sync: NonNullable<ConnectedRegistryChange['sync']> = {};
    if (body.syncSchedule !== undefined && body.syncSchedule !== null) sync.schedule = assertCron(body.syncSchedule);
    if (body.syncWindow !== undefined) sync.syncWindow = body.syncWindow === null ? null : String(body.syncWindow);
    if (body.syncMessageTtl !== undefined && body.syncMessageTtl !== null) sync.messageTtl = assertMessageTtl(body.syncMessageTtl);
    const schedule = sync.schedule ?? current.sync.schedule;
    const window = sync.syncWindow === undefined ? current.sync.syncWindow : sync.syncWindow;
    if (window !== null) assertSyncWindow(window, schedule);
    if (Object.keys(sync).length > 0) change.sync = sync;

    const addTokens = stringList(body.addClientTokens, 'addClientTokens', tokenNameOf);
    const removeTokens = stringList(body.removeClientTokens, 'removeClientTokens', tokenNameOf);
    const tokens = applySetChange(current.clientTokenIds, addTokens, removeTokens, CLIENT_TOKEN_AMBIGUITY);
    if (tokens !== null) {
      await assertClientTokens(identities, addTokens.filter((t) => !current.clientTokenIds.includes(t)));
      if (tokens.length > MAX_CLIENT_TOKENS) {
        throw new RegistryError('TOOMANYREQUESTS', `A connected registry can have at most ${MAX_CLIENT_TOKENS} client tokens; this update would give it ${tokens.length}.`);
      }
      change.clientTokenIds = tokens;
    }
    const addNotifications = stringList(body.addNotifications, 'addNotifications', assertNotification);
    const removeNotifications = stringList(body.removeNotifications, 'removeNotifications');
    const notifications = applySetChange(current.notificationsList, addNotifications, removeNotifications, NOTIFICATION_AMBIGUITY);
    if (notifications !== null) change.notificationsList = notifications;

    const logging: NonNullable<ConnectedRegistryChange['logging']> = {};
    if (body.logLevel !== undefined && body.logLevel !== null) logging.logLevel = parseLogLevel(body.logLevel);
    if (body.auditLogStatus !== undefined && body.auditLogStatus !== null) logging.auditLogStatus = parseAuditLogStatus(body.auditLogStatus);
    if (Object.keys(logging).length > 0) change.logging = logging;
    if (body.garbageCollection !== undefined && body.garbageCollection !== null) change.garbageCollection = gcOf(body.garbageCollection, current.garbageCollection);
    const updated = await store.updateConnectedRegistry(current.name, change);
    return json(updated, request, await byName());
  });

  // --- delete, deactivate -------------------------------------------------------------------
  api.delete(`${PREFIX}/:name`, async (request) => {
    const current = await must(param(request, 'name'));
    const query = request.query as Record<string, string | undefined>;
    const cleanup = query.cleanup === 'true' || query.cleanup === '';
    const ancestors = await ancestorsOf(current);
    const syncMap = await syncScopeMapOf(current);
    await store.deleteConnectedRegistry(current.name);
    const gateway = new Set(gatewayActionsFor(current.name));
    if (cleanup) {
      const revokes = scopeMapEdits();
      for (const ancestor of ancestors) await revokes.change(await syncScopeMapOf(ancestor), [], (a) => gateway.has(a));
      await revokes.commit();
      if (await identities.getToken(current.sync.tokenName)) await identities.deleteToken(current.sync.tokenName);
      if (syncMap !== null) {
        const map = await identities.getScopeMap(syncMap);
        const users = (await identities.listTokens()).filter((t) => t.scopeMap === syncMap);
        if (map && map.type === 'UserDefined' && users.length === 0) await identities.deleteScopeMap(syncMap);
      }
      return { name: current.name, cleanup: true };
    }
    const commands = [
      `outpost token delete --name ${current.sync.tokenName} --yes`,
      ...(syncMap !== null ? [`outpost scope-map delete --name ${syncMap} --yes`] : []),
    ];
    for (const ancestor of ancestors) {
      const map = await syncScopeMapOf(ancestor);
      if (map !== null) commands.push(`outpost scope-map update --name ${map} --remove-gateway ${current.name} config/read config/write message/read message/write`);
    }
    return {
      name: current.name,
      cleanup: false,
      message: 'Connected registry successfully deleted. Please cleanup your sync tokens and scope maps. Run the following commands for cleanup:',
      cleanupCommands: commands,
    };
  });

  // Frees the activation (a new instance may claim it) and bumps the activation epoch, which
  // travels down in config documents so the edge that serves this registry frees it too.
  api.post(`${PREFIX}/:name/deactivate`, async (request) => {
    const updated = await store.deactivate(param(request, 'name'));
    return json(updated, request, await byName());
  });

  // The edge sees `resyncRequestedAt` in its config at its next contact and reconciles in full.
  api.post(`${PREFIX}/:name/resync`, async (request, reply) => {
    const updated = await store.requestResync(param(request, 'name'), new Date(clock()));
    return reply.code(202).send({ name: updated.name, resyncRequestedAt: updated.resyncRequestedAt!.toISOString(), message: RESYNC_MESSAGE });
  });

  // --- permissions, client tokens ----------------------------------------------------------
  api.get(`${PREFIX}/:name/permissions`, async (request) => {
    const current = await must(param(request, 'name'));
    const map = await syncScopeMapOf(current);
    const found = map === null ? null : await identities.getScopeMap(map);
    if (!found) throw new RegistryError('NOT_FOUND', `The sync token '${current.sync.tokenName}' of connected registry '${current.name}' has no scope map.`);
    return scopeMapJson(found);
  });

  api.patch(`${PREFIX}/:name/permissions`, async (request) => {
    const body = objectBody(request);
    const add = stringList(body.add, 'add', (r) => r.toLowerCase());
    const remove = stringList(body.remove, 'remove', (r) => r.toLowerCase());
    if (add.length === 0 && remove.length === 0) throw new RegistryError('REQUEST_INVALID', 'No repository permissions to update.');
    const both = add.filter((r) => remove.includes(r));
    if (both.length > 0) throw new RegistryError('REQUEST_INVALID', `${REPOSITORY_AMBIGUITY}\n[${both.map((b) => `'${b}'`).join(', ')}]`);
    const current = await must(param(request, 'name'));
    // Target, ancestors and descendants in one transaction: one map's permission limit refuses all.
    const edits = scopeMapEdits();
    if (add.length > 0) {
      const actions = repositoryActionsFor(current.mode, add);
      for (const target of [current, ...(await ancestorsOf(current))]) await edits.change(await syncScopeMapOf(target), actions, () => false);
    }
    if (remove.length > 0) {
      const removed = new Set(remove.flatMap((r) => buildActions('repositories', r, REPOSITORY_PERMISSIONS)));
      const all = await store.listConnectedRegistries();
      for (const target of [current, ...descendantsOf(current.name, all)]) await edits.change(await syncScopeMapOf(target), [], (a) => removed.has(a));
    }
    await edits.commit();
    const map = await syncScopeMapOf(current);
    const found = map === null ? null : await identities.getScopeMap(map);
    if (!found) throw new RegistryError('NOT_FOUND', `The sync token '${current.sync.tokenName}' of connected registry '${current.name}' has no scope map.`);
    return scopeMapJson(found);
  });

  api.get(`${PREFIX}/:name/client-tokens`, async (request) => {
    const current = await must(param(request, 'name'));
    const out: Array<Record<string, unknown>> = [];
    for (const name of current.clientTokenIds) {
      const token = await identities.getToken(name);
      if (token) out.push(tokenJson(token));
    }
    return out;
  });

  // --- get-settings -------------------------------------------------------------------------
  api.post(`${PREFIX}/:name/settings`, async (request) => {
    const body = objectBody(request);
    if (body.parentProtocol !== 'http' && body.parentProtocol !== 'https') {
      throw new RegistryError('REQUEST_INVALID', `Invalid parentProtocol '${String(body.parentProtocol)}': use "http" or "https".`);
    }
    let slot: PasswordSlot | null = null;
    if (body.generatePassword !== undefined && body.generatePassword !== null) {
      if (body.generatePassword !== 1 && body.generatePassword !== 2 && body.generatePassword !== '1' && body.generatePassword !== '2') {
        throw new RegistryError('REQUEST_INVALID', `Invalid generatePassword '${String(body.generatePassword)}': use 1 or 2.`);
      }
      slot = Number(body.generatePassword) === 1 ? 'password1' : 'password2';
    }
    const current = await must(param(request, 'name'));
    const tokenName = current.sync.tokenName;
    if (!(await identities.getToken(tokenName))) throw new RegistryError('NOT_FOUND', `Token '${tokenName}' not found.`);
    let password = PASSWORD_PLACEHOLDER;
    if (slot !== null) {
      password = generatePassword();
      await identities.setTokenPassword(tokenName, slot, { hash: await hashPassword(password), createdAt: new Date(clock()), expiry: null });
    }
    const parent = current.parent === null ? null : await store.getConnectedRegistry(current.parent);
    const endpoint = current.parent === null ? rootEndpoint(request) : parent?.runtime.loginServer?.host ?? PARENT_ENDPOINT_PLACEHOLDER;
    return {
      SYNC_TOKEN_USER: tokenName,
      SYNC_TOKEN_PASSWORD: password,
      ACR_REGISTRY_CERTIFICATE_VOLUME: '/var/acr/certs',
      ACR_REGISTRY_DATA_VOLUME: '/var/acr/data',
      ACR_REGISTRY_CONNECTION_STRING: `ConnectedRegistryName=${current.name};SyncTokenName=${tokenName};SyncTokenPassword=${password};ParentGatewayEndpoint=${endpoint};ParentEndpointProtocol=${body.parentProtocol}`,
      ACR_REGISTRY_LOGIN_SERVER: LOGIN_SERVER_PLACEHOLDER,
    };
  });
}

function tokenNameOf(value: unknown): string {
  if (typeof value !== 'string' || value === '') throw new RegistryError('REQUEST_INVALID', 'A token name must be a non-empty string.');
  return value.startsWith('tokens/') ? value.slice('tokens/'.length) : value;
}

async function assertClientTokens(identities: IdentityStore, names: string[]): Promise<void> {
  if (names.length > MAX_CLIENT_TOKENS) {
    throw new RegistryError('TOOMANYREQUESTS', `A connected registry can have at most ${MAX_CLIENT_TOKENS} client tokens; got ${names.length}.`);
  }
  for (const name of names) {
    if (!(await identities.getToken(name))) throw new RegistryError('NOT_FOUND', `Token '${name}' not found.`);
  }
}

function parseAuditLogStatus(value: unknown): AuditLogStatus {
  if (value === 'Enabled' || value === 'Disabled') return value;
  throw new RegistryError('REQUEST_INVALID', `Invalid auditLogStatus '${String(value)}': use Enabled or Disabled.`);
}

function gcOf(value: unknown, current: GarbageCollection): GarbageCollection {
  if (value === undefined || value === null) return current;
  if (typeof value !== 'object' || Array.isArray(value)) throw new RegistryError('REQUEST_INVALID', 'garbageCollection must be an object {enabled, schedule}.');
  const v = value as Record<string, unknown>;
  if (v.enabled !== undefined && typeof v.enabled !== 'boolean') throw new RegistryError('REQUEST_INVALID', 'garbageCollection.enabled must be a boolean.');
  return {
    enabled: v.enabled === undefined ? current.enabled : v.enabled,
    schedule: v.schedule === undefined ? current.schedule : assertCron(v.schedule, 'garbage collection schedule'),
  };
}

/**
 * The resource as JSON, top-level fields as `az acr connected-registry show` prints them.
 * `connectionState` is the one to show at `now` (Offline once heartbeats stop); `syncStatus` is
 * Outpost's own: the lag per repository at the last heartbeat and the pending resync request.
 */
export function connectedRegistryJson(record: ConnectedRegistryRecord, gatewayEndpoint: string | null, now: number): Record<string, unknown> {
  const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);
  return {
    id: `connectedRegistries/${record.name}`,
    name: record.name,
    type: 'connectedRegistries',
    provisioningState: 'Succeeded',
    mode: record.mode,
    version: record.runtime.version,
    connectionState: effectiveConnectionState(record, now),
    lastActivityTime: iso(record.runtime.lastActivityTime),
    activation: { status: record.runtime.activationStatus },
    parent: {
      id: record.parent === null ? null : `connectedRegistries/${record.parent}`,
      syncProperties: {
        tokenId: `tokens/${record.sync.tokenName}`,
        schedule: record.sync.schedule,
        syncWindow: record.sync.syncWindow,
        messageTtl: record.sync.messageTtl,
        lastSyncTime: iso(record.sync.lastSyncTime),
        gatewayEndpoint,
      },
    },
    clientTokenIds: record.clientTokenIds.map((t) => `tokens/${t}`),
    loginServer: record.runtime.loginServer,
    logging: record.logging,
    statusDetails: record.runtime.statusDetails,
    notificationsList: record.notificationsList,
    garbageCollection: record.garbageCollection,
    syncStatus: {
      repositories: record.runtime.repositories.map((r) => ({ name: r.name, pendingChanges: r.pendingChanges })),
      outboxPending: record.runtime.outboxPending,
      resyncRequestedAt: iso(record.resyncRequestedAt),
    },
    creationDate: record.createdAt.toISOString(),
  };
}
