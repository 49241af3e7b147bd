import type { ConnectedRegistryStore, IdentityLimits, IdentityStore, MetadataStore } from '../metadata/index.js';
import type { StorageMeter } from './storage-meter.js';

/** One line of `outpost show-usage` (the shape of `az acr show-usage`'s entries). `limit` null: none. */
export interface UsageEntry {
  name: string;
  currentValue: number;
  limit: number | null;
  unit: 'Bytes' | 'Count';
}

export interface UsageDeps {
  metadata: Pick<MetadataStore, 'storedUsage'>;
  identities: Pick<IdentityStore, 'listTokens' | 'listScopeMaps'>;
  connectedRegistries: Pick<ConnectedRegistryStore, 'listConnectedRegistries' | 'maxConnectedRegistries'>;
  /** The registry's token and scope-map limits (the reference's 20,000 unless lowered). */
  limits: Pick<IdentityLimits, 'tokens' | 'scopeMaps'>;
  meter: Pick<StorageMeter, 'filesystem'>;
}

/**
 * The registry's usage figures (docs/operations.md, "Disk planning and usage"), as
 * `az acr show-usage` lists them: what is stored against the disk it is stored on, and the counted
 * resources against the reference's limits.
 */
export class UsageService {
  constructor(private readonly deps: UsageDeps) {}

  async usage(): Promise<UsageEntry[]> {
    const { metadata, identities, connectedRegistries, limits, meter } = this.deps;
    const [stored, filesystem, tokens, scopeMaps, registries] = await Promise.all([
      metadata.storedUsage(), meter.filesystem(), identities.listTokens(), identities.listScopeMaps(), connectedRegistries.listConnectedRegistries(),
    ]);
    const total = filesystem?.totalBytes ?? null;
    return [
      // The registry's content against the size of the disk it lives on.
      { name: 'Size', currentValue: stored.sizeBytes, limit: total, unit: 'Bytes' },
      // The disk as the node sees it: what it can no longer write to (everything but the space available to it).
      ...(filesystem ? [{ name: 'FilesystemUsed', currentValue: filesystem.totalBytes - filesystem.availableBytes, limit: total, unit: 'Bytes' as const }] : []),
      { name: 'Repositories', currentValue: stored.repositories, limit: null, unit: 'Count' },
      { name: 'Manifests', currentValue: stored.manifests, limit: null, unit: 'Count' },
      { name: 'Blobs', currentValue: stored.blobs, limit: null, unit: 'Count' },
      { name: 'Tokens', currentValue: tokens.length, limit: limits.tokens, unit: 'Count' },
      // The limit counts the user-defined scope maps only; the three system ones are always there.
      { name: 'ScopeMaps', currentValue: scopeMaps.filter((m) => m.type === 'UserDefined').length, limit: limits.scopeMaps, unit: 'Count' },
      { name: 'ConnectedRegistries', currentValue: registries.length, limit: connectedRegistries.maxConnectedRegistries, unit: 'Count' },
    ];
  }
}
