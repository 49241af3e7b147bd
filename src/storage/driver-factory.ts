import type { Clock } from '../core/clock.js';
import { CheckedDriver } from './checked-driver.js';
import type { StorageDriver } from './driver.js';
import { StorageDriverSpecError } from './errors.js';
import { FilesystemDriver } from './filesystem-driver.js';
import { MemoryDriver } from './memory-driver.js';

/** What every driver may be given; each takes what its medium needs. */
export interface StorageDriverOptions {
  /** The node's clock (modification times, see `FileInfo.modifiedAt`). */
  clock?: Clock;
  /** filesystem: the folder it keeps its files in (`<data>/storage` on a node). */
  root?: string;
  /** memory: total bytes held before writes fail as on a full disk. */
  quotaBytes?: number;
}

/** A parsed spec: a driver name, and for drivers on a remote medium its location (`azblob://<account>/<container>`). */
export interface StorageDriverSpec {
  name: string;
  /** What follows `<name>://`; null for a bare name. */
  location: string | null;
}

type DriverMaker = (location: string | null, options: StorageDriverOptions) => StorageDriver;

/**
 * The drivers, by name. Each makes its medium only; `createStorageDriver` wraps it. A driver on
 * a remote medium (Azure Blob next: `azblob://<account>/<container>`) reads its location from
 * the spec and its credentials from its options.
 */
const DRIVERS: Readonly<Record<string, DriverMaker>> = {
  filesystem: (location, options) => {
    noLocation('filesystem', location);
    if (options.root === undefined) throw new StorageDriverSpecError('the filesystem storage driver needs a root folder');
    return new FilesystemDriver(options.root, options.clock ? { clock: options.clock } : {});
  },
  memory: (location, options) => {
    noLocation('memory', location);
    return new MemoryDriver({
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.quotaBytes !== undefined ? { quotaBytes: options.quotaBytes } : {}),
    });
  },
};

/** The names `createStorageDriver` knows. */
export const STORAGE_DRIVER_NAMES: readonly string[] = Object.keys(DRIVERS);

/** `memory` → {memory, null}; `azblob://acct/container` → {azblob, acct/container}. */
export function parseStorageDriverSpec(spec: string): StorageDriverSpec {
  const url = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(spec);
  return url ? { name: url[1]!.toLowerCase(), location: url[2]! } : { name: spec.toLowerCase(), location: null };
}

/**
 * The storage driver named by `spec` (`filesystem`, `memory`; a URL whose scheme names the
 * driver for remote media), wrapped in the one checking wrapper (path rules, storage errors,
 * signals; `CheckedDriver`). The only way the node makes a driver. Throws StorageDriverSpecError
 * for a name no driver answers to, or a location or option the driver cannot use.
 */
export function createStorageDriver(spec: string, options: StorageDriverOptions = {}): StorageDriver {
  const { name, location } = parseStorageDriverSpec(spec.trim());
  const make = Object.hasOwn(DRIVERS, name) ? DRIVERS[name] : undefined;
  if (!make) throw new StorageDriverSpecError(`unknown storage driver "${spec}": use one of ${STORAGE_DRIVER_NAMES.join(', ')}`);
  return new CheckedDriver(make(location, options));
}

function noLocation(name: string, location: string | null): void {
  if (location !== null) throw new StorageDriverSpecError(`the ${name} storage driver takes no location ("${name}://${location}"): use "${name}"`);
}
