import { createHmac, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SignJWT, jwtVerify, generateKeyPair, exportPKCS8, exportJWK, calculateJwkThumbprint, type JWTPayload } from 'jose';
import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../core/clock.js';

export const JWT_KEY_FILE = 'jwt-signing-key.pem';
const ISSUER = 'outpost';
/** A token is valid from this long before its issue time (clients' clocks differ a little). */
const NOT_BEFORE_SKEW_SECONDS = 5;

/** One entry of the Docker `access` claim, plus Outpost's own fields that clients ignore. */
export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
  /** Repository entries: the metadata permissions granted with pull (`read`) and push (`write`). */
  metadata?: string[];
  /** The catalog entry: the scope-map actions its listing is filtered by. */
  grants?: string[];
}

export interface AccessClaims {
  sub: string;
  /** `admin`, `token` or `anonymous`. */
  kind: string;
  access: AccessEntry[];
  /** `access` or `refresh`. */
  use: string;
  /**
   * The fingerprint of the credential the token was obtained with (the admin password, or one
   * password slot of a token; see Authenticator); null for anonymous tokens and tokens from
   * before credentials were bound, which are never honoured for the admin or a token.
   */
  credential: string | null;
  exp: number;
  iat: number;
}

export interface JwtSignerOptions {
  /** The node's clock: issue times and expiry (the system clock by default). */
  clock?: Clock;
}

/**
 * Issues and verifies ES256 JWTs with one key pair, generated once and kept in
 * `<data>/jwt-signing-key.pem` (PKCS#8, mode 0600), so tokens survive a restart. Verified
 * signatures are remembered until the token expires: a registry client sends the same token on
 * every request. Whether the credential behind a token still stands is the Authenticator's
 * question, asked on every use.
 */
export class JwtSigner {
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;
  private readonly kid: string;
  private readonly clock: Clock;
  private readonly verified = new Map<string, AccessClaims>();
  /**
   * A secret derived from the signing key, for keyed fingerprints of credentials carried in
   * tokens: a token then says nothing about a password to whoever reads it, and the fingerprints
   * survive a restart as long as the key does.
   */
  readonly credentialKey: Buffer;

  private constructor(privateKey: KeyObject, kid: string, options: JwtSignerOptions) {
    this.privateKey = privateKey;
    this.publicKey = createPublicKey(privateKey);
    this.kid = kid;
    this.clock = options.clock ?? systemClock;
    this.credentialKey = createHmac('sha256', privateKey.export({ format: 'der', type: 'pkcs8' })).update('outpost credential fingerprints').digest();
  }

  static async open(dataDir: string, options: JwtSignerOptions = {}): Promise<JwtSigner> {
    const path = join(dataDir, JWT_KEY_FILE);
    let pem: string;
    try {
      pem = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      const { privateKey } = await generateKeyPair('ES256', { extractable: true });
      pem = await exportPKCS8(privateKey);
      // 'wx': if another process created it meanwhile, fail rather than overwrite its key.
      await writeFile(path, pem, { mode: 0o600, flag: 'wx' });
      await chmod(path, 0o600);
    }
    const key = createPrivateKey(pem);
    const kid = await calculateJwkThumbprint(await exportJWK(createPublicKey(key)));
    return new JwtSigner(key, kid, options);
  }

  async sign(claims: {
    sub: string; kind: string; access: AccessEntry[]; use: 'access' | 'refresh'; audience: string; ttlSeconds: number; credential: string | null;
  }): Promise<{ token: string; issuedAt: Date; expiresIn: number }> {
    const now = Math.floor(this.clock.now() / 1000);
    const payload = { kind: claims.kind, access: claims.access, use: claims.use, ...(claims.credential !== null ? { cred: claims.credential } : {}) };
    const token = await new SignJWT(payload)
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: this.kid })
      .setIssuer(ISSUER)
      .setSubject(claims.sub)
      .setAudience(claims.audience)
      .setIssuedAt(now)
      .setNotBefore(now - NOT_BEFORE_SKEW_SECONDS)
      .setExpirationTime(now + claims.ttlSeconds)
      .setJti(randomUUID())
      .sign(this.privateKey);
    return { token, issuedAt: new Date(now * 1000), expiresIn: claims.ttlSeconds };
  }

  /** The claims of a valid token of this node, or null (bad signature, expired, malformed). */
  async verify(token: string): Promise<AccessClaims | null> {
    const cached = this.verified.get(token);
    const now = this.clock.now();
    const nowSeconds = now / 1000;
    if (cached) {
      // The cache answers as jwtVerify would at this time: expired, or not yet valid when the clock was set back.
      if (cached.exp > nowSeconds && cached.iat - NOT_BEFORE_SKEW_SECONDS <= nowSeconds) return cached;
      this.verified.delete(token);
      return null;
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.publicKey, { issuer: ISSUER, algorithms: ['ES256'], currentDate: new Date(now) }));
    } catch {
      return null;
    }
    const claims = toClaims(payload);
    if (!claims) return null;
    this.verified.set(token, claims);
    // The oldest go first (Map keeps insertion order): clearing all at once would re-verify every busy token together.
    while (this.verified.size > 10_000) this.verified.delete(this.verified.keys().next().value!);
    return claims;
  }
}

function toClaims(payload: JWTPayload): AccessClaims | null {
  const { sub, exp, iat } = payload;
  const kind = payload.kind;
  const use = payload.use;
  const access = payload.access;
  if (typeof sub !== 'string' || typeof exp !== 'number' || typeof kind !== 'string' || typeof use !== 'string' || !Array.isArray(access)) return null;
  const entries: AccessEntry[] = [];
  for (const raw of access as unknown[]) {
    if (typeof raw !== 'object' || raw === null) continue;
    const e = raw as Record<string, unknown>;
    if (typeof e.type !== 'string' || typeof e.name !== 'string' || !Array.isArray(e.actions)) continue;
    const strings = (v: unknown): string[] | undefined => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined);
    const entry: AccessEntry = { type: e.type, name: e.name, actions: strings(e.actions) ?? [] };
    const metadata = strings(e.metadata);
    const grants = strings(e.grants);
    if (metadata) entry.metadata = metadata;
    if (grants) entry.grants = grants;
    entries.push(entry);
  }
  const credential = typeof payload.cred === 'string' ? payload.cred : null;
  return { sub, kind, access: entries, use, credential, exp, iat: typeof iat === 'number' ? iat : 0 };
}
