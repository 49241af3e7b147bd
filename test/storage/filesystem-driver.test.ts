import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStorageDriver } from '../../src/storage/driver-factory.js';
import { runDriverSuite } from './driver-suite.js';

runDriverSuite('filesystem', async (options) => {
  const root = await mkdtemp(join(tmpdir(), 'outpost-fs-driver-'));
  return {
    driver: createStorageDriver('filesystem', { ...options, root }),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});
