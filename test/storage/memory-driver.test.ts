import { MemoryDriver } from '../../src/storage/memory-driver.js';
import { runDriverSuite } from './driver-suite.js';

runDriverSuite('memory', async () => ({ driver: new MemoryDriver(), cleanup: async () => {} }));
