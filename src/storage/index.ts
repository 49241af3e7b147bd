export * from './driver.js';
export * from './types.js';
export { FilesystemDriver } from './filesystem-driver.js';
export { MemoryDriver } from './memory-driver.js';
export { DriverBlobStore, BLOB_TEMP_DIR, type AdoptingBlobStore } from './blob-store.js';
export { DriverUploadStore } from './upload-store.js';
