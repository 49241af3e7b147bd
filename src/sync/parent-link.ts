import { HttpTransport } from '../client/http-transport.js';
import { RegistryClient, type RemoteRegistry } from '../client/registry-client.js';
import { GatewayClient, type ParentEventSink, type ParentGateway } from '../client/gateway-client.js';

/** How a connected node reaches its parent (from its connection string and --parent-ca). */
export interface ParentSettings {
  tokenName: string;
  tokenPassword: string;
  /** `host[:port]` of the parent's gateway and /v2 API. */
  parentEndpoint: string;
  parentProtocol: 'http' | 'https';
  /** PEM file of extra CAs trusted for an https parent. */
  caFile: string | null;
  /** The same as PEM text (OUTPOST_PARENT_CA_CERT). */
  caPem?: string | null;
  /** The User-Agent of the sync requests (`outpost/<version>`). */
  userAgent?: string;
}

/** What the sync agent talks to: the parent's gateway for this node and its /v2 API (a fake parent in unit tests). */
export interface ParentLink {
  /** Where the parent is, for logs. */
  readonly address: string;
  readonly gateway: ParentGateway;
  readonly registry: RemoteRegistry;
  /** Where this node's notification events go up (absent for a parent that takes none: the unit tests' fake parent). */
  readonly events?: ParentEventSink;
  /** Closes the connections (the agent has stopped). */
  close(): Promise<void>;
}

/** The parent over HTTP(S): one connection pool for its gateway (as connected registry `selfName`) and its /v2. */
export function httpParentLink(settings: ParentSettings, selfName: string): ParentLink {
  const transport = new HttpTransport({
    baseUrl: `${settings.parentProtocol}://${settings.parentEndpoint}`,
    username: settings.tokenName,
    password: settings.tokenPassword,
    caFile: settings.caFile,
    caPem: settings.caPem ?? null,
    ...(settings.userAgent ? { userAgent: settings.userAgent } : {}),
  });
  const gateway = new GatewayClient(transport, selfName);
  return {
    address: transport.baseUrl,
    gateway,
    events: gateway,
    registry: new RegistryClient(transport),
    close: () => transport.close(),
  };
}
