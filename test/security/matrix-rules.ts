import type { Need, RepositoryPermission } from './matrix-model.js';

/**
 * The rules table of the authorization matrix: for every route a node registers, what it needs of
 * its caller (docs/security.md), and the requests that try it. A route is keyed as fastify
 * registered it (`GET /mgmt/v1/tokens/:name`); a /v2 route as `v2 <kind> <METHOD>`, one per entry
 * of the dispatcher's HANDLERS table. A route without a rule fails the suite, and so does a rule
 * without a route.
 *
 * Samples address things that do not exist wherever a served request would change state (a
 * token, scope map or connected registry named `matrix-nosuch…`, an unknown upload or digest) or
 * send a body the route refuses after authorization: authorization runs first, so an allowed
 * caller gets 400/404 and nothing changes, while a refused one gets 401/403.
 */

/** What a sample needs to know of the node it runs at. */
export interface SampleContext {
  /** The direct child of this node whose gateway routes are tried. */
  gatewayChild: string;
  /** A digest held by repoa (`repoa:v1`'s first layer). */
  blobA: string;
  /** A fresh digest held only by repob at this node (a new one per call). */
  repobOnlyDigest(): string;
}

export interface Sample {
  /** Names the sample in reports when a route has several. */
  label: string;
  path: (ctx: SampleContext) => string;
  body?: string;
  contentType?: string;
  /** The resource the need applies to (repository or connected registry); repoa by default. */
  resource?: (ctx: SampleContext) => string;
  /** A cross-repository mount: the answer must also say whether the blob was taken (201) or not (202). */
  mount?: { from: 'repob' | null };
}

export interface Rule {
  need: Need;
  /** Served by the root only; a connected node answers 404 (docs/api.md "No management API"). */
  rootOnly?: boolean;
  samples: Sample[];
}

const UPLOAD = '/v2/repoa/blobs/uploads/8c6c9a3e-1d7f-4c0e-9b7a-0d2a4f6e8b10';
const NO_DIGEST = 'sha256:' + '0'.repeat(64);
const CR = (ctx: SampleContext): string => ctx.gatewayChild;

const repo = (...permissions: RepositoryPermission[]): Need => ({ kind: 'repository', permissions });
const one = (path: string, extra: Partial<Sample> = {}): Sample[] => [{ label: '', path: () => path, ...extra }];
const json = (path: string, body: unknown = {}): Sample[] => one(path, { body: JSON.stringify(body), contentType: 'application/json' });
const admin = (samples: Sample[]): Rule => ({ need: { kind: 'admin' }, rootOnly: true, samples });

/** The /v2 dispatcher's catch-all routes: covered entry by entry through HANDLERS. */
export const V2_DISPATCHER_URLS = ['/v2', '/v2/', '/v2/*'];

export const RULES: Record<string, Rule> = {
  // --- /v2 (one rule per HANDLERS entry) ----------------------------------------------------
  'v2 base GET': { need: { kind: 'signed-in' }, samples: one('/v2/') },
  'v2 base HEAD': { need: { kind: 'signed-in' }, samples: one('/v2/') },
  'v2 catalog GET': { need: { kind: 'catalog' }, samples: one('/v2/_catalog') },
  'v2 tags GET': { need: repo('content/read', 'metadata/read'), samples: one('/v2/repoa/tags/list') },
  'v2 manifest GET': { need: repo('content/read'), samples: one('/v2/repoa/manifests/v1') },
  'v2 manifest HEAD': { need: repo('content/read'), samples: one('/v2/repoa/manifests/v1') },
  'v2 manifest PUT': { need: repo('content/write', 'metadata/write'), samples: one('/v2/repoa/manifests/matrix', { body: '{}', contentType: 'application/vnd.oci.image.manifest.v1+json' }) },
  'v2 manifest DELETE': { need: repo('content/delete'), samples: one(`/v2/repoa/manifests/${NO_DIGEST}`) },
  'v2 blob GET': { need: repo('content/read'), samples: [{ label: '', path: (ctx) => `/v2/repoa/blobs/${ctx.blobA}` }] },
  'v2 blob HEAD': { need: repo('content/read'), samples: [{ label: '', path: (ctx) => `/v2/repoa/blobs/${ctx.blobA}` }] },
  'v2 blob DELETE': { need: repo('content/delete'), samples: one(`/v2/repoa/blobs/${NO_DIGEST}`) },
  'v2 upload-start POST': {
    need: repo('content/write'),
    samples: [
      { label: 'new session', path: () => '/v2/repoa/blobs/uploads/' },
      // Issue 9 #1: without `from` a mount may take a blob only from a repository the caller can read.
      { label: 'mount without from', path: (ctx) => `/v2/repoa/blobs/uploads/?mount=${ctx.repobOnlyDigest()}`, mount: { from: null } },
      // Issue 9 #1 and #8: with `from`, only when the caller can read `from` (Basic and Bearer alike).
      { label: 'mount from=repob', path: (ctx) => `/v2/repoa/blobs/uploads/?mount=${ctx.repobOnlyDigest()}&from=repob`, mount: { from: 'repob' } },
    ],
  },
  // Issue 9 (minor): only an identity that may write the repository can read a session's status.
  'v2 upload GET': { need: repo('content/write'), samples: one(UPLOAD) },
  'v2 upload PATCH': { need: repo('content/write'), samples: one(UPLOAD, { body: 'abc', contentType: 'application/octet-stream' }) },
  'v2 upload PUT': { need: repo('content/write'), samples: one(`${UPLOAD}?digest=${NO_DIGEST}`) },
  'v2 upload DELETE': { need: repo('content/write'), samples: one(UPLOAD) },
  'v2 referrers GET': { need: repo('content/read'), samples: one(`/v2/repoa/referrers/${NO_DIGEST}`) },

  // --- token service ------------------------------------------------------------------------
  'GET /oauth2/token': { need: { kind: 'token-endpoint', method: 'GET' }, samples: one('/oauth2/token?service=matrix&scope=repository:repoa:pull') },
  'POST /oauth2/token': { need: { kind: 'token-endpoint', method: 'POST' }, samples: one('/oauth2/token') },
  'GET /acr/oauth2/token': { need: { kind: 'token-endpoint', method: 'GET' }, samples: one('/acr/oauth2/token?service=matrix&scope=repository:repoa:pull') },
  'POST /acr/oauth2/token': { need: { kind: 'token-endpoint', method: 'POST' }, samples: one('/acr/oauth2/token') },

  // --- health -------------------------------------------------------------------------------
  'GET /healthz': { need: { kind: 'open' }, samples: one('/healthz') },
  'GET /readyz': { need: { kind: 'open' }, samples: one('/readyz') },

  // --- management API: the admin's password only --------------------------------------------
  'GET /mgmt/v1/scope-maps': admin(one('/mgmt/v1/scope-maps')),
  'POST /mgmt/v1/scope-maps': admin(json('/mgmt/v1/scope-maps')),
  'GET /mgmt/v1/scope-maps/:name': admin(one('/mgmt/v1/scope-maps/matrix-nosuch-map')),
  'PATCH /mgmt/v1/scope-maps/:name': admin(json('/mgmt/v1/scope-maps/matrix-nosuch-map')),
  'PUT /mgmt/v1/scope-maps/:name': admin(json('/mgmt/v1/scope-maps/matrix-nosuch-map')),
  'DELETE /mgmt/v1/scope-maps/:name': admin(one('/mgmt/v1/scope-maps/matrix-nosuch-map')),
  'GET /mgmt/v1/tokens': admin(one('/mgmt/v1/tokens')),
  'POST /mgmt/v1/tokens': admin(json('/mgmt/v1/tokens')),
  'GET /mgmt/v1/tokens/:name': admin(one('/mgmt/v1/tokens/matrix-nosuch-token')),
  'PATCH /mgmt/v1/tokens/:name': admin(json('/mgmt/v1/tokens/matrix-nosuch-token')),
  'DELETE /mgmt/v1/tokens/:name': admin(one('/mgmt/v1/tokens/matrix-nosuch-token')),
  'POST /mgmt/v1/tokens/:name/credentials/generate': admin(json('/mgmt/v1/tokens/matrix-nosuch-token/credentials/generate')),
  'POST /mgmt/v1/tokens/:name/credentials/delete': admin(json('/mgmt/v1/tokens/matrix-nosuch-token/credentials/delete')),
  'GET /mgmt/v1/repositories': admin(one('/mgmt/v1/repositories')),
  'GET /mgmt/v1/repositories/*': admin([
    { label: 'repository', path: () => '/mgmt/v1/repositories/repoa' },
    { label: 'tags', path: () => '/mgmt/v1/repositories/repoa/tags' },
  ]),
  'DELETE /mgmt/v1/repositories/*': admin([
    { label: 'repository', path: () => '/mgmt/v1/repositories/matrix-nosuch-repo' },
    { label: 'tag', path: () => '/mgmt/v1/repositories/repoa/tags/matrix-nosuch-tag' },
    { label: 'manifest', path: () => `/mgmt/v1/repositories/repoa/manifests/${NO_DIGEST}` },
  ]),
  'GET /mgmt/v1/connected-registries': admin(one('/mgmt/v1/connected-registries')),
  'POST /mgmt/v1/connected-registries': admin(json('/mgmt/v1/connected-registries')),
  'GET /mgmt/v1/connected-registries/:name': admin(one('/mgmt/v1/connected-registries/matrix-nosuch-cr')),
  'PATCH /mgmt/v1/connected-registries/:name': admin(json('/mgmt/v1/connected-registries/matrix-nosuch-cr')),
  'DELETE /mgmt/v1/connected-registries/:name': admin(one('/mgmt/v1/connected-registries/matrix-nosuch-cr')),
  'POST /mgmt/v1/connected-registries/:name/deactivate': admin(json('/mgmt/v1/connected-registries/matrix-nosuch-cr/deactivate')),
  'POST /mgmt/v1/connected-registries/:name/resync': admin(json('/mgmt/v1/connected-registries/matrix-nosuch-cr/resync')),
  'POST /mgmt/v1/connected-registries/:name/gc': admin(json('/mgmt/v1/connected-registries/matrix-nosuch-cr/gc')),
  // A body the route refuses after authorization: an allowed caller gets 400 and no collection runs.
  'POST /mgmt/v1/gc': admin(json('/mgmt/v1/gc', { matrix: 'not a field of the request' })),
  'GET /mgmt/v1/connected-registries/:name/permissions': admin(one('/mgmt/v1/connected-registries/matrix-nosuch-cr/permissions')),
  'PATCH /mgmt/v1/connected-registries/:name/permissions': admin(json('/mgmt/v1/connected-registries/matrix-nosuch-cr/permissions')),
  'GET /mgmt/v1/connected-registries/:name/client-tokens': admin(one('/mgmt/v1/connected-registries/matrix-nosuch-cr/client-tokens')),
  'POST /mgmt/v1/connected-registries/:name/settings': admin(json('/mgmt/v1/connected-registries/matrix-nosuch-cr/settings')),
  'GET /mgmt/v1/usage': admin(one('/mgmt/v1/usage')),
  'GET /mgmt/v1/config/retention': admin(one('/mgmt/v1/config/retention')),
  // An empty change is refused after authorization (400): the policy never changes here.
  'PATCH /mgmt/v1/config/retention': admin(json('/mgmt/v1/config/retention')),
  // The audit log switch: a hostile caller who could turn it off would act unrecorded. An empty
  // change is refused after authorization (400): the switch never changes here.
  'GET /mgmt/v1/config/audit-log': admin(one('/mgmt/v1/config/audit-log')),
  'PATCH /mgmt/v1/config/audit-log': admin(json('/mgmt/v1/config/audit-log')),
  // Webhooks: a hostile caller must not read (headers may hold credentials), add, aim or fire them.
  'GET /mgmt/v1/webhooks': admin(one('/mgmt/v1/webhooks')),
  'POST /mgmt/v1/webhooks': admin(json('/mgmt/v1/webhooks')),
  'GET /mgmt/v1/webhooks/:name': admin(one('/mgmt/v1/webhooks/matrixnosuchhook')),
  'PATCH /mgmt/v1/webhooks/:name': admin(json('/mgmt/v1/webhooks/matrixnosuchhook', { status: 'disabled' })),
  'DELETE /mgmt/v1/webhooks/:name': admin(one('/mgmt/v1/webhooks/matrixnosuchhook')),
  'POST /mgmt/v1/webhooks/:name/ping': admin(json('/mgmt/v1/webhooks/matrixnosuchhook/ping')),
  'GET /mgmt/v1/webhooks/:name/events': admin(one('/mgmt/v1/webhooks/matrixnosuchhook/events')),

  // --- sync gateway: the gateway action on the path's connected registry ---------------------
  'POST /gateway/v1/:cr/activate': {
    need: { kind: 'gateway', permission: 'config/write' },
    samples: [{ label: '', path: (ctx) => `/gateway/v1/${ctx.gatewayChild}/activate`, body: '{}', contentType: 'application/json', resource: CR }],
  },
  'GET /gateway/v1/:cr/config': {
    need: { kind: 'gateway', permission: 'config/read' },
    samples: [{ label: '', path: (ctx) => `/gateway/v1/${ctx.gatewayChild}/config`, resource: CR }],
  },
  'GET /gateway/v1/:cr/messages': {
    need: { kind: 'gateway', permission: 'message/read' },
    samples: [{ label: '', path: (ctx) => `/gateway/v1/${ctx.gatewayChild}/messages?after=0&wait=0`, resource: CR }],
  },
  'GET /gateway/v1/:cr/head': {
    need: { kind: 'gateway', permission: 'message/read' },
    samples: [{ label: '', path: (ctx) => `/gateway/v1/${ctx.gatewayChild}/head`, resource: CR }],
  },
  'PUT /gateway/v1/:cr/status': {
    need: { kind: 'gateway', permission: 'config/write' },
    samples: [{ label: '', path: (ctx) => `/gateway/v1/${ctx.gatewayChild}/status`, body: '{}', contentType: 'application/json', resource: CR }],
  },
  // A child's notification events: only its own sync token (message/write on it) may send them.
  'POST /gateway/v1/:cr/events': {
    need: { kind: 'gateway', permission: 'message/write' },
    samples: [{ label: '', path: (ctx) => `/gateway/v1/${ctx.gatewayChild}/events`, body: '{}', contentType: 'application/json', resource: CR }],
  },
};
