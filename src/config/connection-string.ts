import { ConfigError } from './config-error.js';

/** What a connected node needs to reach its parent: the fields of its connection string (README, "Deploying a connected registry"). */
export interface ConnectionSettings {
  /** The connected registry this node is. */
  name: string;
  tokenName: string;
  tokenPassword: string;
  /** `host[:port]` of the parent's gateway and /v2 API. */
  parentEndpoint: string;
  parentProtocol: 'http' | 'https';
}

const KEYS = ['ConnectedRegistryName', 'SyncTokenName', 'SyncTokenPassword', 'ParentGatewayEndpoint', 'ParentEndpointProtocol'] as const;

/**
 * Parses `ConnectedRegistryName=…;SyncTokenName=…;SyncTokenPassword=…;ParentGatewayEndpoint=host:port;ParentEndpointProtocol=https`.
 * Keys are case-insensitive; a value may itself contain `=` (passwords do). Throws ConfigError
 * naming what is wrong, never echoing the password.
 */
export function parseConnectionString(text: string, parentOverride?: string): ConnectionSettings {
  const values = new Map<string, string>();
  for (const part of text.trim().split(';')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new ConfigError(`malformed connection string: "${redact(part)}" is not Key=Value`);
    const key = KEYS.find((k) => k.toLowerCase() === part.slice(0, eq).trim().toLowerCase());
    if (!key) {
      throw new ConfigError(`malformed connection string: unknown key "${part.slice(0, eq).trim()}" (expected ${KEYS.join(', ')})`);
    }
    values.set(key, part.slice(eq + 1).trim());
  }
  const missing = KEYS.filter((k) => !values.get(k));
  if (missing.length > 0) throw new ConfigError(`malformed connection string: missing ${missing.join(', ')}`);
  const protocol = values.get('ParentEndpointProtocol')!.toLowerCase();
  if (protocol !== 'http' && protocol !== 'https') {
    throw new ConfigError(`malformed connection string: ParentEndpointProtocol must be http or https, not "${values.get('ParentEndpointProtocol')}"`);
  }
  const parentEndpoint = (parentOverride ?? values.get('ParentGatewayEndpoint')!).replace(/^https?:\/\//i, '').replace(/\/+$/, '');
  if (!/^[A-Za-z0-9.[\]:-]+$/.test(parentEndpoint)) {
    throw new ConfigError(`malformed connection string: ParentGatewayEndpoint "${parentEndpoint}" is not host[:port]`);
  }
  return {
    name: values.get('ConnectedRegistryName')!.toLowerCase(),
    tokenName: values.get('SyncTokenName')!,
    tokenPassword: values.get('SyncTokenPassword')!,
    parentEndpoint,
    parentProtocol: protocol,
  };
}

function redact(part: string): string {
  return /password/i.test(part) ? 'SyncTokenPassword…' : part.slice(0, 60);
}
