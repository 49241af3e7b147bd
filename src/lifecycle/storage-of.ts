import type { Clock } from '../core/clock.js';
import { DriverBlobStore } from '../storage/blob-store.js';
import { createStorageDriver, parseStorageDriverSpec } from '../storage/driver-factory.js';
import { StorageDriverSpecError } from '../storage/errors.js';
import { BackupError } from './backup-errors.js';

/**
 * The blob store a node with storage `spec` keeps its blobs in (`root`: the filesystem driver's
 * folder), made the way the node makes it (`createStorageDriver`), so a backup or a restore reads
 * and writes any store the node can use. `memory` is refused: its blobs live in the node's
 * process, where no other process can read them and from where no node could find them again.
 * Throws BackupError STORAGE_UNSUPPORTED (`verb`: what could not be done, "backed up").
 */
export function blobStoreOf(spec: string, root: string, clock: Clock, verb: string): DriverBlobStore {
  checkStorageSpec(spec, verb);
  try {
    return new DriverBlobStore(createStorageDriver(spec, { root, clock }), { clock });
  } catch (err) {
    if (err instanceof StorageDriverSpecError) throw new BackupError('STORAGE_UNSUPPORTED', `OUTPOST_STORAGE: ${err.message}`, { cause: err });
    throw err;
  }
}

/** Refuses the `memory` driver before anything is done (see blobStoreOf). */
export function checkStorageSpec(spec: string, verb: string): void {
  if (parseStorageDriverSpec(spec.trim()).name === 'memory') {
    throw new BackupError('STORAGE_UNSUPPORTED', `the memory storage driver (OUTPOST_STORAGE=memory) keeps blobs in the node's process only: they cannot be ${verb}`);
  }
}
