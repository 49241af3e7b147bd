import { readFile, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { generatePassword } from './passwords.js';

export const ADMIN_PASSWORD_FILE = 'admin-password';

/**
 * The admin password: `fromEnv` (OUTPOST_ADMIN_PASSWORD) when set, else the one in
 * `<data>/admin-password`, generated on first start and written readable only by its owner
 * (mode 0600). Logs where it comes from (never the password itself).
 */
export async function loadAdminPassword(dataDir: string, fromEnv: string | null, logger: Logger): Promise<string> {
  if (fromEnv !== null && fromEnv !== '') {
    logger.info('admin password taken from OUTPOST_ADMIN_PASSWORD');
    return fromEnv;
  }
  const path = join(dataDir, ADMIN_PASSWORD_FILE);
  try {
    const existing = (await readFile(path, 'utf8')).trim();
    if (existing !== '') {
      logger.info({ adminPasswordFile: path }, `admin password is in ${path}`);
      return existing;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const password = generatePassword();
  await writeFile(path, `${password}\n`, { mode: 0o600 });
  // The mode given to writeFile is filtered by the umask; make it exactly 0600.
  await chmod(path, 0o600);
  logger.info({ adminPasswordFile: path }, `generated the admin password; it is in ${path}`);
  return password;
}
