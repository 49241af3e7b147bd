import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { buildActions, normalizeActions, patternMatches, permissionActions } from '../../src/oci/actions.js';
import { RegistryError } from '../../src/oci/errors.js';

/** The one scope-map action grammar, shared by the server and the CLI (moved here from auth/ with its tests). */
function message(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof RegistryError);
    assert.equal(err.code, 'REQUEST_INVALID');
    return err.message;
  }
  assert.fail('expected REQUEST_INVALID');
}

describe('scope-map actions', () => {
  test('the reference messages for missing and invalid actions', () => {
    assert.equal(message(() => buildActions('repositories', 'hello', [])), 'At least one action must be specified with "hello".');
    assert.equal(
      message(() => buildActions('repositories', 'hello', ['content/push'])),
      'Invalid action "content/push" provided. \nValid actions are {\'content/delete\', \'content/read\', \'content/write\', \'metadata/read\', \'metadata/write\'}.',
    );
    assert.equal(
      message(() => buildActions('gateway', 'edge01', ['config/delete'])),
      'Invalid action "config/delete" provided. \nValid actions are {\'config/read\', \'config/write\', \'message/read\', \'message/write\'}.',
    );
    assert.equal(message(() => normalizeActions(['repositories/hello'])), 'At least one action must be specified with "hello".');
    assert.match(message(() => normalizeActions(['repositories/hello/pull'])), /^Invalid action "pull" provided\. \nValid actions are/);
  });

  test('wildcards: * and one trailing /*; anything else refused', () => {
    assert.deepEqual(normalizeActions(['repositories/*/content/read', 'repositories/Team/*/Content/Read', 'repositories/team/*/content/read']),
      ['repositories/*/content/read', 'repositories/team/*/content/read']);
    for (const bad of ['a/*/b', 'a*', 'a/*/b/*', '*/a', '**']) {
      assert.throws(() => normalizeActions([`repositories/${bad}/content/read`]), (err: unknown) => err instanceof RegistryError && err.code === 'REQUEST_INVALID', bad);
    }
    assert.ok(patternMatches('*', 'x/y'));
    assert.ok(patternMatches('team/*', 'team/app'));
    assert.ok(patternMatches('team/*', 'team/a/b'));
    assert.ok(!patternMatches('team/*', 'team'));
    assert.ok(!patternMatches('team/*', 'teams/app'));
  });

  test('gateway actions', () => {
    assert.deepEqual(buildActions('gateway', 'Edge01', ['config/read', 'MESSAGE/write']), ['gateway/edge01/config/read', 'gateway/edge01/message/write']);
  });
  test('permissionActions checks the permissions only: the resource is the server\'s to check', () => {
    assert.deepEqual(permissionActions('repositories', 'a/*/b', ['Content/Read']), ['repositories/a/*/b/content/read']);
    assert.throws(() => buildActions('repositories', 'a/*/b', ['content/read']), (err: unknown) => err instanceof RegistryError && err.code === 'REQUEST_INVALID');
    assert.equal(message(() => permissionActions('gateway', 'edge01', [])), 'At least one action must be specified with "edge01".');
  });
});
