import { RegistryError } from '../oci/index.js';

/** `{dryRun?: boolean}`, the body of `POST /mgmt/v1/gc` and `POST …/connected-registries/<n>/gc`; anything else is REQUEST_INVALID. */
export function parseGcRequest(body: Record<string, unknown>): { dryRun: boolean } {
  for (const key of Object.keys(body)) {
    if (key !== 'dryRun') throw new RegistryError('REQUEST_INVALID', `Unknown field '${key.slice(0, 100)}': the body is {"dryRun": true|false}.`);
  }
  if (body.dryRun !== undefined && typeof body.dryRun !== 'boolean') throw new RegistryError('REQUEST_INVALID', 'dryRun must be a boolean.');
  return { dryRun: body.dryRun === true };
}
