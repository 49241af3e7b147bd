import { RegistryError } from '../oci/index.js';
import type {
  ConnectedRegistryStore, IdentityStore, ManagementChange, PasswordRecord, PasswordSlot, ScopeMapInput, TokenRecord, TokenStatus,
} from '../metadata/index.js';
import { generatePassword, hashPassword } from '../auth/index.js';
import type { Clock } from '../core/clock.js';
import type { EventBus } from '../core/events.js';
import type { WorkflowLock } from './workflow-lock.js';

/** A new token, its values checked by `parseTokenCreate` (identity-requests.ts). */
export interface CreateToken {
  name: string;
  status: TokenStatus;
  /** The scope map it uses: an existing one, or `newScopeMap`, created with it. */
  scopeMap: string;
  newScopeMap?: ScopeMapInput;
  /** Generate password1 and password2 (each shown once, in the answer). */
  passwords: boolean;
  /** The expiry of both generated passwords. */
  expiry: Date | null;
}

/** A token and the clear text of the passwords just generated for it (shown once, never stored). */
export interface TokenWithSecrets {
  token: TokenRecord;
  values: Partial<Record<PasswordSlot, string>>;
}

export interface TokenServiceDeps {
  identities: IdentityStore;
  /** A sync token cannot be deleted while its registry exists; a deleted client token leaves the registries' lists. */
  connectedRegistries: ConnectedRegistryStore;
  events: EventBus;
  clock: Clock;
  lock: WorkflowLock;
}

/**
 * The token workflows of the management API (docs/management-api.md, "Tokens"), each one
 * transaction. Every committed change is announced as `credential-changed` (caches of verified
 * credentials may drop it) and `connected-registry-config-changed` (a token may be a registry's
 * sync or client token, and travels down in config documents; a spare announcement only makes a
 * held long-poll compare its config ETag once more).
 */
export class TokenService {
  constructor(private readonly deps: TokenServiceDeps) {}

  list(): Promise<TokenRecord[]> {
    return this.deps.identities.listTokens();
  }

  /** Throws NOT_FOUND `Token '<n>' not found.` */
  async get(name: string): Promise<TokenRecord> {
    const found = await this.deps.identities.getToken(name);
    if (!found) throw new RegistryError('NOT_FOUND', `Token '${name}' not found.`);
    return found;
  }

  /** Throws CONFLICT, NOT_FOUND (scope map), TOOMANYREQUESTS (as IdentityStore.createToken). */
  async create(input: CreateToken): Promise<TokenWithSecrets> {
    const values: Partial<Record<PasswordSlot, string>> = {};
    const records: Partial<Record<PasswordSlot, PasswordRecord>> = {};
    if (input.passwords) {
      for (const slot of ['password1', 'password2'] as const) {
        values[slot] = generatePassword();
        records[slot] = await this.passwordRecord(values[slot]!, input.expiry);
      }
    }
    const token = await this.deps.lock.run(() => this.deps.identities.createToken({
      name: input.name, status: input.status, scopeMap: input.scopeMap, ...(input.newScopeMap ? { newScopeMap: input.newScopeMap } : {}),
      password1: records.password1 ?? null, password2: records.password2 ?? null,
    }));
    this.changed(token.name);
    return { token, values };
  }

  /** `scopeMap: null` disassociates. Throws NOT_FOUND (token or scope map). */
  async update(name: string, change: { status?: TokenStatus; scopeMap?: string | null }): Promise<TokenRecord> {
    const token = await this.deps.lock.run(() => this.deps.identities.updateToken(name, change));
    this.changed(name);
    return token;
  }

  /** A new password in `slot` (the old one stops working), shown once. Throws NOT_FOUND. */
  async generatePassword(name: string, slot: PasswordSlot, expiry: Date | null): Promise<TokenWithSecrets> {
    await this.get(name);
    const value = generatePassword();
    const record = await this.passwordRecord(value, expiry);
    const token = await this.deps.lock.run(() => this.deps.identities.setTokenPassword(name, slot, record));
    this.changed(name);
    return { token, values: { [slot]: value } };
  }

  /** Throws NOT_FOUND. */
  async deletePassword(name: string, slot: PasswordSlot): Promise<TokenRecord> {
    const token = await this.deps.lock.run(() => this.deps.identities.setTokenPassword(name, slot, null));
    this.changed(name);
    return token;
  }

  /**
   * Deletes the token and takes it off every connected registry's client tokens, in one
   * transaction. Throws CONFLICT while it is a registry's sync token, NOT_FOUND.
   */
  async delete(name: string): Promise<void> {
    await this.deps.lock.run(async () => {
      const all = await this.deps.connectedRegistries.listConnectedRegistries();
      const syncing = all.filter((c) => c.sync.tokenName === name).map((c) => c.name);
      if (syncing.length > 0) {
        throw new RegistryError('CONFLICT', `Token '${name}' is the sync token of connected registry '${syncing[0]}'; delete the connected registry first.`, { connectedRegistries: syncing });
      }
      const changes: ManagementChange[] = [{ kind: 'delete-token', name }];
      for (const cr of all.filter((c) => c.clientTokenIds.includes(name))) {
        changes.push({ kind: 'update-registry', name: cr.name, change: { clientTokenIds: cr.clientTokenIds.filter((t) => t !== name) } });
      }
      await this.deps.connectedRegistries.applyChanges(changes);
    });
    this.changed(name);
  }

  private async passwordRecord(value: string, expiry: Date | null): Promise<PasswordRecord> {
    return { hash: await hashPassword(value), createdAt: new Date(this.deps.clock.now()), expiry };
  }

  private changed(token: string): void {
    this.deps.events.publish({ type: 'credential-changed', token });
    this.deps.events.publish({ type: 'connected-registry-config-changed', name: null });
  }
}
