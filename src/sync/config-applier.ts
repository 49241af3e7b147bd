import { SYNC_STATE_KEYS, type ConnectedRegistrySnapshot, type ConnectedRegistryStore, type IdentityStore, type SyncStore, type TokenRecord } from '../metadata/index.js';
import type { ConfigDocument, PasswordDoc, RegistryDoc, TokenDoc } from '../client/gateway-protocol.js';
import type { EdgePolicy } from './edge-policy.js';

export interface AppliedConfig {
  document: ConfigDocument;
  etag: string;
}

/**
 * Makes a connected node's local stores match the config its parent sent: its own record and its
 * descendants' (so its gateway serves its children, offline too), the tokens and scope maps, and
 * the policy its /v2 API enforces. The document is kept, so a restart while the parent is
 * unreachable starts from the last config.
 */
export class ConfigApplier {
  constructor(
    private readonly connectedRegistries: ConnectedRegistryStore,
    private readonly identities: IdentityStore,
    private readonly state: Pick<SyncStore, 'getState' | 'setState'>,
    private readonly policy: EdgePolicy,
  ) {}

  /** The config stored by the last apply, or null on a node that never got one. */
  async load(): Promise<AppliedConfig | null> {
    const text = await this.state.getState(SYNC_STATE_KEYS.config);
    if (text === null) return null;
    const applied = JSON.parse(text) as AppliedConfig;
    this.policy.update(applied.document);
    return applied;
  }

  async apply(document: ConfigDocument, etag: string): Promise<void> {
    // Its own record has no parent here: this node is the top of its local hierarchy.
    await this.connectedRegistries.replaceSubtree([{ ...snapshot(document.self), parent: null }, ...document.descendants.map(snapshot)]);
    await this.identities.replaceAll({
      scopeMaps: document.scopeMaps.map((m) => ({ name: m.name, description: m.description, actions: m.actions })),
      tokens: document.tokens.map(tokenRecord),
    });
    await this.state.setState(SYNC_STATE_KEYS.config, JSON.stringify({ document, etag } satisfies AppliedConfig));
    this.policy.update(document);
  }
}

function snapshot(doc: RegistryDoc): ConnectedRegistrySnapshot {
  return {
    name: doc.name,
    mode: doc.mode,
    parent: doc.parent,
    sync: { ...doc.sync },
    clientTokenIds: [...doc.clientTokenIds],
    logging: { ...doc.logging },
    notificationsList: [...doc.notificationsList],
    garbageCollection: { ...doc.garbageCollection },
    activationEpoch: doc.activationEpoch,
    resyncRequestedAt: doc.resyncRequestedAt === null ? null : new Date(doc.resyncRequestedAt),
    gcRequest: doc.gcRequest ? { requestedAt: new Date(doc.gcRequest.requestedAt), dryRun: doc.gcRequest.dryRun } : null,
  };
}

function password(doc: PasswordDoc | null): TokenRecord['password1'] {
  return doc === null ? null : { hash: doc.hash, createdAt: new Date(doc.createdAt), expiry: doc.expiry === null ? null : new Date(doc.expiry) };
}

function tokenRecord(doc: TokenDoc): TokenRecord {
  return {
    name: doc.name,
    status: doc.status,
    scopeMap: doc.scopeMap,
    createdAt: new Date(doc.createdAt),
    password1: password(doc.password1),
    password2: password(doc.password2),
  };
}
