import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestNode, tempDir, type TestNode } from '../helpers/test-node.js';
import { TestClient, basicAuth, TEST_ADMIN_PASSWORD } from '../helpers/oci-client.js';
import { createConnectedRegistry, startEdge, waitFor } from '../helpers/hierarchy.js';
import type { AppOptions } from '../../src/server/build-app.js';
import { ADMIN_GRANTS, ANONYMOUS_PULL_GRANTS, jwtGrants, tokenGrants, type Caller, type Grants, type NodeName } from './matrix-model.js';
import { RULES, type SampleContext } from './matrix-rules.js';

/**
 * The parts of the authorization matrix: a root whose admin password was changed (restarted with
 * a new OUTPOST_ADMIN_PASSWORD), a second root with anonymous pull, and a ReadWrite connected
 * node under the first; the tokens, connected registries and state changes (disable, expiry,
 * rotation, delete-and-recreate, removed passwords) behind every kind of caller; and each node's
 * callers with the grants the test expects them to hold there.
 */

/** The root's admin password before and after its restart. */
const OLD_ADMIN_PASSWORD = TEST_ADMIN_PASSWORD;
const ADMIN_PASSWORD = 'matrix-admin-password-after-the-change';

/** What every JWT of the matrix asks for (a narrow admin JWT excepted). */
export const BROAD_SCOPES = ['repository:repoa:pull,push,delete', 'repository:repob:pull,push,delete', 'registry:catalog:*'];
const NARROW_SCOPES = ['repository:repoa:pull'];

const ALL = ['content/read', 'content/write', 'content/delete', 'metadata/read', 'metadata/write'] as const;
const SHORT: Record<(typeof ALL)[number], string> = {
  'content/read': 'cr', 'content/write': 'cw', 'content/delete': 'cd', 'metadata/read': 'mr', 'metadata/write': 'mw',
};
const repoa = (...permissions: string[]): string[] => permissions.map((p) => `repositories/repoa/${p}`);

/** No delays for failed logins: the matrix fails many on purpose. */
const APP: AppOptions = { loginThrottle: { baseMs: 0, maxMs: 0 } };

export interface MatrixNode {
  name: NodeName;
  url: string;
  anonymousPull: boolean;
  connected: boolean;
  callers: Caller[];
  /** Every route the node registered (fastify's onRoute). */
  routes: Array<{ method: string; url: string }>;
  /** A SampleContext for one caller's requests. */
  context(): SampleContext;
}

export interface MatrixFixture {
  nodes: MatrixNode[];
  close(): Promise<void>;
}

interface IssuedTokens {
  access: string;
  refresh: string;
}

async function json(res: Response): Promise<Record<string, unknown>> {
  const text = await res.text();
  return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
}

async function call(url: string, method: string, path: string, body?: unknown, password = ADMIN_PASSWORD): Promise<Record<string, unknown>> {
  const res = await fetch(new URL(path, url), {
    method,
    headers: { Authorization: basicAuth('admin', password), ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const answer = await json(res);
  assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${JSON.stringify(answer)}`);
  return answer;
}

/** Creates a token (its own scope map from `actions`, or `scopeMap`) with password1 only; returns it. */
async function createToken(url: string, name: string, spec: { actions?: string[]; scopeMap?: string; expiry?: Date }): Promise<string> {
  await call(url, 'POST', '/mgmt/v1/tokens', { name, noPasswords: true, ...(spec.actions ? { actions: spec.actions } : { scopeMap: spec.scopeMap }) });
  return generatePassword(url, name, spec.expiry);
}

async function generatePassword(url: string, name: string, expiry?: Date): Promise<string> {
  const answer = await call(url, 'POST', `/mgmt/v1/tokens/${name}/credentials/generate`, { passwordName: 'password1', ...(expiry ? { expiry: expiry.toISOString() } : {}) });
  const passwords = (answer.credentials as { passwords: Array<{ name: string; value?: string }> }).passwords;
  return passwords.find((p) => p.name === 'password1')!.value!;
}

/** POST /oauth2/token grant_type=password: an access token and a refresh token for BROAD_SCOPES (or `scopes`). */
async function issue(url: string, username: string, password: string, scopes = BROAD_SCOPES): Promise<IssuedTokens> {
  const res = await fetch(new URL('/oauth2/token', url), {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', username, password, service: 'matrix', scope: scopes.join(' ') }).toString(),
  });
  const body = await json(res);
  assert.equal(res.status, 200, `token for ${username}: ${JSON.stringify(body)}`);
  return { access: String(body.access_token), refresh: String(body.refresh_token) };
}

/** GET /oauth2/token without credentials (anonymous pull). */
async function issueAnonymous(url: string): Promise<string> {
  const query = new URLSearchParams({ service: 'matrix' });
  for (const scope of BROAD_SCOPES) query.append('scope', scope);
  const res = await fetch(new URL(`/oauth2/token?${query.toString()}`, url));
  const body = await json(res);
  assert.equal(res.status, 200, `anonymous token: ${JSON.stringify(body)}`);
  return String(body.access_token);
}

/** Exchanges a refresh token for an access token (BROAD_SCOPES); null when the token service refuses it. */
async function exchange(url: string, refreshToken: string): Promise<string | null> {
  const res = await fetch(new URL('/oauth2/token', url), {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, service: 'matrix', scope: BROAD_SCOPES.join(' ') }).toString(),
  });
  const body = await json(res);
  return res.status === 200 ? String(body.access_token) : null;
}

/**
 * The three callers of one credential: its Basic password, an access JWT and a refresh token
 * issued while it was valid (`issuedFor`: what the credential held then). `now` is what it holds
 * at the node now (null: no longer accepted there). Both kinds of JWT are bound to the credential
 * they came from and checked against it on every use (docs/security.md): once the credential is
 * rotated, removed, expired, disabled or its token deleted, neither works. An access JWT keeps
 * what it was issued with; a refresh token yields what the credential holds now.
 */
function credentialCallers(label: string, username: string, password: string, issued: IssuedTokens, issuedFor: Grants, now: Grants | null): Caller[] {
  return [
    { label: `${label} (Basic)`, presents: { kind: 'basic', username, password }, grants: now },
    { label: `${label} (JWT)`, presents: { kind: 'bearer', token: issued.access }, grants: now === null ? null : jwtGrants(issuedFor, BROAD_SCOPES) },
    { label: `${label} (refresh token)`, presents: { kind: 'refresh', refreshToken: issued.refresh, exchanged: null }, grants: now === null ? null : jwtGrants(now, BROAD_SCOPES) },
  ];
}

function mountPool(digests: string[]): () => string {
  let next = 0;
  return () => {
    const digest = digests[next];
    next += 1;
    // Past the pool (nodes without repob content): a digest nobody holds.
    return digest ?? `sha256:${randomBytes(32).toString('hex')}`;
  };
}

export async function startMatrixFixture(): Promise<MatrixFixture> {
  const cleanup: Array<() => Promise<void>> = [];
  const routesOf = (): { routes: Array<{ method: string; url: string }>; app: AppOptions } => {
    const routes: Array<{ method: string; url: string }> = [];
    return { routes, app: { ...APP, onRoute: (route) => routes.push(route) } };
  };
  try {
    // --- the root, before and after its admin password changes (issue 9 #2) ---------------
    const rootDir = await tempDir('outpost-matrix-');
    cleanup.push(() => rootDir.cleanup());
    const before = await startTestNode({ dataDir: rootDir.path, adminPassword: OLD_ADMIN_PASSWORD, app: APP });
    const oldAdmin = await issue(before.url, 'admin', OLD_ADMIN_PASSWORD);
    await before.close();
    const rootRoutes = routesOf();
    const root = await startTestNode({ dataDir: rootDir.path, adminPassword: ADMIN_PASSWORD, app: rootRoutes.app });
    cleanup.unshift(() => root.close());
    const url = root.url;
    const admin = new TestClient(url, basicAuth('admin', ADMIN_PASSWORD));

    // --- content: repoa:v1 and repob:v1 (blobs only repob holds are pushed once the callers are known) ---
    const image = await admin.pushImage('repoa', 'v1');
    await admin.pushImage('repob', 'v1');

    // --- tokens ------------------------------------------------------------------------------
    // The password of `t-expired` expires a few seconds from now; its JWT and refresh token are
    // issued before, and the run waits until it has expired.
    const expiry = new Date(Date.now() + 5000);
    const passwords = new Map<string, string>();
    const issued = new Map<string, IssuedTokens>();
    passwords.set('t-expired', await createToken(url, 't-expired', { actions: repoa(...ALL), expiry }));
    issued.set('t-expired', await issue(url, 't-expired', passwords.get('t-expired')!));
    const specs: Array<{ name: string; actions: string[] }> = [
      { name: 't-full', actions: repoa(...ALL) },
      ...ALL.map((p) => ({ name: `t-only-${SHORT[p]}`, actions: repoa(p) })),
      ...ALL.map((p) => ({ name: `t-sans-${SHORT[p]}`, actions: repoa(...ALL.filter((q) => q !== p)) })),
      // Mounts from repob into repoa (issue 9 #1, #8): push on repoa, only content/read on repob.
      { name: 't-cross', actions: [...repoa('content/read', 'content/write', 'metadata/read', 'metadata/write'), 'repositories/repob/content/read'] },
      { name: 't-client', actions: repoa(...ALL) },
      { name: 't-client-rot', actions: repoa(...ALL) },
      { name: 't-client-off', actions: repoa(...ALL) },
      { name: 't-off', actions: repoa(...ALL) },
      { name: 't-rotated', actions: repoa(...ALL) },
      { name: 't-recreated', actions: repoa('content/read') },
      { name: 't-nopass', actions: repoa(...ALL) },
    ];
    await Promise.all(specs.map(async (s) => passwords.set(s.name, await createToken(url, s.name, { actions: s.actions }))));
    const actionsOf = new Map(specs.map((s) => [s.name, s.actions]));
    actionsOf.set('t-expired', repoa(...ALL));
    await Promise.all(specs.map(async ({ name }) => issued.set(name, await issue(url, name, passwords.get(name)!))));
    const adminNow = await issue(url, 'admin', ADMIN_PASSWORD);
    const adminNarrow = await issue(url, 'admin', ADMIN_PASSWORD, NARROW_SCOPES);

    // --- state changes after the JWTs and refresh tokens were issued (issue 9 #3) ------------
    await call(url, 'PATCH', '/mgmt/v1/tokens/t-off', { status: 'disabled' });
    const rotatedNew = await generatePassword(url, 't-rotated');
    await call(url, 'DELETE', '/mgmt/v1/tokens/t-recreated');
    await call(url, 'POST', '/mgmt/v1/scope-maps', { name: 'matrix-wide', actions: ALL.flatMap((p) => [`repositories/*/${p}`]) });
    await call(url, 'POST', '/mgmt/v1/tokens', { name: 't-recreated', scopeMap: 'matrix-wide', noPasswords: true });
    await call(url, 'POST', '/mgmt/v1/tokens/t-nopass/credentials/delete', { passwordName: 'password1' });

    // --- connected registries: the running edge, two idle children, two grandchildren --------
    const edgeCr = await createConnectedRegistry(admin, {
      name: 'cr-edge', mode: 'ReadWrite', repositories: ['repoa'], clientTokens: ['t-client', 't-client-rot', 't-client-off'], logLevel: 'None',
    });
    const idle1 = await createConnectedRegistry(admin, { name: 'cr-idle1', mode: 'ReadOnly', repositories: ['repoa'], logLevel: 'None' });
    const idle2 = await createConnectedRegistry(admin, { name: 'cr-idle2', mode: 'ReadOnly', repositories: ['repoa'], logLevel: 'None' });
    const grand = await createConnectedRegistry(admin, { name: 'cr-grand', parent: 'cr-edge', mode: 'ReadOnly', repositories: ['repoa'], logLevel: 'None' });
    const grand2 = await createConnectedRegistry(admin, { name: 'cr-grand2', parent: 'cr-edge', mode: 'ReadOnly', repositories: ['repoa'], logLevel: 'None' });
    const syncActions = async (name: string): Promise<string[]> => {
      const map = await call(url, 'GET', `/mgmt/v1/scope-maps/${name}`);
      return map.actions as string[];
    };

    // --- the edge: its client tokens' JWTs and refresh tokens, then rotation and disable ------
    const edgeRoutes = routesOf();
    const edge: TestNode = await startEdge(edgeCr.connectionString, { app: { ...edgeRoutes.app, syncPollSeconds: 1, heartbeatSeconds: 1 } });
    cleanup.unshift(() => edge.close());
    const edgeAdmin = new TestClient(edge.url);
    await waitFor('the edge to serve its children and client tokens', async () => {
      const res = await edgeAdmin.request('GET', '/gateway/v1/cr-grand/config');
      await res.arrayBuffer();
      return res.status === 200 && (await edge.node.identities.getToken('t-client-off')) !== null;
    });
    const edgeIssued = new Map<string, IssuedTokens>();
    for (const name of ['t-client', 't-client-rot', 't-client-off']) edgeIssued.set(name, await issue(edge.url, name, passwords.get(name)!));
    await generatePassword(url, 't-client-rot');
    await call(url, 'PATCH', '/mgmt/v1/tokens/t-client-off', { status: 'disabled' });
    const rootRot = await root.node.identities.getToken('t-client-rot');
    await waitFor('the edge to apply the rotation and the disable', async () => {
      const off = await edge.node.identities.getToken('t-client-off');
      const rot = await edge.node.identities.getToken('t-client-rot');
      return off?.status === 'disabled' && rot?.password1?.hash === rootRot?.password1?.hash;
    });

    // --- a root with anonymous pull -----------------------------------------------------------
    const anonRoutes = routesOf();
    const anonRoot = await startTestNode({ anonymousPull: true, app: anonRoutes.app });
    cleanup.unshift(() => anonRoot.close());
    const anonymousJwt = await issueAnonymous(anonRoot.url);

    // --- callers ------------------------------------------------------------------------------
    const live = (name: string): Grants => tokenGrants(actionsOf.get(name)!);
    const rootCallers: Caller[] = [
      { label: 'anonymous', presents: { kind: 'none' }, grants: null },
      { label: 'admin (Basic)', presents: { kind: 'basic', username: 'admin', password: ADMIN_PASSWORD }, grants: ADMIN_GRANTS },
      { label: 'admin, old password (Basic)', presents: { kind: 'basic', username: 'admin', password: OLD_ADMIN_PASSWORD }, grants: null },
      { label: 'admin JWT for repository:repoa:pull', presents: { kind: 'bearer', token: adminNarrow.access }, grants: jwtGrants(ADMIN_GRANTS, NARROW_SCOPES) },
      { label: 'admin (JWT)', presents: { kind: 'bearer', token: adminNow.access }, grants: jwtGrants(ADMIN_GRANTS, BROAD_SCOPES) },
      { label: 'admin (refresh token)', presents: { kind: 'refresh', refreshToken: adminNow.refresh, exchanged: null }, grants: jwtGrants(ADMIN_GRANTS, BROAD_SCOPES) },
      { label: 'admin, old password (JWT)', presents: { kind: 'bearer', token: oldAdmin.access }, grants: null },
      { label: 'admin, old password (refresh token)', presents: { kind: 'refresh', refreshToken: oldAdmin.refresh, exchanged: null }, grants: null },
    ];
    const liveTokens = ['t-full', ...ALL.map((p) => `t-only-${SHORT[p]}`), ...ALL.map((p) => `t-sans-${SHORT[p]}`), 't-cross', 't-client'];
    for (const name of liveTokens) rootCallers.push(...credentialCallers(name, name, passwords.get(name)!, issued.get(name)!, live(name), live(name)));
    const gone: Array<[string, string, Grants | null]> = [
      ['t-off', 'disabled token', null],
      ['t-expired', 'token whose password expired', null],
      ['t-rotated', 'rotated token, old password', null],
      ['t-recreated', 'deleted and recreated token, old password', null],
      ['t-nopass', 'token whose password was deleted', null],
    ];
    for (const [name, label, now] of gone) rootCallers.push(...credentialCallers(`${name}: ${label}`, name, passwords.get(name)!, issued.get(name)!, live(name), now));
    // The rotated token's new password works (a control for the old one).
    rootCallers.push({ label: 't-rotated: new password (Basic)', presents: { kind: 'basic', username: 't-rotated', password: rotatedNew }, grants: live('t-rotated') });
    const syncCallers = async (list: Array<[string, { tokenName: string; tokenPassword: string }]>): Promise<Caller[]> => Promise.all(list.map(async ([label, cr]) => ({
      label, presents: { kind: 'basic' as const, username: cr.tokenName, password: cr.tokenPassword }, grants: tokenGrants(await syncActions(cr.tokenName)),
    })));
    rootCallers.push(...await syncCallers([
      ['sync token of cr-idle1 (owns the gateway routes tried)', idle1],
      ['sync token of cr-idle2 (another child)', idle2],
      ['sync token of cr-edge (another child, running)', edgeCr],
      ['sync token of cr-grand (a grandchild)', grand],
    ]));

    const notHere = (caller: Caller): Caller => ({ ...caller, grants: null });
    const edgeCallers: Caller[] = [
      { label: 'anonymous', presents: { kind: 'none' }, grants: null },
      { label: 'edge admin (Basic)', presents: { kind: 'basic', username: 'admin', password: TEST_ADMIN_PASSWORD }, grants: ADMIN_GRANTS },
      notHere({ label: "root's admin password (Basic)", presents: { kind: 'basic', username: 'admin', password: ADMIN_PASSWORD }, grants: null }),
      ...credentialCallers('client token t-client', 't-client', passwords.get('t-client')!, edgeIssued.get('t-client')!, live('t-client'), live('t-client')),
      ...credentialCallers('client token rotated at the root, old password', 't-client-rot', passwords.get('t-client-rot')!, edgeIssued.get('t-client-rot')!, live('t-client-rot'), null),
      ...credentialCallers('client token disabled at the root', 't-client-off', passwords.get('t-client-off')!, edgeIssued.get('t-client-off')!, live('t-client-off'), null),
      notHere({ label: 'root token t-full, not a client token here (Basic)', presents: { kind: 'basic', username: 't-full', password: passwords.get('t-full')! }, grants: null }),
      notHere({ label: "root token t-full's JWT from the root", presents: { kind: 'bearer', token: issued.get('t-full')!.access }, grants: null }),
      ...await syncCallers([
        ['sync token of cr-grand (child; owns the gateway routes tried)', grand],
        ['sync token of cr-grand2 (another child)', grand2],
      ]),
      notHere({ label: "the edge's own sync token", presents: { kind: 'basic', username: edgeCr.tokenName, password: edgeCr.tokenPassword }, grants: null }),
      notHere({ label: 'sync token of cr-idle1 (not in this subtree)', presents: { kind: 'basic', username: idle1.tokenName, password: idle1.tokenPassword }, grants: null }),
    ];

    const anonCallers: Caller[] = [
      { label: 'anonymous (anonymous pull)', presents: { kind: 'none' }, grants: ANONYMOUS_PULL_GRANTS },
      { label: 'anonymous JWT (anonymous pull)', presents: { kind: 'bearer', token: anonymousJwt }, grants: jwtGrants(ANONYMOUS_PULL_GRANTS, BROAD_SCOPES) },
      { label: 'admin (Basic)', presents: { kind: 'basic', username: 'admin', password: TEST_ADMIN_PASSWORD }, grants: ADMIN_GRANTS },
    ];

    // --- the expired password has expired; refresh tokens are exchanged now, in the final state ---
    await sleep(Math.max(0, expiry.getTime() + 100 - Date.now()));
    const exchangeAll = async (nodeUrl: string, callers: Caller[]): Promise<void> => {
      await Promise.all(callers.map(async (c) => {
        if (c.presents.kind === 'refresh') c.presents.exchanged = await exchange(nodeUrl, c.presents.refreshToken);
      }));
    };
    await exchangeAll(url, rootCallers);
    await exchangeAll(edge.url, edgeCallers);

    // One blob only repob holds per mount request at the root, so no caller's mount changes another's answer.
    const mountSamples = Object.values(RULES).flatMap((r) => r.samples).filter((sample) => sample.mount).length;
    const repobOnly: string[] = [];
    for (let i = 0; i < rootCallers.length * mountSamples; i++) repobOnly.push(await admin.pushBlob('repob', randomBytes(24)));
    const blobA = image.layers[0]!;
    const pool = mountPool(repobOnly);
    const nodes: MatrixNode[] = [
      { name: 'root', url, anonymousPull: false, connected: false, callers: rootCallers, routes: rootRoutes.routes, context: () => ({ gatewayChild: 'cr-idle1', blobA, repobOnlyDigest: pool }) },
      { name: 'root-anon', url: anonRoot.url, anonymousPull: true, connected: false, callers: anonCallers, routes: anonRoutes.routes, context: () => ({ gatewayChild: 'matrix-nosuch-cr', blobA, repobOnlyDigest: mountPool([]) }) },
      { name: 'edge', url: edge.url, anonymousPull: false, connected: true, callers: edgeCallers, routes: edgeRoutes.routes, context: () => ({ gatewayChild: 'cr-grand', blobA, repobOnlyDigest: mountPool([]) }) },
    ];
    return {
      nodes,
      async close() {
        for (const step of cleanup) await step().catch(() => undefined);
      },
    };
  } catch (err) {
    for (const step of cleanup) await step().catch(() => undefined);
    throw err;
  }
}
