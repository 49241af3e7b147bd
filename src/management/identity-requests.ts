import { RegistryError } from '../oci/index.js';
import type { PasswordSlot, ScopeMapInput, TokenStatus } from '../metadata/index.js';
import { ADMIN_USERNAME, normalizeActions } from '../auth/index.js';
import type { CreateToken } from './token-service.js';

/**
 * The token and scope-map API's request bodies (docs/management-api.md) turned into the services'
 * typed inputs: JSON shapes, names, actions, statuses, expiries — every rule that needs no stored
 * state. Messages use the reference's words where it has them.
 */

const TOKEN_NAME = /^[a-zA-Z0-9-]{5,50}$/;
const SCOPE_MAP_NAME = /^[a-zA-Z0-9-_]{5,50}$/;
const MAX_DESCRIPTION = 256;

function invalid(message: string): RegistryError {
  return new RegistryError('REQUEST_INVALID', message);
}

/** The body of `POST /mgmt/v1/scope-maps`. */
export function parseScopeMapCreate(body: Record<string, unknown>): ScopeMapInput {
  const name = scopeMapName(body.name);
  return { name, description: description(body.description), actions: actionsOf(body.actions, name, true) };
}

/** The body of `PATCH /mgmt/v1/scope-maps/<name>`. */
export function parseScopeMapEdit(name: string, body: Record<string, unknown>): { description?: string; add: string[]; remove: string[] } {
  const edit: { description?: string; add: string[]; remove: string[] } = {
    add: body.addActions === undefined ? [] : actionsOf(body.addActions, name, false),
    remove: body.removeActions === undefined ? [] : actionsOf(body.removeActions, name, false),
  };
  if (body.description !== undefined) edit.description = description(body.description);
  return edit;
}

/** `PUT /mgmt/v1/scope-maps/<name>`: the name from the path, the body's actions and description. */
export function parseScopeMapPut(pathName: string, body: Record<string, unknown>): { name: string; change: { description?: string; actions: string[] } } {
  const name = scopeMapName(pathName);
  const change: { description?: string; actions: string[] } = { actions: actionsOf(body.actions, name, true) };
  if (body.description !== undefined) change.description = description(body.description);
  return { name, change };
}

/**
 * The body of `POST /mgmt/v1/tokens`: exactly one of `scopeMap` (an existing map) and `actions`
 * (a new map `<name>-scope-map`, created with the token).
 */
export function parseTokenCreate(body: Record<string, unknown>): CreateToken {
  const name = tokenName(body.name);
  const status = body.status === undefined ? 'enabled' : tokenStatus(body.status);
  const expiry = expiryOf(body.expiry);
  const hasScopeMap = body.scopeMap !== undefined && body.scopeMap !== null;
  const hasActions = body.actions !== undefined && body.actions !== null;
  if (hasScopeMap === hasActions) throw invalid('Either scopeMap or actions must be provided, but not both.');
  let scopeMap: string;
  let newScopeMap: ScopeMapInput | undefined;
  if (hasScopeMap) {
    if (typeof body.scopeMap !== 'string') throw invalid('scopeMap must be a string.');
    scopeMap = body.scopeMap;
  } else {
    scopeMap = scopeMapName(`${name}-scope-map`);
    newScopeMap = { name: scopeMap, description: `Created by token: ${name}`, actions: actionsOf(body.actions, scopeMap, true) };
  }
  if (body.noPasswords !== undefined && typeof body.noPasswords !== 'boolean') throw invalid('noPasswords must be a boolean.');
  return { name, status, scopeMap, ...(newScopeMap ? { newScopeMap } : {}), passwords: body.noPasswords !== true, expiry };
}

/** The body of `PATCH /mgmt/v1/tokens/<name>`: `scopeMap: null` disassociates. */
export function parseTokenUpdate(body: Record<string, unknown>): { status?: TokenStatus; scopeMap?: string | null } {
  const change: { status?: TokenStatus; scopeMap?: string | null } = {};
  if (body.status !== undefined) change.status = tokenStatus(body.status);
  if (body.scopeMap !== undefined) {
    if (body.scopeMap !== null && typeof body.scopeMap !== 'string') throw invalid('scopeMap must be a string or null.');
    change.scopeMap = body.scopeMap;
  }
  return change;
}

/** The body of `POST …/credentials/generate`. */
export function parseCredentialGenerate(body: Record<string, unknown>): { slot: PasswordSlot; expiry: Date | null } {
  return { slot: passwordSlot(body.passwordName), expiry: expiryOf(body.expiry) };
}

/** The body of `POST …/credentials/delete`. */
export function parseCredentialDelete(body: Record<string, unknown>): PasswordSlot {
  return passwordSlot(body.passwordName);
}

function scopeMapName(value: unknown): string {
  if (typeof value !== 'string' || !SCOPE_MAP_NAME.test(value)) {
    throw invalid(`Invalid scope map name '${String(value)}': it must be 5 to 50 characters of letters, digits, '-' and '_'.`);
  }
  return value;
}

function tokenName(value: unknown): string {
  if (typeof value !== 'string' || !TOKEN_NAME.test(value)) {
    throw invalid(`Invalid token name '${String(value)}': it must be 5 to 50 characters of letters, digits and '-'.`);
  }
  if (value.toLowerCase() === ADMIN_USERNAME) throw invalid(`The token name '${value}' is reserved.`);
  return value;
}

function tokenStatus(value: unknown): TokenStatus {
  if (value !== 'enabled' && value !== 'disabled') throw invalid(`Invalid status '${String(value)}': use "enabled" or "disabled".`);
  return value;
}

function passwordSlot(value: unknown): PasswordSlot {
  if (value !== 'password1' && value !== 'password2') {
    throw invalid(`Invalid passwordName '${String(value)}': use "password1" or "password2".`);
  }
  return value;
}

function description(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw invalid('description must be a string.');
  if (value.length > MAX_DESCRIPTION) throw invalid(`The description must be at most ${MAX_DESCRIPTION} characters long.`);
  return value;
}

function actionsOf(value: unknown, scopeMap: string, required: boolean): string[] {
  if (!Array.isArray(value) || value.some((a) => typeof a !== 'string')) throw invalid('actions must be an array of strings.');
  if (required && value.length === 0) throw invalid(`At least one action must be specified with "${scopeMap}".`);
  return normalizeActions(value as string[]);
}

function expiryOf(value: unknown): Date | null {
  if (value === undefined || value === null) return null;
  const date = typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(value) ? new Date(value) : new Date(NaN);
  if (Number.isNaN(date.getTime())) throw invalid(`Invalid expiry '${String(value)}': use ISO 8601, e.g. 2027-01-31T23:59:59Z.`);
  return date;
}
