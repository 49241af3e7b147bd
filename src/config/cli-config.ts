import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { ConfigError } from './node-config.js';

/**
 * The CLI's remembered logins (`outpost login`), kept in `$XDG_CONFIG_HOME/outpost/config.json`
 * (or `~/.config/outpost/config.json`). The file holds passwords, so it is written with mode 0600
 * in a folder of mode 0700, like docker's config.json.
 */
export interface CliConfig {
  /** The registry of the last `outpost login`: the target when neither `-r` nor env names one. */
  current?: string;
  logins: StoredLogin[];
}

export interface StoredLogin {
  registry: string;
  username: string;
  password: string;
}

/** Where the management client goes and who it is. */
export interface RegistryTarget {
  registry: string;
  username?: string;
  password?: string;
}

type Env = Record<string, string | undefined>;

export function cliConfigPath(env: Env = process.env): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME !== '' ? env.XDG_CONFIG_HOME : join(env.HOME ?? homedir(), '.config');
  return join(base, 'outpost', 'config.json');
}

/**
 * `localhost:8080` → `http://localhost:8080`, `registry.example` → `https://registry.example`;
 * no trailing slash. Plain HTTP is assumed only for loopback hosts, as docker does.
 */
export function normalizeRegistryUrl(input: string): string {
  let text = input.trim();
  if (text === '') throw new ConfigError('the registry URL is empty');
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    const host = text.split('/')[0]!.replace(/:\d+$/, '');
    const loopback = host === 'localhost' || host.startsWith('127.') || host === '[::1]';
    text = `${loopback ? 'http' : 'https'}://${text}`;
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`invalid registry URL: ${input}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`invalid registry URL: ${input} (http or https)`);
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

export async function readCliConfig(path: string): Promise<CliConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { logins: [] };
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigError(`${path} is not valid JSON; fix or delete it`);
  }
  const value = parsed as Partial<CliConfig>;
  const logins = Array.isArray(value.logins)
    ? value.logins.filter((l): l is StoredLogin => typeof l?.registry === 'string' && typeof l.username === 'string' && typeof l.password === 'string')
    : [];
  return { ...(typeof value.current === 'string' ? { current: value.current } : {}), logins };
}

/** Writes the file atomically with mode 0600 (folder 0700), whatever the umask. */
export async function writeCliConfig(path: string, config: CliConfig): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  await chmod(temp, 0o600);
  await rename(temp, path);
}

/** Remembers a login (replacing an earlier one for the same registry) and makes it current. */
export async function saveLogin(path: string, login: StoredLogin): Promise<void> {
  const config = await readCliConfig(path);
  const registry = normalizeRegistryUrl(login.registry);
  const logins = config.logins.filter((l) => l.registry !== registry);
  logins.push({ registry, username: login.username, password: login.password });
  await writeCliConfig(path, { current: registry, logins });
}

/**
 * Forgets the login of `registry` (or the current one when not given). Resolves with the
 * registry forgotten, or null when there was nothing to forget.
 */
export async function removeLogin(path: string, registry?: string): Promise<string | null> {
  const config = await readCliConfig(path);
  const target = registry !== undefined ? normalizeRegistryUrl(registry) : config.current;
  if (target === undefined || !config.logins.some((l) => l.registry === target)) return null;
  const logins = config.logins.filter((l) => l.registry !== target);
  const current = config.current === target ? undefined : config.current;
  await writeCliConfig(path, { ...(current !== undefined ? { current } : {}), logins });
  return target;
}

/**
 * Which registry and credentials a command uses. Registry: the `--registry` flag, else env
 * `OUTPOST_REGISTRY`, else the registry of the last `outpost login`. Credentials: env
 * `OUTPOST_USERNAME`/`OUTPOST_PASSWORD`, else the stored login for that registry, else none.
 * Throws `ConfigError` when no registry is named anywhere.
 */
export function resolveTarget(flagRegistry: string | undefined, env: Env, config: CliConfig): RegistryTarget {
  const named = [flagRegistry, env.OUTPOST_REGISTRY].find((v) => v !== undefined && v !== '') ?? config.current;
  if (named === undefined) {
    throw new ConfigError('no registry given: use --registry/-r URL, set OUTPOST_REGISTRY, or run `outpost login URL`');
  }
  const registry = normalizeRegistryUrl(named);
  if (env.OUTPOST_USERNAME || env.OUTPOST_PASSWORD) {
    return { registry, username: env.OUTPOST_USERNAME ?? 'admin', password: env.OUTPOST_PASSWORD ?? '' };
  }
  const stored = config.logins.find((l) => l.registry === registry);
  return stored ? { registry, username: stored.username, password: stored.password } : { registry };
}
