import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import { EventBus } from '../../src/core/events.js';
import { MAX_REPOSITORY_SERIES, NodeMetrics, OTHER_REPOSITORIES, type SyncSource } from '../../src/observability/node-metrics.js';
import { SyncProgress } from '../../src/sync/sync-progress.js';
import type { SyncObservation } from '../../src/sync/sync-agent.js';
import type { AgentState } from '../../src/sync/sync-activity.js';
import { parsePrometheusText, sampleValue, samplesOf } from '../helpers/prometheus-text.js';

// How far behind its parent an edge says it is (docs/observability.md, "Metrics", Lag): the
// pending changes of the last answer until their commit, and while the agent is not connected,
// the time since it last had everything. The agent is replaced by what it would report; time is
// a ManualClock.

const T0 = Date.parse('2026-06-01T12:00:00Z');
const TRANSFERS = { blobsFetched: 0, blobBytesFetched: 0, manifestsFetched: 0, blobsPushed: 0, blobBytesPushed: 0, manifestsPushed: 0 };

function message(seq: number, repository: string, at: number): { seq: number; kind: 'tag'; repository: string; tag: string; digest: string; mediaType: null; at: string } {
  return { seq, kind: 'tag', repository, tag: 'v1', digest: 'sha256:00', mediaType: null, at: new Date(at).toISOString() };
}

/** NodeMetrics over a SyncProgress and a state the test sets, with `synced` repositories. */
function setup(synced: string[]) {
  const clock = new ManualClock(T0);
  const progress = new SyncProgress();
  const seen: { state: AgentState; cursor: number | null } = { state: 'Online', cursor: 0 };
  const source: SyncSource = {
    observe: async (): Promise<SyncObservation> => ({
      state: seen.state, lastSyncAt: null, caughtUpAt: progress.caughtUpAt, startedAt: T0, cursor: seen.cursor, parentHead: progress.parentHead,
      pending: progress.pending(seen.cursor), outbox: 0, parked: 0, transfers: TRANSFERS,
    }),
    syncedRepositories: async (limit) => synced.slice(0, limit),
  };
  const metrics = new NodeMetrics(clock);
  metrics.observeSync(source, new EventBus());
  const scrape = async () => parsePrometheusText(await metrics.render());
  return { clock, progress, seen, scrape };
}

describe('the lag an edge reports', () => {
  test('changes of an answer are pending per repository until the cursor passes them, aged from when the parent made them', async () => {
    const { clock, progress, seen, scrape } = setup(['app', 'web']);
    progress.noteAnswer({ head: 12, messages: [message(10, 'app', T0 - 30_000), message(11, 'app', T0 - 20_000), message(12, 'web', T0 - 5_000)] });
    seen.cursor = 9;
    clock.advance(10_000);
    let m = await scrape();
    assert.equal(sampleValue(m, 'outpost_sync_repository_behind_changes', { repository: 'app' }), 2);
    assert.equal(sampleValue(m, 'outpost_sync_repository_behind_seconds', { repository: 'app' }), 40);
    assert.equal(sampleValue(m, 'outpost_sync_repository_behind_changes', { repository: 'web' }), 1);
    assert.equal(sampleValue(m, 'outpost_sync_repository_behind_seconds', { repository: 'web' }), 15);
    assert.equal(sampleValue(m, 'outpost_sync_behind_seconds'), 40);
    assert.equal(sampleValue(m, 'outpost_sync_parent_head'), 12);

    seen.cursor = 11;
    m = await scrape();
    assert.equal(sampleValue(m, 'outpost_sync_repository_behind_changes', { repository: 'app' }), 0, 'applied');
    assert.equal(sampleValue(m, 'outpost_sync_repository_behind_seconds', { repository: 'app' }), 0);
    assert.equal(sampleValue(m, 'outpost_sync_behind_seconds'), 15);
    seen.cursor = 12;
    progress.noteCaughtUp(clock.now());
    m = await scrape();
    assert.equal(sampleValue(m, 'outpost_sync_behind_seconds'), 0, 'connected and caught up');
    assert.equal(sampleValue(m, 'outpost_sync_caught_up_timestamp_seconds'), clock.now() / 1000);
  });

  test('an edge cut from its parent is behind by the time since it last caught up, growing with the outage', async () => {
    const { clock, progress, seen, scrape } = setup(['app']);
    progress.noteAnswer({ head: 5, messages: [] });
    seen.cursor = 5;
    progress.noteCaughtUp(clock.now());
    seen.state = 'Offline';
    clock.advance(90_000);
    let m = await scrape();
    assert.equal(sampleValue(m, 'outpost_sync_behind_seconds'), 90);
    assert.equal(sampleValue(m, 'outpost_sync_repository_behind_seconds', { repository: 'app' }), 90);
    assert.equal(sampleValue(m, 'outpost_sync_connection_state', { state: 'Offline' }), 1);
    clock.advance(60_000);
    m = await scrape();
    assert.equal(sampleValue(m, 'outpost_sync_behind_seconds'), 150);
  });

  test('at most MAX_REPOSITORY_SERIES repositories get series, pending ones first; the rest are summed under _other', async () => {
    const many = Array.from({ length: MAX_REPOSITORY_SERIES + 20 }, (_, i) => `repo-${String(i).padStart(3, '0')}`);
    const { progress, seen, scrape } = setup(many);
    const late = many[MAX_REPOSITORY_SERIES + 10]!;
    progress.noteAnswer({ head: 3, messages: [message(2, late, T0 - 1000), message(3, late, T0 - 1000)] });
    seen.cursor = 1;
    const m = await scrape();
    const series = samplesOf(m, 'outpost_sync_repository_behind_changes');
    assert.equal(series.length, MAX_REPOSITORY_SERIES + 1);
    assert.equal(sampleValue(m, 'outpost_sync_repository_behind_changes', { repository: late }), 2, 'a repository with pending changes keeps its own series');
    assert.ok(series.some((s) => s.labels.repository === OTHER_REPOSITORIES));
  });
});
