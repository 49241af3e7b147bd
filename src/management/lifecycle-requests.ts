import { RegistryError } from '../oci/index.js';
import type { PolicyStatus, RetentionPolicy } from '../metadata/index.js';

/** The retention policy's range of days (as `az acr config retention update --days`). */
export const MIN_RETENTION_DAYS = 0;
export const MAX_RETENTION_DAYS = 365;
/** The one kind of retention there is (az's `--type`). */
export const RETENTION_TYPE = 'UntaggedManifests';

const FIELDS = ['status', 'days', 'type'];

function invalid(message: string): RegistryError {
  return new RegistryError('REQUEST_INVALID', message);
}

/**
 * The body of `PATCH /mgmt/v1/config/retention` (docs/management-api.md, "Retention"):
 * `{status?: "enabled"|"disabled", days?: 0–365, type?: "UntaggedManifests"}`, at least one of
 * status and days. An unknown field is refused, so a misspelt `day` never enables a policy with
 * days it was not meant to have.
 */
export function parseRetentionUpdate(body: Record<string, unknown>): Partial<Pick<RetentionPolicy, 'status' | 'days'>> {
  const unknown = Object.keys(body).filter((key) => !FIELDS.includes(key));
  if (unknown.length > 0) throw invalid(`Unknown field '${unknown[0]}': the retention policy takes ${FIELDS.join(', ')}.`);
  if (body.type !== undefined && (typeof body.type !== 'string' || body.type.toLowerCase() !== RETENTION_TYPE.toLowerCase())) {
    throw invalid(`Invalid type '${String(body.type)}': the only retention type is '${RETENTION_TYPE}'.`);
  }
  const change: Partial<Pick<RetentionPolicy, 'status' | 'days'>> = {};
  if (body.status !== undefined) change.status = parseStatus(body.status);
  if (body.days !== undefined) {
    const days = body.days;
    if (typeof days !== 'number' || !Number.isInteger(days) || days < MIN_RETENTION_DAYS || days > MAX_RETENTION_DAYS) {
      throw invalid(`Invalid days '${JSON.stringify(days)}': the number of days to retain an untagged manifest must be an integer from ${MIN_RETENTION_DAYS} to ${MAX_RETENTION_DAYS}.`);
    }
    change.days = days;
  }
  if (change.status === undefined && change.days === undefined) throw invalid('Nothing to update: give status (enabled or disabled), days (0 to 365), or both.');
  return change;
}

function parseStatus(value: unknown): PolicyStatus {
  const wanted = typeof value === 'string' ? value.toLowerCase() : null;
  if (wanted === 'enabled' || wanted === 'disabled') return wanted;
  throw invalid(`Invalid status '${String(value)}': use enabled or disabled.`);
}

const AUDIT_LOG_FIELDS = ['status'];

/**
 * The body of `PATCH /mgmt/v1/config/audit-log` (docs/management-api.md, "Audit log"):
 * `{status: "enabled"|"disabled"}`. An unknown field is refused.
 */
export function parseAuditLogUpdate(body: Record<string, unknown>): PolicyStatus {
  const unknown = Object.keys(body).filter((key) => !AUDIT_LOG_FIELDS.includes(key));
  if (unknown.length > 0) throw invalid(`Unknown field '${unknown[0]}': the audit log setting takes ${AUDIT_LOG_FIELDS.join(', ')}.`);
  if (body.status === undefined) throw invalid('Nothing to update: give status (enabled or disabled).');
  return parseStatus(body.status);
}
