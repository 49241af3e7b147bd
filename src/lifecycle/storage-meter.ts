import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Clock } from '../core/clock.js';
import type { MetadataStore } from '../metadata/index.js';

/** The filesystem holding the node's storage: size, free, and free to the node (less the blocks reserved for root). */
export interface FilesystemFigures {
  totalBytes: number;
  freeBytes: number;
  availableBytes: number;
}

/** What the node stores and how full its filesystem is. */
export interface StorageFigures {
  /** Bytes of the distinct blobs and manifests the metadata holds (MetadataStore.storedUsage). */
  usedBytes: number;
  /** Null where the storage is not a local filesystem (or cannot be measured). */
  filesystem: FilesystemFigures | null;
  /** When it was measured (the node's clock). */
  measuredAt: Date;
}

export interface StorageMeterDeps {
  metadata: Pick<MetadataStore, 'storedUsage'>;
  /** A folder on the filesystem of the storage (its root); null when the storage is not a local filesystem. */
  path: string | null;
  clock: Clock;
}

/**
 * Measures a node's storage (docs/operations.md, "Disk planning and usage") for its heartbeats
 * and the management API: `statfs` of the storage's filesystem on every call (one system call),
 * and the stored bytes from the metadata — a scan of every blob link, so it is kept until a
 * repository write says it changed (`invalidate`, called for every repository event).
 */
export class StorageMeter {
  private usedBytes: Promise<number> | null = null;

  constructor(private readonly deps: StorageMeterDeps) {}

  /** A repository write committed: the stored bytes are counted again at the next measure. */
  invalidate(): void {
    this.usedBytes = null;
  }

  async measure(): Promise<StorageFigures> {
    const [usedBytes, filesystem] = await Promise.all([this.stored(), this.filesystem()]);
    return { usedBytes, filesystem, measuredAt: new Date(this.deps.clock.now()) };
  }

  /** The filesystem's figures; null when there is none to measure or it cannot be (a failure is not the caller's problem). */
  async filesystem(): Promise<FilesystemFigures | null> {
    if (this.deps.path === null) return null;
    // The storage folder is made at the first write: until then its parent's filesystem is the one it will be on.
    let path = this.deps.path;
    for (;;) {
      try {
        const s = await statfs(path, { bigint: true });
        return {
          totalBytes: Number(s.blocks * s.bsize),
          freeBytes: Number(s.bfree * s.bsize),
          availableBytes: Number(s.bavail * s.bsize),
        };
      } catch (err) {
        const parent = dirname(path);
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || parent === path) return null;
        path = parent;
      }
    }
  }

  private stored(): Promise<number> {
    if (this.usedBytes === null) {
      const counting = this.deps.metadata.storedUsage().then((u) => u.sizeBytes);
      this.usedBytes = counting;
      // A failed count is not kept: the next measure counts again.
      counting.catch(() => {
        if (this.usedBytes === counting) this.usedBytes = null;
      });
    }
    return this.usedBytes;
  }
}
