import { systemClock } from '../core/clock.js';
import { RegistryError } from '../oci/errors.js';
import { permissionActions } from '../oci/actions.js';
import { UsageError } from './usage-error.js';

/**
 * Groups of a repeatable "flag followed by several values" option, in command-line order:
 * `--repository hello content/read metadata/read --repository other content/write` gives
 * `[['hello', 'content/read', 'metadata/read'], ['other', 'content/write']]`.
 *
 * Commander folds every value of a repeated variadic option into one list, which loses where
 * each group starts, so the groups are read from the raw arguments with commander's own rule:
 * a group runs until the next argument that looks like an option, or `--`. `flags` are the
 * spellings of one option (e.g. `--add-repository` and its alias `--add`); `--flag=value` starts
 * a group with `value`.
 */
export function collectGroups(argv: readonly string[], flags: readonly string[]): string[][] {
  const groups: string[][] = [];
  let current: string[] | null = null;
  for (const arg of argv) {
    if (arg === '--') break;
    const looksLikeOption = arg.length > 1 && arg.startsWith('-') && !/^-\d/.test(arg);
    if (looksLikeOption) {
      current = null;
      const eq = arg.indexOf('=');
      const flag = eq === -1 ? arg : arg.slice(0, eq);
      if (flags.includes(flag)) {
        current = eq === -1 ? [] : [arg.slice(eq + 1)];
        groups.push(current);
      }
      continue;
    }
    current?.push(arg);
  }
  return groups;
}

/**
 * az's action strings from `--repository REPO ACTION…` / `--gateway GW ACTION…` groups:
 * `repositories/<repo>/<action>` and `gateway/<gw>/<action>`, resource names lower-cased, actions
 * compared case-insensitively, duplicates dropped — by the one action grammar (oci/actions.ts),
 * whose resource checks are left to the server. Throws `UsageError` with the reference's
 * messages (on one line) for a group without actions or an unknown action.
 */
export function buildActions(groups: readonly string[][], kind: 'repository' | 'gateway'): string[] {
  const actions: string[] = [];
  for (const group of groups) {
    const [resource, ...rest] = group;
    if (resource === undefined || resource === '') {
      throw new UsageError(`argument --${kind}: expected a ${kind === 'repository' ? 'repository' : 'connected registry'} name and at least one action`);
    }
    let built: string[];
    try {
      built = permissionActions(kind === 'repository' ? 'repositories' : 'gateway', resource, rest);
    } catch (err) {
      if (err instanceof RegistryError) throw new UsageError(err.message.replace(/\s*\n\s*/g, ' '));
      throw err;
    }
    for (const action of built) if (!actions.includes(action)) actions.push(action);
  }
  return actions;
}

const EXPIRATION_FORMAT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/;

/**
 * A password expiry from `--expiration-in-days N` or `--expiration YYYY-MM-DDTHH:MM:SSZ` (not
 * both), as an ISO 8601 UTC string; undefined when neither is given (the server's default: never).
 */
export function parseExpiry(options: { expirationInDays?: string; expiration?: string }, now: Date = new Date(systemClock.now())): string | undefined {
  const { expirationInDays: days, expiration } = options;
  if (days !== undefined && expiration !== undefined) {
    throw new UsageError('usage error: --expiration-in-days and --expiration cannot be used together');
  }
  if (days !== undefined) {
    if (!/^\d+$/.test(days) || Number(days) < 1) throw new UsageError(`argument --expiration-in-days: invalid int value: '${days}' (a whole number of days, at least 1)`);
    return new Date(now.getTime() + Number(days) * 86_400_000).toISOString();
  }
  if (expiration !== undefined) {
    const m = EXPIRATION_FORMAT.exec(expiration);
    const date = m ? new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!)) : null;
    if (!date || Number.isNaN(date.getTime()) || date.toISOString().slice(0, 19) !== expiration.slice(0, 19)) {
      throw new UsageError(`argument --expiration: '${expiration}' is not a date in the format YYYY-MM-DDTHH:MM:SSZ`);
    }
    return date.toISOString();
  }
  return undefined;
}
