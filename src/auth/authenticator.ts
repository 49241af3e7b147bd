import { createHash, timingSafeEqual } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { RegistryError } from '../oci/index.js';
import type { IdentityStore, PasswordSlot, TokenRecord } from '../metadata/index.js';
import { Identity } from './identity.js';
import { verifyPassword } from './passwords.js';
import type { LoginThrottle } from './login-throttle.js';
import type { AccessClaims } from './jwt-signer.js';

export const ADMIN_USERNAME = 'admin';

/** What anonymous callers may do when the node allows anonymous pull. */
const ANONYMOUS_ACTIONS = ['repositories/*/content/read', 'repositories/*/metadata/read'];

/** Verified (token, password) pairs are trusted without scrypt for this long, while the stored hash is unchanged. */
const VERIFIED_TTL_MS = 5 * 60 * 1000;

export interface AuthenticatorOptions {
  identities: IdentityStore;
  adminPassword: string;
  throttle: LoginThrottle;
  anonymousPull: boolean;
  /**
   * On a connected node: which tokens may sign in here (its client tokens and its children's
   * sync tokens; the others it holds are only passed down). Every token when absent.
   */
  tokenUsable?: (name: string) => boolean;
}

/**
 * Turns credentials into an Identity: the admin, or a token that is enabled and whose password1
 * or password2 matches and has not expired. Failures are UNAUTHORIZED, slowed down per token name
 * and per client address by the LoginThrottle.
 */
export class Authenticator {
  private readonly identities: IdentityStore;
  private readonly adminDigest: Buffer;
  private readonly throttle: LoginThrottle;
  readonly anonymousPull: boolean;
  private readonly verified = new Map<string, { hash: string; at: number }>();
  private readonly tokenUsable: (name: string) => boolean;

  constructor(options: AuthenticatorOptions) {
    this.identities = options.identities;
    this.adminDigest = sha256(options.adminPassword);
    this.throttle = options.throttle;
    this.anonymousPull = options.anonymousPull;
    this.tokenUsable = options.tokenUsable ?? (() => true);
  }

  /** A token by name, as far as this node lets it sign in. */
  private async usableToken(name: string): Promise<TokenRecord | null> {
    return this.tokenUsable(name) ? this.identities.getToken(name) : null;
  }

  /** The identity of a caller without credentials, or null when anonymous access is off. */
  anonymous(): Identity | null {
    return this.anonymousPull ? new Identity('anonymous', '', ANONYMOUS_ACTIONS) : null;
  }

  /** Checks a username and password; throws UNAUTHORIZED (after the throttle's delay). */
  async basic(username: string, password: string, clientAddress: string): Promise<Identity> {
    const cacheKey = `${username}\0${sha256(password).toString('base64')}`;
    const cached = this.verified.get(cacheKey);
    if (cached && Date.now() - cached.at < VERIFIED_TTL_MS) {
      const token = await this.usableToken(username);
      const slot = token && usableSlot(token, (hash) => hash === cached.hash);
      if (token && slot) return this.tokenIdentity(token);
      this.verified.delete(cacheKey);
    }
    const keys = [`name:${username.toLowerCase()}`, `addr:${clientAddress}`];
    const delay = this.throttle.delayMs(keys);
    if (delay > 0) await sleep(delay);

    if (username === ADMIN_USERNAME) {
      if (timingSafeEqual(sha256(password), this.adminDigest)) {
        this.throttle.succeeded(keys[0]!);
        return Identity.admin();
      }
      this.throttle.failed(keys);
      throw unauthorized();
    }
    const token = await this.usableToken(username);
    if (token && token.status === 'enabled') {
      for (const slot of ['password1', 'password2'] as PasswordSlot[]) {
        const record = token[slot];
        if (!record || expired(record.expiry)) continue;
        if (await verifyPassword(password, record.hash)) {
          this.throttle.succeeded(keys[0]!);
          if (this.verified.size >= 10_000) this.verified.clear();
          this.verified.set(cacheKey, { hash: record.hash, at: Date.now() });
          return this.tokenIdentity(token);
        }
      }
    }
    this.throttle.failed(keys);
    throw unauthorized();
  }

  /** The identity of a JWT subject now, for refresh: the token must still exist and be enabled. */
  async current(kind: string, name: string): Promise<Identity> {
    if (kind === 'admin') return Identity.admin();
    if (kind === 'anonymous') {
      const anonymous = this.anonymous();
      if (anonymous) return anonymous;
      throw unauthorized();
    }
    const token = await this.usableToken(name);
    if (!token || token.status !== 'enabled') throw unauthorized();
    return this.tokenIdentity(token);
  }

  /** What a verified access JWT allows: only what it carries. */
  fromClaims(claims: AccessClaims): Identity {
    if (claims.kind === 'admin') return Identity.admin();
    const actions: string[] = [];
    let catalog: string[] | null = null;
    for (const entry of claims.access) {
      if (entry.type === 'repository') {
        for (const action of entry.actions) {
          const permission = { pull: 'content/read', push: 'content/write', delete: 'content/delete' }[action];
          if (permission) actions.push(`repositories/${entry.name}/${permission}`);
        }
        for (const m of entry.metadata ?? []) if (m === 'read' || m === 'write') actions.push(`repositories/${entry.name}/metadata/${m}`);
      } else if (entry.type === 'registry' && entry.name === 'catalog' && entry.actions.includes('*')) {
        catalog = entry.grants ?? [];
      }
    }
    return new Identity(claims.kind === 'anonymous' ? 'anonymous' : 'token', claims.sub, actions, catalog);
  }

  private async tokenIdentity(token: TokenRecord): Promise<Identity> {
    const scopeMap = token.scopeMap === null ? null : await this.identities.getScopeMap(token.scopeMap);
    return new Identity('token', token.name, scopeMap?.actions ?? []);
  }
}

function usableSlot(token: TokenRecord, matches: (hash: string) => boolean): PasswordSlot | null {
  if (token.status !== 'enabled') return null;
  for (const slot of ['password1', 'password2'] as PasswordSlot[]) {
    const record = token[slot];
    if (record && !expired(record.expiry) && matches(record.hash)) return slot;
  }
  return null;
}

function expired(expiry: Date | null): boolean {
  return expiry !== null && expiry.getTime() <= Date.now();
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function unauthorized(): RegistryError {
  return new RegistryError('UNAUTHORIZED', 'authentication required: invalid username or password, disabled token or expired password');
}
