import type Database from 'better-sqlite3';
import { RegistryError } from '../oci/errors.js';
import {
  DEFAULT_IDENTITY_LIMITS,
  type IdentityChange,
  type IdentityLimits,
  type IdentitySnapshot,
  type IdentityStore,
  type PasswordRecord,
  type PasswordSlot,
  type ScopeMapInput,
  type ScopeMapRecord,
  type TokenInput,
  type TokenRecord,
  type TokenStatus,
} from './identity-types.js';

interface ScopeMapRow {
  name: string;
  description: string;
  actions: string;
  type: 'UserDefined' | 'SystemDefined';
  created_at: number;
}

interface TokenRow {
  name: string;
  status: TokenStatus;
  scope_map: string | null;
  created_at: number;
  password1_hash: string | null;
  password1_created_at: number | null;
  password1_expiry: number | null;
  password2_hash: string | null;
  password2_created_at: number | null;
  password2_expiry: number | null;
}

/**
 * The IdentityStore on the same SQLite database as SqliteMetadataStore (migration 2 creates its
 * tables and the three system scope maps). Writes are IMMEDIATE transactions like the rest.
 */
export class SqliteIdentityStore implements IdentityStore {
  private readonly db: Database.Database;
  private readonly limits: IdentityLimits;

  /** `clock`: the node's clock (milliseconds since the epoch), for the creation times it records. */
  constructor(db: Database.Database, limits: Partial<IdentityLimits> = {}, private readonly clock: () => number) {
    this.db = db;
    this.limits = { ...DEFAULT_IDENTITY_LIMITS, ...limits };
  }

  async listScopeMaps(): Promise<ScopeMapRecord[]> {
    return this.db.prepare<[], ScopeMapRow>('SELECT * FROM scope_maps ORDER BY name').all().map(toScopeMap);
  }

  async getScopeMap(name: string): Promise<ScopeMapRecord | null> {
    return this.readScopeMap(name);
  }

  async createScopeMap(input: ScopeMapInput): Promise<ScopeMapRecord> {
    return this.db.transaction(() => this.insertScopeMap(input)).immediate();
  }

  async updateScopeMap(name: string, change: { description?: string; actions?: string[] }): Promise<ScopeMapRecord> {
    return this.db.transaction(() => {
      this.writeScopeMap(name, change);
      return this.mustScopeMap(name);
    }).immediate();
  }

  async updateScopeMapActions(changes: ReadonlyArray<{ name: string; actions: string[] }>): Promise<void> {
    this.db.transaction(() => {
      for (const { name, actions } of changes) this.writeScopeMap(name, { actions });
    }).immediate();
  }

  /** One scope map's update, inside the caller's transaction. */
  private writeScopeMap(name: string, change: { description?: string; actions?: string[] }): void {
    const current = this.mustScopeMap(name);
    if (current.type === 'SystemDefined') throw new RegistryError('DENIED', `Scope map '${name}' is system defined and cannot be changed.`);
    const actions = change.actions ?? current.actions;
    this.checkPermissionLimit(name, actions);
    this.db.prepare('UPDATE scope_maps SET description = ?, actions = ? WHERE name = ?')
      .run(change.description ?? current.description, JSON.stringify(actions), name);
  }

  async deleteScopeMap(name: string): Promise<void> {
    this.db.transaction(() => this.removeScopeMap(name, false)).immediate();
  }

  /** One scope map's delete, inside the caller's transaction; `onlyIfUnused` leaves a map in use in place. */
  private removeScopeMap(name: string, onlyIfUnused: boolean): void {
    const current = this.mustScopeMap(name);
    if (current.type === 'SystemDefined') throw new RegistryError('DENIED', `Scope map '${name}' is system defined and cannot be deleted.`);
    const users = this.db.prepare<[string], string>('SELECT name FROM tokens WHERE scope_map = ? ORDER BY name LIMIT 10').pluck().all(name);
    if (users.length > 0) {
      if (onlyIfUnused) return;
      throw new RegistryError('CONFLICT', `Scope map '${name}' is in use by token(s): ${users.join(', ')}.`, { tokens: users });
    }
    this.db.prepare('DELETE FROM scope_maps WHERE name = ?').run(name);
  }

  async listTokens(): Promise<TokenRecord[]> {
    return this.db.prepare<[], TokenRow>('SELECT * FROM tokens ORDER BY name').all().map(toToken);
  }

  async getToken(name: string): Promise<TokenRecord | null> {
    const row = this.db.prepare<[string], TokenRow>('SELECT * FROM tokens WHERE name = ?').get(name);
    return row ? toToken(row) : null;
  }

  async createToken(input: TokenInput): Promise<TokenRecord> {
    return this.db.transaction(() => {
      this.insertToken(input);
      return this.mustToken(input.name);
    }).immediate();
  }

  async updateToken(name: string, change: { status?: TokenStatus; scopeMap?: string | null }): Promise<TokenRecord> {
    return this.db.transaction(() => {
      this.writeToken(name, change);
      return this.mustToken(name);
    }).immediate();
  }

  async setTokenPassword(name: string, slot: PasswordSlot, password: PasswordRecord | null): Promise<TokenRecord> {
    return this.db.transaction(() => {
      this.writePassword(name, slot, password);
      return this.mustToken(name);
    }).immediate();
  }

  async deleteToken(name: string): Promise<void> {
    this.removeToken(name);
  }

  async applyChanges(changes: readonly IdentityChange[]): Promise<void> {
    this.db.transaction(() => {
      for (const change of changes) this.applyInTransaction(change);
    }).immediate();
  }

  /**
   * One change of a unit of work, inside a transaction the caller holds on this database: the
   * connected-registry store runs a workflow's token and scope-map changes with its own in one
   * transaction through this. Not for other callers.
   */
  applyInTransaction(change: IdentityChange): void {
    switch (change.kind) {
      case 'put-scope-map': {
        const existing = this.readScopeMap(change.scopeMap.name);
        if (existing) this.writeScopeMap(existing.name, { description: change.scopeMap.description, actions: change.scopeMap.actions });
        else this.insertScopeMap(change.scopeMap);
        return;
      }
      case 'edit-scope-map-actions': {
        const current = this.mustScopeMap(change.name);
        const remove = new Set(change.remove);
        const actions = [...current.actions, ...change.add.filter((a) => !current.actions.includes(a))].filter((a) => !remove.has(a));
        const same = actions.length === current.actions.length && actions.every((a, i) => a === current.actions[i]);
        if (!same) this.writeScopeMap(change.name, { actions });
        return;
      }
      case 'delete-scope-map':
        return this.removeScopeMap(change.name, change.onlyIfUnused === true);
      case 'put-token':
        if (this.db.prepare('SELECT 1 FROM tokens WHERE name = ?').get(change.name)) this.writeToken(change.name, { status: change.status, scopeMap: change.scopeMap });
        else this.insertToken({ name: change.name, status: change.status, scopeMap: change.scopeMap, password1: null, password2: null });
        return;
      case 'set-token-password':
        return this.writePassword(change.name, change.slot, change.password);
      case 'delete-token':
        return this.removeToken(change.name);
    }
  }

  private insertToken(input: TokenInput): void {
    if (this.db.prepare('SELECT 1 FROM tokens WHERE name = ?').get(input.name)) {
      throw new RegistryError('CONFLICT', `Token '${input.name}' already exists.`);
    }
    const count = this.db.prepare<[], number>('SELECT count(*) FROM tokens').pluck().get() ?? 0;
    if (count >= this.limits.tokens) {
      throw new RegistryError('TOOMANYREQUESTS', `The registry already has the maximum of ${this.limits.tokens} tokens.`);
    }
    if (input.newScopeMap) this.insertScopeMap(input.newScopeMap);
    if (input.scopeMap !== null) this.mustScopeMap(input.scopeMap);
    const p1 = input.password1 ?? null;
    const p2 = input.password2 ?? null;
    this.db.prepare(`INSERT INTO tokens (name, status, scope_map, created_at, password1_hash, password1_created_at,
      password1_expiry, password2_hash, password2_created_at, password2_expiry) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(input.name, input.status, input.scopeMap, this.clock(), ...passwordColumns(p1), ...passwordColumns(p2));
  }

  private writeToken(name: string, change: { status?: TokenStatus; scopeMap?: string | null }): void {
    const current = this.mustToken(name);
    const scopeMap = change.scopeMap === undefined ? current.scopeMap : change.scopeMap;
    if (scopeMap !== null) this.mustScopeMap(scopeMap);
    this.db.prepare('UPDATE tokens SET status = ?, scope_map = ? WHERE name = ?').run(change.status ?? current.status, scopeMap, name);
  }

  private writePassword(name: string, slot: PasswordSlot, password: PasswordRecord | null): void {
    this.mustToken(name);
    // slot is one of two literals, never user text, so interpolating the column name is safe.
    this.db.prepare(`UPDATE tokens SET ${slot}_hash = ?, ${slot}_created_at = ?, ${slot}_expiry = ? WHERE name = ?`)
      .run(...passwordColumns(password), name);
  }

  private removeToken(name: string): void {
    const deleted = this.db.prepare('DELETE FROM tokens WHERE name = ?').run(name);
    if (deleted.changes === 0) throw notFoundToken(name);
  }

  private insertScopeMap(input: ScopeMapInput): ScopeMapRecord {
    if (this.readScopeMap(input.name)) throw new RegistryError('CONFLICT', `Scope map '${input.name}' already exists.`);
    const count = this.db.prepare<[], number>("SELECT count(*) FROM scope_maps WHERE type = 'UserDefined'").pluck().get() ?? 0;
    if (count >= this.limits.scopeMaps) {
      throw new RegistryError('TOOMANYREQUESTS', `The registry already has the maximum of ${this.limits.scopeMaps} scope maps.`);
    }
    this.checkPermissionLimit(input.name, input.actions);
    this.db.prepare("INSERT INTO scope_maps (name, description, actions, type, created_at) VALUES (?, ?, ?, 'UserDefined', ?)")
      .run(input.name, input.description, JSON.stringify(input.actions), this.clock());
    return this.mustScopeMap(input.name);
  }

  private checkPermissionLimit(name: string, actions: string[]): void {
    const repositoryActions = actions.filter((a) => a.startsWith('repositories/')).length;
    if (repositoryActions > this.limits.repositoryPermissionsPerScopeMap) {
      throw new RegistryError('TOOMANYREQUESTS',
        `Scope map '${name}' would have ${repositoryActions} repository permissions; the limit is ${this.limits.repositoryPermissionsPerScopeMap}.`);
    }
  }

  async replaceAll(snapshot: IdentitySnapshot): Promise<void> {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM tokens').run();
      this.db.prepare("DELETE FROM scope_maps WHERE type = 'UserDefined'").run();
      const now = this.clock();
      const insertMap = this.db.prepare(
        "INSERT INTO scope_maps (name, description, actions, type, created_at) VALUES (?, ?, ?, 'UserDefined', ?) ON CONFLICT DO NOTHING");
      for (const map of snapshot.scopeMaps) insertMap.run(map.name, map.description, JSON.stringify(map.actions), now);
      const insertToken = this.db.prepare(`INSERT INTO tokens (name, status, scope_map, created_at, password1_hash, password1_created_at,
        password1_expiry, password2_hash, password2_created_at, password2_expiry) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
      for (const t of snapshot.tokens) {
        insertToken.run(t.name, t.status, t.scopeMap, t.createdAt.getTime(), ...passwordColumns(t.password1), ...passwordColumns(t.password2));
      }
    }).immediate();
  }

  private readScopeMap(name: string): ScopeMapRecord | null {
    const row = this.db.prepare<[string], ScopeMapRow>('SELECT * FROM scope_maps WHERE name = ?').get(name);
    return row ? toScopeMap(row) : null;
  }

  private mustScopeMap(name: string): ScopeMapRecord {
    const found = this.readScopeMap(name);
    if (!found) throw new RegistryError('NOT_FOUND', `Scope map '${name}' not found.`);
    return found;
  }

  private mustToken(name: string): TokenRecord {
    const row = this.db.prepare<[string], TokenRow>('SELECT * FROM tokens WHERE name = ?').get(name);
    if (!row) throw notFoundToken(name);
    return toToken(row);
  }
}

function notFoundToken(name: string): RegistryError {
  return new RegistryError('NOT_FOUND', `Token '${name}' not found.`);
}

function passwordColumns(p: PasswordRecord | null): [string | null, number | null, number | null] {
  return p ? [p.hash, p.createdAt.getTime(), p.expiry ? p.expiry.getTime() : null] : [null, null, null];
}

function toScopeMap(row: ScopeMapRow): ScopeMapRecord {
  const parsed: unknown = JSON.parse(row.actions);
  const actions = Array.isArray(parsed) ? parsed.filter((a): a is string => typeof a === 'string') : [];
  return { name: row.name, description: row.description, actions, type: row.type, createdAt: new Date(row.created_at) };
}

function toPassword(hash: string | null, created: number | null, expiry: number | null): PasswordRecord | null {
  if (hash === null) return null;
  return { hash, createdAt: new Date(created ?? 0), expiry: expiry === null ? null : new Date(expiry) };
}

function toToken(row: TokenRow): TokenRecord {
  return {
    name: row.name,
    status: row.status,
    scopeMap: row.scope_map,
    createdAt: new Date(row.created_at),
    password1: toPassword(row.password1_hash, row.password1_created_at, row.password1_expiry),
    password2: toPassword(row.password2_hash, row.password2_created_at, row.password2_expiry),
  };
}
