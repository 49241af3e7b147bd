import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Agent, fetch as undiciFetch } from 'undici';
import { TestClient, ADMIN_HEADERS } from './oci-client.js';

const run = promisify(execFile);

/**
 * A throw-away certificate authority made with the `openssl` command in a temp folder, and server
 * certificates it signs, for HTTPS hierarchies in tests. Nothing here is trusted by the system:
 * a node trusts it only through `--parent-ca`, skopeo through a cert dir, tests through httpsClient.
 */
export interface TestCa {
  /** The CA certificate (PEM file) and its text. */
  caFile: string;
  caPem: string;
  /** A folder holding only the CA certificate as `ca.crt` (skopeo's `--cert-dir`). */
  certDir: string;
  /** Issues a server certificate for `hosts` (IP addresses or DNS names). */
  issue(name: string, hosts?: string[]): Promise<{ certFile: string; keyFile: string }>;
}

export async function hasOpenssl(): Promise<boolean> {
  try {
    await run('openssl', ['version']);
    return true;
  } catch {
    return false;
  }
}

/** Creates a CA (EC P-256, valid 2 days) in `dir`. Throws when `openssl` is missing. */
export async function createTestCa(dir: string): Promise<TestCa> {
  const caKey = join(dir, 'ca.key');
  const caFile = join(dir, 'ca.crt');
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', caKey, '-out', caFile,
    '-days', '2', '-subj', '/CN=Outpost Test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const certDir = join(dir, 'skopeo-certs');
  await mkdir(certDir, { recursive: true });
  const caPem = await readFile(caFile, 'utf8');
  await writeFile(join(certDir, 'ca.crt'), caPem);
  return {
    caFile,
    caPem,
    certDir,
    async issue(name, hosts = ['127.0.0.1', 'localhost']) {
      const keyFile = join(dir, `${name}.key`);
      const csr = join(dir, `${name}.csr`);
      const certFile = join(dir, `${name}.crt`);
      const ext = join(dir, `${name}.ext`);
      const san = hosts.map((h) => (/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
      await writeFile(ext, `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n`);
      await run('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', csr, '-subj', `/CN=${name}`]);
      await run('openssl', ['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-CAcreateserial', '-out', certFile, '-days', '2', '-extfile', ext]);
      return { certFile, keyFile };
    },
  };
}

/** A TestClient for an HTTPS node whose certificate chains to the CA `caPem` (verified: no insecure mode). */
export function httpsClient(base: string, caPem: string, authorization: string | null = ADMIN_HEADERS.Authorization!): TestClient {
  return new HttpsTestClient(base, new Agent({ connect: { ca: [caPem] } }), authorization);
}

class HttpsTestClient extends TestClient {
  constructor(base: string, private readonly dispatcher: Agent, authorization: string | null) {
    super(base, authorization);
  }

  override request(method: string, path: string, init: { body?: Uint8Array | string; headers?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = { ...(this.authorization !== null ? { Authorization: this.authorization } : {}), ...init.headers };
    return undiciFetch(new URL(path, this.base), {
      method, headers, dispatcher: this.dispatcher, ...(init.body !== undefined ? { body: init.body } : {}),
    }) as unknown as Promise<Response>;
  }
}
