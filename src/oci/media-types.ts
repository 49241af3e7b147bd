/** Manifest media types Outpost stores and serves. */
export const MediaType = {
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  OciEmpty: 'application/vnd.oci.empty.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
} as const;

export const IMAGE_MANIFEST_TYPES: readonly string[] = [MediaType.OciManifest, MediaType.DockerManifest];
export const INDEX_TYPES: readonly string[] = [MediaType.OciIndex, MediaType.DockerManifestList];
export const MANIFEST_TYPES: readonly string[] = [...IMAGE_MANIFEST_TYPES, ...INDEX_TYPES];

/** Layers that live elsewhere (Windows base layers): the registry need not hold them. */
const NON_DISTRIBUTABLE = [
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
];

export function isNonDistributable(mediaType: string): boolean {
  return NON_DISTRIBUTABLE.includes(mediaType);
}

export function isManifestMediaType(mediaType: string): boolean {
  return MANIFEST_TYPES.includes(mediaType);
}

/** Strips parameters (`; charset=…`) and whitespace from a Content-Type value. */
export function baseMediaType(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined;
  const base = contentType.split(';')[0]?.trim().toLowerCase();
  return base || undefined;
}
