import { closeSync, fstatSync, mkdirSync, openSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Clock } from '../core/clock.js';

/** What happened, as one line of the audit log (docs/observability.md, "Audit log"). Never a secret. */
export interface AuditEntry {
  /** `v2.manifest.push`, `authentication.failed`, `management.change`, `sync.apply.tag`, … */
  action: string;
  /** Who: a token name, `admin`, a JWT's subject, `anonymous`; for a failed sign-in the name it tried; for sync the sync token. */
  identity: string | null;
  /** The client's address (for sync: the parent's endpoint). */
  address: string | null;
  repository?: string | null;
  /** The tag or digest the client named. */
  reference?: string | null;
  digest?: string | null;
  /** What else the action touched: a management path (`connected-registries/edge-a`), a mount's source, the surface of a failed sign-in. */
  resource?: string | null;
  /** `success`, `denied`, `unauthenticated`, `refused`, `error`, …; for sync `pushed`, `rejected`, `parked`, `completed`, `failed`. */
  result: string;
  /** The HTTP status answered, for requests. */
  status?: number | null;
}

/** Where lines go: a file (appended; reopened after rotation) or `-`, this process's standard output. */
export type AuditDestination = string;

/** How often a file destination is checked for rotation (renamed or removed under us) when no SIGHUP comes. */
export const AUDIT_ROTATION_CHECK_MS = 10_000;

/**
 * The audit log: one JSON line per entry, with the time (the node's clock) and the node's
 * connected-registry name (null on the root) first. Switched on and off while the node runs
 * (`enabled`); the file is opened at the first line written, in append mode with mode 0600, and
 * every line is one write(2) on an O_APPEND descriptor, so lines never interleave and a crash
 * loses at most the line being written. `reopen` (on SIGHUP, or when `checkRotation` finds the
 * path no longer names the open file) starts the file afresh, for logrotate.
 */
export class AuditLog {
  private fd: number | null = null;
  private inode: number | null = null;
  private on: boolean;

  constructor(
    readonly destination: AuditDestination,
    private readonly options: { clock: Clock; registry: string | null; enabled: boolean; onError?: (err: unknown) => void },
  ) {
    this.on = options.enabled;
  }

  get enabled(): boolean {
    return this.on;
  }

  /** Switches recording on or off (an edge's resource, at each config). Closing waits for no one: lines are written whole. */
  set enabled(value: boolean) {
    this.on = value;
  }

  /** Writes one line when enabled. A failing destination (a full disk) is reported, never thrown at the request it describes. */
  record(entry: AuditEntry): void {
    if (!this.on) return;
    const line = `${JSON.stringify({
      time: new Date(this.options.clock.now()).toISOString(),
      registry: this.options.registry,
      identity: entry.identity,
      address: entry.address,
      action: entry.action,
      repository: entry.repository ?? null,
      reference: entry.reference ?? null,
      digest: entry.digest ?? null,
      resource: entry.resource ?? null,
      result: entry.result,
      status: entry.status ?? null,
    })}\n`;
    try {
      if (this.destination === '-') {
        process.stdout.write(line);
        return;
      }
      writeSync(this.open(), line);
    } catch (err) {
      this.options.onError?.(err);
    }
  }

  /** Closes the file; the next line opens the path again (logrotate's `postrotate` sends SIGHUP for this). */
  reopen(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    this.inode = null;
  }

  /** Reopens when the path names another file than the one open (rotated) or none (removed). */
  checkRotation(): void {
    if (this.fd === null || this.destination === '-') return;
    let current: number | null;
    try {
      current = statSync(this.destination).ino;
    } catch {
      current = null;
    }
    if (current !== this.inode) this.reopen();
  }

  close(): void {
    this.reopen();
    this.on = false;
  }

  private open(): number {
    if (this.fd === null) {
      mkdirSync(dirname(this.destination), { recursive: true });
      this.fd = openSync(this.destination, 'a', 0o600);
      this.inode = fstatSync(this.fd).ino;
    }
    return this.fd;
  }
}
