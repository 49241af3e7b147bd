import { RegistryError } from './errors.js';
import { isDigest } from './digest.js';

/** Repository name grammar of the distribution spec: path components of lowercase alphanumerics joined by separators. */
const NAME_GRAMMAR = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG_GRAMMAR = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
/** As distribution: the whole name, host included by clients, must fit in 255 characters. */
export const MAX_NAME_LENGTH = 255;

export function isValidRepositoryName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME_LENGTH && NAME_GRAMMAR.test(name);
}

/** Throws NAME_INVALID unless `name` is a repository name of the spec's grammar. */
export function assertRepositoryName(name: string): void {
  if (!isValidRepositoryName(name)) {
    throw new RegistryError('NAME_INVALID', 'invalid repository name', { name: name.slice(0, 300) });
  }
}

export function isValidTag(tag: string): boolean {
  return TAG_GRAMMAR.test(tag);
}

/** A manifest reference is either a tag or a digest. */
export type Reference = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: string };

/** Parses a manifest reference; an invalid tag is MANIFEST_INVALID... except on reads, which callers map to MANIFEST_UNKNOWN. */
export function parseReference(reference: string): Reference {
  if (reference.includes(':')) {
    if (!isDigest(reference)) throw new RegistryError('DIGEST_INVALID', 'invalid digest reference', { reference: reference.slice(0, 200) });
    return { kind: 'digest', digest: reference };
  }
  if (!isValidTag(reference)) throw new RegistryError('MANIFEST_INVALID', 'invalid tag', { tag: reference.slice(0, 200) });
  return { kind: 'tag', tag: reference };
}
