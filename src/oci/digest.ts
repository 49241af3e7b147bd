import { createHash, type Hash } from 'node:crypto';
import { RegistryError } from './errors.js';

/** The digest algorithms Outpost accepts, with the length of their hex encoding. */
export const DIGEST_ALGORITHMS = { sha256: 64, sha512: 128 } as const;
export type DigestAlgorithm = keyof typeof DIGEST_ALGORITHMS;

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
  /** `<algorithm>:<hex>` */
  digest: string;
}

const DIGEST_GRAMMAR = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

/** Parses a digest string, or throws DIGEST_INVALID (unsupported algorithm, wrong length, upper-case hex). */
export function parseDigest(value: string): ParsedDigest {
  const match = DIGEST_GRAMMAR.exec(value);
  if (!match) throw new RegistryError('DIGEST_INVALID', `invalid digest: ${value.slice(0, 200)}`);
  const algorithm = match[1] as string;
  const hex = match[2] as string;
  if (!(algorithm in DIGEST_ALGORITHMS)) {
    throw new RegistryError('DIGEST_INVALID', `unsupported digest algorithm: ${algorithm.slice(0, 40)}`);
  }
  const alg = algorithm as DigestAlgorithm;
  if (hex.length !== DIGEST_ALGORITHMS[alg] || !/^[a-f0-9]+$/.test(hex)) {
    throw new RegistryError('DIGEST_INVALID', `invalid ${alg} digest: ${value.slice(0, 200)}`);
  }
  return { algorithm: alg, hex, digest: value };
}

export function isDigest(value: string): boolean {
  try {
    parseDigest(value);
    return true;
  } catch {
    return false;
  }
}

export function createDigester(algorithm: DigestAlgorithm = 'sha256'): Hash {
  return createHash(algorithm);
}

/** The digest of an in-memory buffer (manifests and small test blobs only). */
export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}
