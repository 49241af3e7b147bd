import type { FastifyInstance, FastifyRequest } from 'fastify';
import { RegistryError, isDigest, isValidTag } from '../oci/index.js';
import type { ConnectedRegistryStore, IdentityStore, MetadataStore, PasswordRecord, PasswordSlot, ScopeMapRecord, TokenRecord, TokenStatus } from '../metadata/index.js';
import { generatePassword, hashPassword, normalizeActions, ADMIN_USERNAME, type AccessGuard } from '../auth/index.js';
import { useJsonBodies } from '../registry/http-util.js';
import type { RegistryWriter } from '../registry/registry-writer.js';

export interface ManagementDeps {
  identities: IdentityStore;
  metadata: MetadataStore;
  /** The write pipeline: repository, tag and manifest deletes go through it (as the admin). */
  writer: RegistryWriter;
  /** A connected registry's sync token cannot be deleted while the connected registry exists. */
  connectedRegistries: ConnectedRegistryStore;
  guard: AccessGuard;
}

/** The management plugin's own JSON parser (whatever other plugins did with theirs) and the admin-only check. */
export function useAdminJson(api: FastifyInstance, guard: AccessGuard): void {
  useJsonBodies(api);
  api.addHook('onRequest', async (request) => {
    await guard.requireAdmin(request);
  });
}

const PREFIX = '/mgmt/v1';
const TOKEN_NAME = /^[a-zA-Z0-9-]{5,50}$/;
const SCOPE_MAP_NAME = /^[a-zA-Z0-9-_]{5,50}$/;
const MAX_DESCRIPTION = 256;

/**
 * The root's management API (docs/management-api.md): tokens, scope maps and repositories under
 * `/mgmt/v1`, JSON, admin only. Errors are RegistryErrors for the app's one error serializer.
 */
export async function registerManagementRoutes(app: FastifyInstance, deps: ManagementDeps): Promise<void> {
  const { identities, metadata, writer, guard } = deps;
  await app.register(async (api) => {
    useAdminJson(api, guard);

    // --- scope maps -----------------------------------------------------------------------
    api.get(`${PREFIX}/scope-maps`, async () => (await identities.listScopeMaps()).map(scopeMapJson));
    api.post(`${PREFIX}/scope-maps`, async (request, reply) => {
      const body = objectBody(request);
      const name = scopeMapName(body.name);
      const created = await identities.createScopeMap({ name, description: description(body.description), actions: actionsOf(body.actions, name, true) });
      return reply.code(201).send(scopeMapJson(created));
    });
    api.get(`${PREFIX}/scope-maps/:name`, async (request) => scopeMapJson(await mustScopeMap(identities, param(request, 'name'))));
    api.patch(`${PREFIX}/scope-maps/:name`, async (request) => {
      const name = param(request, 'name');
      const body = objectBody(request);
      const current = await mustScopeMap(identities, name);
      const add = body.addActions === undefined ? [] : actionsOf(body.addActions, name, false);
      const remove = body.removeActions === undefined ? [] : actionsOf(body.removeActions, name, false);
      const both = add.filter((a) => remove.includes(a));
      if (both.length > 0) {
        throw new RegistryError('REQUEST_INVALID', `Update ambiguity. Duplicate actions were provided to add and remove.\n${both.join(', ')}`);
      }
      const actions = [...current.actions, ...add.filter((a) => !current.actions.includes(a))].filter((a) => !remove.includes(a));
      const change: { description?: string; actions?: string[] } = { actions };
      if (body.description !== undefined) change.description = description(body.description);
      return scopeMapJson(await identities.updateScopeMap(name, change));
    });
    api.put(`${PREFIX}/scope-maps/:name`, async (request, reply) => {
      const name = scopeMapName(param(request, 'name'));
      const body = objectBody(request);
      const actions = actionsOf(body.actions, name, true);
      const existing = await identities.getScopeMap(name);
      if (!existing) {
        const created = await identities.createScopeMap({ name, description: description(body.description), actions });
        return reply.code(201).send(scopeMapJson(created));
      }
      const change: { description?: string; actions: string[] } = { actions };
      if (body.description !== undefined) change.description = description(body.description);
      return scopeMapJson(await identities.updateScopeMap(name, change));
    });
    api.delete(`${PREFIX}/scope-maps/:name`, async (request, reply) => {
      await identities.deleteScopeMap(param(request, 'name'));
      return reply.code(204).send();
    });

    // --- tokens ---------------------------------------------------------------------------
    api.get(`${PREFIX}/tokens`, async () => (await identities.listTokens()).map((t) => tokenJson(t)));
    api.post(`${PREFIX}/tokens`, async (request, reply) => {
      const body = objectBody(request);
      const name = tokenName(body.name);
      const status = body.status === undefined ? 'enabled' : tokenStatus(body.status);
      const expiry = expiryOf(body.expiry);
      const hasScopeMap = body.scopeMap !== undefined && body.scopeMap !== null;
      const hasActions = body.actions !== undefined && body.actions !== null;
      if (hasScopeMap === hasActions) throw new RegistryError('REQUEST_INVALID', 'Either scopeMap or actions must be provided, but not both.');
      let scopeMap: string;
      let newScopeMap: { name: string; description: string; actions: string[] } | undefined;
      if (hasScopeMap) {
        if (typeof body.scopeMap !== 'string') throw new RegistryError('REQUEST_INVALID', 'scopeMap must be a string.');
        scopeMap = body.scopeMap;
      } else {
        scopeMap = scopeMapName(`${name}-scope-map`);
        newScopeMap = { name: scopeMap, description: `Created by token: ${name}`, actions: actionsOf(body.actions, scopeMap, true) };
      }
      if (body.noPasswords !== undefined && typeof body.noPasswords !== 'boolean') throw new RegistryError('REQUEST_INVALID', 'noPasswords must be a boolean.');
      const values: Partial<Record<PasswordSlot, string>> = {};
      const records: Partial<Record<PasswordSlot, PasswordRecord>> = {};
      if (body.noPasswords !== true) {
        for (const slot of ['password1', 'password2'] as const) {
          values[slot] = generatePassword();
          records[slot] = await newPasswordRecord(values[slot]!, expiry);
        }
      }
      const created = await identities.createToken({
        name, status, scopeMap, ...(newScopeMap ? { newScopeMap } : {}),
        password1: records.password1 ?? null, password2: records.password2 ?? null,
      });
      return reply.code(201).send(tokenJson(created, values));
    });
    api.get(`${PREFIX}/tokens/:name`, async (request) => tokenJson(await mustToken(identities, param(request, 'name'))));
    api.patch(`${PREFIX}/tokens/:name`, async (request) => {
      const body = objectBody(request);
      const change: { status?: TokenStatus; scopeMap?: string | null } = {};
      if (body.status !== undefined) change.status = tokenStatus(body.status);
      if (body.scopeMap !== undefined) {
        if (body.scopeMap !== null && typeof body.scopeMap !== 'string') throw new RegistryError('REQUEST_INVALID', 'scopeMap must be a string or null.');
        change.scopeMap = body.scopeMap;
      }
      return tokenJson(await identities.updateToken(param(request, 'name'), change));
    });
    api.delete(`${PREFIX}/tokens/:name`, async (request, reply) => {
      const name = param(request, 'name');
      const all = await deps.connectedRegistries.listConnectedRegistries();
      const syncing = all.filter((c) => c.sync.tokenName === name).map((c) => c.name);
      if (syncing.length > 0) {
        throw new RegistryError('CONFLICT', `Token '${name}' is the sync token of connected registry '${syncing[0]}'; delete the connected registry first.`, { connectedRegistries: syncing });
      }
      await identities.deleteToken(name);
      // A deleted client token leaves the connected registries that accepted it.
      for (const cr of all.filter((c) => c.clientTokenIds.includes(name))) {
        await deps.connectedRegistries.updateConnectedRegistry(cr.name, { clientTokenIds: cr.clientTokenIds.filter((t) => t !== name) });
      }
      return reply.code(204).send();
    });
    api.post(`${PREFIX}/tokens/:name/credentials/generate`, async (request) => {
      const name = param(request, 'name');
      const body = objectBody(request);
      const slot = passwordSlot(body.passwordName);
      await mustToken(identities, name);
      const value = generatePassword();
      const updated = await identities.setTokenPassword(name, slot, await newPasswordRecord(value, expiryOf(body.expiry)));
      return tokenJson(updated, { [slot]: value });
    });
    api.post(`${PREFIX}/tokens/:name/credentials/delete`, async (request) => {
      const body = objectBody(request);
      return tokenJson(await identities.setTokenPassword(param(request, 'name'), passwordSlot(body.passwordName), null));
    });

    // --- repositories ---------------------------------------------------------------------
    api.get(`${PREFIX}/repositories`, async () => {
      const names: string[] = [];
      let last: string | undefined;
      for (;;) {
        const batch = await metadata.listRepositories({ limit: 1000, ...(last !== undefined ? { last } : {}) });
        names.push(...batch);
        if (batch.length < 1000) return names;
        last = batch[batch.length - 1];
      }
    });
    api.route({
      method: ['GET', 'DELETE'],
      url: `${PREFIX}/repositories/*`,
      handler: async (request, reply) => {
        const target = repositoryTarget(request);
        if (request.method === 'GET' && target.kind === 'repository') {
          const info = await metadata.repositoryInfo(target.name);
          if (!info) throw repositoryNotFound(target.name);
          return {
            name: info.name, tagCount: info.tagCount, manifestCount: info.manifestCount,
            createdTime: info.createdAt.toISOString(), lastUpdateTime: info.lastUpdatedAt.toISOString(),
          };
        }
        if (request.method === 'GET' && target.kind === 'tags') {
          const tags = await metadata.listTagDetails(target.name);
          if (!tags) throw repositoryNotFound(target.name);
          return tags.map((t) => ({ name: t.name, digest: t.digest, createdTime: t.createdAt.toISOString(), lastUpdateTime: t.updatedAt.toISOString() }));
        }
        if (request.method === 'DELETE' && target.kind === 'repository') {
          const tags = await metadata.listTagDetails(target.name);
          const manifests = await metadata.listManifestDigests(target.name);
          if (!tags || !manifests || !(await writer.deleteRepository(ADMIN_USERNAME, target.name))) throw repositoryNotFound(target.name);
          return { manifestsDeleted: manifests, tagsDeleted: tags.map((t) => t.name) };
        }
        if (request.method === 'DELETE' && target.kind === 'tag') {
          if (!(await metadata.repositoryExists(target.name))) throw repositoryNotFound(target.name);
          if (!(await writer.deleteTag(ADMIN_USERNAME, target.name, target.tag))) throw new RegistryError('NOT_FOUND', `Tag '${target.tag}' not found in repository '${target.name}'.`);
          return reply.code(204).send();
        }
        if (request.method === 'DELETE' && target.kind === 'manifest') {
          if (!isDigest(target.digest)) throw new RegistryError('REQUEST_INVALID', `Invalid digest '${target.digest}'.`);
          if (!(await metadata.repositoryExists(target.name))) throw repositoryNotFound(target.name);
          if (!(await writer.deleteManifest(ADMIN_USERNAME, target.name, target.digest))) {
            throw new RegistryError('NOT_FOUND', `Manifest '${target.digest}' not found in repository '${target.name}'.`);
          }
          return reply.code(204).send();
        }
        throw new RegistryError('METHOD_NOT_ALLOWED', `${request.method} is not allowed here`);
      },
    });
  });
}

type RepositoryTarget =
  | { kind: 'repository'; name: string }
  | { kind: 'tags'; name: string }
  | { kind: 'tag'; name: string; tag: string }
  | { kind: 'manifest'; name: string; digest: string };

/** Splits the raw path: keywords are matched before decoding, so an encoded name (`team%2Fapp`) is never mistaken for one. */
function repositoryTarget(request: FastifyRequest): RepositoryTarget {
  const url = request.raw.url ?? '';
  const path = url.split('?')[0]!.slice(`${PREFIX}/repositories/`.length);
  const segments = path.split('/').filter((s) => s !== '');
  const decode = (s: string): string => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw new RegistryError('REQUEST_INVALID', 'malformed percent-encoding in path');
    }
  };
  const nameOf = (parts: string[]): string => {
    const name = parts.map(decode).join('/');
    if (name === '') throw new RegistryError('NOT_FOUND', 'no such endpoint');
    return name;
  };
  const n = segments.length;
  if (n >= 2 && segments[n - 1] === 'tags') return { kind: 'tags', name: nameOf(segments.slice(0, -1)) };
  if (n >= 3 && segments[n - 2] === 'tags') {
    const tag = decode(segments[n - 1]!);
    if (!isValidTag(tag)) throw new RegistryError('REQUEST_INVALID', `Invalid tag '${tag}'.`);
    return { kind: 'tag', name: nameOf(segments.slice(0, -2)), tag };
  }
  if (n >= 3 && segments[n - 2] === 'manifests') return { kind: 'manifest', name: nameOf(segments.slice(0, -2)), digest: decode(segments[n - 1]!) };
  return { kind: 'repository', name: nameOf(segments) };
}

function repositoryNotFound(name: string): RegistryError {
  return new RegistryError('NOT_FOUND', `Repository '${name}' not found.`);
}

export function param(request: FastifyRequest, key: string): string {
  return (request.params as Record<string, string>)[key] ?? '';
}

export function objectBody(request: FastifyRequest): Record<string, unknown> {
  const body = request.body ?? {};
  if (typeof body !== 'object' || Array.isArray(body)) throw new RegistryError('REQUEST_INVALID', 'the body must be a JSON object');
  return body as Record<string, unknown>;
}

function scopeMapName(value: unknown): string {
  if (typeof value !== 'string' || !SCOPE_MAP_NAME.test(value)) {
    throw new RegistryError('REQUEST_INVALID', `Invalid scope map name '${String(value)}': it must be 5 to 50 characters of letters, digits, '-' and '_'.`);
  }
  return value;
}

function tokenName(value: unknown): string {
  if (typeof value !== 'string' || !TOKEN_NAME.test(value)) {
    throw new RegistryError('REQUEST_INVALID', `Invalid token name '${String(value)}': it must be 5 to 50 characters of letters, digits and '-'.`);
  }
  if (value.toLowerCase() === ADMIN_USERNAME) throw new RegistryError('REQUEST_INVALID', `The token name '${value}' is reserved.`);
  return value;
}

function tokenStatus(value: unknown): TokenStatus {
  if (value !== 'enabled' && value !== 'disabled') throw new RegistryError('REQUEST_INVALID', `Invalid status '${String(value)}': use "enabled" or "disabled".`);
  return value;
}

function passwordSlot(value: unknown): PasswordSlot {
  if (value !== 'password1' && value !== 'password2') {
    throw new RegistryError('REQUEST_INVALID', `Invalid passwordName '${String(value)}': use "password1" or "password2".`);
  }
  return value;
}

function description(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new RegistryError('REQUEST_INVALID', 'description must be a string.');
  if (value.length > MAX_DESCRIPTION) throw new RegistryError('REQUEST_INVALID', `The description must be at most ${MAX_DESCRIPTION} characters long.`);
  return value;
}

function actionsOf(value: unknown, scopeMap: string, required: boolean): string[] {
  if (!Array.isArray(value) || value.some((a) => typeof a !== 'string')) {
    throw new RegistryError('REQUEST_INVALID', 'actions must be an array of strings.');
  }
  if (required && value.length === 0) throw new RegistryError('REQUEST_INVALID', `At least one action must be specified with "${scopeMap}".`);
  return normalizeActions(value as string[]);
}

function expiryOf(value: unknown): Date | null {
  if (value === undefined || value === null) return null;
  const date = typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(value) ? new Date(value) : new Date(NaN);
  if (Number.isNaN(date.getTime())) throw new RegistryError('REQUEST_INVALID', `Invalid expiry '${String(value)}': use ISO 8601, e.g. 2027-01-31T23:59:59Z.`);
  return date;
}

async function newPasswordRecord(value: string, expiry: Date | null): Promise<PasswordRecord> {
  return { hash: await hashPassword(value), createdAt: new Date(), expiry };
}

async function mustScopeMap(identities: IdentityStore, name: string): Promise<ScopeMapRecord> {
  const found = await identities.getScopeMap(name);
  if (!found) throw new RegistryError('NOT_FOUND', `Scope map '${name}' not found.`);
  return found;
}

async function mustToken(identities: IdentityStore, name: string): Promise<TokenRecord> {
  const found = await identities.getToken(name);
  if (!found) throw new RegistryError('NOT_FOUND', `Token '${name}' not found.`);
  return found;
}

export function scopeMapJson(map: ScopeMapRecord): Record<string, unknown> {
  return {
    name: map.name,
    description: map.description,
    actions: map.actions,
    type: map.type,
    creationDate: map.createdAt.toISOString(),
    id: `scopeMaps/${map.name}`,
  };
}

/** A token as JSON; `values` (only right after create or generate) adds each new password's `value`. */
export function tokenJson(token: TokenRecord, values: Partial<Record<PasswordSlot, string>> = {}): Record<string, unknown> {
  const passwords: Array<Record<string, unknown>> = [];
  for (const slot of ['password1', 'password2'] as const) {
    const record = token[slot];
    if (!record) continue;
    passwords.push({
      name: slot,
      creationTime: record.createdAt.toISOString(),
      expiry: record.expiry ? record.expiry.toISOString() : null,
      ...(values[slot] !== undefined ? { value: values[slot] } : {}),
    });
  }
  return {
    name: token.name,
    status: token.status,
    scopeMapId: token.scopeMap === null ? null : `scopeMaps/${token.scopeMap}`,
    creationDate: token.createdAt.toISOString(),
    id: `tokens/${token.name}`,
    credentials: { passwords },
  };
}
