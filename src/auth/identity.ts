import { parseAction, patternMatches, type ParsedAction } from '../oci/actions.js';

/**
 * `admin` (Basic with the admin password), `token` (Basic with a token's password), `bearer` (a
 * JWT issued to the admin or a token) or `anonymous` (no credentials, or an anonymous JWT).
 */
export type IdentityKind = 'admin' | 'token' | 'bearer' | 'anonymous';

/**
 * Who a request acts as and what it may do: the admin (everything), a token (its scope map's
 * actions) or an anonymous caller (pull only, when the node allows anonymous pull). A Bearer JWT
 * becomes a `bearer` Identity holding only what the JWT granted, whoever it was issued to: only
 * the admin's Basic credentials make the admin.
 */
export class Identity {
  readonly kind: IdentityKind;
  readonly name: string;
  private readonly grants: ParsedAction[];
  /** What the catalog may list; null when the identity may not list it at all. */
  private readonly catalogGrants: ParsedAction[] | null;

  constructor(kind: IdentityKind, name: string, actions: readonly string[], catalogActions: readonly string[] | null | 'same' = 'same') {
    this.kind = kind;
    this.name = name;
    this.grants = compile(actions);
    this.catalogGrants = catalogActions === 'same' ? this.grants : catalogActions === null ? null : compile(catalogActions);
  }

  static admin(): Identity {
    return new Identity('admin', 'admin', []);
  }

  get isAdmin(): boolean {
    return this.kind === 'admin';
  }

  /** May this identity do `permission` (e.g. `content/read`) on the repository or connected registry `resource`? */
  can(kind: 'repositories' | 'gateway', permission: string, resource: string): boolean {
    if (this.isAdmin) return true;
    return allows(this.grants, kind, permission, resource.toLowerCase());
  }

  /** May the catalog list this repository (content/read and metadata/read)? */
  canList(repository: string): boolean {
    if (this.isAdmin) return true;
    if (this.catalogGrants === null) return false;
    const name = repository.toLowerCase();
    return allows(this.catalogGrants, 'repositories', 'content/read', name) && allows(this.catalogGrants, 'repositories', 'metadata/read', name);
  }

  get mayListCatalog(): boolean {
    return this.isAdmin || this.catalogGrants !== null;
  }

  /** The actions that feed catalog listing (content/read and metadata/read ones), for a JWT. */
  catalogActions(): string[] {
    if (this.isAdmin) return ['repositories/*/content/read', 'repositories/*/metadata/read'];
    return (this.catalogGrants ?? [])
      .filter((g) => g.kind === 'repositories' && (g.permission === 'content/read' || g.permission === 'metadata/read'))
      .map((g) => `repositories/${g.resource}/${g.permission}`);
  }
}

function compile(actions: readonly string[]): ParsedAction[] {
  const out: ParsedAction[] = [];
  for (const action of actions) {
    try {
      out.push(parseAction(action));
    } catch {
      // Stored actions were validated on the way in; an unreadable one grants nothing.
    }
  }
  return out;
}

function allows(grants: readonly ParsedAction[], kind: string, permission: string, resource: string): boolean {
  return grants.some((g) => g.kind === kind && g.permission === permission && patternMatches(g.resource, resource));
}

/** The one authorization question (docs/architecture.md, "Identity"): may `identity` do `action` (e.g. `content/write`) on repository `resource`? */
export function authorize(identity: Identity, action: string, resource: string): boolean {
  return identity.can('repositories', action.toLowerCase(), resource);
}
