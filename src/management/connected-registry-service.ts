import { RegistryError } from '../oci/index.js';
import {
  MAX_CLIENT_TOKENS, ancestorsOf, descendantsOf, effectiveConnectionState,
  type ConnectedRegistryChange, type ConnectedRegistryLogging, type ConnectedRegistryMode, type ConnectedRegistryRecord,
  type ConnectedRegistryStore, type ConnectionState, type GarbageCollection, type IdentityChange, type IdentityStore,
  type ManagementChange, type PasswordSlot, type ScopeMapRecord, type TokenRecord,
} from '../metadata/index.js';
import { GATEWAY_PERMISSIONS, REPOSITORY_PERMISSIONS, buildActions, generatePassword, hashPassword, parseAction } from '../auth/index.js';
import type { Clock } from '../core/clock.js';
import type { EventBus } from '../core/events.js';
import {
  CLIENT_TOKEN_AMBIGUITY, NOTIFICATION_AMBIGUITY, REPOSITORY_AMBIGUITY, applySetChange, assertHierarchy, assertSyncWindow,
} from './connected-registry-rules.js';
import type { WorkflowLock } from './workflow-lock.js';

const READ_ONLY_PERMISSIONS = ['content/read', 'metadata/read'];
const READ_WRITE_PERMISSIONS = ['content/read', 'metadata/read', 'content/write', 'content/delete', 'metadata/write'];
export const PASSWORD_PLACEHOLDER = '<use --generate-password to generate a new password>';
export const LOGIN_SERVER_PLACEHOLDER = '<Optional: connected registry login server. More info at https://aka.ms/acr/connected-registry>';
export const PARENT_ENDPOINT_PLACEHOLDER = '<parent gateway endpoint>';
export const RESYNC_MESSAGE = 'Resync requested: the connected registry reconciles in full at its next contact with its parent.';
export const GC_MESSAGE = 'Garbage collection requested: the connected registry collects at its next contact with its parent and reports in its status (lastGarbageCollection).';
export const GC_DRY_RUN_MESSAGE = 'Garbage collection dry run requested: the connected registry reports what it would free in its status (lastGarbageCollection) after its next contact with its parent.';
const CLEANUP_MESSAGE = 'Connected registry successfully deleted. Please cleanup your sync tokens and scope maps. Run the following commands for cleanup:';

/** The repository actions a connected registry of `mode` needs on `repos` (docs/management-api.md, "Connected registries"). */
export function repositoryActionsFor(mode: ConnectedRegistryMode, repos: readonly string[]): string[] {
  const permissions = mode === 'ReadOnly' ? READ_ONLY_PERMISSIONS : READ_WRITE_PERMISSIONS;
  return repos.flatMap((repo) => buildActions('repositories', repo, permissions));
}

/** `gateway/<cr>/config/read|write`, `gateway/<cr>/message/read|write`. */
export function gatewayActionsFor(name: string): string[] {
  return buildActions('gateway', name, GATEWAY_PERMISSIONS);
}

/** A new connected registry, its values checked by `parseCreateRequest` (connected-registry-requests.ts). */
export interface CreateConnectedRegistry {
  name: string;
  mode: ConnectedRegistryMode;
  parent: string | null;
  /** Repositories (lower-case, at least one): the root creates the sync token and scope map; or an existing sync token. */
  sync: { repositories: string[] } | { tokenName: string };
  schedule: string;
  syncWindow: string | null;
  messageTtl: string;
  logging: ConnectedRegistryLogging;
  notificationsList: string[];
  clientTokenIds: string[];
  garbageCollection: GarbageCollection;
}

/** A change of a connected registry, its values checked by `parseUpdateRequest`; what is absent stays. */
export interface UpdateConnectedRegistry {
  schedule?: string;
  /** null clears it; checked here against the schedule it will run with. */
  syncWindow?: string | null;
  messageTtl?: string;
  addClientTokens: string[];
  removeClientTokens: string[];
  addNotifications: string[];
  removeNotifications: string[];
  logging: Partial<ConnectedRegistryLogging>;
  /** Merged with the current settings. */
  garbageCollection?: Partial<GarbageCollection>;
}

export interface ListFilter {
  /** All descendants of it (direct children only with `noChildren`). */
  parent?: string;
  /** Direct children of `parent`, or the top-level ones without it. */
  noChildren: boolean;
  mode?: ConnectedRegistryMode;
  /** As shown now (effectiveConnectionState). */
  connectionState?: ConnectionState;
}

export type DeleteResult =
  | { name: string; cleanup: true }
  | { name: string; cleanup: false; message: string; cleanupCommands: string[] };

/** get-settings: the keys `az acr connected-registry get-settings` prints. */
export interface ConnectedRegistrySettings {
  SYNC_TOKEN_USER: string;
  SYNC_TOKEN_PASSWORD: string;
  ACR_REGISTRY_CERTIFICATE_VOLUME: string;
  ACR_REGISTRY_DATA_VOLUME: string;
  ACR_REGISTRY_CONNECTION_STRING: string;
  ACR_REGISTRY_LOGIN_SERVER: string;
  /**
   * Ours, not the reference's: the PEM of the CA the parent's HTTPS certificate chains to, when the
   * parent is this root and it has one (--tls-auto, or ca.crt in its certificate folder). A node
   * started with it in its environment trusts its parent without further steps.
   */
  OUTPOST_PARENT_CA_CERT?: string;
}

export interface ConnectedRegistryServiceDeps {
  identities: IdentityStore;
  connectedRegistries: ConnectedRegistryStore;
  /** Where committed changes are announced (`connected-registry-config-changed`, `credential-changed`). */
  events: EventBus;
  clock: Clock;
  /** Shared by the management services: their workflows run one at a time. */
  lock: WorkflowLock;
  /** The root's address for top-level edges (`host:port`); the address the admin used (Host) when absent. */
  loginServer?: string;
  /** The CA of this root's HTTPS certificate (PEM), when it has one to hand to its top-level edges. */
  parentCaCertificate?: () => Promise<string | null>;
}

/**
 * The connected-registry workflows of the management API (docs/management-api.md): create, update,
 * delete, deactivate, resync, repository permissions, client tokens, get-settings. Each workflow
 * reads what it needs, computes its whole change set (the rules are in connected-registry-rules.ts)
 * and hands it to ONE store call, `ConnectedRegistryStore.applyChanges`, which applies it in one
 * transaction with the token and scope-map changes: a failure at any step leaves nothing behind.
 * Workflows run one at a time (`lock`). After each commit the service announces it on the bus.
 */
export class ConnectedRegistryService {
  private readonly identities: IdentityStore;
  private readonly store: ConnectedRegistryStore;

  constructor(private readonly deps: ConnectedRegistryServiceDeps) {
    this.identities = deps.identities;
    this.store = deps.connectedRegistries;
  }

  // --- reads ------------------------------------------------------------------------------------

  /** Throws NOT_FOUND `Connected registry '<n>' doesn't exist.` */
  async get(name: string): Promise<ConnectedRegistryRecord> {
    const found = await this.store.getConnectedRegistry(name);
    if (!found) throw new RegistryError('NOT_FOUND', `Connected registry '${name}' doesn't exist.`);
    return found;
  }

  /** By name. Throws NOT_FOUND for a missing `parent`. */
  async list(filter: ListFilter): Promise<ConnectedRegistryRecord[]> {
    const all = await this.store.listConnectedRegistries();
    let selected = all;
    if (filter.parent !== undefined) {
      const parent = filter.parent;
      if (!all.some((c) => c.name === parent)) throw new RegistryError('NOT_FOUND', `Parent connected registry '${parent}' doesn't exist.`);
      selected = filter.noChildren ? all.filter((c) => c.parent === parent) : descendantsOf(parent, all);
    } else if (filter.noChildren) {
      selected = all.filter((c) => c.parent === null);
    }
    if (filter.mode !== undefined) selected = selected.filter((c) => c.mode === filter.mode);
    if (filter.connectionState !== undefined) {
      const now = this.deps.clock.now();
      selected = selected.filter((c) => effectiveConnectionState(c, now) === filter.connectionState);
    }
    return [...selected].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /**
   * How each record's `gatewayEndpoint` reads now: the root's address (`--login-server`, else
   * `requestHost`, the address the admin used) for a top-level edge, the parent edge's reported
   * login server for a child (null until it reports one).
   */
  async gatewayEndpoints(requestHost: string | undefined): Promise<(record: ConnectedRegistryRecord) => string | null> {
    const byName = new Map((await this.store.listConnectedRegistries()).map((c) => [c.name, c]));
    const root = this.rootEndpoint(requestHost);
    return (record) => (record.parent === null ? root : byName.get(record.parent)?.runtime.loginServer?.host ?? null);
  }

  /** The sync token's scope map. Throws NOT_FOUND for the registry or when the token has none. */
  async permissions(name: string): Promise<ScopeMapRecord> {
    return this.syncScopeMap(await this.get(name));
  }

  /** The client tokens that exist, in the registry's order. */
  async clientTokens(name: string): Promise<TokenRecord[]> {
    const current = await this.get(name);
    const out: TokenRecord[] = [];
    for (const tokenName of current.clientTokenIds) {
      const token = await this.identities.getToken(tokenName);
      if (token) out.push(token);
    }
    return out;
  }

  // --- workflows --------------------------------------------------------------------------------

  /**
   * Creates the record, and with `repositories` its sync scope map and token (overwritten when
   * they exist, as the reference does; the token gets no password until get-settings); every
   * ancestor's sync scope map gains the child's repository actions (by the child's mode) and
   * gateway actions. Throws CONFLICT, NOT_FOUND (parent, client or sync token), REQUEST_INVALID
   * (mode under a ReadOnly parent), TOOMANYREQUESTS (registries, client tokens, an ancestor's
   * permission limit): then nothing is written.
   */
  async create(input: CreateConnectedRegistry): Promise<ConnectedRegistryRecord> {
    return this.deps.lock.run(async () => {
      const { name, mode } = input;
      if (await this.store.getConnectedRegistry(name)) throw new RegistryError('CONFLICT', `Connected registry '${name}' already exists.`);
      let parent: ConnectedRegistryRecord | null = null;
      if (input.parent !== null) {
        parent = await this.store.getConnectedRegistry(input.parent);
        if (!parent) throw new RegistryError('NOT_FOUND', `The parent connected registry '${input.parent}' could not be found.`);
        assertHierarchy(name, mode, parent.name, parent.mode);
      }
      await this.assertClientTokens(input.clientTokenIds);
      const all = await this.store.listConnectedRegistries();
      // The store checks the limit too, inside the transaction; this only answers it before the token lookups do.
      if (all.length >= this.store.maxConnectedRegistries) {
        throw new RegistryError('TOOMANYREQUESTS', `The registry already has the maximum of ${this.store.maxConnectedRegistries} connected registries.`);
      }

      const changes: ManagementChange[] = [];
      let tokenName: string;
      let repos: string[];
      if ('repositories' in input.sync) {
        repos = input.sync.repositories;
        tokenName = name;
        changes.push(
          { kind: 'put-scope-map', scopeMap: { name, description: `Created by connected registry sync token: ${name}`, actions: [...repositoryActionsFor(mode, repos), ...gatewayActionsFor(name)] } },
          { kind: 'put-token', name, status: 'enabled', scopeMap: name },
        );
      } else {
        tokenName = input.sync.tokenName;
        const token = await this.identities.getToken(tokenName);
        if (!token) throw new RegistryError('NOT_FOUND', `Token '${tokenName}' not found.`);
        const map = token.scopeMap === null ? null : await this.identities.getScopeMap(token.scopeMap);
        repos = [...new Set((map?.actions ?? []).map(parseAction).filter((a) => a.kind === 'repositories').map((a) => a.resource))];
      }
      // Every ancestor's sync token may read the child's repositories and its gateway messages.
      const grants = new ScopeMapEdits();
      const childActions = [...repositoryActionsFor(mode, repos), ...gatewayActionsFor(name)];
      for (const ancestor of parent ? [parent, ...ancestorsOf(parent, all)] : []) grants.add(await this.editableSyncMap(ancestor), childActions);
      changes.push(...grants.changes(), {
        kind: 'create-registry',
        input: {
          name, mode, parent: parent?.name ?? null,
          sync: { tokenName, schedule: input.schedule, syncWindow: input.syncWindow, messageTtl: input.messageTtl },
          clientTokenIds: input.clientTokenIds, logging: input.logging, notificationsList: input.notificationsList,
          garbageCollection: input.garbageCollection,
        },
      });
      await this.store.applyChanges(changes);
      this.configChanged(name);
      if ('repositories' in input.sync) this.credentialChanged(name);
      return this.get(name);
    });
  }

  /**
   * Schedule, window, TTL, logging, garbage collection, and client tokens and notifications with
   * set semantics ((current ∪ add) − remove; an item in both lists is "Update ambiguity").
   */
  async update(name: string, input: UpdateConnectedRegistry): Promise<ConnectedRegistryRecord> {
    return this.deps.lock.run(async () => {
      const current = await this.get(name);
      const change: ConnectedRegistryChange = {};
      const sync: NonNullable<ConnectedRegistryChange['sync']> = {};
      if (input.schedule !== undefined) sync.schedule = input.schedule;
      if (input.syncWindow !== undefined) sync.syncWindow = input.syncWindow;
      if (input.messageTtl !== undefined) sync.messageTtl = input.messageTtl;
      const schedule = sync.schedule ?? current.sync.schedule;
      const window = sync.syncWindow === undefined ? current.sync.syncWindow : sync.syncWindow;
      if (window !== null) assertSyncWindow(window, schedule);
      if (Object.keys(sync).length > 0) change.sync = sync;

      const tokens = applySetChange(current.clientTokenIds, input.addClientTokens, input.removeClientTokens, CLIENT_TOKEN_AMBIGUITY);
      if (tokens !== null) {
        await this.assertClientTokens(input.addClientTokens.filter((t) => !current.clientTokenIds.includes(t)));
        if (tokens.length > MAX_CLIENT_TOKENS) {
          throw new RegistryError('TOOMANYREQUESTS', `A connected registry can have at most ${MAX_CLIENT_TOKENS} client tokens; this update would give it ${tokens.length}.`);
        }
        change.clientTokenIds = tokens;
      }
      const notifications = applySetChange(current.notificationsList, input.addNotifications, input.removeNotifications, NOTIFICATION_AMBIGUITY);
      if (notifications !== null) change.notificationsList = notifications;
      if (Object.keys(input.logging).length > 0) change.logging = input.logging;
      if (input.garbageCollection !== undefined) change.garbageCollection = { ...current.garbageCollection, ...input.garbageCollection };
      await this.store.applyChanges([{ kind: 'update-registry', name, change }]);
      this.configChanged(name);
      return this.get(name);
    });
  }

  /**
   * Deletes the record (CONFLICT while it has children). With `cleanup` also its sync token, the
   * token's scope map unless another token uses it, and `gateway/<n>/*` from every ancestor's
   * sync scope map (their repository actions stay); without, the answer lists the commands that
   * would do it.
   */
  async delete(name: string, cleanup: boolean): Promise<DeleteResult> {
    return this.deps.lock.run(async () => {
      const current = await this.get(name);
      const all = await this.store.listConnectedRegistries();
      const ancestors = ancestorsOf(current, all);
      const syncToken = await this.identities.getToken(current.sync.tokenName);
      const syncMap = syncToken?.scopeMap ?? null;
      const changes: ManagementChange[] = [{ kind: 'delete-registry', name }];
      if (!cleanup) {
        await this.store.applyChanges(changes);
        this.configChanged(name);
        const commands = [
          `outpost token delete --name ${current.sync.tokenName} --yes`,
          ...(syncMap !== null ? [`outpost scope-map delete --name ${syncMap} --yes`] : []),
        ];
        for (const ancestor of ancestors) {
          const map = await this.syncMapName(ancestor);
          if (map !== null) commands.push(`outpost scope-map update --name ${map} --remove-gateway ${name} config/read config/write message/read message/write`);
        }
        return { name, cleanup: false, message: CLEANUP_MESSAGE, cleanupCommands: commands };
      }
      const revokes = new ScopeMapEdits();
      const gateway = gatewayActionsFor(name);
      for (const ancestor of ancestors) revokes.remove(await this.editableSyncMap(ancestor), gateway);
      changes.push(...revokes.changes());
      if (syncToken) changes.push({ kind: 'delete-token', name: syncToken.name });
      if (syncMap !== null && (await this.identities.getScopeMap(syncMap))?.type === 'UserDefined') {
        changes.push({ kind: 'delete-scope-map', name: syncMap, onlyIfUnused: true });
      }
      await this.store.applyChanges(changes);
      this.configChanged(name);
      if (syncToken) this.credentialChanged(syncToken.name);
      return { name, cleanup: true };
    });
  }

  /**
   * Frees the activation (a new instance may claim it) and bumps the activation epoch, which
   * travels down in config documents so the edge that serves this registry frees it too.
   */
  async deactivate(name: string): Promise<ConnectedRegistryRecord> {
    return this.deps.lock.run(async () => {
      await this.store.applyChanges([{ kind: 'deactivate-registry', name }]);
      this.configChanged(name);
      return this.get(name);
    });
  }

  /** Records the request time; the edge sees it in its config at its next contact and reconciles in full. */
  async resync(name: string): Promise<{ name: string; resyncRequestedAt: Date }> {
    return this.deps.lock.run(async () => {
      const at = new Date(this.deps.clock.now());
      await this.store.applyChanges([{ kind: 'request-resync', name, at }]);
      this.configChanged(name);
      return { name, resyncRequestedAt: (await this.get(name)).resyncRequestedAt ?? at };
    });
  }

  /**
   * Records a garbage-collection request (a dry run with `dryRun`); the edge sees it in its
   * config at its next contact, runs it once and reports in its heartbeat.
   */
  async requestGarbageCollection(name: string, dryRun: boolean): Promise<{ name: string; requestedAt: Date; dryRun: boolean }> {
    return this.deps.lock.run(async () => {
      const at = new Date(this.deps.clock.now());
      await this.store.applyChanges([{ kind: 'request-gc', name, at, dryRun }]);
      this.configChanged(name);
      return { name, requestedAt: (await this.get(name)).gcRequest?.requestedAt ?? at, dryRun };
    });
  }

  /**
   * `add` grants the repository actions of the target's mode on the target and all its
   * ancestors; `remove` takes all five repository actions of those repositories from the target
   * and all its descendants. One map's permission limit refuses the whole change.
   */
  async updatePermissions(name: string, add: readonly string[], remove: readonly string[]): Promise<ScopeMapRecord> {
    if (add.length === 0 && remove.length === 0) throw new RegistryError('REQUEST_INVALID', 'No repository permissions to update.');
    const both = add.filter((r) => remove.includes(r));
    if (both.length > 0) throw new RegistryError('REQUEST_INVALID', `${REPOSITORY_AMBIGUITY}\n[${both.map((b) => `'${b}'`).join(', ')}]`);
    return this.deps.lock.run(async () => {
      const current = await this.get(name);
      const all = await this.store.listConnectedRegistries();
      const edits = new ScopeMapEdits();
      if (add.length > 0) {
        const actions = repositoryActionsFor(current.mode, add);
        for (const target of [current, ...ancestorsOf(current, all)]) edits.add(await this.editableSyncMap(target), actions);
      }
      if (remove.length > 0) {
        const removed = remove.flatMap((r) => buildActions('repositories', r, REPOSITORY_PERMISSIONS));
        for (const target of [current, ...descendantsOf(current.name, all)]) edits.remove(await this.editableSyncMap(target), removed);
      }
      const changes = edits.changes();
      if (changes.length > 0) {
        await this.store.applyChanges(changes);
        this.configChanged(name);
      }
      return this.syncScopeMap(current);
    });
  }

  /**
   * The settings an edge is deployed with. With `generatePassword`, that password slot of the
   * sync token gets a new password (the old one stops working), shown only in this answer.
   */
  async settings(name: string, parentProtocol: 'http' | 'https', generate: PasswordSlot | null, requestHost: string | undefined): Promise<ConnectedRegistrySettings> {
    return this.deps.lock.run(async () => {
      const current = await this.get(name);
      const tokenName = current.sync.tokenName;
      if (!(await this.identities.getToken(tokenName))) throw new RegistryError('NOT_FOUND', `Token '${tokenName}' not found.`);
      let password = PASSWORD_PLACEHOLDER;
      if (generate !== null) {
        password = generatePassword();
        const record = { hash: await hashPassword(password), createdAt: new Date(this.deps.clock.now()), expiry: null };
        await this.store.applyChanges([{ kind: 'set-token-password', name: tokenName, slot: generate, password: record }]);
        this.configChanged(name);
        this.credentialChanged(tokenName);
      }
      const parent = current.parent === null ? null : await this.store.getConnectedRegistry(current.parent);
      const endpoint = current.parent === null ? this.rootEndpoint(requestHost) : parent?.runtime.loginServer?.host ?? PARENT_ENDPOINT_PLACEHOLDER;
      // Only this root's own CA is known here; an edge's children trust their parent edge's CA (docs/deploy.md).
      const ca = current.parent === null && parentProtocol === 'https' ? await this.deps.parentCaCertificate?.() ?? null : null;
      return {
        SYNC_TOKEN_USER: tokenName,
        SYNC_TOKEN_PASSWORD: password,
        ACR_REGISTRY_CERTIFICATE_VOLUME: '/var/acr/certs',
        ACR_REGISTRY_DATA_VOLUME: '/var/acr/data',
        ACR_REGISTRY_CONNECTION_STRING: `ConnectedRegistryName=${current.name};SyncTokenName=${tokenName};SyncTokenPassword=${password};ParentGatewayEndpoint=${endpoint};ParentEndpointProtocol=${parentProtocol}`,
        ACR_REGISTRY_LOGIN_SERVER: LOGIN_SERVER_PLACEHOLDER,
        ...(ca !== null ? { OUTPOST_PARENT_CA_CERT: ca } : {}),
      };
    });
  }

  // --- helpers ----------------------------------------------------------------------------------

  private rootEndpoint(requestHost: string | undefined): string {
    return this.deps.loginServer ?? requestHost ?? PARENT_ENDPOINT_PLACEHOLDER;
  }

  /** At most MAX_CLIENT_TOKENS names, each an existing token. */
  private async assertClientTokens(names: readonly string[]): Promise<void> {
    if (names.length > MAX_CLIENT_TOKENS) {
      throw new RegistryError('TOOMANYREQUESTS', `A connected registry can have at most ${MAX_CLIENT_TOKENS} client tokens; got ${names.length}.`);
    }
    for (const tokenName of names) {
      if (!(await this.identities.getToken(tokenName))) throw new RegistryError('NOT_FOUND', `Token '${tokenName}' not found.`);
    }
  }

  /** The name of the sync token's scope map, or null when the token or its map is missing. */
  private async syncMapName(record: ConnectedRegistryRecord): Promise<string | null> {
    return (await this.identities.getToken(record.sync.tokenName))?.scopeMap ?? null;
  }

  /** The sync token's scope map when it exists and may change (user-defined); null otherwise: workflows leave it alone. */
  private async editableSyncMap(record: ConnectedRegistryRecord): Promise<string | null> {
    const name = await this.syncMapName(record);
    const map = name === null ? null : await this.identities.getScopeMap(name);
    return map && map.type === 'UserDefined' ? map.name : null;
  }

  private async syncScopeMap(record: ConnectedRegistryRecord): Promise<ScopeMapRecord> {
    const name = await this.syncMapName(record);
    const found = name === null ? null : await this.identities.getScopeMap(name);
    if (!found) throw new RegistryError('NOT_FOUND', `The sync token '${record.sync.tokenName}' of connected registry '${record.name}' has no scope map.`);
    return found;
  }

  private configChanged(name: string): void {
    this.deps.events.publish({ type: 'connected-registry-config-changed', name });
  }

  private credentialChanged(token: string): void {
    this.deps.events.publish({ type: 'credential-changed', token });
  }
}

/**
 * The scope-map edits of one workflow, merged per map so that each map is edited once (a map
 * shared by several registries, or one both added to and removed from, passes its permission
 * limit or not on its final actions). Null maps (missing, system) are skipped.
 */
class ScopeMapEdits {
  private readonly edits = new Map<string, { add: string[]; remove: Set<string> }>();

  add(map: string | null, actions: readonly string[]): void {
    if (map === null) return;
    const edit = this.edit(map);
    for (const action of actions) if (!edit.add.includes(action)) edit.add.push(action);
  }

  remove(map: string | null, actions: readonly string[]): void {
    if (map === null) return;
    const edit = this.edit(map);
    for (const action of actions) edit.remove.add(action);
  }

  changes(): IdentityChange[] {
    return [...this.edits].map(([name, e]) => ({ kind: 'edit-scope-map-actions', name, add: e.add, remove: [...e.remove] }));
  }

  private edit(map: string): { add: string[]; remove: Set<string> } {
    let edit = this.edits.get(map);
    if (!edit) this.edits.set(map, (edit = { add: [], remove: new Set() }));
    return edit;
  }
}
