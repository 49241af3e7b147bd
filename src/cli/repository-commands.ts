import { Command, Option } from 'commander';
import type { ManagementClient, RepositoryDeleted, RepositoryInfo, TagInfo } from '../client/management-client.js';
import { ManagementError } from '../client/management-error.js';
import { confirm, runManaged, withCommonFlags, type CliContext, type CommonFlags } from './command-context.js';
import { humanBytes, type TableSpec } from './output.js';
import { UsageError } from './usage-error.js';

/** `REPO:TAG` or `REPO@DIGEST`, as az's `--image`. */
export interface ImageReference {
  repository: string;
  tag?: string;
  digest?: string;
}

export function parseImage(image: string): ImageReference {
  const at = image.indexOf('@');
  if (at > 0) {
    const digest = image.slice(at + 1);
    if (!/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(digest)) throw new UsageError(`argument --image: invalid digest in '${image}'`);
    return { repository: image.slice(0, at), digest };
  }
  const colon = image.lastIndexOf(':');
  if (colon > 0 && !image.slice(colon + 1).includes('/') && image.slice(colon + 1) !== '') {
    return { repository: image.slice(0, colon), tag: image.slice(colon + 1) };
  }
  throw new UsageError(`argument --image: '${image}' is not REPO:TAG or REPO@DIGEST`);
}

export function repositoryList(client: ManagementClient): Promise<string[]> {
  return client.listRepositories();
}

export function repositoryShow(client: ManagementClient, options: { name: string }): Promise<RepositoryInfo> {
  return client.showRepository(options.name);
}

/** `outpost repository show-tags`: tag names (as az), or the tag objects with `--detail`. */
export async function repositoryShowTags(client: ManagementClient, options: { name: string; detail?: boolean }): Promise<string[] | TagInfo[]> {
  const tags = await client.listTags(options.name);
  return options.detail ? tags : tags.map((t) => t.name);
}

export interface RepositoryDeleteOptions {
  name?: string;
  image?: string;
}

/**
 * `outpost repository delete`: a whole repository (`--name`), or one manifest (`--image REPO@DIGEST`,
 * or `REPO:TAG` for the manifest that tag points to, which deletes every tag pointing to it, as az).
 */
export async function repositoryDelete(client: ManagementClient, options: RepositoryDeleteOptions): Promise<RepositoryDeleted | undefined> {
  if ((options.name === undefined) === (options.image === undefined)) {
    throw new UsageError('usage error: give either --name REPO or --image REPO:TAG|REPO@DIGEST');
  }
  if (options.name !== undefined) return client.deleteRepository(options.name);
  const image = parseImage(options.image!);
  let digest = image.digest;
  if (digest === undefined) {
    const tags = await client.listTags(image.repository);
    digest = tags.find((t) => t.name === image.tag)?.digest;
    if (digest === undefined) throw new ManagementError('NOT_FOUND', 404, `Tag '${image.tag}' not found in repository '${image.repository}'.`);
  }
  await client.deleteManifest(image.repository, digest);
  return undefined;
}

/** `outpost repository untag --image REPO:TAG`: removes the tag, keeps the manifest. */
export async function repositoryUntag(client: ManagementClient, options: { image: string }): Promise<void> {
  const image = parseImage(options.image);
  if (image.tag === undefined) throw new UsageError('argument --image: untag needs REPO:TAG');
  await client.untag(image.repository, image.tag);
}

export const REPOSITORY_TABLE: TableSpec = {
  columns: [
    { header: 'NAME', value: (row) => row.name },
    { header: 'TAG COUNT', value: (row) => row.tagCount },
    { header: 'MANIFEST COUNT', value: (row) => row.manifestCount },
    { header: 'SIZE', value: (row) => humanBytes(row.sizeBytes) },
    { header: 'CREATED TIME', value: (row) => row.createdTime },
    { header: 'LAST UPDATE TIME', value: (row) => row.lastUpdateTime },
  ],
};

const TAG_TABLE: TableSpec = {
  columns: [
    { header: 'NAME', value: (row) => row.name },
    { header: 'DIGEST', value: (row) => row.digest },
    { header: 'LAST UPDATE TIME', value: (row) => row.lastUpdateTime },
  ],
};

/** Registers `outpost repository …`. */
export function registerRepositoryCommands(program: Command, ctx: CliContext): void {
  const repository = program.command('repository').description('manage repositories and their tags');
  const nameOption = () => new Option('-n, --name <repo>', 'name of the repository').makeOptionMandatory();

  withCommonFlags(repository.command('list').description('list the repositories'))
    .action((flags: CommonFlags) => runManaged(ctx, flags, repositoryList));

  withCommonFlags(repository.command('show').description('show a repository: tag and manifest counts, times'))
    .addOption(nameOption())
    .action((flags: { name: string } & CommonFlags) => runManaged(ctx, flags, repositoryShow, REPOSITORY_TABLE));

  withCommonFlags(repository.command('show-tags').description("list a repository's tags"))
    .addOption(nameOption())
    .option('--detail', 'show each tag with its digest and times')
    .action((flags: { name: string; detail?: boolean } & CommonFlags) => runManaged(ctx, flags, repositoryShowTags, TAG_TABLE));

  withCommonFlags(repository.command('delete').description('delete a repository, or one image (manifest) of it'))
    .option('-n, --name <repo>', 'the repository to delete, with all its tags and manifests')
    .option('--image <image>', 'REPO:TAG or REPO@DIGEST: delete this manifest and every tag pointing to it')
    .option('-y, --yes', 'do not ask for confirmation')
    .addHelpText('after', '\nExamples:\n  outpost repository delete -n hello --yes\n  outpost repository delete --image hello:v1 --yes\n')
    .action(async (flags: RepositoryDeleteOptions & { yes?: boolean } & CommonFlags) => {
      const what = flags.name !== undefined ? `the repository '${flags.name}' and all its images` : `the image '${flags.image ?? ''}' and every tag pointing to it`;
      if (flags.name !== undefined || flags.image !== undefined) await confirm(`Are you sure you want to delete ${what}?`, flags.yes, ctx);
      await runManaged(ctx, flags, repositoryDelete);
    });

  withCommonFlags(repository.command('untag').description('remove a tag; the manifest stays'))
    .requiredOption('--image <image>', 'REPO:TAG to remove')
    .action((flags: { image: string } & CommonFlags) => runManaged(ctx, flags, repositoryUntag));
}
