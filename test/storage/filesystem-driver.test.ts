import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FilesystemDriver } from '../../src/storage/filesystem-driver.js';
import { runDriverSuite } from './driver-suite.js';

runDriverSuite('filesystem', async () => {
  const root = await mkdtemp(join(tmpdir(), 'outpost-fs-driver-'));
  return {
    driver: new FilesystemDriver(root),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});
