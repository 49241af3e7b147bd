import { createHash } from 'node:crypto';
import { descendantsOf, type ConnectedRegistryRecord, type IdentityStore, type PasswordRecord, type TokenRecord } from '../metadata/index.js';
import { parseAction, patternMatches } from '../auth/index.js';
import type { ConfigDocument, PasswordDoc, RegistryDoc, ScopeMapDoc, TokenDoc } from '../client/gateway-protocol.js';

/**
 * The config document a node serves to one direct child (docs/architecture.md, "Sync gateway": `GET config`), built from
 * the node's local stores only, so an edge serves its children from what it synced even while its
 * own parent is unreachable. Everything is in a fixed order (descendants parents first, tokens and
 * scope maps by name) so that the same state always gives the same bytes and the same ETag.
 */

/** A connected registry's desired state as it travels down (no runtime fields). */
export function registryDoc(record: ConnectedRegistryRecord): RegistryDoc {
  return {
    name: record.name,
    mode: record.mode,
    parent: record.parent,
    sync: {
      tokenName: record.sync.tokenName,
      schedule: record.sync.schedule,
      syncWindow: record.sync.syncWindow,
      messageTtl: record.sync.messageTtl,
    },
    clientTokenIds: [...record.clientTokenIds],
    logging: { logLevel: record.logging.logLevel, auditLogStatus: record.logging.auditLogStatus },
    notificationsList: [...record.notificationsList],
    garbageCollection: { enabled: record.garbageCollection.enabled, schedule: record.garbageCollection.schedule },
    activationEpoch: record.activationEpoch,
    resyncRequestedAt: record.resyncRequestedAt ? record.resyncRequestedAt.toISOString() : null,
    gcRequest: record.gcRequest ? { requestedAt: record.gcRequest.requestedAt.toISOString(), dryRun: record.gcRequest.dryRun } : null,
  };
}

/**
 * The repository patterns (names, `*`, `prefix/*`, lower-case) a connected registry syncs: the
 * `repositories/<pattern>/content/read` actions of its sync token's scope map. Empty when the
 * token or its scope map is missing.
 */
export async function syncScopeOf(record: ConnectedRegistryRecord, identities: IdentityStore): Promise<string[]> {
  const token = await identities.getToken(record.sync.tokenName);
  if (!token || token.scopeMap === null) return [];
  const map = await identities.getScopeMap(token.scopeMap);
  if (!map) return [];
  const patterns = new Set<string>();
  for (const action of map.actions) {
    try {
      const parsed = parseAction(action);
      if (parsed.kind === 'repositories' && parsed.permission === 'content/read') patterns.add(parsed.resource);
    } catch {
      // Stored actions were validated on the way in; an unreadable one grants nothing.
    }
  }
  return [...patterns].sort();
}

/** Is `repository` in a scope of patterns? Names are compared lower-cased. */
export function inScope(scope: readonly string[], repository: string): boolean {
  const name = repository.toLowerCase();
  return scope.some((pattern) => patternMatches(pattern, name));
}

function passwordDoc(password: PasswordRecord | null): PasswordDoc | null {
  if (!password) return null;
  return { hash: password.hash, createdAt: password.createdAt.toISOString(), expiry: password.expiry ? password.expiry.toISOString() : null };
}

function tokenDoc(token: TokenRecord): TokenDoc {
  return {
    name: token.name,
    status: token.status,
    scopeMap: token.scopeMap,
    createdAt: token.createdAt.toISOString(),
    password1: passwordDoc(token.password1),
    password2: passwordDoc(token.password2),
  };
}

/**
 * The config of `child` from the local stores: its own record, its sync scope, every record below
 * it, its client tokens plus every descendant's sync and client tokens (password hashes only),
 * and the user-defined scope maps those tokens use. `all` is every local connected registry.
 */
export async function buildConfigDocument(
  child: ConnectedRegistryRecord,
  all: readonly ConnectedRegistryRecord[],
  identities: IdentityStore,
): Promise<ConfigDocument> {
  const descendants = descendantsOf(child.name, all);
  const wanted = new Set<string>(child.clientTokenIds);
  for (const d of descendants) {
    wanted.add(d.sync.tokenName);
    for (const t of d.clientTokenIds) wanted.add(t);
  }
  const tokens = (await identities.listTokens()).filter((t) => wanted.has(t.name)).sort(byName);
  const mapNames = new Set(tokens.map((t) => t.scopeMap).filter((m): m is string => m !== null));
  const scopeMaps: ScopeMapDoc[] = (await identities.listScopeMaps())
    .filter((m) => m.type === 'UserDefined' && mapNames.has(m.name))
    .sort(byName)
    .map((m) => ({ name: m.name, description: m.description, actions: [...m.actions] }));
  return {
    self: registryDoc(child),
    repositories: await syncScopeOf(child, identities),
    descendants: descendants.map(registryDoc),
    tokens: tokens.map(tokenDoc),
    scopeMaps,
  };
}

/** The strong ETag of a config document: a hash of its canonical JSON, quoted as HTTP wants it. */
export function configEtag(doc: ConfigDocument): string {
  return `"${createHash('sha256').update(JSON.stringify(doc)).digest('hex').slice(0, 40)}"`;
}

/**
 * Do two ETags name the same config? Accepts them quoted (as in the `ETag` header and the JSON
 * answers) or bare (convenient in a query string), and a weak `W/` prefix.
 */
export function sameEtag(a: string, b: string): boolean {
  return bareEtag(a) === bareEtag(b);
}

function bareEtag(value: string): string {
  const trimmed = value.trim().replace(/^W\//, '');
  return trimmed.startsWith('"') && trimmed.endsWith('"') && trimmed.length >= 2 ? trimmed.slice(1, -1) : trimmed;
}

/** Does an `If-None-Match` header (a list of ETags, or `*`) match `etag`? */
export function ifNoneMatch(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((candidate) => candidate.trim() !== '' && sameEtag(candidate, etag));
}

function byName<T extends { name: string }>(a: T, b: T): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
