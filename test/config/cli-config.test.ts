import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { stat, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { cliConfigPath, normalizeRegistryUrl, readCliConfig, removeLogin, resolveTarget, saveLogin } from '../../src/config/cli-config.js';
import { tempDir } from '../helpers/test-node.js';

describe('CLI config', () => {
  test('path: XDG_CONFIG_HOME, else ~/.config', () => {
    assert.equal(cliConfigPath({ XDG_CONFIG_HOME: '/x' }), '/x/outpost/config.json');
    assert.equal(cliConfigPath({ HOME: '/home/u' }), '/home/u/.config/outpost/config.json');
  });

  test('registry URLs: http for loopback, https otherwise, no trailing slash', () => {
    assert.equal(normalizeRegistryUrl('localhost:8080'), 'http://localhost:8080');
    assert.equal(normalizeRegistryUrl('127.0.0.1:5000/'), 'http://127.0.0.1:5000');
    assert.equal(normalizeRegistryUrl('registry.example'), 'https://registry.example');
    assert.equal(normalizeRegistryUrl('HTTP://Registry.Example:80/'), 'http://registry.example');
    assert.throws(() => normalizeRegistryUrl('ftp://x'), { code: 'CONFIG_INVALID' });
  });

  test('login is stored with mode 0600 in a 0700 folder, replaced, and removed by logout', async () => {
    const dir = await tempDir();
    try {
      const path = cliConfigPath({ XDG_CONFIG_HOME: dir.path });
      const old = process.umask(0o022);
      try {
        await saveLogin(path, { registry: 'localhost:8080', username: 'admin', password: 'one' });
      } finally {
        process.umask(old);
      }
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      assert.equal((await stat(join(dir.path, 'outpost'))).mode & 0o777, 0o700);
      await saveLogin(path, { registry: 'https://b.example', username: 'admin', password: 'two' });
      await saveLogin(path, { registry: 'http://localhost:8080/', username: 'admin', password: 'three' });
      let config = await readCliConfig(path);
      assert.equal(config.current, 'http://localhost:8080');
      assert.deepEqual(config.logins.map((l) => [l.registry, l.password]), [['https://b.example', 'two'], ['http://localhost:8080', 'three']]);
      assert.equal((await stat(path)).mode & 0o777, 0o600);

      assert.equal(await removeLogin(path), 'http://localhost:8080');
      config = await readCliConfig(path);
      assert.equal(config.current, undefined);
      assert.equal(await removeLogin(path, 'localhost:8080'), null);
      assert.equal(await removeLogin(path, 'b.example'), 'https://b.example');
      assert.deepEqual((await readCliConfig(path)).logins, []);
    } finally {
      await dir.cleanup();
    }
  });

  test('a missing file is an empty config; a broken one is a clear error', async () => {
    const dir = await tempDir();
    try {
      const path = join(dir.path, 'outpost', 'config.json');
      assert.deepEqual(await readCliConfig(path), { logins: [] });
      await mkdir(join(dir.path, 'outpost'));
      await writeFile(path, '{nope');
      await assert.rejects(readCliConfig(path), { code: 'CONFIG_INVALID', message: /not valid JSON/ });
    } finally {
      await dir.cleanup();
    }
  });

  test('resolution: --registry, else OUTPOST_REGISTRY, else the last login; env credentials win over the stored ones', () => {
    const config = { current: 'http://localhost:8080', logins: [{ registry: 'http://localhost:8080', username: 'admin', password: 'stored' }] };
    assert.deepEqual(resolveTarget(undefined, {}, config), { registry: 'http://localhost:8080', username: 'admin', password: 'stored' });
    assert.deepEqual(resolveTarget('localhost:8080', { OUTPOST_REGISTRY: 'other:1' }, config).password, 'stored');
    assert.deepEqual(resolveTarget(undefined, { OUTPOST_REGISTRY: 'other.example' }, config), { registry: 'https://other.example' });
    assert.deepEqual(resolveTarget(undefined, { OUTPOST_USERNAME: 'admin', OUTPOST_PASSWORD: 'env' }, config).password, 'env');
    assert.throws(() => resolveTarget(undefined, {}, { logins: [] }), { code: 'CONFIG_INVALID', message: /no registry given/ });
  });
});
