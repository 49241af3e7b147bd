export * from './driver.js';
export * from './errors.js';
export * from './types.js';
export { createStorageDriver, parseStorageDriverSpec, STORAGE_DRIVER_NAMES, type StorageDriverOptions, type StorageDriverSpec } from './driver-factory.js';
export { CheckedDriver, storageErrorOf } from './checked-driver.js';
export { FilesystemDriver } from './filesystem-driver.js';
export { MemoryDriver } from './memory-driver.js';
export { DriverBlobStore, BLOB_TEMP_DIR, type AdoptingBlobStore } from './blob-store.js';
export { DriverUploadStore } from './upload-store.js';
