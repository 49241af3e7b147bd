import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, resolveNodeConfig } from '../../src/config/node-config.js';

// The serve flags of docs/observability.md: --metrics-listen, --audit-log, --audit-log-status.

describe('observability flags', () => {
  test('metrics are off by default; --metrics-listen takes host:port, [v6]:port and :port, the flag over OUTPOST_METRICS_LISTEN', () => {
    assert.equal(resolveNodeConfig({}, {}).metricsListen, null);
    assert.deepEqual(resolveNodeConfig({ metricsListen: '127.0.0.1:9090' }, {}).metricsListen, { host: '127.0.0.1', port: 9090 });
    assert.deepEqual(resolveNodeConfig({}, { OUTPOST_METRICS_LISTEN: '[::1]:9100' }).metricsListen, { host: '::1', port: 9100 });
    assert.deepEqual(resolveNodeConfig({}, { OUTPOST_METRICS_LISTEN: ':9090' }).metricsListen, { host: '0.0.0.0', port: 9090 });
    assert.deepEqual(resolveNodeConfig({ metricsListen: '10.0.0.1:1' }, { OUTPOST_METRICS_LISTEN: ':2' }).metricsListen, { host: '10.0.0.1', port: 1 });
  });

  test('a metrics address without a port, or with a bad one, is one ConfigError naming the value', () => {
    for (const bad of ['9090', 'localhost', 'host:port', 'host:70000', '[::1]']) {
      assert.throws(() => resolveNodeConfig({ metricsListen: bad }, {}), (err: unknown) => err instanceof ConfigError && err.message.includes(bad));
    }
  });

  test('--audit-log is a file (made absolute) or -, OUTPOST_AUDIT_LOG too; --audit-log-status Enabled|Disabled, Enabled by default', () => {
    const none = resolveNodeConfig({}, {});
    assert.equal(none.auditLog, null);
    assert.equal(none.auditLogEnabled, true);
    assert.equal(resolveNodeConfig({ auditLog: '-' }, {}).auditLog, '-');
    assert.ok(resolveNodeConfig({}, { OUTPOST_AUDIT_LOG: 'logs/audit.log' }).auditLog!.endsWith('/logs/audit.log'));
    assert.equal(resolveNodeConfig({ auditLogStatus: 'disabled' }, {}).auditLogEnabled, false);
    assert.equal(resolveNodeConfig({}, { OUTPOST_AUDIT_LOG_STATUS: 'Disabled' }).auditLogEnabled, false);
    assert.throws(() => resolveNodeConfig({ auditLogStatus: 'Maybe' }, {}), (err: unknown) => err instanceof ConfigError && err.message.includes('Maybe'));
  });
});
