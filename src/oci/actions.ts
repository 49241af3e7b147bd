import { RegistryError } from './errors.js';
import { isValidRepositoryName } from './names.js';

/**
 * The grammar of scope-map actions, the one copy the server (auth/, management/) and the CLI
 * share (docs/architecture.md, "Identity"): `repositories/<repo>/content/read|write|delete`,
 * `repositories/<repo>/metadata/read|write`, `gateway/<connected-registry>/config/read|write`,
 * `gateway/<connected-registry>/message/read|write`. `<repo>` is a name, `*`, or a name followed
 * by one trailing `/*`. Everything is compared lower-cased. Errors are REQUEST_INVALID with the
 * messages of Azure's `az acr` (docs/cli.md, "Actions").
 */
export const REPOSITORY_PERMISSIONS = ['content/delete', 'content/read', 'content/write', 'metadata/read', 'metadata/write'] as const;
export const GATEWAY_PERMISSIONS = ['config/read', 'config/write', 'message/read', 'message/write'] as const;

export type RepositoryPermission = (typeof REPOSITORY_PERMISSIONS)[number];
export type GatewayPermission = (typeof GATEWAY_PERMISSIONS)[number];
export type ActionKind = 'repositories' | 'gateway';

/** One parsed action; `resource` is lower-cased. */
export interface ParsedAction {
  kind: ActionKind;
  resource: string;
  permission: string;
}

const GATEWAY_NAME = /^[a-z0-9][a-z0-9_-]{4,39}$/;

function validSet(kind: ActionKind): string {
  const list = kind === 'repositories' ? REPOSITORY_PERMISSIONS : GATEWAY_PERMISSIONS;
  return `{${list.map((p) => `'${p}'`).join(', ')}}`;
}

function invalid(message: string, detail?: unknown): RegistryError {
  return new RegistryError('REQUEST_INVALID', message, detail ?? null);
}

/** Throws REQUEST_INVALID unless `resource` is a repository name, `*` or `name/*` (lower-cased first). */
export function assertRepositoryPattern(resource: string): void {
  const name = resource.endsWith('/*') ? resource.slice(0, -2) : resource;
  if (resource === '*') return;
  if (!isValidRepositoryName(name)) {
    throw invalid(`Invalid repository "${resource}": use a repository name, "*" or a name followed by a single trailing "/*".`);
  }
}

/**
 * The action strings for one resource and its permissions, as `--repository REPO ACTION…` gives
 * them, checking the permissions only (the CLI leaves the resource to the server). Throws
 * REQUEST_INVALID with the reference's messages for no or unknown permissions.
 */
export function permissionActions(kind: ActionKind, resource: string, permissions: readonly string[]): string[] {
  if (permissions.length === 0) throw invalid(`At least one action must be specified with "${resource}".`);
  const allowed: readonly string[] = kind === 'repositories' ? REPOSITORY_PERMISSIONS : GATEWAY_PERMISSIONS;
  for (const permission of permissions) {
    if (!allowed.includes(permission.toLowerCase())) {
      throw invalid(`Invalid action "${permission}" provided. \nValid actions are ${validSet(kind)}.`);
    }
  }
  const lower = resource.toLowerCase();
  return permissions.map((p) => `${kind}/${lower}/${p.toLowerCase()}`);
}

/**
 * Builds the action strings for one resource and its permissions: `permissionActions`, and the
 * resource must be a repository pattern or a connected registry's name. Throws REQUEST_INVALID
 * with the reference's messages.
 */
export function buildActions(kind: ActionKind, resource: string, permissions: readonly string[]): string[] {
  const actions = permissionActions(kind, resource, permissions);
  const lower = resource.toLowerCase();
  if (kind === 'repositories') assertRepositoryPattern(lower);
  else if (!GATEWAY_NAME.test(lower)) throw invalid(`Invalid connected registry name "${resource}" in a gateway action.`);
  return actions;
}

/** Parses one full action string; throws REQUEST_INVALID (reference messages) when it is not one. */
export function parseAction(action: string): ParsedAction {
  if (typeof action !== 'string') throw invalid('Every action must be a string.');
  const lower = action.toLowerCase();
  const slash = lower.indexOf('/');
  const kind = lower.slice(0, slash);
  if (slash === -1 || (kind !== 'repositories' && kind !== 'gateway')) {
    throw invalid(`Invalid action "${action}": it must start with "repositories/" or "gateway/".`);
  }
  const rest = lower.slice(slash + 1);
  const parts = rest.split('/');
  // The permission is the last two segments (`content/read`); a bare resource has none.
  const permission = parts.length >= 3 ? parts.slice(-2).join('/') : '';
  const resource = parts.length >= 3 ? parts.slice(0, -2).join('/') : rest;
  const knownSecond = kind === 'repositories' ? ['content', 'metadata'] : ['config', 'message'];
  if (permission === '' || !knownSecond.includes(parts[parts.length - 2] ?? '')) {
    // `repositories/hello` or `repositories/hello/pull`: no valid permission was named.
    const last = parts.length >= 2 ? parts[parts.length - 1]! : '';
    if (parts.length < 2 || last === '*' || (parts.length < 3 && last === '')) {
      throw invalid(`At least one action must be specified with "${rest}".`);
    }
    const resourceName = parts.slice(0, -1).join('/');
    if (resourceName === '' || resourceName.endsWith('/')) throw invalid(`At least one action must be specified with "${rest}".`);
    throw invalid(`Invalid action "${last}" provided. \nValid actions are ${validSet(kind)}.`);
  }
  buildActions(kind, resource, [permission]);
  return { kind, resource, permission };
}

/** Validates, lower-cases and de-duplicates a list of actions (keeping first-seen order). */
export function normalizeActions(actions: readonly string[]): string[] {
  const out: string[] = [];
  for (const action of actions) {
    const parsed = parseAction(action);
    const text = `${parsed.kind}/${parsed.resource}/${parsed.permission}`;
    if (!out.includes(text)) out.push(text);
  }
  return out;
}

/** Does an action's resource pattern cover `name`? Both lower-case. */
export function patternMatches(pattern: string, name: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('/*')) return name.startsWith(pattern.slice(0, -1));
  return pattern === name;
}
