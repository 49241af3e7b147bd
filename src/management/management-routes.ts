import type { FastifyInstance, FastifyRequest } from 'fastify';
import { RegistryError, isDigest, isValidTag } from '../oci/index.js';
import type { MetadataStore } from '../metadata/index.js';
import { ADMIN_USERNAME, type AccessGuard } from '../auth/index.js';
import type { RegistryWriter } from '../registry/registry-writer.js';
import { useAdminJson } from './management-http.js';

export interface ManagementDeps {
  metadata: MetadataStore;
  /** The write pipeline: repository, tag and manifest deletes go through it (as the admin). */
  writer: RegistryWriter;
  guard: AccessGuard;
}

const PREFIX = '/mgmt/v1';

/**
 * The root's management API for repositories (docs/management-api.md) under `/mgmt/v1`, JSON,
 * admin only (tokens and scope maps: identity-routes.ts; connected registries:
 * connected-registry-routes.ts). Errors are RegistryErrors for the app's one error serializer.
 */
export async function registerManagementRoutes(app: FastifyInstance, deps: ManagementDeps): Promise<void> {
  const { metadata, writer, guard } = deps;
  await app.register(async (api) => {
    useAdminJson(api, guard);

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
