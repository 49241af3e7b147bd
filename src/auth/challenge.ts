import { RegistryError } from '../oci/index.js';

/**
 * How a refused client should authenticate: the HTTP edge turns it into the `WWW-Authenticate`
 * header of the 401 (registry/error-mapping.ts). Which challenge fits depends on the request
 * (the realm is the token endpoint at the address the client used; the scope is what it asked
 * for), so it is chosen here, where the request is authenticated.
 */
export type Challenge =
  /** The management API and the sync gateway take Basic credentials only. */
  | { scheme: 'Basic'; realm: string }
  /** /v2: the Docker token flow, at the token endpoint `realm`. */
  | { scheme: 'Bearer'; realm: string; service: string; scope: string | null };

export const BASIC_CHALLENGE: Challenge = { scheme: 'Basic', realm: 'outpost' };

/** UNAUTHORIZED with the challenge the client should answer. */
export class UnauthorizedError extends RegistryError {
  constructor(message: string, detail: unknown, readonly challenge: Challenge) {
    super('UNAUTHORIZED', message, detail);
    this.name = 'UnauthorizedError';
  }
}

/** An UNAUTHORIZED RegistryError as an UnauthorizedError with `challenge` (the same message and detail); anything else unchanged. */
export function withChallenge(err: unknown, challenge: Challenge): unknown {
  if (!(err instanceof RegistryError) || err.code !== 'UNAUTHORIZED') return err;
  return new UnauthorizedError(err.message, err.detail, challenge);
}

/** `withChallenge` with the Basic challenge, for the APIs that take Basic credentials only (management, gateway). */
export function withBasicChallenge(err: unknown): unknown {
  return withChallenge(err, BASIC_CHALLENGE);
}
