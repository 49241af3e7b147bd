import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  applySetChange, assertConnectedRegistryName, assertCron, assertHierarchy, assertMessageTtl, assertNotification, assertSyncWindow,
  isContinuous, parseLogLevel, parseMode, CLIENT_TOKEN_AMBIGUITY,
} from '../../src/management/connected-registry-rules.js';
import { isoDurationMs } from '../../src/oci/index.js';

const throwsMessage = (fn: () => unknown, message: string | RegExp): void => {
  assert.throws(fn, (err: unknown) => {
    const e = err as { code?: string; message?: string };
    assert.equal(e.code, 'REQUEST_INVALID');
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message ?? '', message);
    return true;
  });
};

describe('connected-registry rules', () => {
  test('names: 5–40, starts with a letter, lowercase letters, digits and -', () => {
    assert.equal(assertConnectedRegistryName('edge01'), 'edge01');
    assert.equal(assertConnectedRegistryName('a'.repeat(40)), 'a'.repeat(40));
    assert.equal(assertConnectedRegistryName('my-edge-2'), 'my-edge-2');
    throwsMessage(() => assertConnectedRegistryName('edge'), 'Connected registry name must be at least 5 characters long.');
    throwsMessage(() => assertConnectedRegistryName('a'.repeat(41)), 'Connected registry name must be at most 40 characters long.');
    throwsMessage(() => assertConnectedRegistryName('Edge01'), 'Connected registry name must use only lowercase.');
    throwsMessage(() => assertConnectedRegistryName('1edge'), /must start with a letter/);
    throwsMessage(() => assertConnectedRegistryName('edge_01'), /only lowercase letters, digits and '-'/);
    throwsMessage(() => assertConnectedRegistryName(42), /must be a string/);
  });

  test('modes: default ReadOnly, aliases, invalid', () => {
    assert.equal(parseMode(undefined), 'ReadOnly');
    assert.equal(parseMode('Mirror'), 'ReadOnly');
    assert.equal(parseMode('Registry'), 'ReadWrite');
    assert.equal(parseMode('readwrite'), 'ReadWrite');
    assert.equal(parseMode('ReadOnly'), 'ReadOnly');
    throwsMessage(() => parseMode('Cache'), /Invalid mode 'Cache'/);
  });

  test('hierarchy: a ReadOnly parent accepts only ReadOnly children', () => {
    assertHierarchy('child', 'ReadOnly', 'parent', 'ReadOnly');
    assertHierarchy('child', 'ReadOnly', 'parent', 'ReadWrite');
    assertHierarchy('child', 'ReadWrite', 'parent', 'ReadWrite');
    throwsMessage(() => assertHierarchy('child', 'ReadWrite', 'parent', 'ReadOnly'),
      "Can't create the registry 'child' with mode 'ReadWrite' when the connected registry parent 'parent' mode is 'ReadOnly'. For more information on connected registries please visit https://aka.ms/acr/connected-registry.");
  });

  test('cron: 5 fields, ranges, lists, steps', () => {
    for (const ok of ['* * * * *', '0 9 * * *', '*/15 * * * 1-5', '0,30 8-18/2 1,15 1-12 0', '0 0 * * 7', '5-10/5 * 31 12 *']) {
      assert.equal(assertCron(ok), ok);
    }
    throwsMessage(() => assertCron('* * * *'), /has 5 fields/);
    throwsMessage(() => assertCron('* * * * * *'), /has 5 fields/);
    throwsMessage(() => assertCron(''), /has 5 fields/);
    throwsMessage(() => assertCron('60 * * * *'), /minute values must be between 0 and 59/);
    throwsMessage(() => assertCron('* 24 * * *'), /hour values/);
    throwsMessage(() => assertCron('* * 0 * *'), /day of month values must be between 1 and 31/);
    throwsMessage(() => assertCron('* * * 13 *'), /month values/);
    throwsMessage(() => assertCron('* * * * 8'), /day of week values/);
    throwsMessage(() => assertCron('10-5 * * * *'), /reversed/);
    throwsMessage(() => assertCron('*/0 * * * *'), /step/);
    throwsMessage(() => assertCron('MON * * * *'), /not a valid minute field/);
    throwsMessage(() => assertCron('1,,2 * * * *'), /not a valid minute field/);
    assert.equal(isContinuous('* * * * *'), true);
    assert.equal(isContinuous('0 * * * *'), false);
  });

  test('durations: window 1 hour..7 days only with a non-continuous schedule; TTL 1..90 days', () => {
    assert.equal(isoDurationMs('PT3H'), 3 * 3600_000);
    assert.equal(isoDurationMs('P1DT12H'), 36 * 3600_000);
    assert.equal(isoDurationMs('P1W'), 7 * 86400_000);
    assert.equal(isoDurationMs('P'), null);
    assert.equal(isoDurationMs('PT'), null);
    assert.equal(isoDurationMs('P1M'), null, 'months have no fixed length');
    assert.equal(isoDurationMs('3h'), null);
    assert.equal(assertSyncWindow('PT1H', '0 9 * * *'), 'PT1H');
    assert.equal(assertSyncWindow('P7D', '0 9 * * *'), 'P7D');
    throwsMessage(() => assertSyncWindow('PT59M', '0 9 * * *'), /between 1 hour and 7 days/);
    throwsMessage(() => assertSyncWindow('P7DT1S', '0 9 * * *'), /between 1 hour and 7 days/);
    throwsMessage(() => assertSyncWindow('three hours', '0 9 * * *'), /Invalid sync window/);
    throwsMessage(() => assertSyncWindow('PT3H', '* * * * *'), /not continuous/);
    assert.equal(assertMessageTtl('P1D'), 'P1D');
    assert.equal(assertMessageTtl('P90D'), 'P90D');
    throwsMessage(() => assertMessageTtl('PT23H'), /between 1 and 90 days/);
    throwsMessage(() => assertMessageTtl('P91D'), /between 1 and 90 days/);
    throwsMessage(() => assertMessageTtl('2 days'), /Invalid sync message TTL/);
  });

  test('notifications: name[:tag][@digest]:push|delete|*', () => {
    for (const ok of ['*:*', '*:*:*', '*@*:*', 'path/to/repo:*', 'path/to/repo:myTag:*', 'path/to/repo@myDigest:delete',
      'path/to/repo/*:push', 'hello-world:*:*', 'sample/repo/*:1.0:*', `repo@sha256:${'a'.repeat(64)}:delete`]) {
      assert.equal(assertNotification(ok), ok, ok);
    }
    for (const bad of ['hello-world', 'hello-world:pull', ':push', 'Hello:push', 'a:b:c:push', 'repo:bad tag:push', 'repo@:push', 'a/*/b:push']) {
      throwsMessage(() => assertNotification(bad), /Invalid notification/);
    }
  });

  test('log levels and set changes', () => {
    assert.equal(parseLogLevel('debug'), 'Debug');
    throwsMessage(() => parseLogLevel('Verbose'), 'Invalid log level \'Verbose\': use one of Debug, Information, Warning, Error, None.');
    assert.deepEqual(applySetChange(['a', 'b'], ['c'], ['a'], CLIENT_TOKEN_AMBIGUITY), ['b', 'c']);
    assert.equal(applySetChange(['a'], ['a'], [], CLIENT_TOKEN_AMBIGUITY), null, 'unchanged: nothing to patch');
    throwsMessage(() => applySetChange([], ['x'], ['x'], CLIENT_TOKEN_AMBIGUITY), `${CLIENT_TOKEN_AMBIGUITY}\n['x']`);
  });
});
