import type Database from 'better-sqlite3';
import { RegistryError } from '../oci/errors.js';
import {
  MAX_CONNECTED_REGISTRIES,
  type ConnectedRegistryChange,
  type ConnectedRegistryInput,
  type ConnectedRegistryRecord,
  type ConnectedRegistryStore,
  type ConnectedRegistryRuntime,
  type StatusDetail,
  type StorageUsage,
  type ConnectedRegistrySnapshot,
  type RepositorySyncStatus,
  type ManagementChange,
} from './connected-registry-types.js';
import type { SqliteIdentityStore } from './sqlite-identity-store.js';
import type { GcReport } from '../core/gc-report.js';

interface Row {
  name: string;
  mode: ConnectedRegistryRecord['mode'];
  parent: string | null;
  sync_token: string;
  schedule: string;
  sync_window: string | null;
  message_ttl: string;
  last_sync_time: number | null;
  client_token_ids: string;
  log_level: ConnectedRegistryRecord['logging']['logLevel'];
  audit_log_status: ConnectedRegistryRecord['logging']['auditLogStatus'];
  notifications: string;
  gc_enabled: number;
  gc_schedule: string;
  activation_status: ConnectedRegistryRuntime['activationStatus'];
  connection_state: ConnectedRegistryRuntime['connectionState'];
  last_activity_time: number | null;
  version: string | null;
  login_server: string | null;
  status_details: string;
  created_at: number;
  instance_id: string | null;
  activation_epoch: number;
  resync_requested_at: number | null;
  repositories_status: string;
  outbox_pending: number | null;
  storage_usage: string | null;
  gc_requested_at: number | null;
  gc_request_dry_run: number;
  gc_last_report: string | null;
}

/**
 * The ConnectedRegistryStore on the metadata database (migration 3). Writes are IMMEDIATE
 * transactions like the rest of the SQLite stores. `identities` is the IdentityStore on the same
 * database: `applyChanges` runs a workflow's token and scope-map changes through it, inside its
 * own transaction.
 */
export class SqliteConnectedRegistryStore implements ConnectedRegistryStore {
  private readonly db: Database.Database;
  readonly maxConnectedRegistries: number;
  private readonly identities: SqliteIdentityStore;

  /** `clock`: the node's clock (milliseconds since the epoch), for the creation times it records. */
  constructor(db: Database.Database, identities: SqliteIdentityStore, limit = MAX_CONNECTED_REGISTRIES, private readonly clock: () => number) {
    this.db = db;
    this.maxConnectedRegistries = limit;
    this.identities = identities;
  }

  async listConnectedRegistries(): Promise<ConnectedRegistryRecord[]> {
    return this.db.prepare<[], Row>('SELECT * FROM connected_registries ORDER BY name').all().map(toRecord);
  }

  async getConnectedRegistry(name: string): Promise<ConnectedRegistryRecord | null> {
    return this.read(name);
  }

  async createConnectedRegistry(input: ConnectedRegistryInput): Promise<ConnectedRegistryRecord> {
    return this.db.transaction(() => {
      this.insert(input);
      return this.must(input.name);
    }).immediate();
  }

  private insert(input: ConnectedRegistryInput): void {
    if (this.read(input.name)) throw new RegistryError('CONFLICT', `Connected registry '${input.name}' already exists.`);
    if (input.parent !== null && !this.read(input.parent)) {
      throw new RegistryError('NOT_FOUND', `The parent connected registry '${input.parent}' could not be found.`);
    }
    const count = this.db.prepare<[], number>('SELECT count(*) FROM connected_registries').pluck().get() ?? 0;
    if (count >= this.maxConnectedRegistries) {
      throw new RegistryError('TOOMANYREQUESTS', `The registry already has the maximum of ${this.maxConnectedRegistries} connected registries.`);
    }
    this.db.prepare(`INSERT INTO connected_registries (name, mode, parent, sync_token, schedule, sync_window, message_ttl,
      last_sync_time, client_token_ids, log_level, audit_log_status, notifications, gc_enabled, gc_schedule,
      activation_status, connection_state, last_activity_time, version, login_server, status_details, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, 'Inactive', 'Offline', NULL, NULL, NULL, '[]', ?)`)
      .run(input.name, input.mode, input.parent, input.sync.tokenName, input.sync.schedule, input.sync.syncWindow,
        input.sync.messageTtl, JSON.stringify(input.clientTokenIds), input.logging.logLevel, input.logging.auditLogStatus,
        JSON.stringify(input.notificationsList), input.garbageCollection.enabled ? 1 : 0, input.garbageCollection.schedule, this.clock());
  }

  async updateConnectedRegistry(name: string, change: ConnectedRegistryChange): Promise<ConnectedRegistryRecord> {
    return this.db.transaction(() => {
      this.update(name, change);
      return this.must(name);
    }).immediate();
  }

  private update(name: string, change: ConnectedRegistryChange): void {
    const c = this.must(name);
    const sync = { ...c.sync, ...change.sync };
    const logging = { ...c.logging, ...change.logging };
    const gc = change.garbageCollection ?? c.garbageCollection;
    const rt = { ...c.runtime, ...change.runtime };
    this.db.prepare(`UPDATE connected_registries SET schedule = ?, sync_window = ?, message_ttl = ?, last_sync_time = ?,
      client_token_ids = ?, log_level = ?, audit_log_status = ?, notifications = ?, gc_enabled = ?, gc_schedule = ?,
      activation_status = ?, connection_state = ?, last_activity_time = ?, version = ?, login_server = ?, status_details = ?,
      instance_id = ?, repositories_status = ?, outbox_pending = ?, gc_last_report = ?
      WHERE name = ?`)
      .run(sync.schedule, sync.syncWindow, sync.messageTtl, sync.lastSyncTime ? sync.lastSyncTime.getTime() : null,
        JSON.stringify(change.clientTokenIds ?? c.clientTokenIds), logging.logLevel, logging.auditLogStatus,
        JSON.stringify(change.notificationsList ?? c.notificationsList), gc.enabled ? 1 : 0, gc.schedule,
        rt.activationStatus, rt.connectionState, rt.lastActivityTime ? rt.lastActivityTime.getTime() : null, rt.version,
        rt.loginServer ? JSON.stringify(rt.loginServer) : null, JSON.stringify(rt.statusDetails),
        rt.instanceId, JSON.stringify(rt.repositories), rt.outboxPending,
        rt.lastGarbageCollection === null ? null : JSON.stringify(rt.lastGarbageCollection), name);
    if (change.runtime?.storage !== undefined) {
      this.db.prepare('UPDATE connected_registries SET storage_usage = ? WHERE name = ?').run(storageText(change.runtime.storage), name);
    }
  }

  async deleteConnectedRegistry(name: string): Promise<void> {
    this.db.transaction(() => this.remove(name)).immediate();
  }

  private remove(name: string): void {
    this.must(name);
    const children = this.db.prepare<[string], string>('SELECT name FROM connected_registries WHERE parent = ? ORDER BY name LIMIT 10').pluck().all(name);
    if (children.length > 0) {
      throw new RegistryError('CONFLICT', `Connected registry '${name}' has children: ${children.join(', ')}. Delete them first.`, { children });
    }
    this.db.prepare('DELETE FROM connected_registries WHERE name = ?').run(name);
  }

  async activate(name: string, instanceId: string, version: string | null, at: Date): Promise<ConnectedRegistryRecord> {
    return this.db.transaction(() => {
      const current = this.must(name);
      if (current.runtime.activationStatus === 'Active' && current.runtime.instanceId !== null && current.runtime.instanceId !== instanceId) {
        throw new RegistryError('ALREADY_ACTIVATED',
          'Failed to activate the connected registry as it is already activated by another instance. Only one instance is supported at any time.',
          `Deactivate it with 'outpost connected-registry deactivate --name ${name}' at the root, then start this instance again.`);
      }
      this.db.prepare(`UPDATE connected_registries SET activation_status = 'Active', instance_id = ?, version = ?,
        last_activity_time = ? WHERE name = ?`).run(instanceId, version, at.getTime(), name);
      return this.must(name);
    }).immediate();
  }

  async deactivate(name: string): Promise<ConnectedRegistryRecord> {
    return this.db.transaction(() => {
      this.free(name);
      return this.must(name);
    }).immediate();
  }

  private free(name: string): void {
    this.must(name);
    this.db.prepare(`UPDATE connected_registries SET activation_status = 'Inactive', instance_id = NULL,
      connection_state = 'Offline', activation_epoch = activation_epoch + 1 WHERE name = ?`).run(name);
  }

  async requestResync(name: string, at: Date): Promise<ConnectedRegistryRecord> {
    return this.db.transaction(() => {
      this.markResync(name, at);
      return this.must(name);
    }).immediate();
  }

  private markResync(name: string, at: Date): void {
    this.must(name);
    this.db.prepare('UPDATE connected_registries SET resync_requested_at = ? WHERE name = ?').run(at.getTime(), name);
  }

  async requestGarbageCollection(name: string, at: Date, dryRun: boolean): Promise<ConnectedRegistryRecord> {
    return this.db.transaction(() => {
      this.markGc(name, at, dryRun);
      return this.must(name);
    }).immediate();
  }

  private markGc(name: string, at: Date, dryRun: boolean): void {
    this.must(name);
    this.db.prepare('UPDATE connected_registries SET gc_requested_at = ?, gc_request_dry_run = ? WHERE name = ?').run(at.getTime(), dryRun ? 1 : 0, name);
  }

  async applyChanges(changes: readonly ManagementChange[]): Promise<void> {
    this.db.transaction(() => {
      for (const change of changes) {
        switch (change.kind) {
          case 'create-registry':
            this.insert(change.input);
            break;
          case 'update-registry':
            this.update(change.name, change.change);
            break;
          case 'delete-registry':
            this.remove(change.name);
            break;
          case 'deactivate-registry':
            this.free(change.name);
            break;
          case 'request-resync':
            this.markResync(change.name, change.at);
            break;
          case 'request-gc':
            this.markGc(change.name, change.at, change.dryRun);
            break;
          default:
            this.identities.applyInTransaction(change);
        }
      }
    }).immediate();
  }

  async replaceSubtree(records: ConnectedRegistrySnapshot[]): Promise<void> {
    this.db.transaction(() => {
      // Checked at commit: rows are replaced in any order inside the transaction.
      this.db.pragma('defer_foreign_keys = ON');
      const keep = new Set(records.map((r) => r.name));
      for (const name of this.db.prepare<[], string>('SELECT name FROM connected_registries').pluck().all()) {
        if (!keep.has(name)) this.db.prepare('DELETE FROM connected_registries WHERE name = ?').run(name);
      }
      for (const r of records) {
        const before = this.read(r.name);
        const values = [r.mode, r.parent, r.sync.tokenName, r.sync.schedule, r.sync.syncWindow, r.sync.messageTtl,
          JSON.stringify(r.clientTokenIds), r.logging.logLevel, r.logging.auditLogStatus, JSON.stringify(r.notificationsList),
          r.garbageCollection.enabled ? 1 : 0, r.garbageCollection.schedule, r.activationEpoch,
          r.resyncRequestedAt ? r.resyncRequestedAt.getTime() : null,
          r.gcRequest ? r.gcRequest.requestedAt.getTime() : null, r.gcRequest?.dryRun ? 1 : 0] as const;
        if (!before) {
          this.db.prepare(`INSERT INTO connected_registries (mode, parent, sync_token, schedule, sync_window, message_ttl,
            client_token_ids, log_level, audit_log_status, notifications, gc_enabled, gc_schedule, activation_epoch,
            resync_requested_at, gc_requested_at, gc_request_dry_run, name, activation_status, connection_state, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'Inactive', 'Offline', ?)`).run(...values, r.name, this.clock());
          continue;
        }
        this.db.prepare(`UPDATE connected_registries SET mode = ?, parent = ?, sync_token = ?, schedule = ?, sync_window = ?,
          message_ttl = ?, client_token_ids = ?, log_level = ?, audit_log_status = ?, notifications = ?, gc_enabled = ?,
          gc_schedule = ?, activation_epoch = ?, resync_requested_at = ?, gc_requested_at = ?, gc_request_dry_run = ?
          WHERE name = ?`).run(...values, r.name);
        if (r.activationEpoch > before.activationEpoch) {
          this.db.prepare(`UPDATE connected_registries SET activation_status = 'Inactive', instance_id = NULL,
            connection_state = 'Offline' WHERE name = ?`).run(r.name);
        }
      }
    }).immediate();
  }

  private read(name: string): ConnectedRegistryRecord | null {
    const row = this.db.prepare<[string], Row>('SELECT * FROM connected_registries WHERE name = ?').get(name);
    return row ? toRecord(row) : null;
  }

  private must(name: string): ConnectedRegistryRecord {
    const found = this.read(name);
    if (!found) throw new RegistryError('NOT_FOUND', `Connected registry '${name}' doesn't exist.`);
    return found;
  }
}

function jsonArray(text: string): unknown[] {
  const parsed: unknown = JSON.parse(text);
  return Array.isArray(parsed) ? parsed : [];
}

function stringArray(text: string): string[] {
  return jsonArray(text).filter((a): a is string => typeof a === 'string');
}

function date(ms: number | null): Date | null {
  return ms === null ? null : new Date(ms);
}

function toRecord(row: Row): ConnectedRegistryRecord {
  const details: unknown = JSON.parse(row.status_details);
  return {
    name: row.name,
    mode: row.mode,
    parent: row.parent,
    sync: {
      tokenName: row.sync_token, schedule: row.schedule, syncWindow: row.sync_window, messageTtl: row.message_ttl,
      lastSyncTime: date(row.last_sync_time),
    },
    clientTokenIds: stringArray(row.client_token_ids),
    logging: { logLevel: row.log_level, auditLogStatus: row.audit_log_status },
    notificationsList: stringArray(row.notifications),
    garbageCollection: { enabled: row.gc_enabled === 1, schedule: row.gc_schedule },
    runtime: {
      activationStatus: row.activation_status,
      connectionState: row.connection_state,
      lastActivityTime: date(row.last_activity_time),
      version: row.version,
      loginServer: row.login_server === null ? null : (JSON.parse(row.login_server) as ConnectedRegistryRuntime['loginServer']),
      statusDetails: Array.isArray(details) ? (details as StatusDetail[]) : [],
      instanceId: row.instance_id,
      repositories: jsonArray(row.repositories_status) as RepositorySyncStatus[],
      outboxPending: row.outbox_pending,
      storage: row.storage_usage === null ? null : storageOf(row.storage_usage),
      lastGarbageCollection: row.gc_last_report === null ? null : (JSON.parse(row.gc_last_report) as GcReport),
    },
    activationEpoch: row.activation_epoch,
    resyncRequestedAt: date(row.resync_requested_at),
    gcRequest: row.gc_requested_at === null ? null : { requestedAt: new Date(row.gc_requested_at), dryRun: row.gc_request_dry_run === 1 },
    createdAt: new Date(row.created_at),
  };
}

function storageText(storage: StorageUsage | null): string | null {
  return storage === null ? null : JSON.stringify({ ...storage, measuredAt: storage.measuredAt.getTime() });
}

function storageOf(text: string): StorageUsage {
  const s = JSON.parse(text) as Omit<StorageUsage, 'measuredAt'> & { measuredAt: number };
  return { usedBytes: s.usedBytes, totalBytes: s.totalBytes, freeBytes: s.freeBytes, availableBytes: s.availableBytes, measuredAt: new Date(s.measuredAt) };
}
