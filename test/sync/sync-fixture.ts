import net from 'node:net';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import type { AppOptions } from '../../src/server/build-app.js';
import type { MetadataStore, SyncStore } from '../../src/metadata/index.js';
import type { TransferCounters } from '../../src/sync/content-puller.js';
import { startTestNode, type TestNode } from '../helpers/test-node.js';
import { OCI_INDEX, OCI_MANIFEST, TestClient, sha256 } from '../helpers/oci-client.js';
import { mgmt } from '../helpers/management-calls.js';
import { join } from 'node:path';
import { createConnectedRegistry, showAtRoot, startEdge, waitFor } from '../helpers/hierarchy.js';

/**
 * Shared parts of the sync semantics tests (test/sync/*.test.ts): a root, images built from
 * chosen layers (to share blobs), indexes and artifacts, the edge's own stores, and a TCP proxy
 * standing for the link between an edge and its parent (so a test can cut it while both run).
 */

/** An agent that notices clock moves and config changes quickly (tests only). */
export const FAST_SYNC: AppOptions = { syncPollSeconds: 1, heartbeatSeconds: 1 };

export interface Root {
  node: TestNode;
  admin: TestClient;
}

export async function startRoot(app: AppOptions = {}): Promise<Root> {
  const node = await startTestNode({ app });
  return { node, admin: new TestClient(node.url) };
}

/** A root, a proxy the test can cut on the link to it, and one edge syncing through the proxy. */
export interface LinkedEdge {
  root: Root;
  link: LinkProxy;
  edge: TestNode;
  atEdge: TestClient;
  close(): Promise<void>;
}

/** Starts a LinkedEdge for a connected registry of `mode` over repository `app`; with `synced`, waits for its first sync. */
export async function startLinkedEdge(name: string, mode: 'ReadOnly' | 'ReadWrite', options: { synced?: boolean; app?: AppOptions } = {}): Promise<LinkedEdge> {
  const root = await startRoot();
  const link = await LinkProxy.start(root.node.url);
  const cr = await createConnectedRegistry(root.admin, { name, mode, repositories: ['app'], logLevel: 'None' });
  const edge = await startEdge(viaEndpoint(cr.connectionString, link.endpoint), { app: options.app ?? FAST_SYNC });
  if (options.synced) await waitFor('the first sync', async () => (await edgeStore(edge).getCursor()) !== null);
  return {
    root, link, edge, atEdge: new TestClient(edge.url),
    async close() {
      await edge.close();
      await link.close();
      await root.node.close();
    },
  };
}

/** A root, a GateProxy on the link to it, and one edge syncing through the gate. */
export interface GatedEdge {
  root: Root;
  gate: GateProxy;
  edge: TestNode;
  atEdge: TestClient;
  close(): Promise<void>;
}

/** Starts a GatedEdge for a connected registry of `mode` over repository `app`, waiting for its first sync. */
export async function startGatedEdge(name: string, mode: 'ReadOnly' | 'ReadWrite', app: AppOptions = FAST_SYNC): Promise<GatedEdge> {
  const root = await startRoot();
  const gate = await GateProxy.start(root.node.url);
  const cr = await createConnectedRegistry(root.admin, { name, mode, repositories: ['app'], logLevel: 'None' });
  const edge = await startEdge(viaEndpoint(cr.connectionString, gate.endpoint), { app });
  await waitFor('the first sync', async () => (await edgeStore(edge).getCursor()) !== null);
  return {
    root, gate, edge, atEdge: new TestClient(edge.url),
    async close() {
      await edge.close();
      await gate.close();
      await root.node.close();
    },
  };
}

/** Calls the management API and fails the test on an error answer. */
export async function mustMgmt(client: TestClient, method: string, path: string, body?: unknown): Promise<unknown> {
  const answer = await mgmt(client, method, path, body);
  assert.ok(answer.status < 300, `${method} ${path}: ${answer.status} ${JSON.stringify(answer.json)}`);
  return answer.json;
}

/** Creates a token with its own scope map at the root; returns its password1. */
export async function createToken(admin: TestClient, name: string, actions: string[]): Promise<string> {
  const token = (await mustMgmt(admin, 'POST', '/tokens', { name, actions })) as { credentials: { passwords: Array<{ name: string; value: string }> } };
  return token.credentials.passwords.find((p) => p.name === 'password1')!.value;
}

/** The edge's metadata database seen as the sync agent sees it (to inspect or to drift it behind the agent's back). */
export function edgeStore(edge: TestNode): MetadataStore & SyncStore {
  return edge.node.metadata as MetadataStore & SyncStore;
}

/** The edge agent's transfer counters (a copy). */
export function transfers(edge: TestNode): TransferCounters {
  return { ...edge.node.agent!.transfers };
}

export interface PushedImage {
  digest: string;
  size: number;
  body: string;
  /** The config and layer digests. */
  blobs: string[];
}

/**
 * Pushes an image made of `layers` (pass the same Buffers again to share blobs) and a config
 * that is new unless `config` is given, under `reference` (a tag, or its digest when omitted).
 */
export async function pushImage(client: TestClient, repo: string, reference: string | null, options: {
  layers?: Buffer[]; platform?: { os: string; architecture: string }; config?: string;
} = {}): Promise<PushedImage> {
  const platform = options.platform ?? { os: 'linux', architecture: 'amd64' };
  const config = options.config ?? JSON.stringify({ ...platform, rootfs: { type: 'layers', diff_ids: [] }, nonce: randomBytes(8).toString('hex') });
  const layers = options.layers ?? [randomBytes(2048)];
  const configDigest = await client.pushBlob(repo, config);
  const layerDescriptors = [];
  for (const layer of layers) {
    layerDescriptors.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: await client.pushBlob(repo, layer), size: layer.length });
  }
  const body = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: Buffer.byteLength(config) },
    layers: layerDescriptors,
  });
  const digest = sha256(body);
  await mustPut(client, repo, reference ?? digest, body, OCI_MANIFEST);
  return { digest, size: Buffer.byteLength(body), body, blobs: [configDigest, ...layerDescriptors.map((l) => l.digest)] };
}

/** Pushes one image per platform (by digest) and an index of them under `tag`. */
export async function pushIndex(client: TestClient, repo: string, tag: string, platforms: Array<{ os: string; architecture: string }>): Promise<{ digest: string; body: string; children: PushedImage[] }> {
  const children: PushedImage[] = [];
  for (const platform of platforms) children.push(await pushImage(client, repo, null, { platform }));
  const body = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: children.map((c, i) => ({ mediaType: OCI_MANIFEST, digest: c.digest, size: c.size, platform: platforms[i] })),
  });
  await mustPut(client, repo, tag, body, OCI_INDEX);
  return { digest: sha256(body), body, children };
}

/** Pushes an artifact (untagged, by digest) whose subject is `subject`. */
export async function pushArtifact(client: TestClient, repo: string, subject: { digest: string; size: number }, artifactType: string): Promise<{ digest: string; body: string; blobs: string[] }> {
  const empty = '{}';
  const emptyDigest = await client.pushBlob(repo, empty);
  const payload = randomBytes(512);
  const payloadDigest = await client.pushBlob(repo, payload);
  const body = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType,
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: emptyDigest, size: 2 },
    layers: [{ mediaType: 'application/octet-stream', digest: payloadDigest, size: payload.length }],
    subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.size },
  });
  const digest = sha256(body);
  await mustPut(client, repo, digest, body, OCI_MANIFEST);
  return { digest, body, blobs: [emptyDigest, payloadDigest] };
}

async function mustPut(client: TestClient, repo: string, reference: string, body: string, mediaType: string): Promise<void> {
  const res = await client.putManifest(repo, reference, body, mediaType);
  assert.equal(res.status, 201, `PUT ${repo}:${reference} answered ${res.status} ${await res.text()}`);
}

/** GETs a manifest (any type) at a node: status and body. */
export async function getManifest(client: TestClient, repo: string, reference: string): Promise<{ status: number; body: string }> {
  const res = await client.request('GET', `/v2/${repo}/manifests/${reference}`, {
    headers: { Accept: `${OCI_MANIFEST}, ${OCI_INDEX}` },
  });
  return { status: res.status, body: await res.text() };
}

/** Asserts that every blob is served by the node with exactly the bytes of its digest. */
export async function assertBlobsServed(client: TestClient, repo: string, digests: string[]): Promise<void> {
  for (const digest of digests) {
    const res = await client.request('GET', `/v2/${repo}/blobs/${digest}`);
    assert.equal(res.status, 200, `blob ${digest} of ${repo}`);
    assert.equal(sha256(new Uint8Array(await res.arrayBuffer())), digest);
  }
}

/** The tags of a repository at a node (empty when the repository is unknown there). */
export async function listTags(client: TestClient, repo: string): Promise<string[]> {
  const res = await client.request('GET', `/v2/${repo}/tags/list`);
  if (res.status === 404) return [];
  assert.equal(res.status, 200);
  return ((await res.json()) as { tags: string[] | null }).tags ?? [];
}

/** Does the node have the repository at all? */
export async function hasRepository(client: TestClient, repo: string): Promise<boolean> {
  const res = await client.request('GET', '/v2/_catalog?n=1000');
  return ((await res.json()) as { repositories: string[] }).repositories.includes(repo);
}

/** Where a node's filesystem storage keeps a blob's bytes. */
export function blobFile(node: TestNode, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(node.dataDir, 'storage', 'blobs', 'sha256', hex.slice(0, 2), hex);
}

export interface StatusDetailShown {
  type: string;
  code: string;
  description: string;
  repository?: string;
  digest?: string;
  tag?: string;
}

/** The status details the root shows for a connected registry. */
export async function detailsAtRoot(root: Root, name: string): Promise<StatusDetailShown[]> {
  return (await showAtRoot(root.admin, name)).statusDetails as StatusDetailShown[];
}

/** The connection string with its parent endpoint replaced (to route an edge through a LinkProxy). */
export function viaEndpoint(connectionString: string, endpoint: string): string {
  return connectionString.replace(/ParentGatewayEndpoint=[^;]*/, `ParentGatewayEndpoint=${endpoint}`);
}

/**
 * A TCP proxy on loopback standing for the link between an edge and its parent. `cut()` drops
 * every open connection and refuses new ones (each is closed at once) until `restore()`.
 */
export class LinkProxy {
  private readonly sockets = new Set<net.Socket>();
  private down = false;

  private constructor(private readonly server: net.Server) {}

  static async start(target: string): Promise<LinkProxy> {
    const url = new URL(target);
    let proxy: LinkProxy | null = null;
    const server = net.createServer((client) => proxy!.accept(client, url));
    proxy = new LinkProxy(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get endpoint(): string {
    const address = this.server.address() as net.AddressInfo;
    return `127.0.0.1:${address.port}`;
  }

  cut(): void {
    this.down = true;
    for (const socket of this.sockets) socket.destroy();
  }

  restore(): void {
    this.down = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket, target: URL): void {
    if (this.down) {
      client.destroy();
      return;
    }
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream).pipe(client);
  }
}

/** What a GateProxy does with the requests a rule matches. */
export type GateAction =
  /** Answered 503 at once; the parent never sees it. */
  | 'fail'
  /** Held, then answered 503 when the rule is released; the parent never sees it. */
  | 'hold-fail'
  /** Held before the parent sees it, until the rule is released. */
  | 'hold'
  /** Sent to the parent at once; its answer is held until the rule is released. */
  | 'hold-answer'
  /** Held before the parent sees it until `forward()`; then the parent's answer is held until the rule is released. */
  | 'hold-both'
  /** Answered at once with this status and OCI error code; the parent never sees it. */
  | { status: number; code: string };

export interface GateRule {
  /** Requests this rule has matched so far. */
  readonly matched: number;
  /** Answers of the parent to matched requests that have reached the proxy (held or not). */
  readonly answered: number;
  /** 'hold-both': lets the held requests reach the parent (their answers stay held). */
  forward(): void;
  /** Lets everything held by this rule go, and passes later matches through. */
  release(): void;
}

interface GateRuleState {
  match: (method: string, path: string) => boolean;
  action: GateAction;
  times: number;
  matched: number;
  answered: number;
  /** Released: matches nothing any more. */
  done: boolean;
  released: Promise<void>;
  forwarded: Promise<void>;
  forward(): void;
  release(): void;
}

/**
 * An HTTP proxy standing for the link to a parent that misbehaves on chosen requests only (by
 * method and path): fails them, holds them, or holds the parent's answers to them, so a test can
 * stop the agent at an exact step. Every request is logged in `requests`.
 */
export class GateProxy {
  readonly requests: Array<{ method: string; path: string }> = [];
  private readonly rules: GateRuleState[] = [];
  private readonly agent = new http.Agent({ keepAlive: true });

  private constructor(private readonly server: http.Server, private readonly target: URL) {}

  static async start(target: string): Promise<GateProxy> {
    let proxy: GateProxy | null = null;
    const server = http.createServer((req, res) => proxy!.handle(req, res));
    proxy = new GateProxy(server, new URL(target));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get endpoint(): string {
    const address = this.server.address() as net.AddressInfo;
    return `127.0.0.1:${address.port}`;
  }

  /** Applies `action` to the next `times` requests that `match` (every one by default) until released. */
  rule(match: (method: string, path: string) => boolean, action: GateAction, times = Infinity): GateRule {
    let open!: () => void;
    const released = new Promise<void>((resolve) => {
      open = resolve;
    });
    let pass!: () => void;
    const forwarded = new Promise<void>((resolve) => {
      pass = resolve;
    });
    const state: GateRuleState = {
      match, action, times, matched: 0, answered: 0, done: false, released, forwarded,
      forward: () => pass(),
      release: () => {
        state.done = true;
        pass();
        open();
      },
    };
    this.rules.push(state);
    return { get matched() { return state.matched; }, get answered() { return state.answered; }, forward: state.forward, release: state.release };
  }

  /** Releases every rule (a test that failed half-way leaves nothing held for the next). */
  releaseAll(): void {
    for (const rule of this.rules) rule.release();
  }

  async close(): Promise<void> {
    this.releaseAll();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.agent.destroy();
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    this.requests.push({ method, path });
    const rule = this.rules.find((r) => !r.done && r.matched < r.times && r.match(method, path));
    if (rule) rule.matched += 1;
    const action = rule?.action;
    if (typeof action === 'object') {
      req.resume();
      res.writeHead(action.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: action.code, message: `the test link answers ${action.status} ${action.code}` }] }));
      return;
    }
    if (rule?.action === 'fail' || rule?.action === 'hold-fail') {
      req.resume();
      const fail = (): void => {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'the test link fails this request' }] }));
      };
      if (rule.action === 'hold-fail') void rule.released.then(fail);
      else fail();
      return;
    }
    const forward = (): void => {
      const upstream = http.request({
        host: this.target.hostname, port: this.target.port, method, path, headers: req.headers, agent: this.agent,
      }, (answer) => {
        if (rule) rule.answered += 1;
        answer.on('error', () => res.destroy());
        const deliver = (): void => {
          if (res.destroyed) {
            answer.resume();
            return;
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        };
        if (rule?.action === 'hold-answer' || rule?.action === 'hold-both') void rule.released.then(deliver);
        else deliver();
      });
      upstream.on('error', () => res.destroy());
      res.on('close', () => {
        if (!res.writableFinished) upstream.destroy();
      });
      req.pipe(upstream);
    };
    if (rule?.action === 'hold') void rule.released.then(forward);
    else if (rule?.action === 'hold-both') void rule.forwarded.then(forward);
    else forward();
  }
}
