import type { FastifyInstance, FastifyRequest } from 'fastify';
import { RegistryError } from '../oci/index.js';
import type { PasswordSlot, ScopeMapRecord, TokenRecord } from '../metadata/index.js';
import type { AccessGuard } from '../auth/index.js';
import { useJsonBodies } from '../registry/http-util.js';

/**
 * What the management API's route plugins share (docs/management-api.md): the admin-only JSON
 * plugin setup, path and body access, and the JSON shapes of tokens and scope maps.
 */

/** The management plugin's own JSON parser (whatever other plugins did with theirs) and the admin-only check. */
export function useAdminJson(api: FastifyInstance, guard: AccessGuard): void {
  useJsonBodies(api);
  api.addHook('onRequest', async (request) => {
    await guard.requireAdmin(request);
  });
}

export function param(request: FastifyRequest, key: string): string {
  return (request.params as Record<string, string>)[key] ?? '';
}

export function objectBody(request: FastifyRequest): Record<string, unknown> {
  const body = request.body ?? {};
  if (typeof body !== 'object' || Array.isArray(body)) throw new RegistryError('REQUEST_INVALID', 'the body must be a JSON object');
  return body as Record<string, unknown>;
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
