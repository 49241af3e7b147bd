import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import { resolveNodeConfig, ConfigError } from '../../src/config/node-config.js';
import { spawnNode, tempDir, OUTPOST_BIN } from '../helpers/test-node.js';
import { ADMIN_HEADERS } from '../helpers/oci-client.js';

const run = promisify(execFile);

describe('configuration', () => {
  test('embedded defaults: port 8080, ./data, HTTP, Information', () => {
    const config = resolveNodeConfig({}, {});
    assert.equal(config.port, 8080);
    assert.equal(config.dataDir, join(process.cwd(), 'data'));
    assert.equal(config.tls, null);
    assert.equal(config.logLevel, 'Information');
  });
  test('environment, with the ACR data-volume alias, and flags winning over it', () => {
    assert.equal(resolveNodeConfig({}, { ACR_REGISTRY_DATA_VOLUME: '/var/acr/data' }).dataDir, '/var/acr/data');
    assert.equal(resolveNodeConfig({}, { OUTPOST_DATA_DIR: '/a', ACR_REGISTRY_DATA_VOLUME: '/b' }).dataDir, '/a');
    assert.equal(resolveNodeConfig({ dataDir: '/flag' }, { OUTPOST_DATA_DIR: '/a' }).dataDir, '/flag');
    assert.equal(resolveNodeConfig({}, { OUTPOST_PORT: '9000' }).port, 9000);
    assert.equal(resolveNodeConfig({ port: '7000' }, { OUTPOST_PORT: '9000' }).port, 7000);
    assert.equal(resolveNodeConfig({ logLevel: 'debug' }, {}).logLevel, 'Debug');
  });
  test('invalid values are ConfigErrors', () => {
    assert.throws(() => resolveNodeConfig({ port: 'http' }, {}), ConfigError);
    assert.throws(() => resolveNodeConfig({ port: '70000' }, {}), ConfigError);
    assert.throws(() => resolveNodeConfig({ tlsCert: 'c.pem' }, {}), ConfigError);
    assert.throws(() => resolveNodeConfig({ logLevel: 'Loud' }, {}), ConfigError);
  });
});

describe('outpost serve', () => {
  test('a bad flag value is one clear line on stderr and a non-zero exit', async () => {
    const result = await run(process.execPath, [OUTPOST_BIN, 'serve', '--port', 'nope'], { timeout: 20_000 }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => err,
    );
    assert.notEqual(result.code, 0);
    assert.equal(result.stderr.trim().split('\n').length, 1);
    assert.match(result.stderr, /invalid port: nope/);
  });

  test('starts, logs one ready line, serves, and exits 0 on SIGTERM', async () => {
    const dir = await tempDir();
    try {
      const node = await spawnNode(dir.path);
      try {
        const res = await fetch(`${node.url}/v2/`, { headers: ADMIN_HEADERS });
        assert.equal(res.status, 200);
        assert.equal(await node.stop('SIGTERM'), 0);
      } finally {
        // A failed assertion must not leave the process running (the runner would wait for it).
        await node.stop('SIGKILL');
      }
    } finally {
      await dir.cleanup();
    }
  });

  test('--tls-cert and --tls-key serve HTTPS', async () => {
    const dir = await tempDir();
    try {
      const cert = join(dir.path, 'cert.pem');
      const key = join(dir.path, 'key.pem');
      await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', key, '-out', cert]);
      const node = await spawnNode(join(dir.path, 'data'), ['--tls-cert', cert, '--tls-key', key]);
      try {
        assert.match(node.url, /^https:\/\//);
        const dispatcher = new Agent({ connect: { ca: await readFile(cert) } });
        const res = await undiciFetch(`${node.url}/v2/`, { dispatcher, headers: ADMIN_HEADERS });
        assert.equal(res.status, 200);
        await assert.rejects(fetch(node.url.replace('https:', 'http:') + '/v2/', { signal: AbortSignal.timeout(5000) }));
      } finally {
        await node.stop();
      }
    } finally {
      await dir.cleanup();
    }
  });
});
