import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { RemoteError } from '../../src/client/http-transport.js';
import type { FetchedManifest, ReferrerDescriptor, RemoteRegistry } from '../../src/client/registry-client.js';
import type { ParentGateway } from '../../src/client/gateway-client.js';
import type {
  ActivateRequest, ActivateResponse, ConfigDocument, Message, MessageKind, MessagesResponse, Mode, StatusAck, StatusReport,
} from '../../src/client/gateway-protocol.js';
import type { Clock } from '../../src/core/clock.js';
import type { ParentLink } from '../../src/sync/parent-link.js';
import { OCI_INDEX, OCI_MANIFEST, sha256 } from '../helpers/oci-client.js';

/**
 * A parent in memory for the sync unit tests: its /v2 content (repositories, tags, manifests,
 * blobs), its change log and the gateway of one connected registry, behind the same interfaces
 * the agent uses over HTTP (ParentGateway, RemoteRegistry). It answers as a real parent does —
 * RemoteErrors with OCI codes, long-polls held until a change, the config or the deadline on
 * the given clock, requests that end with their signal — and lets a test make any call fail or
 * wait (`rule`), like GateProxy does on a real link, and see every call made (`calls`).
 */

/** One call to the parent, written as the HTTP request it stands for (`GET /v2/app/manifests/v1`, `GET /gateway/messages?after=3&wait=25`). */
export interface FakeCall {
  method: string;
  path: string;
}

/** What a rule does with the calls it matches. */
export type FakeAction =
  /** Answered with this error at once. */
  | { fail: () => Error }
  /** Answered with this value at once (a parent that answers wrongly). */
  | { reply: () => unknown }
  /** Waits until released (or its signal aborts), then is answered from the parent's state at that moment. */
  | 'hold'
  /** Answered from the parent's state now, delivered when released (or fails with its signal). */
  | 'hold-answer';

export interface FakeRule {
  /** Calls matched so far. */
  readonly matched: number;
  /** Calls this rule holds now (not yet answered, failed or aborted). */
  readonly pending: number;
  /** Lets the held calls go on and passes later matches through. */
  release(): void;
  /** Resolves when every call this rule held has settled (answered, failed or aborted). */
  settled(): Promise<void>;
}

interface RuleState {
  match: (method: string, path: string) => boolean;
  action: FakeAction;
  times: number;
  matched: number;
  done: boolean;
  released: Promise<void>;
  release: () => void;
  holding: Set<Promise<unknown>>;
}

interface FakeRepository {
  tags: Map<string, string>;
  manifests: Map<string, { body: Buffer; mediaType: string; subject: string | null; artifactType: string | null; blobs: string[] }>;
  /** Blob links: digest → size. */
  links: Map<string, number>;
}

export interface FakeImage {
  digest: string;
  body: string;
  size: number;
  /** Config, then layers. */
  blobs: string[];
}

/** A parent answering `status` as RemoteError does. */
export function parentError(status: number, code: string, message = `the fake parent answers ${status} ${code}`, detail: unknown = null): RemoteError {
  return new RemoteError(code, status, message, detail);
}

export interface FakeParentOptions {
  /** The connected registry this parent serves (the agent's selfName). */
  name?: string;
  mode?: Mode;
  repositories?: string[];
  schedule?: string;
  syncWindow?: string | null;
  /** The clock long-poll deadlines are measured on (the agent's). */
  clock: Clock;
}

export class FakeParent implements ParentGateway, RemoteRegistry, ParentLink {
  readonly address = 'fake://parent';
  readonly calls: FakeCall[] = [];
  readonly reports: StatusReport[] = [];
  /** The instance holding the activation; null after `deactivate()`. */
  activeInstance: string | null = null;
  private readonly repos = new Map<string, FakeRepository>();
  private readonly blobBytes = new Map<string, Buffer>();
  private readonly log: Message[] = [];
  /** Rows up to this sequence number are pruned (a cursor before it gets RESYNC_REQUIRED). */
  private prunedThrough = 0;
  private readonly rules: RuleState[] = [];
  private document: ConfigDocument;
  private etag = '';
  private generation = 0;
  private changed = new AbortController();
  private readonly clock: Clock;

  constructor(options: FakeParentOptions) {
    this.clock = options.clock;
    const name = options.name ?? 'edge';
    this.document = {
      self: {
        name, mode: options.mode ?? 'ReadOnly', parent: null,
        sync: { tokenName: `${name}-sync-token`, schedule: options.schedule ?? '* * * * *', syncWindow: options.syncWindow ?? null, messageTtl: 'P2D' },
        clientTokenIds: [], logging: { logLevel: 'Error', auditLogStatus: 'Disabled' }, notificationsList: [],
        garbageCollection: { enabled: false, schedule: '0 0 * * *' }, activationEpoch: 0, resyncRequestedAt: null,
      },
      repositories: options.repositories ?? ['app'],
      descendants: [],
      tokens: [],
      scopeMaps: [],
    };
    this.bumpConfig();
  }

  // --- ParentLink ------------------------------------------------------------------------------

  get gateway(): ParentGateway {
    return this;
  }

  get registry(): RemoteRegistry {
    return this;
  }

  async close(): Promise<void> {
    this.releaseAll();
  }

  // --- what a test does at the parent -------------------------------------------------------------

  /** Applies `action` to the next `times` calls that `match` (every one by default) until released. */
  rule(match: (method: string, path: string) => boolean, action: FakeAction, times = Infinity): FakeRule {
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const state: RuleState = {
      match, action, times, matched: 0, done: false, released, holding: new Set(),
      release: () => {
        state.done = true;
        release();
      },
    };
    this.rules.push(state);
    return {
      get matched() {
        return state.matched;
      },
      get pending() {
        return state.holding.size;
      },
      release: state.release,
      settled: async () => {
        await Promise.allSettled([...state.holding]);
      },
    };
  }

  releaseAll(): void {
    for (const rule of this.rules) rule.release();
  }

  /** The calls made so far that `match`. */
  callsOf(match: (method: string, path: string) => boolean): FakeCall[] {
    return this.calls.filter((c) => match(c.method, c.path));
  }

  /** The connected registry's config as the parent holds it now. */
  get configDocument(): ConfigDocument {
    return this.document;
  }

  get configEtag(): string {
    return this.etag;
  }

  /** Changes the connected registry's config at the parent (a held long-poll answers with the new ETag). */
  setConfig(change: (doc: ConfigDocument) => void): void {
    change(this.document);
    this.bumpConfig();
  }

  /** `resync` at the root. */
  requestResync(): void {
    this.setConfig((doc) => {
      doc.self.resyncRequestedAt = new Date(this.clock.now() + this.generation).toISOString();
    });
  }

  /** `deactivate` at the root: the instance must activate again. */
  deactivate(): void {
    this.activeInstance = null;
  }

  /** The newest sequence number of the log. */
  get headSeq(): number {
    return this.log.length === 0 ? this.prunedThrough : this.log[this.log.length - 1]!.seq;
  }

  /** Drops every row of the log up to `seq` (a cursor before it can no longer be followed). */
  prune(seq: number): void {
    this.prunedThrough = Math.max(this.prunedThrough, seq);
    while (this.log.length > 0 && this.log[0]!.seq <= seq) this.log.shift();
  }

  /** Stores a blob and links it to `repository`; returns its digest. */
  putBlob(repository: string, bytes: Buffer | string): string {
    const data = Buffer.from(bytes);
    const digest = sha256(data);
    this.blobBytes.set(digest, data);
    this.repo(repository, true)!.links.set(digest, data.length);
    return digest;
  }

  /** The bytes of a blob are gone (a disk fault); its links stay, so asking for it is a 404. */
  loseBlob(digest: string): Buffer | null {
    const bytes = this.blobBytes.get(digest) ?? null;
    this.blobBytes.delete(digest);
    return bytes;
  }

  restoreBlob(bytes: Buffer): void {
    this.blobBytes.set(sha256(bytes), bytes);
  }

  hasBlobBytes(digest: string): boolean {
    return this.blobBytes.has(digest);
  }

  /** Pushes an image of fresh layers (or `layers`) under `tag` (by digest only when null). */
  pushImage(repository: string, tag: string | null, options: { layers?: Array<Buffer | string>; subject?: FakeImage; artifactType?: string } = {}): FakeImage {
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, nonce: randomBytes(8).toString('hex') });
    const configDigest = this.putBlob(repository, config);
    const layers = (options.layers ?? [randomBytes(256)]).map((layer) => {
      const data = Buffer.from(layer);
      return { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: this.putBlob(repository, data), size: data.length };
    });
    const body = JSON.stringify({
      schemaVersion: 2, mediaType: OCI_MANIFEST,
      ...(options.artifactType ? { artifactType: options.artifactType } : {}),
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: Buffer.byteLength(config) },
      layers,
      ...(options.subject ? { subject: { mediaType: OCI_MANIFEST, digest: options.subject.digest, size: options.subject.size } } : {}),
    });
    const digest = this.storeManifest(repository, tag, Buffer.from(body), OCI_MANIFEST);
    return { digest, body, size: Buffer.byteLength(body), blobs: [configDigest, ...layers.map((l) => l.digest)] };
  }

  /** Pushes an index of `children` (already pushed by digest) under `tag`. */
  pushIndex(repository: string, tag: string, children: FakeImage[]): FakeImage {
    const body = JSON.stringify({
      schemaVersion: 2, mediaType: OCI_INDEX,
      manifests: children.map((c) => ({ mediaType: OCI_MANIFEST, digest: c.digest, size: c.size, platform: { os: 'linux', architecture: 'amd64' } })),
    });
    const digest = this.storeManifest(repository, tag, Buffer.from(body), OCI_INDEX);
    return { digest, body, size: Buffer.byteLength(body), blobs: [] };
  }

  /** Stores manifest bytes as they are (no validation: a fault, an older parent) under `tag`. */
  putRawManifest(repository: string, tag: string | null, body: string, mediaType = OCI_MANIFEST): string {
    return this.storeManifest(repository, tag, Buffer.from(body), mediaType);
  }

  /** Moves or sets a tag onto a manifest the repository has. */
  tag(repository: string, tag: string, digest: string): void {
    this.repo(repository, true)!.tags.set(tag, digest);
    this.append('tag', repository, tag, digest);
  }

  deleteTag(repository: string, tag: string): void {
    if (this.repo(repository)?.tags.delete(tag)) this.append('tag-delete', repository, tag, null);
  }

  deleteManifestAt(repository: string, digest: string): void {
    const repo = this.repo(repository);
    if (!repo?.manifests.delete(digest)) return;
    for (const [tag, d] of repo.tags) if (d === digest) repo.tags.delete(tag);
    this.append('manifest-delete', repository, null, digest);
  }

  deleteRepository(repository: string): void {
    if (this.repos.delete(repository)) this.append('repository-delete', repository, null, null);
  }

  /** The digest a tag points to at the parent. */
  tagOf(repository: string, tag: string): string | null {
    return this.repo(repository)?.tags.get(tag) ?? null;
  }

  hasManifest(repository: string, digest: string): boolean {
    return this.repo(repository)?.manifests.has(digest) ?? false;
  }

  // --- ParentGateway -----------------------------------------------------------------------------

  activate(request: ActivateRequest, signal?: AbortSignal): Promise<ActivateResponse> {
    return this.call('POST', '/gateway/activate', signal, () => {
      if (this.activeInstance !== null && this.activeInstance !== request.instanceId) {
        throw parentError(409, 'ALREADY_ACTIVATED', 'Failed to activate the connected registry as it is already activated by another instance.');
      }
      this.activeInstance = request.instanceId;
      return { name: this.document.self.name, mode: this.document.self.mode, activationStatus: 'Active' as const };
    });
  }

  config(etag: string | null, signal?: AbortSignal): Promise<{ document: ConfigDocument; etag: string } | null> {
    return this.call('GET', '/gateway/config', signal, () =>
      etag === this.etag ? null : { document: structuredClone(this.document), etag: this.etag });
  }

  messages(after: number, waitSeconds: number, configEtag: string | null, signal?: AbortSignal): Promise<MessagesResponse> {
    // The wait is measured from when the request is sent, on the test's clock.
    const deadline = this.clock.now() + waitSeconds * 1000;
    return this.call('GET', `/gateway/messages?after=${after}&wait=${waitSeconds}`, signal, async () => {
      if (after > this.headSeq) throw this.resyncRequired('ahead', after);
      if (after < this.prunedThrough) throw this.resyncRequired('pruned', after);
      let page = this.page(after);
      // Held like the real gateway: until something comes, the config changes, the deadline or the caller leaves.
      while (page.messages.length === 0 && (configEtag ?? this.etag) === this.etag && this.clock.now() < deadline) {
        const changed = this.changed.signal;
        await delay(10, undefined, { signal: AbortSignal.any([changed, ...(signal ? [signal] : [])]) }).catch(() => undefined);
        signal?.throwIfAborted();
        page = this.page(page.next);
      }
      return { ...page, config: this.etag };
    });
  }

  head(signal?: AbortSignal): Promise<number> {
    return this.call('GET', '/gateway/head', signal, () => this.headSeq);
  }

  status(report: StatusReport, signal?: AbortSignal): Promise<StatusAck> {
    return this.call('PUT', '/gateway/status', signal, () => {
      if (this.activeInstance !== report.instanceId) throw parentError(409, 'ALREADY_ACTIVATED', 'not activated by this instance');
      this.reports.push(structuredClone(report));
      return { config: this.etag };
    });
  }

  // --- RemoteRegistry: reads ---------------------------------------------------------------------

  getManifest(repository: string, reference: string, signal?: AbortSignal): Promise<FetchedManifest> {
    return this.call('GET', `/v2/${repository}/manifests/${reference}`, signal, () => {
      const repo = this.repo(repository);
      if (!repo) throw parentError(404, 'NAME_UNKNOWN');
      const digest = reference.includes(':') ? reference : repo.tags.get(reference);
      const manifest = digest === undefined ? undefined : repo.manifests.get(digest);
      if (!manifest || digest === undefined || !this.blobBytes.has(digest)) throw parentError(404, 'MANIFEST_UNKNOWN');
      return { body: Buffer.from(this.blobBytes.get(digest)!), mediaType: manifest.mediaType, digest };
    });
  }

  headManifest(repository: string, reference: string, signal?: AbortSignal): Promise<string | null> {
    return this.call('HEAD', `/v2/${repository}/manifests/${reference}`, signal, () => {
      const repo = this.repo(repository);
      const digest = reference.includes(':') ? reference : repo?.tags.get(reference);
      return digest !== undefined && repo?.manifests.has(digest) ? digest : null;
    });
  }

  hasBlob(repository: string, digest: string, signal?: AbortSignal): Promise<boolean> {
    return this.call('HEAD', `/v2/${repository}/blobs/${digest}`, signal, () => this.repo(repository)?.links.has(digest) ?? false);
  }

  getBlob(repository: string, digest: string, signal?: AbortSignal): Promise<{ stream: Readable; size: number | null }> {
    return this.call('GET', `/v2/${repository}/blobs/${digest}`, signal, () => {
      const bytes = this.blobBytes.get(digest);
      if (!this.repo(repository)?.links.has(digest) || bytes === undefined) throw parentError(404, 'BLOB_UNKNOWN');
      return { stream: Readable.from([bytes]), size: bytes.length };
    });
  }

  listTags(repository: string, signal?: AbortSignal): Promise<string[]> {
    return this.call('GET', `/v2/${repository}/tags/list`, signal, () => [...(this.repo(repository)?.tags.keys() ?? [])].sort());
  }

  catalog(signal?: AbortSignal): Promise<string[]> {
    return this.call('GET', '/v2/_catalog', signal, () => [...this.repos.keys()].sort());
  }

  referrers(repository: string, digest: string, signal?: AbortSignal): Promise<ReferrerDescriptor[]> {
    return this.call('GET', `/v2/${repository}/referrers/${digest}`, signal, () =>
      [...(this.repo(repository)?.manifests ?? new Map()).entries()]
        .filter(([, m]) => m.subject === digest)
        .map(([d, m]) => ({ mediaType: m.mediaType, digest: d, size: m.body.length, ...(m.artifactType ? { artifactType: m.artifactType } : {}) })));
  }

  // --- RemoteRegistry: writes (push-back) ------------------------------------------------------------

  pushBlob(repository: string, digest: string, size: number, open: () => Promise<Readable>, signal?: AbortSignal): Promise<void> {
    return this.call('PUT', `/v2/${repository}/blobs/uploads/?digest=${digest}`, signal, async () => {
      if (!this.blobBytes.has(digest)) {
        const chunks: Buffer[] = [];
        for await (const chunk of await open()) chunks.push(Buffer.from(chunk as Buffer));
        const bytes = Buffer.concat(chunks);
        if (sha256(bytes) !== digest || bytes.length !== size) throw parentError(400, 'DIGEST_INVALID');
        this.blobBytes.set(digest, bytes);
      }
      this.repo(repository, true)!.links.set(digest, size);
    });
  }

  putManifest(repository: string, reference: string, body: Buffer, mediaType: string, signal?: AbortSignal): Promise<string | null> {
    return this.call('PUT', `/v2/${repository}/manifests/${reference}`, signal, () => {
      const parsed = JSON.parse(body.toString()) as { config?: { digest: string }; layers?: Array<{ digest: string }> };
      const missing = [parsed.config?.digest, ...(parsed.layers ?? []).map((l) => l.digest)]
        .filter((d): d is string => d !== undefined && !this.repo(repository)?.links.has(d));
      if (missing.length > 0) throw parentError(400, 'MANIFEST_BLOB_UNKNOWN', 'blob unknown to registry', { digests: missing });
      return this.storeManifest(repository, reference.includes(':') ? null : reference, body, mediaType);
    });
  }

  deleteManifest(repository: string, reference: string, signal?: AbortSignal): Promise<boolean> {
    return this.call('DELETE', `/v2/${repository}/manifests/${reference}`, signal, () => {
      const repo = this.repo(repository);
      if (reference.includes(':')) {
        if (!repo?.manifests.has(reference)) return false;
        this.deleteManifestAt(repository, reference);
        return true;
      }
      if (!repo?.tags.has(reference)) return false;
      this.deleteTag(repository, reference);
      return true;
    });
  }

  deleteBlob(repository: string, digest: string, signal?: AbortSignal): Promise<boolean> {
    return this.call('DELETE', `/v2/${repository}/blobs/${digest}`, signal, () => {
      const repo = this.repo(repository);
      if (!repo?.links.has(digest)) return false;
      if ([...repo.manifests.values()].some((m) => m.blobs.includes(digest))) throw parentError(405, 'UNSUPPORTED', 'the blob is referenced');
      repo.links.delete(digest);
      this.append('blob-delete', repository, null, digest);
      return true;
    });
  }

  // --- inside -------------------------------------------------------------------------------------

  private repo(name: string, create = false): FakeRepository | undefined {
    let repo = this.repos.get(name);
    if (!repo && create) this.repos.set(name, (repo = { tags: new Map(), manifests: new Map(), links: new Map() }));
    return repo;
  }

  private storeManifest(repository: string, tag: string | null, body: Buffer, mediaType: string): string {
    const digest = sha256(body);
    let parsed: { subject?: { digest: string }; artifactType?: string; config?: { digest: string }; layers?: Array<{ digest: string }> } = {};
    try {
      parsed = JSON.parse(body.toString()) as typeof parsed;
    } catch {
      // Raw bytes stored as they are.
    }
    const blobs = [parsed.config?.digest, ...(Array.isArray(parsed.layers) ? parsed.layers.map((l) => l.digest) : [])].filter((d): d is string => typeof d === 'string');
    this.blobBytes.set(digest, body);
    const repo = this.repo(repository, true)!;
    repo.manifests.set(digest, { body, mediaType, subject: parsed.subject?.digest ?? null, artifactType: parsed.artifactType ?? null, blobs });
    this.append('manifest', repository, null, digest, mediaType);
    if (tag !== null) {
      repo.tags.set(tag, digest);
      this.append('tag', repository, tag, digest, mediaType);
    }
    return digest;
  }

  private append(kind: MessageKind, repository: string, tag: string | null, digest: string | null, mediaType: string | null = null): void {
    this.log.push({ seq: this.headSeq + 1, kind, repository, tag, digest, mediaType, at: new Date(this.clock.now()).toISOString() });
    this.wake();
  }

  private page(after: number): { messages: Message[]; next: number; head: number } {
    const rows = this.log.filter((m) => m.seq > after);
    const messages = rows.filter((m) => this.document.repositories.some((pattern) => inScope(pattern, m.repository)));
    return { messages, next: rows.length > 0 ? rows[rows.length - 1]!.seq : Math.max(after, this.prunedThrough), head: this.headSeq };
  }

  private resyncRequired(reason: 'ahead' | 'pruned', after: number): RemoteError {
    return parentError(410, 'RESYNC_REQUIRED', 'Resync required', { reason, after, head: this.headSeq, oldest: this.log[0]?.seq ?? null });
  }

  private bumpConfig(): void {
    this.generation += 1;
    this.etag = `"config-${this.generation}"`;
    this.wake();
  }

  private wake(): void {
    this.changed.abort();
    this.changed = new AbortController();
  }

  /** Every call: logged, matched against the rules, answered (a held call ends with its signal, as a request does). */
  private async call<T>(method: string, path: string, signal: AbortSignal | undefined, answer: () => T | Promise<T>): Promise<T> {
    this.calls.push({ method, path });
    signal?.throwIfAborted();
    // One turn of the event loop, as an answer over a socket takes at least.
    await new Promise<void>((resolve) => setImmediate(resolve));
    signal?.throwIfAborted();
    const rule = this.rules.find((r) => !r.done && r.matched < r.times && r.match(method, path));
    if (!rule) return answer();
    rule.matched += 1;
    const action = rule.action;
    if (typeof action === 'object') {
      if ('fail' in action) throw action.fail();
      return action.reply() as T;
    }
    const held = (async (): Promise<T> => {
      if (action === 'hold') {
        await untilReleased(rule.released, signal);
        return answer();
      }
      const early = await Promise.allSettled([Promise.resolve().then(answer)]);
      await untilReleased(rule.released, signal);
      const [settled] = early;
      if (settled!.status === 'rejected') throw settled!.reason;
      return settled!.value;
    })();
    rule.holding.add(held);
    void held.catch(() => undefined).finally(() => rule.holding.delete(held));
    return held;
  }
}

/** Waits for `released`; rejects with the signal's reason when it aborts first. */
function untilReleased(released: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return released;
  signal.throwIfAborted();
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    void released.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}

/** The gateway's scope rule: a name, `*`, or `prefix/*`. */
function inScope(pattern: string, repository: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('/*')) return repository.startsWith(pattern.slice(0, -1));
  return pattern === repository;
}
