/**
 * The identity model (docs/architecture.md, "Identity"): tokens and the scope maps that say what they may do.
 * Names and actions are validated by auth/ before they reach the store; the store enforces
 * uniqueness, references and the registry limits. Every method is asynchronous and runs as ONE
 * transaction. Errors are RegistryErrors: NOT_FOUND (missing token or scope map), CONFLICT
 * (already exists, scope map still in use), DENIED (a system scope map cannot change),
 * TOOMANYREQUESTS (a limit is reached).
 */
export interface IdentityStore {
  /** Every scope map, system ones included, by name. */
  listScopeMaps(): Promise<ScopeMapRecord[]>;
  getScopeMap(name: string): Promise<ScopeMapRecord | null>;
  /** Throws CONFLICT when it exists, TOOMANYREQUESTS past the scope-map or permission limit. */
  createScopeMap(input: ScopeMapInput): Promise<ScopeMapRecord>;
  /**
   * Changes description and/or replaces the actions. Throws NOT_FOUND, DENIED for a system map,
   * TOOMANYREQUESTS past the permission limit.
   */
  updateScopeMap(name: string, change: { description?: string; actions?: string[] }): Promise<ScopeMapRecord>;
  /**
   * Sets the actions of several scope maps in one transaction: all of them or, when one is
   * refused, none. Throws as updateScopeMap does (the first map refused).
   */
  updateScopeMapActions(changes: ReadonlyArray<{ name: string; actions: string[] }>): Promise<void>;
  /** Throws NOT_FOUND, DENIED for a system map, CONFLICT while a token uses it. */
  deleteScopeMap(name: string): Promise<void>;

  listTokens(): Promise<TokenRecord[]>;
  getToken(name: string): Promise<TokenRecord | null>;
  /**
   * Creates a token; with `newScopeMap` the scope map is created in the same transaction.
   * Throws CONFLICT (token or new scope map exists), NOT_FOUND (scopeMap missing), TOOMANYREQUESTS.
   */
  createToken(input: TokenInput): Promise<TokenRecord>;
  /** `scopeMap: null` disassociates. Throws NOT_FOUND for the token or the scope map. */
  updateToken(name: string, change: { status?: TokenStatus; scopeMap?: string | null }): Promise<TokenRecord>;
  /** Sets (or with null clears) one password slot. Throws NOT_FOUND. */
  setTokenPassword(name: string, slot: PasswordSlot, password: PasswordRecord | null): Promise<TokenRecord>;
  /** Throws NOT_FOUND. */
  deleteToken(name: string): Promise<void>;

  /**
   * Applies `changes` in order as ONE transaction: all of them or, when one throws, none. The
   * management services compute a workflow's whole change set first and hand it over here (a
   * unit of work), so the same shape serves a synchronous SQLite and an asynchronous PostgreSQL
   * transaction. Each change throws as its one-change method above does.
   */
  applyChanges(changes: readonly IdentityChange[]): Promise<void>;

  /**
   * On a connected node: makes the user-defined scope maps and the tokens exactly the parent's
   * (password hashes included), in one transaction. System scope maps stay.
   */
  replaceAll(snapshot: IdentitySnapshot): Promise<void>;
}

/**
 * One step of a unit of work on tokens and scope maps (`IdentityStore.applyChanges`). The edits
 * that other workflows may race with are deltas the store applies to what it holds inside the
 * transaction (`edit-scope-map-actions`), not values read earlier.
 */
export type IdentityChange =
  /** Creates a user-defined scope map, or replaces the description and actions of an existing one (DENIED for a system map); limits as createScopeMap. */
  | { kind: 'put-scope-map'; scopeMap: ScopeMapInput }
  /**
   * (actions ∪ add) − remove, new actions appended in order; nothing is written (and no limit
   * checked) when that changes nothing. Throws NOT_FOUND, DENIED for a system map, TOOMANYREQUESTS.
   */
  | { kind: 'edit-scope-map-actions'; name: string; add: readonly string[]; remove: readonly string[] }
  /** Throws as deleteScopeMap; with `onlyIfUnused`, a map a token uses is left in place instead of CONFLICT. */
  | { kind: 'delete-scope-map'; name: string; onlyIfUnused?: boolean }
  /** Creates the token without passwords, or sets the status and scope map of an existing one (its passwords stay). Throws NOT_FOUND for the scope map, TOOMANYREQUESTS. */
  | { kind: 'put-token'; name: string; status: TokenStatus; scopeMap: string | null }
  /** As setTokenPassword. */
  | { kind: 'set-token-password'; name: string; slot: PasswordSlot; password: PasswordRecord | null }
  /** As deleteToken. */
  | { kind: 'delete-token'; name: string };

/** Tokens and scope maps as they travel down the hierarchy in config documents. */
export interface IdentitySnapshot {
  scopeMaps: ScopeMapInput[];
  tokens: TokenRecord[];
}

export type TokenStatus = 'enabled' | 'disabled';
export type PasswordSlot = 'password1' | 'password2';
export type ScopeMapType = 'UserDefined' | 'SystemDefined';

export interface ScopeMapInput {
  name: string;
  description: string;
  /** Lower-cased, deduplicated action strings. */
  actions: string[];
}

export interface ScopeMapRecord extends ScopeMapInput {
  type: ScopeMapType;
  createdAt: Date;
}

export interface PasswordRecord {
  /** The slow salted hash (auth/ defines its format); never the password. */
  hash: string;
  createdAt: Date;
  expiry: Date | null;
}

export interface TokenInput {
  name: string;
  status: TokenStatus;
  scopeMap: string | null;
  newScopeMap?: ScopeMapInput;
  password1?: PasswordRecord | null;
  password2?: PasswordRecord | null;
}

export interface TokenRecord {
  name: string;
  status: TokenStatus;
  scopeMap: string | null;
  createdAt: Date;
  password1: PasswordRecord | null;
  password2: PasswordRecord | null;
}

/** Registry limits (the reference's numbers by default; tests lower them). */
export interface IdentityLimits {
  tokens: number;
  scopeMaps: number;
  /** Repository actions in one scope map. */
  repositoryPermissionsPerScopeMap: number;
}

export const DEFAULT_IDENTITY_LIMITS: IdentityLimits = {
  tokens: 20_000,
  scopeMaps: 20_000,
  repositoryPermissionsPerScopeMap: 500,
};
