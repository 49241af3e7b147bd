import { RegistryError } from '../oci/index.js';
import { RemoteError } from '../client/http-transport.js';

/**
 * A failure on this node while carrying a local write up: content it cannot read back (a blob
 * or manifest missing or unreadable here). Never an answer of the parent — those are
 * RemoteErrors, which only the HTTP client (client/) creates — so a local problem can never be
 * taken for the parent's refusal: a LocalSyncError parks the write (retried, reported), it is
 * never marked pushed.
 */
export class LocalSyncError extends Error {
  constructor(readonly code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LocalSyncError';
  }
}

/** This registry's refusals of content (and problems of the content itself), as opposed to its disk or its state. */
const CONTENT_REFUSALS: ReadonlySet<string> = new Set([
  'BLOB_UNKNOWN', 'DIGEST_INVALID', 'MANIFEST_BLOB_UNKNOWN', 'MANIFEST_INVALID', 'MANIFEST_TOO_LARGE', 'MANIFEST_UNKNOWN',
  'NAME_INVALID', 'SIZE_INVALID', 'UNSUPPORTED',
]);

/** Parent answers that say nothing about the item: credentials (the session handles them) and throttling or timeouts (retryable). */
const NOT_ABOUT_THE_ITEM: ReadonlySet<number> = new Set([401, 407, 408, 429]);

/**
 * Can this one change not be completed as things stand — the parent answered that it cannot
 * serve it (a 4xx such as 404 for a blob it lost), or this registry refuses its content
 * (MANIFEST_BLOB_UNKNOWN, MANIFEST_INVALID, a digest or size mismatch)? Such a change is parked
 * and retried later while the rest of the log goes on. Anything else — the link down, a 5xx, a
 * timeout, a full or failing disk, an abort — is the session's failure, retried as a whole.
 */
export function isItemFailure(err: unknown): err is RemoteError | RegistryError {
  if (err instanceof RemoteError) return err.status >= 400 && err.status < 500 && !NOT_ABOUT_THE_ITEM.has(err.status);
  return err instanceof RegistryError && CONTENT_REFUSALS.has(err.code);
}

/**
 * Has the parent refused a pushed write for good? A 4xx other than the credentials (401, 407),
 * a timeout (408) or throttling (429): a 404 or 405 to a blob DELETE included. The write is then
 * marked pushed and reported; link failures leave it in the outbox.
 */
export function isRefusal(err: unknown): err is RemoteError {
  return err instanceof RemoteError && !err.retryable && !NOT_ABOUT_THE_ITEM.has(err.status);
}

/** First retry of a parked item 10 s after it failed, then doubling, at most every 15 minutes. */
export function retryDelayMs(attempts: number): number {
  return Math.min(10_000 * 2 ** Math.max(0, attempts - 1), 15 * 60_000);
}

/** A failure's code and message for records and status details. */
export function failureCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'UNKNOWN';
}

export function failureText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A reason the node cannot run as this connected registry at all (bad credentials, another instance holds it). */
export class SyncFatalError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
    this.name = 'SyncFatalError';
  }
}

/**
 * The parent's gateway answers that no retry can fix become a SyncFatalError with a message an
 * operator can act on (`selfName`: this node's connected-registry name); anything else is
 * returned as it is. At start such a refusal stops the node; later it is retried every 30 s.
 */
export function asFatalRefusal(err: unknown, selfName: string): unknown {
  if (!(err instanceof RemoteError)) return err;
  if (err.code === 'CERTIFICATE_UNTRUSTED') {
    return new SyncFatalError(`${err.message}; if the parent's certificate comes from a private CA, give that CA with --parent-ca FILE (OUTPOST_PARENT_CA)`, err.code);
  }
  if (err.status === 401) {
    return new SyncFatalError(`the parent refused the sync token of '${selfName}': wrong SyncTokenName or SyncTokenPassword, a disabled token or an expired password (${err.message})`, 'UNAUTHORIZED');
  }
  if (err.code === 'ALREADY_ACTIVATED') return new SyncFatalError(`${err.message} ${typeof err.detail === 'string' ? err.detail : ''}`.trim(), err.code);
  if (err.status === 403) return new SyncFatalError(`the sync token may not sync '${selfName}' at this parent: ${err.message}`, 'DENIED');
  if (err.status === 404 && err.code !== 'MANIFEST_UNKNOWN' && err.code !== 'BLOB_UNKNOWN' && err.code !== 'NAME_UNKNOWN') {
    return new SyncFatalError(`the parent does not know the connected registry '${selfName}': ${err.message}`, 'NOT_FOUND');
  }
  return err;
}

/** errno codes of a failing local disk: reported up as a DiskError status detail (the parent shows the node Unhealthy). */
const DISK_ERRORS: ReadonlySet<string> = new Set(['ENOSPC', 'EIO', 'EROFS', 'EDQUOT']);

/** The errno code when `err` is a failure of the local disk, else null. */
export function diskErrorCode(err: unknown): string | null {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && DISK_ERRORS.has(code) ? code : null;
}

/**
 * Whose failure ended a sync session, as metrics count it (docs/observability.md): `refused`
 * (the parent refuses this node: credentials, another instance, an untrusted certificate),
 * `disk` (the local disk), `parent` (the parent answered with a server error or a refusal of
 * its own), `link` (nothing answered: the network, a timeout), `local` (anything else here).
 */
export type SyncFailureKind = 'refused' | 'disk' | 'parent' | 'link' | 'local';

export function failureKind(err: unknown): SyncFailureKind {
  if (err instanceof SyncFatalError) return 'refused';
  if (diskErrorCode(err) !== null) return 'disk';
  if (err instanceof RemoteError) return err.status === 0 ? 'link' : 'parent';
  return 'local';
}
