/**
 * A byte-bounded LRU of manifest bodies keyed by digest. Manifests are immutable once stored,
 * so a cached body is never stale; deletes only remove the metadata that makes it reachable.
 * Keeps the manifest GET path free of storage reads for hot images.
 */
export class ManifestCache {
  private readonly entries = new Map<string, Buffer>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  get(digest: string): Buffer | undefined {
    const body = this.entries.get(digest);
    if (body) {
      // Refresh recency: Map iteration order is insertion order.
      this.entries.delete(digest);
      this.entries.set(digest, body);
    }
    return body;
  }

  set(digest: string, body: Buffer): void {
    if (body.length > this.maxBytes || this.entries.has(digest)) return;
    this.entries.set(digest, body);
    this.bytes += body.length;
    for (const [oldest, oldBody] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= oldBody.length;
    }
  }
}
