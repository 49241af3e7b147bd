import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveNodeConfig, ConfigError } from '../../src/config/node-config.js';
import { parseConnectionString } from '../../src/config/connection-string.js';
import { buildApp } from '../../src/server/build-app.js';
import { tempDir } from '../helpers/test-node.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const CS = 'ConnectedRegistryName=Factory1;SyncTokenName=factory1;SyncTokenPassword=a=b;ParentGatewayEndpoint=root.example:8443;ParentEndpointProtocol=https';

test('a connection string parses with case-insensitive keys, a password holding "=", the name lower-cased', () => {
  const parsed = parseConnectionString('connectedregistryname=Factory1;SYNCTOKENNAME=factory1;SyncTokenPassword=p=w=;ParentGatewayEndpoint=https://root.example:8443/;ParentEndpointProtocol=HTTPS');
  assert.deepEqual(parsed, {
    name: 'factory1', tokenName: 'factory1', tokenPassword: 'p=w=', parentEndpoint: 'root.example:8443', parentProtocol: 'https',
  });
});

test('malformed connection strings are one clear ConfigError, never echoing the password', () => {
  const cases: Array<[string, RegExp]> = [
    ['ConnectedRegistryName=x', /missing SyncTokenName, SyncTokenPassword, ParentGatewayEndpoint, ParentEndpointProtocol/],
    [CS.replace('ParentEndpointProtocol=https', 'ParentEndpointProtocol=ftp'), /ParentEndpointProtocol must be http or https/],
    [CS.replace('ParentGatewayEndpoint=root.example:8443', 'ParentGatewayEndpoint=root example'), /is not host\[:port\]/],
    [`${CS};Color=blue`, /unknown key "Color"/],
    ['just some text', /is not Key=Value/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseConnectionString(text), (err: unknown) => {
      assert.ok(err instanceof ConfigError, text);
      assert.match(err.message, message);
      assert.ok(!err.message.includes('a=b'), 'the password stays out of the message');
      return true;
    });
  }
  // "c" (after the ";" in the password) is not Key=Value: a password with ";" cannot be written unquoted.
  assert.throws(() => parseConnectionString(CS.replace('a=b', 'a=b;c')), /"c" is not Key=Value/);
});

test('the connection string comes from the flag, OUTPOST_CONNECTION_STRING or ACR_REGISTRY_CONNECTION_STRING; ACR_PARENT_GATEWAY_ENDPOINT overrides the parent', () => {
  const cs = CS.replace('a=b', 'secret');
  assert.equal(resolveNodeConfig({}, {}).connection, null, 'no connection string: a root');
  assert.equal(resolveNodeConfig({}, { ACR_REGISTRY_CONNECTION_STRING: cs }).connection?.name, 'factory1');
  assert.equal(resolveNodeConfig({}, { OUTPOST_CONNECTION_STRING: cs, ACR_REGISTRY_CONNECTION_STRING: 'bad' }).connection?.tokenPassword, 'secret');
  const overridden = resolveNodeConfig({ connectionString: cs }, { ACR_PARENT_GATEWAY_ENDPOINT: 'site.local:9000' });
  assert.equal(overridden.connection?.parentEndpoint, 'site.local:9000');
  assert.equal(resolveNodeConfig({ parentCa: '/ca.pem' }, {}).parentCaFile, '/ca.pem');
  assert.equal(resolveNodeConfig({}, { OUTPOST_PARENT_CA: '/env-ca.pem' }).parentCaFile, '/env-ca.pem');
  // An empty flag (an unset shell variable) must not silently start a root.
  assert.throws(() => resolveNodeConfig({ connectionString: ' ' }, {}), /--connection-string is empty/);
});

test('--connection-string-file reads the string from a file (no password in the process list); a missing or empty file is one clear error', async () => {
  const dir = await tempDir();
  try {
    const file = join(dir.path, 'edge.cs');
    await writeFile(file, `${CS.replace('a=b', 'from-file')}\n`, { mode: 0o600 });
    const config = resolveNodeConfig({ connectionStringFile: file }, { ACR_REGISTRY_CONNECTION_STRING: CS });
    assert.equal(config.connection?.tokenPassword, 'from-file', 'the file wins over the environment; the newline is trimmed');
    assert.throws(() => resolveNodeConfig({ connectionStringFile: join(dir.path, 'missing') }, {}), /--connection-string-file .*missing: no such file/);
    await writeFile(join(dir.path, 'empty'), '\n');
    assert.throws(() => resolveNodeConfig({ connectionStringFile: join(dir.path, 'empty') }, {}), /--connection-string-file .*empty is empty/);
  } finally {
    await dir.cleanup();
  }
});

test('an empty ACR_REGISTRY_CONNECTION_STRING (or OUTPOST_CONNECTION_STRING) is refused instead of starting a root', () => {
  for (const name of ['ACR_REGISTRY_CONNECTION_STRING', 'OUTPOST_CONNECTION_STRING']) {
    assert.throws(() => resolveNodeConfig({}, { [name]: '' }), (err: unknown) =>
      err instanceof ConfigError && err.message === `${name} is set but empty: give the connected registry's connection string, or unset it to run a root`);
    assert.throws(() => resolveNodeConfig({}, { [name]: '  ' }), ConfigError);
  }
});

test('logs are pretty on a terminal and JSON otherwise, unless --log-format or OUTPOST_LOG_FORMAT says', () => {
  assert.equal(resolveNodeConfig({}, {}, true).logFormat, 'pretty');
  assert.equal(resolveNodeConfig({}, {}, false).logFormat, 'json');
  assert.equal(resolveNodeConfig({ logFormat: 'json' }, {}, true).logFormat, 'json');
  assert.equal(resolveNodeConfig({}, { OUTPOST_LOG_FORMAT: 'PRETTY' }, false).logFormat, 'pretty');
  assert.throws(() => resolveNodeConfig({ logFormat: 'xml' }, {}), /invalid log format: xml \(one of pretty, json\)/);
});

test('TLS: --tls-cert/--tls-key, else --tls-auto (in <data>/certs or the certificate folder), else the certificate folder alone, else plain HTTP', () => {
  assert.equal(resolveNodeConfig({}, {}).tls, null);
  assert.deepEqual(resolveNodeConfig({ tlsCert: '/c/a.crt', tlsKey: '/c/a.key' }, {}).tls, { source: 'files', certFile: '/c/a.crt', keyFile: '/c/a.key', dir: null });
  assert.deepEqual(resolveNodeConfig({ dataDir: '/d', tlsAuto: true }, {}).tls, { source: 'auto', certFile: '/d/certs/tls.crt', keyFile: '/d/certs/tls.key', dir: '/d/certs' });
  assert.deepEqual(resolveNodeConfig({ dataDir: '/d' }, { OUTPOST_TLS_AUTO: 'true', ACR_REGISTRY_CERTIFICATE_VOLUME: '/var/acr/certs' }).tls,
    { source: 'auto', certFile: '/var/acr/certs/tls.crt', keyFile: '/var/acr/certs/tls.key', dir: '/var/acr/certs' });
  assert.deepEqual(resolveNodeConfig({}, { ACR_REGISTRY_CERTIFICATE_VOLUME: '/var/acr/certs' }).tls,
    { source: 'folder', certFile: '/var/acr/certs/tls.crt', keyFile: '/var/acr/certs/tls.key', dir: '/var/acr/certs' });
  assert.equal(resolveNodeConfig({ certDir: '/flag' }, { OUTPOST_CERT_DIR: '/env', ACR_REGISTRY_CERTIFICATE_VOLUME: '/acr' }).tls?.dir, '/flag');
  assert.equal(resolveNodeConfig({}, { OUTPOST_CERT_DIR: '/env', ACR_REGISTRY_CERTIFICATE_VOLUME: '/acr' }).tls?.dir, '/env');
  assert.equal(resolveNodeConfig({}, { OUTPOST_PARENT_CA_CERT: '-----BEGIN CERTIFICATE-----' }).parentCaPem, '-----BEGIN CERTIFICATE-----');
});

test('OUTPOST_STORAGE names the storage driver; a name no driver takes stops the node at start with a ConfigError', async () => {
  assert.equal(resolveNodeConfig({}, {}).storage, 'filesystem');
  assert.equal(resolveNodeConfig({}, { OUTPOST_STORAGE: 'memory' }).storage, 'memory');
  const dir = await tempDir();
  try {
    const config = resolveNodeConfig({ dataDir: dir.path, logLevel: 'None' }, { OUTPOST_STORAGE: 'floppy', OUTPOST_ADMIN_PASSWORD: 'not-used-here' });
    await assert.rejects(buildApp(config), (err: unknown) =>
      err instanceof ConfigError && err.message === 'OUTPOST_STORAGE: unknown storage driver "floppy": use one of filesystem, memory');
  } finally {
    await dir.cleanup();
  }
});

test('garbage collection: --gc-schedule (root only, a 5-field cron) and --gc-grace (ISO 8601 or 30m, 1 hour by default), from flags or environment', () => {
  const defaults = resolveNodeConfig({}, {});
  assert.equal(defaults.gcSchedule, null, 'the root collects only when asked unless scheduled');
  assert.equal(defaults.gcGraceMs, 60 * 60 * 1000);
  const fromEnv = resolveNodeConfig({}, { OUTPOST_GC_SCHEDULE: '0 3 * * *', OUTPOST_GC_GRACE: 'PT30M' });
  assert.deepEqual([fromEnv.gcSchedule, fromEnv.gcGraceMs], ['0 3 * * *', 30 * 60 * 1000]);
  const fromFlags = resolveNodeConfig({ gcSchedule: '15 * * * *', gcGrace: '2h' }, { OUTPOST_GC_SCHEDULE: '0 3 * * *', OUTPOST_GC_GRACE: 'PT30M' });
  assert.deepEqual([fromFlags.gcSchedule, fromFlags.gcGraceMs], ['15 * * * *', 2 * 60 * 60 * 1000], 'flags win');
  for (const [grace, ms] of [['PT0S', 0], ['P1D', 86_400_000], ['pt1h', 3_600_000], ['90s', 90_000], ['0s', 0]] as const) {
    assert.equal(resolveNodeConfig({ gcGrace: grace }, {}).gcGraceMs, ms, grace);
  }

  assert.throws(() => resolveNodeConfig({ gcSchedule: 'every night' }, {}), (err: unknown) =>
    err instanceof ConfigError && /--gc-schedule: 'every night' is not a 5-field cron/.test(err.message));
  assert.throws(() => resolveNodeConfig({ gcSchedule: '0 25 * * *' }, {}), ConfigError, 'hour 25');
  assert.throws(() => resolveNodeConfig({ gcSchedule: '0 0 3 * * *' }, {}), ConfigError, 'six fields');
  assert.throws(() => resolveNodeConfig({ gcGrace: 'an hour' }, {}), (err: unknown) =>
    err instanceof ConfigError && /--gc-grace: 'an hour' is not a duration/.test(err.message));
  assert.throws(() => resolveNodeConfig({ gcGrace: 'P1M' }, {}), ConfigError, 'months have no fixed length');
  assert.throws(() => resolveNodeConfig({ gcSchedule: '0 3 * * *', connectionString: CS }, {}), (err: unknown) =>
    err instanceof ConfigError && /--gc-schedule .* is for the root: a connected registry collects on the schedule of its resource/.test(err.message));
  assert.equal(resolveNodeConfig({ gcGrace: 'PT5M', connectionString: CS }, {}).gcGraceMs, 5 * 60 * 1000, 'a connected node takes a grace period');
});
