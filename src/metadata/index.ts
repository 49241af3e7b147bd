export type { Change, ChangeKind, ManifestRecord, MetadataStore, PutManifestInput } from './types.js';
export { SqliteMetadataStore } from './sqlite-store.js';
export { MIGRATIONS, runMigrations } from './migrations.js';
export type { Migration } from './migrations.js';
