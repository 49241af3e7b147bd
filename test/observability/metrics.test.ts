import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestNode, type TestNode } from '../helpers/test-node.js';
import { OCI_MANIFEST, TestClient } from '../helpers/oci-client.js';
import { createConnectedRegistry, startEdge, tagDigest, waitFor } from '../helpers/hierarchy.js';
import { mgmt } from '../helpers/management-calls.js';
import { FAST_SYNC, edgeStore, pushImage } from '../sync/sync-fixture.js';
import { parsePrometheusText, sampleValue, samplesOf, scrape, type Family } from '../helpers/prometheus-text.js';

// Prometheus metrics (docs/observability.md, "Metrics"): a root and a ReadWrite edge below it,
// each with its own metrics listener; every family parses, and the values move after pushes,
// pulls and syncs.

const METRICS_ENV = { OUTPOST_METRICS_LISTEN: '127.0.0.1:0' };

/** The families every node serves (the edge adds the sync ones). */
const NODE_FAMILIES = [
  'outpost_http_requests_total', 'outpost_http_request_duration_seconds', 'outpost_http_received_bytes_total', 'outpost_http_sent_bytes_total',
  'outpost_http_requests_in_flight', 'outpost_uploads_in_flight', 'outpost_blob_store_operations_total', 'outpost_blob_store_errors_total',
  'outpost_blob_store_written_blobs_total', 'outpost_blob_store_written_bytes_total', 'outpost_repository_events_total',
  'outpost_connected_registry_connection_state', 'outpost_connected_registry_last_heartbeat_age_seconds', 'outpost_connected_registry_pending_changes',
  'outpost_connected_registry_outbox_pending', 'outpost_connected_registry_last_sync_timestamp_seconds', 'outpost_connected_registry_status_details',
  'outpost_connected_registry_storage_used_bytes', 'outpost_connected_registry_storage_free_bytes',
  'outpost_gateway_heartbeats_received_total', 'process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes',
];
const SYNC_FAMILIES = [
  'outpost_sync_connection_state', 'outpost_sync_last_success_timestamp_seconds', 'outpost_sync_caught_up_timestamp_seconds', 'outpost_sync_cursor',
  'outpost_sync_parent_head', 'outpost_sync_behind_seconds', 'outpost_sync_repository_behind_changes', 'outpost_sync_repository_behind_seconds',
  'outpost_sync_outbox_pending', 'outpost_sync_parked_items', 'outpost_sync_transferred_bytes_total', 'outpost_sync_transferred_blobs_total',
  'outpost_sync_transferred_manifests_total', 'outpost_sync_errors_total', 'outpost_sync_reconciles_total', 'outpost_sync_last_reconcile_duration_seconds',
  'outpost_sync_pushes_total',
];

function metricsUrl(node: TestNode): string {
  assert.ok(node.node.metrics, 'the node serves metrics');
  return node.node.metrics.url;
}

function assertFamilies(families: Map<string, Family>, names: string[]): void {
  for (const name of names) assert.ok(families.has(name), `family ${name} is served`);
}

describe('Prometheus metrics of a root and an edge', () => {
  let root: TestNode;
  let edge: TestNode;
  let atRoot: TestClient;
  let atEdge: TestClient;

  before(async () => {
    root = await startTestNode({ env: METRICS_ENV });
    atRoot = new TestClient(root.url);
    const cr = await createConnectedRegistry(atRoot, { name: 'site-a', mode: 'ReadWrite', repositories: ['app'], logLevel: 'None' });
    edge = await startEdge(cr.connectionString, { app: FAST_SYNC, env: METRICS_ENV });
    atEdge = new TestClient(edge.url);
    await waitFor('the first sync', async () => (await edgeStore(edge).getCursor()) !== null);
  });

  after(async () => {
    await edge?.close();
    await root?.close();
  });

  test('a node without --metrics-listen serves none, and the registry port has no /metrics', async () => {
    const plain = await startTestNode();
    try {
      assert.equal(plain.node.metrics, null);
      const res = await new TestClient(plain.url).request('GET', '/metrics');
      assert.equal(res.status, 404);
    } finally {
      await plain.close();
    }
    const other = await fetch(`${metricsUrl(root)}/v2/`);
    assert.equal(other.status, 404, 'the metrics listener serves /metrics only');
  });

  test('every family of the root and the edge parses, with the node, sync and process families', async () => {
    const atRootNow = await scrape(metricsUrl(root));
    assertFamilies(atRootNow, NODE_FAMILIES);
    const atEdgeNow = await scrape(metricsUrl(edge));
    assertFamilies(atEdgeNow, [...NODE_FAMILIES, ...SYNC_FAMILIES]);
    assert.ok(!atRootNow.has('outpost_sync_connection_state'), 'a root has no sync agent');
  });

  test('a push at the root and its sync to the edge move the counters of both', async () => {
    const rootBefore = await scrape(metricsUrl(root));
    const edgeBefore = await scrape(metricsUrl(edge));
    const image = await pushImage(atRoot, 'app', 'v1');
    await waitFor('the tag at the edge', async () => (await tagDigest(atEdge, 'app', 'v1')) === image.digest);

    const rootAfter = await scrape(metricsUrl(root));
    const pushes = { route: 'v2:manifest', method: 'PUT', code: '201' };
    assert.equal(sampleValue(rootAfter, 'outpost_http_requests_total', pushes) - sampleValue(rootBefore, 'outpost_http_requests_total', pushes), 1);
    assert.ok(sampleValue(rootAfter, 'outpost_http_request_duration_seconds_count', { route: 'v2:manifest', method: 'PUT' }) >= 1);
    assert.ok(sampleValue(rootAfter, 'outpost_http_received_bytes_total', { route: 'v2:manifest' }) >= image.body.length, 'the manifest bytes came in');
    // The config and the layer (a monolithic upload each), then the manifest's own bytes.
    assert.ok(sampleValue(rootAfter, 'outpost_blob_store_written_blobs_total') - sampleValue(rootBefore, 'outpost_blob_store_written_blobs_total') >= 3);
    assert.equal(sampleValue(rootAfter, 'outpost_repository_events_total', { event: 'manifest-pushed', origin: 'local' })
      - sampleValue(rootBefore, 'outpost_repository_events_total', { event: 'manifest-pushed', origin: 'local' }), 1);
    // The edge pulled from the root's /v2: served bytes counted under the blob route.
    assert.ok(sampleValue(rootAfter, 'outpost_http_sent_bytes_total', { route: 'v2:blob' }) > sampleValue(rootBefore, 'outpost_http_sent_bytes_total', { route: 'v2:blob' }));

    const edgeAfter = await scrape(metricsUrl(edge));
    const moved = (name: string, labels: Record<string, string>): number => sampleValue(edgeAfter, name, labels) - sampleValue(edgeBefore, name, labels);
    assert.equal(moved('outpost_sync_transferred_manifests_total', { direction: 'pull' }), 1);
    assert.equal(moved('outpost_sync_transferred_blobs_total', { direction: 'pull' }), 2);
    assert.ok(moved('outpost_sync_transferred_bytes_total', { direction: 'pull' }) >= 2048, 'the layer came over');
    assert.ok(moved('outpost_repository_events_total', { event: 'tag-set', origin: 'sync' }) >= 1);
    assert.ok(sampleValue(edgeAfter, 'outpost_sync_last_success_timestamp_seconds') > 0);
    assert.equal(sampleValue(edgeAfter, 'outpost_sync_cursor'), sampleValue(edgeAfter, 'outpost_sync_parent_head'), 'caught up');
    assert.equal(sampleValue(edgeAfter, 'outpost_sync_repository_behind_changes', { repository: 'app' }), 0);
    assert.equal(samplesOf(edgeAfter, 'outpost_sync_repository_behind_changes').length, 1, 'one series per synced repository');
    const state = samplesOf(edgeAfter, 'outpost_sync_connection_state').filter((s) => s.value === 1).map((s) => s.labels.state);
    assert.equal(state.length, 1);
    assert.ok(state[0] === 'Online' || state[0] === 'Syncing', `state ${state[0]}`);
  });

  test('the root shows the edge it serves: state, heartbeat age, lag, outbox and storage', async () => {
    await waitFor('a heartbeat recorded', async () => sampleValue(await scrape(metricsUrl(root)), 'outpost_gateway_heartbeats_received_total', { connected_registry: 'site-a' }) >= 1);
    const fleet = await scrape(metricsUrl(root));
    const labels = { connected_registry: 'site-a', parent: '' };
    const current = samplesOf(fleet, 'outpost_connected_registry_connection_state').filter((s) => s.labels.connected_registry === 'site-a' && s.value === 1);
    assert.equal(current.length, 1);
    assert.ok(['Online', 'Syncing'].includes(current[0]!.labels.state!), `state ${current[0]!.labels.state}`);
    const age = sampleValue(fleet, 'outpost_connected_registry_last_heartbeat_age_seconds', labels);
    assert.ok(age >= 0 && age < 30, `heartbeat age ${age}`);
    assert.ok(samplesOf(fleet, 'outpost_connected_registry_pending_changes').some((s) => s.labels.connected_registry === 'site-a'));
    assert.ok(samplesOf(fleet, 'outpost_connected_registry_outbox_pending').some((s) => s.labels.connected_registry === 'site-a'));
    // The edge's disk as its heartbeats report it: the bytes it stores once a heartbeat after its
    // first sync has come (the first may be sent before any content arrived), and the space left.
    const withStorage = await waitFor('a heartbeat reporting stored bytes', async () => {
      const scraped = await scrape(metricsUrl(root));
      return sampleValue(scraped, 'outpost_connected_registry_storage_used_bytes', labels) > 0 ? scraped : null;
    });
    assert.ok(sampleValue(withStorage, 'outpost_connected_registry_storage_free_bytes', labels) > 0, 'storage free reported');
  });

  test('a pull at the edge and a push there carried up move the edge\'s counters', async () => {
    const before = await scrape(metricsUrl(edge));
    const pulled = await atEdge.request('GET', '/v2/app/manifests/v1', { headers: { Accept: OCI_MANIFEST } });
    assert.equal(pulled.status, 200);
    await pulled.arrayBuffer();
    const local = await pushImage(atEdge, 'app', 'from-edge');
    await waitFor('the edge\'s push at the root', async () => (await tagDigest(atRoot, 'app', 'from-edge')) === local.digest);
    await waitFor('the outbox drained', async () => sampleValue(await scrape(metricsUrl(edge)), 'outpost_sync_outbox_pending') === 0
      && sampleValue(await scrape(metricsUrl(edge)), 'outpost_sync_pushes_total', { result: 'pushed' }) >= 2);
    const after = await scrape(metricsUrl(edge));
    const gets = { route: 'v2:manifest', method: 'GET', code: '200' };
    assert.ok(sampleValue(after, 'outpost_http_requests_total', gets) > sampleValue(before, 'outpost_http_requests_total', gets));
    assert.ok(sampleValue(after, 'outpost_sync_transferred_bytes_total', { direction: 'push' }) >= 2048, 'the new layer went up');
    assert.ok(sampleValue(after, 'outpost_sync_transferred_manifests_total', { direction: 'push' }) >= 1);
    assert.equal(sampleValue(after, 'outpost_sync_errors_total', { kind: 'push-rejected' }), 0);
  });

  test('a resync at the root is counted as a reconcile at the edge', async () => {
    const before = sampleValue(await scrape(metricsUrl(edge)), 'outpost_sync_reconciles_total', { result: 'completed' });
    assert.ok(before >= 1, 'the first sync of a new edge is a full reconcile');
    const resync = await mgmt(atRoot, 'POST', '/connected-registries/site-a/resync');
    assert.ok(resync.status < 300, `resync: ${resync.status}`);
    await waitFor('the reconcile', async () => sampleValue(await scrape(metricsUrl(edge)), 'outpost_sync_reconciles_total', { result: 'completed' }) > before);
    assert.ok(sampleValue(await scrape(metricsUrl(edge)), 'outpost_sync_last_reconcile_duration_seconds') >= 0);
  });

  test('labels carry route templates and synced repositories only: no digest, tag or raw path', async () => {
    for (const node of [root, edge]) {
      const families = await scrape(metricsUrl(node));
      for (const family of families.values()) {
        for (const sample of family.samples) {
          for (const [name, value] of Object.entries(sample.labels)) {
            assert.ok(!value.includes('sha256'), `${sample.name}{${name}="${value}"}`);
            assert.ok(!value.includes('/v2/app'), `${sample.name}{${name}="${value}"}`);
            if (name === 'route') assert.ok(value.startsWith('v2:') || value.startsWith('/') || value === 'unmatched', `route ${value}`);
          }
        }
      }
    }
  });
});

describe('the exposition reader', () => {
  test('refuses a sample of an undeclared family and a malformed label', () => {
    assert.throws(() => parsePrometheusText('x_total 1\n'), /no declared family/);
    assert.throws(() => parsePrometheusText('# HELP x h\n# TYPE x gauge\nx{a=1} 1\n'), /not quoted/);
    const ok = parsePrometheusText('# HELP x h\n# TYPE x counter\nx_total{a="b\\"c"} 2\n');
    assert.equal(sampleValue(ok, 'x_total', { a: 'b"c' }), 2);
  });
});
