import type { FastifyInstance } from 'fastify';
import type { AccessGuard } from '../auth/index.js';
import type { ScopeMapService } from './scope-map-service.js';
import type { TokenService } from './token-service.js';
import {
  parseCredentialDelete, parseCredentialGenerate, parseScopeMapCreate, parseScopeMapEdit, parseScopeMapPut, parseTokenCreate, parseTokenUpdate,
} from './identity-requests.js';
import { objectBody, param, scopeMapJson, tokenJson, useAdminJson } from './management-http.js';

export interface IdentityRoutesDeps {
  tokens: TokenService;
  scopeMaps: ScopeMapService;
  guard: AccessGuard;
}

const PREFIX = '/mgmt/v1';

/**
 * Tokens and scope maps of the management API (docs/management-api.md): each route parses HTTP,
 * calls the TokenService or ScopeMapService and answers JSON. Its own plugin, admin only.
 */
export async function registerIdentityRoutes(app: FastifyInstance, deps: IdentityRoutesDeps): Promise<void> {
  const { tokens, scopeMaps } = deps;
  await app.register(async (api) => {
    useAdminJson(api, deps.guard);

    // --- scope maps -----------------------------------------------------------------------
    api.get(`${PREFIX}/scope-maps`, async () => (await scopeMaps.list()).map(scopeMapJson));
    api.post(`${PREFIX}/scope-maps`, async (request, reply) => {
      return reply.code(201).send(scopeMapJson(await scopeMaps.create(parseScopeMapCreate(objectBody(request)))));
    });
    api.get(`${PREFIX}/scope-maps/:name`, async (request) => scopeMapJson(await scopeMaps.get(param(request, 'name'))));
    api.patch(`${PREFIX}/scope-maps/:name`, async (request) => {
      const name = param(request, 'name');
      return scopeMapJson(await scopeMaps.edit(name, parseScopeMapEdit(name, objectBody(request))));
    });
    api.put(`${PREFIX}/scope-maps/:name`, async (request, reply) => {
      const { name, change } = parseScopeMapPut(param(request, 'name'), objectBody(request));
      const { scopeMap, created } = await scopeMaps.put(name, change);
      return reply.code(created ? 201 : 200).send(scopeMapJson(scopeMap));
    });
    api.delete(`${PREFIX}/scope-maps/:name`, async (request, reply) => {
      await scopeMaps.delete(param(request, 'name'));
      return reply.code(204).send();
    });

    // --- tokens ---------------------------------------------------------------------------
    api.get(`${PREFIX}/tokens`, async () => (await tokens.list()).map((t) => tokenJson(t)));
    api.post(`${PREFIX}/tokens`, async (request, reply) => {
      const { token, values } = await tokens.create(parseTokenCreate(objectBody(request)));
      return reply.code(201).send(tokenJson(token, values));
    });
    api.get(`${PREFIX}/tokens/:name`, async (request) => tokenJson(await tokens.get(param(request, 'name'))));
    api.patch(`${PREFIX}/tokens/:name`, async (request) => {
      const change = parseTokenUpdate(objectBody(request));
      return tokenJson(await tokens.update(param(request, 'name'), change));
    });
    api.delete(`${PREFIX}/tokens/:name`, async (request, reply) => {
      await tokens.delete(param(request, 'name'));
      return reply.code(204).send();
    });
    api.post(`${PREFIX}/tokens/:name/credentials/generate`, async (request) => {
      const { slot, expiry } = parseCredentialGenerate(objectBody(request));
      const { token, values } = await tokens.generatePassword(param(request, 'name'), slot, expiry);
      return tokenJson(token, values);
    });
    api.post(`${PREFIX}/tokens/:name/credentials/delete`, async (request) => {
      return tokenJson(await tokens.deletePassword(param(request, 'name'), parseCredentialDelete(objectBody(request))));
    });
  });
}
