import type { AuditLogStatus, ConnectedRegistryLogLevel, ConnectedRegistryMode, ConnectionState } from '../client/management-client.js';
import { UsageError } from './usage-error.js';

/**
 * Client-side checks of `outpost connected-registry` arguments: the ones az makes before it sends
 * anything (its `argument error: …` messages), and enumerated values, so that a typo is exit 2
 * with nothing sent. Cron expressions, ISO 8601 durations, notification patterns and everything
 * that depends on the registry's state are left to the server, which has the one set of rules.
 */

export const MODES: readonly ConnectedRegistryMode[] = ['ReadOnly', 'ReadWrite'];
export const LOG_LEVELS: readonly ConnectedRegistryLogLevel[] = ['Debug', 'Information', 'Warning', 'Error', 'None'];
export const CONNECTION_STATES: readonly ConnectionState[] = ['Online', 'Offline', 'Syncing', 'Unhealthy'];
export const PARENT_PROTOCOLS = ['http', 'https'] as const;
export const PASSWORD_NUMBERS = ['1', '2'] as const;

/**
 * One of `choices`, compared case-insensitively as az's enum arguments are, returned in its
 * canonical spelling; undefined stays undefined. `flag` is how the message names the option
 * (`--mode/-m`).
 */
export function parseChoice<T extends string>(value: string | undefined, choices: readonly T[], flag: string): T | undefined {
  if (value === undefined) return undefined;
  const found = choices.find((c) => c.toLowerCase() === value.toLowerCase());
  if (found === undefined) throw new UsageError(`argument ${flag}: invalid choice: '${value}' (choose from ${choices.map((c) => `'${c}'`).join(', ')})`);
  return found;
}

const TRUE_WORDS = ['true', 'yes', 'on', '1', 'enabled'];
const FALSE_WORDS = ['false', 'no', 'off', '0', 'disabled'];

/**
 * az's three-state flag: absent (undefined), given alone (commander passes `true`), or given a
 * word (`true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`, `enabled`/`disabled`).
 */
export function parseFlagBoolean(value: string | boolean | undefined, flag: string): boolean | undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  const lower = value.toLowerCase();
  if (TRUE_WORDS.includes(lower)) return true;
  if (FALSE_WORDS.includes(lower)) return false;
  throw new UsageError(`argument ${flag}: invalid value: '${value}' (use true or false)`);
}

export function auditLogStatusOf(value: string | boolean | undefined): AuditLogStatus | undefined {
  const enabled = parseFlagBoolean(value, '--audit-logs-enabled');
  return enabled === undefined ? undefined : enabled ? 'Enabled' : 'Disabled';
}

/**
 * The name checks az makes before creating (its `argument error:` messages): at least 5
 * characters (the sync token's gateway actions need it), lowercase only. The rest of the rule
 * (5–40 characters, starts with a letter, `[a-z0-9-]`) is the server's.
 */
export function checkNewConnectedRegistryName(name: string): void {
  if (name.length < 5) throw new UsageError('argument error: Connected registry name must be at least 5 characters long.');
  if (name !== name.toLowerCase()) throw new UsageError('argument error: Connected registry name must use only lowercase.');
}

/**
 * The values of a variadic option that may be given without values (az's `nargs='*'`):
 * commander passes `true` for a bare flag. Empty strings are dropped.
 */
export function listOf(value: string[] | string | boolean | undefined): string[] {
  if (value === undefined || typeof value === 'boolean') return [];
  return (Array.isArray(value) ? value : [value]).filter((v) => v !== '');
}
