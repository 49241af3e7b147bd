import { createStorageDriver } from '../../src/storage/driver-factory.js';
import { runDriverSuite } from './driver-suite.js';

runDriverSuite('memory', async (options) => ({ driver: createStorageDriver('memory', options), cleanup: async () => {} }));
