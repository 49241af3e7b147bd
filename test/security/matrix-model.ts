/**
 * The model the authorization matrix computes its expectations from (docs/security.md,
 * docs/architecture.md "Identity"): what each kind of caller holds (Grants), what each route needs
 * (Need), and the one function that decides from the two whether a route serves a caller. It is
 * written from the documented rules, not from the code under test, so a route that lets a caller
 * through against them shows up as a mismatch.
 */

export type NodeName = 'root' | 'root-anon' | 'edge';

/** What a caller may do at one node, as the test knows it from how it made the caller. */
export interface Grants {
  /** Without credentials, on a node with anonymous pull. */
  anonymous: boolean;
  /** The node's admin by its password: everything, the management API included. Never a JWT. */
  admin: boolean;
  /** Scope-map actions: `repositories/<pattern>/<permission>`, `gateway/<cr>/<permission>`. */
  actions: readonly string[];
  /** May list the catalog (filtered to what it may read). */
  catalog: boolean;
}

/** How a caller presents itself on a request. */
export type Presentation =
  | { kind: 'none' }
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'bearer'; token: string }
  /** A refresh token: exchanged at the token endpoint just before the run; `exchanged` is the access token it got (null when refused). */
  | { kind: 'refresh'; refreshToken: string; exchanged: string | null };

export interface Caller {
  label: string;
  presents: Presentation;
  /** What it may do at this node; null when its credential is not (or no longer) accepted here. */
  grants: Grants | null;
}

/** What a route needs of its caller. */
export type Need =
  /** Anyone, without credentials (health probes). */
  | { kind: 'open' }
  /** Any accepted credential, not anonymous (the /v2/ ping answers 401 to anonymous callers so clients find the token service). */
  | { kind: 'signed-in' }
  /** The catalog: any token's Basic credentials, a JWT issued with `registry:catalog:*`, anonymous pull. */
  | { kind: 'catalog' }
  /** Every one of these permissions on the sample's repository. */
  | { kind: 'repository'; permissions: readonly RepositoryPermission[] }
  /** The admin's password. */
  | { kind: 'admin' }
  /** A gateway permission on the connected registry of the path. */
  | { kind: 'gateway'; permission: 'config/read' | 'config/write' | 'message/read' | 'message/write' }
  /** The token service: issues a token to a credential it accepts (GET: Basic, or none with anonymous pull; POST: password or refresh grant). */
  | { kind: 'token-endpoint'; method: 'GET' | 'POST' };

export type RepositoryPermission = 'content/read' | 'content/write' | 'content/delete' | 'metadata/read' | 'metadata/write';

export const ADMIN_GRANTS: Grants = { anonymous: false, admin: true, actions: [], catalog: true };
export const ANONYMOUS_PULL_GRANTS: Grants = { anonymous: true, admin: false, actions: ['repositories/*/content/read', 'repositories/*/metadata/read'], catalog: true };

/** A token signing in with Basic: its scope map's actions; any token may list the catalog (filtered). */
export function tokenGrants(actions: readonly string[]): Grants {
  return { anonymous: false, admin: false, actions: actions.map((a) => a.toLowerCase()), catalog: true };
}

function matches(pattern: string, name: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('/*')) return name.startsWith(pattern.slice(0, -1));
  return pattern === name;
}

/** May `grants` do `permission` on repository or connected registry `resource`? */
export function can(grants: Grants, kind: 'repositories' | 'gateway', permission: string, resource: string): boolean {
  if (grants.admin) return true;
  return grants.actions.some((action) => {
    const parts = action.split('/');
    if (parts[0] !== kind || parts.length < 4) return false;
    return parts.slice(-2).join('/') === permission && matches(parts.slice(1, -2).join('/'), resource.toLowerCase());
  });
}

/**
 * What an access JWT issued to `identity` for `scopes` holds (Docker token scopes): the
 * intersection of the scopes and the identity's grants, whoever asked — the admin included — and
 * nothing else (no management API, no gateway). Pull brings metadata/read when the identity has it,
 * push metadata/write; `registry:catalog:*` is granted when the identity may read something.
 */
export function jwtGrants(identity: Grants, scopes: readonly string[]): Grants {
  const actions: string[] = [];
  let catalog = false;
  for (const scope of scopes) {
    const [type, ...rest] = scope.split(':');
    const requested = rest.pop()!.split(',');
    const name = rest.join(':');
    if (type === 'repository') {
      const add = (permission: string): void => {
        if (can(identity, 'repositories', permission, name)) actions.push(`repositories/${name}/${permission}`);
      };
      if (requested.includes('pull') && can(identity, 'repositories', 'content/read', name)) {
        add('content/read');
        add('metadata/read');
      }
      if (requested.includes('push') && can(identity, 'repositories', 'content/write', name)) {
        add('content/write');
        add('metadata/write');
      }
      if (requested.includes('delete')) add('content/delete');
    } else if (type === 'registry' && name === 'catalog') {
      catalog = identity.admin || identity.actions.some((a) => /\/(content|metadata)\/read$/.test(a) && a.startsWith('repositories/'));
    }
  }
  return { anonymous: identity.anonymous, admin: false, actions, catalog };
}

/** Whether a route should serve a caller at a node (anything but 401/403), from the caller's grants and the route's need. */
export function serves(need: Need, caller: Caller, node: { anonymousPull: boolean }, resource: string): boolean {
  const grants = caller.grants;
  switch (need.kind) {
    case 'open':
      return true;
    case 'token-endpoint': {
      const presents = caller.presents.kind;
      if (need.method === 'GET') return presents === 'basic' ? grants !== null : node.anonymousPull;
      return (presents === 'basic' || presents === 'refresh') && grants !== null;
    }
  }
  if (grants === null) return false;
  switch (need.kind) {
    case 'signed-in':
      return !grants.anonymous;
    case 'catalog':
      return grants.catalog;
    case 'repository':
      return need.permissions.every((p) => can(grants, 'repositories', p, resource));
    case 'admin':
      return grants.admin;
    case 'gateway':
      return !grants.anonymous && can(grants, 'gateway', need.permission, resource);
  }
}
