import { RegistryError } from './errors.js';
import { parseDigest } from './digest.js';
import { MediaType, INDEX_TYPES, IMAGE_MANIFEST_TYPES, isNonDistributable, baseMediaType } from './media-types.js';

/** Manifests larger than this are refused, as the spec suggests (4 MiB). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  urls?: string[];
  platform?: Record<string, unknown>;
}

export interface ParsedManifest {
  mediaType: string;
  kind: 'image' | 'index';
  /** `artifactType`, or for an image manifest without one its config media type (the referrers rule). */
  artifactType: string | null;
  subject: Descriptor | null;
  /** Blobs the manifest needs in the repository: config and distributable layers. */
  blobs: Descriptor[];
  /** Child manifests of an index. */
  manifests: Descriptor[];
  annotations: Record<string, string> | null;
}

type Json = Record<string, unknown>;

function invalid(message: string, detail?: unknown): RegistryError {
  return new RegistryError('MANIFEST_INVALID', message, detail);
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseAnnotations(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw invalid(`${where}.annotations must be a map of strings`);
  }
  return value as Record<string, string>;
}

function parseDescriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw invalid(`${where} must be a descriptor object`);
  const { mediaType, digest, size } = value;
  if (typeof mediaType !== 'string' || mediaType.length === 0) throw invalid(`${where}.mediaType must be a string`);
  if (typeof digest !== 'string') throw invalid(`${where}.digest must be a string`);
  try {
    parseDigest(digest);
  } catch {
    throw invalid(`${where}.digest is not a valid digest`, { digest: String(digest).slice(0, 200) });
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalid(`${where}.size must be a non-negative integer`);
  const descriptor: Descriptor = { mediaType, digest, size };
  if (value.artifactType !== undefined) {
    if (typeof value.artifactType !== 'string') throw invalid(`${where}.artifactType must be a string`);
    descriptor.artifactType = value.artifactType;
  }
  const annotations = parseAnnotations(value.annotations, where);
  if (annotations) descriptor.annotations = annotations;
  if (value.urls !== undefined) {
    if (!Array.isArray(value.urls) || !value.urls.every((u) => typeof u === 'string')) throw invalid(`${where}.urls must be strings`);
    descriptor.urls = value.urls as string[];
  }
  if (value.platform !== undefined) {
    if (!isObject(value.platform)) throw invalid(`${where}.platform must be an object`);
    descriptor.platform = value.platform;
  }
  return descriptor;
}

function parseDescriptorList(value: unknown, where: string): Descriptor[] {
  if (!Array.isArray(value)) throw invalid(`${where} must be an array`);
  return value.map((item, i) => parseDescriptor(item, `${where}[${i}]`));
}

/**
 * Parses and validates a manifest body. `contentType` is the request's Content-Type; when the body
 * names a mediaType the two must agree. Throws MANIFEST_INVALID for anything malformed and
 * MANIFEST_TOO_LARGE past MAX_MANIFEST_BYTES. Does not check that referenced content exists.
 */
export function parseManifest(body: Buffer, contentType: string | undefined): ParsedManifest {
  if (body.length > MAX_MANIFEST_BYTES) {
    throw new RegistryError('MANIFEST_TOO_LARGE', `manifest is ${body.length} bytes; the limit is ${MAX_MANIFEST_BYTES}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    throw invalid('manifest is not valid JSON');
  }
  if (!isObject(doc)) throw invalid('manifest must be a JSON object');
  if (doc.schemaVersion !== 2) throw invalid('only schemaVersion 2 manifests are supported', { schemaVersion: doc.schemaVersion ?? null });

  const headerType = baseMediaType(contentType);
  const bodyType = doc.mediaType;
  if (bodyType !== undefined && typeof bodyType !== 'string') throw invalid('mediaType must be a string');
  if (bodyType !== undefined && headerType !== undefined && bodyType !== headerType) {
    throw invalid('manifest mediaType does not match the Content-Type header', { mediaType: bodyType, contentType: headerType });
  }
  const mediaType = bodyType ?? headerType ?? guessMediaType(doc);
  if (!mediaType || (!IMAGE_MANIFEST_TYPES.includes(mediaType) && !INDEX_TYPES.includes(mediaType))) {
    throw invalid('unsupported manifest media type', { mediaType: mediaType ?? null });
  }

  const subject = doc.subject === undefined ? null : parseDescriptor(doc.subject, 'subject');
  if (doc.artifactType !== undefined && typeof doc.artifactType !== 'string') throw invalid('artifactType must be a string');
  const annotations = parseAnnotations(doc.annotations, 'manifest') ?? null;

  if (INDEX_TYPES.includes(mediaType)) {
    const manifests = parseDescriptorList(doc.manifests, 'manifests');
    return {
      mediaType,
      kind: 'index',
      artifactType: (doc.artifactType as string | undefined) ?? null,
      subject,
      blobs: [],
      manifests,
      annotations,
    };
  }

  const config = parseDescriptor(doc.config, 'config');
  const layers = doc.layers === undefined && mediaType === MediaType.OciManifest ? [] : parseDescriptorList(doc.layers, 'layers');
  const blobs = [config, ...layers.filter((layer) => !(isNonDistributable(layer.mediaType) && layer.urls?.length))];
  return {
    mediaType,
    kind: 'image',
    artifactType: (doc.artifactType as string | undefined) ?? config.mediaType,
    subject,
    blobs,
    manifests: [],
    annotations,
  };
}

/** A body with neither mediaType nor Content-Type: tell an index from an image manifest by shape. */
function guessMediaType(doc: Json): string | undefined {
  if (Array.isArray(doc.manifests)) return MediaType.OciIndex;
  if (isObject(doc.config)) return MediaType.OciManifest;
  return undefined;
}

/**
 * The size each descriptor of `blobs` and `manifests` declares, by digest: what the registry
 * compares with the content it stores (a descriptor whose size disagrees with its blob would
 * make every client that verifies sizes fail, so such a manifest is refused). Throws
 * MANIFEST_INVALID when one digest is declared with two sizes: one of them is wrong whatever
 * is stored.
 */
export function declaredSizes(parsed: ParsedManifest): Record<string, number> {
  const sizes: Record<string, number> = {};
  for (const descriptor of [...parsed.blobs, ...parsed.manifests]) {
    const known = sizes[descriptor.digest];
    if (known !== undefined && known !== descriptor.size) {
      throw invalid(`descriptors of ${descriptor.digest} declare two sizes, ${known} and ${descriptor.size}`,
        { digest: descriptor.digest, sizes: [known, descriptor.size] });
    }
    sizes[descriptor.digest] = descriptor.size;
  }
  return sizes;
}
