import { X509Certificate, createPrivateKey } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Server as HttpsServer } from 'node:https';
import type { Logger } from 'pino';
import { ConfigError, type TlsConfig } from '../config/node-config.js';
import type { Clock } from '../core/clock.js';
import { createCertificateAuthority, issueServingCertificate, renewalReason, type CertificatePair } from './certificate-authority.js';

/** --tls-auto renews the serving certificate when fewer days than this are left. */
export const RENEW_BEFORE_DAYS = 30;
/** File events come in bursts (a key, then a certificate; Kubernetes swaps a symlink): reload once they settle. */
const SETTLE_MS = 200;

export interface ServedCertificateDeps {
  clock: Clock;
  logger: Logger;
  /** The host names and addresses the node answers to (--tls-auto puts them in its certificate). */
  names: readonly string[];
}

/** What `prepare` found or made. */
export interface PreparedCertificate extends CertificatePair {
  /** --tls-auto made a new CA this start (the trust steps must be shown). */
  caCreated: boolean;
  /** --tls-auto issued a new serving certificate this start, and why. */
  issued: string | null;
}

/**
 * The certificate an HTTPS node serves (config/node-config.ts, TlsConfig): read from files, or
 * made by --tls-auto; reloaded into the running server (`setSecureContext`, so open connections
 * keep theirs and new ones get the new one) when the files change or on SIGHUP; for --tls-auto
 * renewed when due. Bad or half-written files never replace a good certificate: the reload is
 * refused with a warning and the next change tries again.
 */
export class ServedCertificate {
  private server: HttpsServer | null = null;
  private watchers: FSWatcher[] = [];
  private settleTimer: NodeJS.Timeout | null = null;
  private current: CertificatePair | null = null;
  /** Reloads in flight run one after the other. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly config: TlsConfig, private readonly deps: ServedCertificateDeps) {}

  /** The names --tls-auto certifies (the first is the certificate's subject). */
  get names(): readonly string[] {
    return this.deps.names;
  }

  get caFile(): string | null {
    return this.config.dir === null ? null : join(this.config.dir, 'ca.crt');
  }

  /**
   * The certificate and key to start with. --tls-auto makes the CA and the serving certificate
   * when missing (or renews the latter, see `renewIfDue`); otherwise both files must be there.
   * Throws ConfigError naming what is missing or wrong.
   */
  async prepare(): Promise<PreparedCertificate> {
    let caCreated = false;
    let issued: string | null = null;
    if (this.config.source === 'auto') {
      const ca = await this.ensureCa();
      caCreated = ca.created;
      issued = await this.issueIfDue(ca.pair);
    }
    const pair = await this.readPair();
    const problem = pairProblem(pair);
    if (problem) throw new ConfigError(`${this.describe()}: ${problem}`);
    this.current = pair;
    return { ...pair, caCreated, issued };
  }

  /** The CA certificate children of this node trust (PEM): `ca.crt` in the certificate folder, when there is one. */
  async caCertificate(): Promise<string | null> {
    if (this.caFile === null) return null;
    return readFile(this.caFile, 'utf8').catch(() => null);
  }

  /** The server whose secure context `reload` replaces. */
  attach(server: HttpsServer): void {
    this.server = server;
  }

  /** Watches the certificate files' folders; any change reloads once the burst settles. */
  watch(): void {
    const dirs = new Set([dirname(this.config.certFile), dirname(this.config.keyFile)]);
    for (const dir of dirs) {
      try {
        const watcher = watch(dir, { persistent: false }, () => this.scheduleReload());
        watcher.on('error', (err) => this.deps.logger.warn({ err, dir }, 'watching the certificate folder failed; SIGHUP still reloads'));
        this.watchers.push(watcher);
      } catch (err) {
        this.deps.logger.warn({ err, dir }, 'cannot watch the certificate folder; SIGHUP reloads the certificate');
      }
    }
  }

  /**
   * Reads the files again and, when they hold a valid pair different from the one served, serves
   * it to new connections. Returns whether it changed; never throws (a bad pair is logged).
   */
  reload(reason: string): Promise<boolean> {
    const run = this.queue.then(() => this.reloadNow(reason));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** --tls-auto: issues a new serving certificate when due (RENEW_BEFORE_DAYS, new names) and serves it. */
  async renewIfDue(): Promise<string | null> {
    if (this.config.source !== 'auto') return null;
    const ca = await this.ensureCa();
    const issued = await this.issueIfDue(ca.pair);
    if (issued) await this.reload(issued);
    return issued;
  }

  close(): void {
    if (this.settleTimer) clearTimeout(this.settleTimer);
    for (const watcher of this.watchers) watcher.close();
    this.watchers = [];
  }

  private scheduleReload(): void {
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => {
      this.settleTimer = null;
      void this.reload('the certificate files changed');
    }, SETTLE_MS);
    this.settleTimer.unref();
  }

  private async reloadNow(reason: string): Promise<boolean> {
    const { logger } = this.deps;
    let pair: CertificatePair;
    try {
      pair = await this.readPair();
    } catch (err) {
      logger.warn({ err: (err as Error).message, reason }, 'certificate not reloaded: the files cannot be read; still serving the previous one');
      return false;
    }
    const problem = pairProblem(pair);
    if (problem) {
      logger.warn({ problem, reason }, `certificate not reloaded: ${problem}; still serving the previous one`);
      return false;
    }
    if (this.current && this.current.cert === pair.cert && this.current.key === pair.key) return false;
    this.server?.setSecureContext({ cert: pair.cert, key: pair.key });
    this.current = pair;
    const cert = new X509Certificate(pair.cert);
    logger.info({ reason, subject: cert.subject.replace(/\n/g, ', '), names: cert.subjectAltName, validTo: cert.validTo, fingerprint: cert.fingerprint256 },
      'certificate reloaded: new connections get the new one');
    return true;
  }

  private describe(): string {
    return this.config.dir === null ? `--tls-cert ${this.config.certFile} / --tls-key ${this.config.keyFile}` : `the certificate folder ${this.config.dir}`;
  }

  private async readPair(): Promise<CertificatePair> {
    const read = async (file: string, what: string): Promise<string> => {
      try {
        return await readFile(file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        const hint = this.config.source === 'folder' ? ' (put tls.crt and tls.key there, or start with --tls-auto to make them)' : '';
        throw new ConfigError(`${this.describe()}: no ${what} at ${file}${hint}`);
      }
    };
    return { cert: await read(this.config.certFile, 'certificate'), key: await read(this.config.keyFile, 'private key') };
  }

  /** The CA of --tls-auto: read from the folder, or made (and written, the key 0600) when there is none. */
  private async ensureCa(): Promise<{ pair: CertificatePair; created: boolean }> {
    const dir = this.config.dir!;
    const certFile = join(dir, 'ca.crt');
    const keyFile = join(dir, 'ca.key');
    const [cert, key] = await Promise.all([readFile(certFile, 'utf8').catch(() => null), readFile(keyFile, 'utf8').catch(() => null)]);
    if (cert !== null && key !== null) return { pair: { cert, key }, created: false };
    if (cert !== null || key !== null) {
      throw new ConfigError(`the certificate folder ${dir} has ${cert ? 'ca.crt but no ca.key' : 'ca.key but no ca.crt'}: restore the missing file, or remove both to make a new CA (clients must then trust the new one)`);
    }
    const pair = createCertificateAuthority(`Outpost CA ${this.deps.names[0] ?? ''}`.trim(), this.deps.clock.now());
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeAtomically(keyFile, pair.key, 0o600);
    await writeAtomically(certFile, pair.cert, 0o644);
    this.deps.logger.info({ caFile: certFile }, 'made a private CA for HTTPS (--tls-auto)');
    return { pair, created: true };
  }

  /** Issues the serving certificate when there is none or renewalReason finds one; returns why, or null. */
  private async issueIfDue(ca: CertificatePair): Promise<string | null> {
    const { certFile, keyFile } = this.config;
    const [cert, key] = await Promise.all([readFile(certFile, 'utf8').catch(() => null), readFile(keyFile, 'utf8').catch(() => null)]);
    const now = this.deps.clock.now();
    const reason = cert === null || key === null ? 'there was no serving certificate' : renewalReason({ cert, key }, ca.cert, this.deps.names, now, RENEW_BEFORE_DAYS);
    if (reason === null) return null;
    const pair = issueServingCertificate(ca, this.deps.names, now);
    // The key first: a reload between the two renames finds a mismatched pair and waits for the next event.
    await writeAtomically(keyFile, pair.key, 0o600);
    await writeAtomically(certFile, pair.cert, 0o644);
    this.deps.logger.info({ certFile, names: this.deps.names, reason }, 'issued a serving certificate (--tls-auto)');
    return reason;
  }
}

/** What is wrong with a certificate and key pair, or null. */
function pairProblem(pair: CertificatePair): string | null {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pair.cert);
  } catch {
    return 'the certificate is not a PEM certificate';
  }
  try {
    if (!cert.checkPrivateKey(createPrivateKey(pair.key))) return 'the private key does not belong to the certificate';
  } catch {
    return 'the private key is not a PEM private key';
  }
  return null;
}

/** Writes `file` through a temporary name and a rename: a reader sees the old content or the new, never half. */
async function writeAtomically(file: string, content: string, mode: number): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, content, { mode });
  await chmod(temporary, mode);
  await rename(temporary, file);
}
