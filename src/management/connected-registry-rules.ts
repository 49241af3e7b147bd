import { RegistryError, isValidRepositoryName, isValidTag, isoDurationMs } from '../oci/index.js';
import type { ConnectedRegistryLogLevel, ConnectedRegistryMode } from '../metadata/index.js';

/**
 * The connected-registry rules (docs/management-api.md, "Connected registries") as pure functions. Each throws a
 * REQUEST_INVALID RegistryError whose message uses the reference's words where it has them.
 */

export const CONTINUOUS_SCHEDULE = '* * * * *';
export const DEFAULT_MESSAGE_TTL = 'P2D';
export const LOG_LEVELS: readonly ConnectedRegistryLogLevel[] = ['Debug', 'Information', 'Warning', 'Error', 'None'];
export const CONNECTED_REGISTRY_HELP = 'For more information on connected registries please visit https://aka.ms/acr/connected-registry.';

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;

function invalid(message: string): RegistryError {
  return new RegistryError('REQUEST_INVALID', message);
}

/** 5–40 characters, starts with a letter, lowercase letters, digits and `-`. */
export function assertConnectedRegistryName(value: unknown): string {
  if (typeof value !== 'string') throw invalid('Connected registry name must be a string.');
  if (value.length < 5) throw invalid('Connected registry name must be at least 5 characters long.');
  if (value.length > 40) throw invalid('Connected registry name must be at most 40 characters long.');
  if (value !== value.toLowerCase()) throw invalid('Connected registry name must use only lowercase.');
  if (!/^[a-z][a-z0-9-]*$/.test(value)) {
    throw invalid(`Invalid connected registry name '${value}': it must start with a letter and contain only lowercase letters, digits and '-'.`);
  }
  return value;
}

/** `ReadOnly` (default), `ReadWrite`, or the old names `Mirror`/`Registry`; case-insensitive. */
export function parseMode(value: unknown): ConnectedRegistryMode {
  if (value === undefined || value === null) return 'ReadOnly';
  const lower = typeof value === 'string' ? value.toLowerCase() : '';
  if (lower === 'readonly' || lower === 'mirror') return 'ReadOnly';
  if (lower === 'readwrite' || lower === 'registry') return 'ReadWrite';
  throw invalid(`Invalid mode '${String(value)}': use ReadOnly or ReadWrite (Mirror and Registry are accepted as their old names).`);
}

/** A ReadOnly parent accepts only ReadOnly children. */
export function assertHierarchy(name: string, mode: ConnectedRegistryMode, parent: string, parentMode: ConnectedRegistryMode): void {
  if (parentMode === 'ReadWrite' || parentMode === mode) return;
  throw invalid(`Can't create the registry '${name}' with mode '${mode}' when the connected registry parent '${parent}' mode is '${parentMode}'. ${CONNECTED_REGISTRY_HELP}`);
}

const CRON_FIELDS: ReadonlyArray<{ name: string; min: number; max: number }> = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12 },
  { name: 'day of week', min: 0, max: 7 },
];

/**
 * A 5-field cron expression (minute hour day-of-month month day-of-week, UTC). Each field is a
 * comma list of `*`, `n`, `a-b`, each optionally `/step`. Day of week 0 and 7 are Sunday.
 * Names (`MON`, `JAN`) and the `?`/`L`/`W` extensions are not accepted.
 */
export function assertCron(value: unknown, what = 'sync schedule'): string {
  if (typeof value !== 'string') throw invalid(`The ${what} must be a string.`);
  const fields = value.trim().split(/\s+/);
  const bad = (why: string): RegistryError => invalid(`Invalid ${what} '${value}': ${why}`);
  if (fields.length !== 5 || value.trim() === '') throw bad('a cron expression has 5 fields (minute hour day-of-month month day-of-week).');
  fields.forEach((field, i) => {
    const spec = CRON_FIELDS[i]!;
    for (const item of field.split(',')) {
      const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(item);
      if (!m) throw bad(`'${item}' is not a valid ${spec.name} field.`);
      const from = m[2] === undefined ? spec.min : Number(m[2]);
      const to = m[3] === undefined ? (m[2] === undefined || m[4] !== undefined ? spec.max : from) : Number(m[3]);
      if (from < spec.min || from > spec.max || to < spec.min || to > spec.max) {
        throw bad(`${spec.name} values must be between ${spec.min} and ${spec.max}.`);
      }
      if (from > to) throw bad(`the range '${item}' of ${spec.name} is reversed.`);
      if (m[4] !== undefined && Number(m[4]) < 1) throw bad(`the step in '${item}' must be at least 1.`);
    }
  });
  return fields.join(' ');
}

export function isContinuous(schedule: string): boolean {
  return schedule.trim().split(/\s+/).join(' ') === CONTINUOUS_SCHEDULE;
}

/** The sync window: ISO 8601, 1 hour to 7 days, and only with a schedule that is not continuous. */
export function assertSyncWindow(value: unknown, schedule: string): string {
  const ms = typeof value === 'string' ? isoDurationMs(value) : null;
  if (ms === null) throw invalid(`Invalid sync window '${String(value)}': use an ISO 8601 duration such as PT3H.`);
  if (ms < HOUR_MS || ms > 7 * DAY_MS) throw invalid(`The sync window must be between 1 hour and 7 days (PT1H to P7D); got '${String(value)}'.`);
  if (isContinuous(schedule)) {
    throw invalid(`A sync window can only be set with a sync schedule that is not continuous ('${CONTINUOUS_SCHEDULE}').`);
  }
  return value as string;
}

/** The message TTL: ISO 8601, 1 to 90 days. */
export function assertMessageTtl(value: unknown): string {
  const ms = typeof value === 'string' ? isoDurationMs(value) : null;
  if (ms === null) throw invalid(`Invalid sync message TTL '${String(value)}': use an ISO 8601 duration such as P2D.`);
  if (ms < DAY_MS || ms > 90 * DAY_MS) throw invalid(`The sync message TTL must be between 1 and 90 days (P1D to P90D); got '${String(value)}'.`);
  return value as string;
}

export function parseLogLevel(value: unknown): ConnectedRegistryLogLevel {
  const found = LOG_LEVELS.find((l) => typeof value === 'string' && l.toLowerCase() === value.toLowerCase());
  if (!found) throw invalid(`Invalid log level '${String(value)}': use one of ${LOG_LEVELS.join(', ')}.`);
  return found;
}

const DIGEST_LIKE = /^[A-Za-z0-9][A-Za-z0-9+._:=-]*$/;

/**
 * A notification pattern `name[:tag][@digest]:push|delete|*` (docs/management-api.md, `notifications`): `name` is a
 * repository name, `*` or `prefix/*`; tag and digest are themselves or `*`.
 */
export function assertNotification(value: unknown): string {
  const bad = (): RegistryError => invalid(`Invalid notification '${String(value)}': use name[:tag][@digest]:push|delete|* (e.g. 'hello-world:*', 'repo:1.0:push', 'repo@sha256:…:delete').`);
  if (typeof value !== 'string') throw bad();
  const colon = value.lastIndexOf(':');
  if (colon <= 0) throw bad();
  const action = value.slice(colon + 1);
  if (action !== 'push' && action !== 'delete' && action !== '*') throw bad();
  const artifact = value.slice(0, colon);
  const at = artifact.indexOf('@');
  const nameAndTag = at === -1 ? artifact : artifact.slice(0, at);
  if (at !== -1) {
    const digest = artifact.slice(at + 1);
    if (digest !== '*' && !DIGEST_LIKE.test(digest)) throw bad();
  }
  const parts = nameAndTag.split(':');
  if (parts.length > 2) throw bad();
  const [name, tag] = parts as [string, string | undefined];
  if (tag !== undefined && tag !== '*' && !isValidTag(tag)) throw bad();
  if (name !== '*') {
    const base = name.endsWith('/*') ? name.slice(0, -2) : name;
    if (!isValidRepositoryName(base)) throw bad();
  }
  return value;
}

/** A JSON array of strings (or absent: []), validated one by one. */
export function stringList(value: unknown, what: string, each: (v: string) => string = (v) => v): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw invalid(`${what} must be an array of strings.`);
  const out: string[] = [];
  for (const v of value as string[]) {
    const checked = each(v);
    if (!out.includes(checked)) out.push(checked);
  }
  return out;
}

/**
 * Set semantics of `update`: (current ∪ add) − remove, refusing an item in both lists with the
 * reference's "Update ambiguity" message. Returns null when nothing changes.
 */
export function applySetChange(current: string[], add: string[], remove: string[], ambiguity: string): string[] | null {
  const both = add.filter((a) => remove.includes(a));
  if (both.length > 0) throw invalid(`${ambiguity}\n[${both.map((b) => `'${b}'`).join(', ')}]`);
  const next = [...current, ...add.filter((a) => !current.includes(a))].filter((a) => !remove.includes(a));
  const same = next.length === current.length && next.every((a) => current.includes(a));
  return same ? null : next;
}

export const CLIENT_TOKEN_AMBIGUITY = 'Update ambiguity. Duplicate client token ids were provided with --add-client-tokens and --remove-client-tokens arguments.';
export const NOTIFICATION_AMBIGUITY = 'Update ambiguity. Duplicate notifications list were provided with --add-notifications and --remove-notifications arguments.';
export const REPOSITORY_AMBIGUITY = 'Update ambiguity. Duplicate repository names were provided with --add and --remove arguments.';
