import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { RegistryError } from '../oci/index.js';
import type { IdentityStore, PasswordRecord, PasswordSlot, TokenRecord } from '../metadata/index.js';
import { Identity } from './identity.js';
import { verifyPassword } from './passwords.js';
import type { LoginThrottle } from './login-throttle.js';
import type { AccessClaims } from './jwt-signer.js';
import { systemClock, type Clock } from '../core/clock.js';

export const ADMIN_USERNAME = 'admin';

/** What anonymous callers may do when the node allows anonymous pull. */
const ANONYMOUS_ACTIONS = ['repositories/*/content/read', 'repositories/*/metadata/read'];

/** Verified (token, password) pairs are trusted without scrypt for this long, while the stored hash is unchanged. */
const VERIFIED_TTL_MS = 5 * 60 * 1000;
/** A pair used in the last minute of its TTL is verified again once, in the background, while the remembered answer still serves. */
const REFRESH_AHEAD_MS = 60 * 1000;
const MAX_VERIFIED = 10_000;

export interface AuthenticatorOptions {
  identities: IdentityStore;
  adminPassword: string;
  throttle: LoginThrottle;
  anonymousPull: boolean;
  /**
   * The secret that credential fingerprints are keyed with (`JwtSigner.credentialKey`): tokens
   * carry fingerprints, and must reveal nothing about a password to whoever reads them.
   */
  credentialKey: Buffer;
  /**
   * On a connected node: which tokens may sign in here (its client tokens and its children's
   * sync tokens; the others it holds are only passed down). Every token when absent.
   */
  tokenUsable?: (name: string) => boolean;
  /** Checks a password against a stored hash; `verifyPassword` (scrypt) by default (tests count the calls). */
  verifyPassword?: (password: string, hash: string) => Promise<boolean>;
  /** The node's clock: password expiry and how long a verified password is remembered (the system clock by default). */
  clock?: Clock;
}

/** Who a caller is and the fingerprint of the credential that proved it (null for anonymous callers). */
export interface Authenticated {
  identity: Identity;
  credential: string | null;
}

/**
 * Turns credentials into an Identity: the admin, or a token that is enabled and whose password1
 * or password2 matches and has not expired. Failures are UNAUTHORIZED, slowed down per token name
 * and per client address by the LoginThrottle; correct credentials are answered at full speed.
 *
 * Every credential has a fingerprint: a keyed hash of the admin password, or of one slot's stored
 * password hash (a new password, even in the same slot or for a token created again under the
 * same name, has a new salt and so a new fingerprint). JWTs carry the fingerprint of the
 * credential they were obtained with, and every use of one — an access JWT on a request, a
 * refresh token at the token endpoint — checks it against the live credential here: rotated,
 * removed, expired, disabled, deleted, or no longer accepted on this node means refused.
 */
export class Authenticator {
  private readonly identities: IdentityStore;
  private readonly adminDigest: Buffer;
  private readonly adminCredential: string;
  private readonly throttle: LoginThrottle;
  readonly anonymousPull: boolean;
  private readonly credentialKey: Buffer;
  private readonly tokenUsable: (name: string) => boolean;
  private readonly verifyPassword: (password: string, hash: string) => Promise<boolean>;
  private readonly clock: Clock;
  /** `<token>\0<sha256 of the password>` → the stored hash it was verified against, and when. */
  private readonly verified = new Map<string, { hash: string; at: number }>();
  /** Verifications running, by `<cache key>\0<hash>`: one scrypt per credential at a time. */
  private readonly verifying = new Map<string, Promise<boolean>>();
  /** What a verified JWT allows, built once per claims object (the signer hands the same object for the same token). */
  private readonly claimIdentities = new WeakMap<AccessClaims, Identity>();
  /** Fingerprints of stored token passwords (an HMAC each), so a Bearer request does not recompute them. */
  private readonly tokenFingerprints = new Map<string, string>();

  constructor(options: AuthenticatorOptions) {
    this.identities = options.identities;
    this.adminDigest = sha256(options.adminPassword);
    this.throttle = options.throttle;
    this.anonymousPull = options.anonymousPull;
    this.credentialKey = options.credentialKey;
    this.tokenUsable = options.tokenUsable ?? (() => true);
    this.verifyPassword = options.verifyPassword ?? verifyPassword;
    this.clock = options.clock ?? systemClock;
    this.adminCredential = this.fingerprint(`admin\0${this.adminDigest.toString('base64')}`);
  }

  /** A token by name, as far as this node lets it sign in. */
  private async usableToken(name: string): Promise<TokenRecord | null> {
    return this.tokenUsable(name) ? this.identities.getToken(name) : null;
  }

  /** The identity of a caller without credentials, or null when anonymous access is off. */
  anonymous(): Identity | null {
    return this.anonymousPull ? new Identity('anonymous', '', ANONYMOUS_ACTIONS) : null;
  }

  /** Checks a username and password; see `authenticate`. */
  async basic(username: string, password: string, clientAddress: string): Promise<Identity> {
    return (await this.authenticate(username, password, clientAddress)).identity;
  }

  /**
   * Checks a username and password: the identity and the fingerprint of the credential (for the
   * tokens issued from it). Throws UNAUTHORIZED (after the throttle's delay) or TOOMANYREQUESTS
   * (LoginThrottle).
   */
  async authenticate(username: string, password: string, clientAddress: string): Promise<Authenticated> {
    const found = await this.throttle.attempt(username, clientAddress, () => this.check(username, password));
    if (found === null) throw unauthorized();
    return found;
  }

  private async check(username: string, password: string): Promise<Authenticated | null> {
    if (username === ADMIN_USERNAME) {
      return timingSafeEqual(sha256(password), this.adminDigest) ? { identity: Identity.admin(), credential: this.adminCredential } : null;
    }
    const token = await this.usableToken(username);
    if (!token) return null;
    const slot = await this.matchingSlot(token, password);
    if (slot === null) return null;
    return { identity: await this.tokenIdentity(token), credential: this.tokenCredential(token.name, token[slot]!) };
  }

  /**
   * The live slot whose password this is: a remembered answer while the slot's hash is the one it
   * was verified against, else scrypt — once per (password, hash) at a time, however many
   * requests ask together. A remembered answer used in the last minute of its TTL starts one
   * background verification that renews it, so a busy credential never goes back to scrypt on
   * every request at once.
   */
  private async matchingSlot(token: TokenRecord, password: string): Promise<PasswordSlot | null> {
    const now = this.clock.now();
    const live = liveSlots(token, now);
    const cacheKey = `${token.name}\0${sha256(password).toString('base64')}`;
    const remembered = this.verified.get(cacheKey);
    if (remembered) {
      const age = now - remembered.at;
      const slot = live.find((s) => token[s]!.hash === remembered.hash);
      // A clock set back (tests move it both ways) makes the age negative: verify again rather than trust it longer.
      if (slot !== undefined && age >= 0 && age < VERIFIED_TTL_MS) {
        if (age >= VERIFIED_TTL_MS - REFRESH_AHEAD_MS) void this.verifyOnce(cacheKey, password, remembered.hash).catch(() => false);
        return slot;
      }
      this.verified.delete(cacheKey);
    }
    for (const slot of live) {
      if (await this.verifyOnce(cacheKey, password, token[slot]!.hash)) return slot;
    }
    return null;
  }

  private verifyOnce(cacheKey: string, password: string, hash: string): Promise<boolean> {
    const flight = `${cacheKey}\0${hash}`;
    const running = this.verifying.get(flight);
    if (running) return running;
    const verification = this.verifyPassword(password, hash)
      .then((ok) => {
        if (ok) this.remember(cacheKey, hash);
        return ok;
      })
      .finally(() => this.verifying.delete(flight));
    this.verifying.set(flight, verification);
    return verification;
  }

  private remember(cacheKey: string, hash: string): void {
    this.verified.delete(cacheKey);
    this.verified.set(cacheKey, { hash, at: this.clock.now() });
    // The least recently verified go first (Map keeps insertion order; a renewal re-inserts).
    while (this.verified.size > MAX_VERIFIED) this.verified.delete(this.verified.keys().next().value!);
  }

  /**
   * The identity behind a refresh token now, with the scope map's current actions: its
   * credential must still stand (see the class). Throws UNAUTHORIZED otherwise.
   */
  async current(claims: AccessClaims): Promise<Authenticated> {
    if (claims.kind === 'anonymous') {
      const anonymous = this.anonymous();
      if (anonymous) return { identity: anonymous, credential: null };
      throw revoked();
    }
    if (claims.kind === 'admin') {
      if (!this.isAdminCredential(claims.credential)) throw revoked();
      return { identity: Identity.admin(), credential: this.adminCredential };
    }
    const token = await this.liveToken(claims);
    return { identity: await this.tokenIdentity(token), credential: claims.credential };
  }

  /**
   * What a verified access JWT allows: only what it carries, whoever it was issued to (the admin's
   * JWT included), while the credential it was obtained with stands. Throws UNAUTHORIZED
   * otherwise.
   */
  async fromClaims(claims: AccessClaims): Promise<Identity> {
    if (claims.kind === 'anonymous') {
      if (!this.anonymousPull) throw revoked();
    } else if (claims.kind === 'admin') {
      if (!this.isAdminCredential(claims.credential)) throw revoked();
    } else {
      await this.liveToken(claims);
    }
    const known = this.claimIdentities.get(claims);
    if (known) return known;
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
    const identity = new Identity(claims.kind === 'anonymous' ? 'anonymous' : 'bearer', claims.sub, actions, catalog);
    this.claimIdentities.set(claims, identity);
    return identity;
  }

  private isAdminCredential(credential: string | null): boolean {
    // A plain comparison: the fingerprint comes from a JWT whose signature was verified, so a
    // caller cannot choose it and learns nothing from the comparison's timing.
    return credential !== null && credential === this.adminCredential;
  }

  /** The token a JWT of kind `token` was issued to, while the credential it carries is live on this node. */
  private async liveToken(claims: AccessClaims): Promise<TokenRecord> {
    const credential = claims.credential;
    const token = claims.kind === 'token' && credential !== null ? await this.usableToken(claims.sub) : null;
    if (!token) throw revoked();
    const live = liveSlots(token, this.clock.now()).some((slot) => this.tokenCredential(token.name, token[slot]!) === credential);
    if (!live) throw revoked();
    return token;
  }

  private tokenCredential(name: string, password: PasswordRecord): string {
    const key = `token\0${name}\0${password.hash}`;
    let fingerprint = this.tokenFingerprints.get(key);
    if (fingerprint === undefined) {
      fingerprint = this.fingerprint(key);
      if (this.tokenFingerprints.size >= MAX_VERIFIED) this.tokenFingerprints.delete(this.tokenFingerprints.keys().next().value!);
      this.tokenFingerprints.set(key, fingerprint);
    }
    return fingerprint;
  }

  private fingerprint(credential: string): string {
    return createHmac('sha256', this.credentialKey).update(credential).digest('base64url').slice(0, 32);
  }

  private async tokenIdentity(token: TokenRecord): Promise<Identity> {
    const scopeMap = token.scopeMap === null ? null : await this.identities.getScopeMap(token.scopeMap);
    return new Identity('token', token.name, scopeMap?.actions ?? []);
  }
}

/** The slots of an enabled token whose password is set and unexpired at `now`. */
function liveSlots(token: TokenRecord, now: number): PasswordSlot[] {
  if (token.status !== 'enabled') return [];
  return (['password1', 'password2'] as PasswordSlot[]).filter((slot) => {
    const record = token[slot];
    return record !== null && (record.expiry === null || record.expiry.getTime() > now);
  });
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function unauthorized(): RegistryError {
  return new RegistryError('UNAUTHORIZED', 'authentication required: invalid username or password, disabled token or expired password');
}

function revoked(): RegistryError {
  return new RegistryError('UNAUTHORIZED', 'invalid token: the credential it was issued for was rotated, removed, disabled or has expired; sign in again');
}
