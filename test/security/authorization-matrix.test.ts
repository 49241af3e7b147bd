import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { HANDLERS } from '../../src/registry/v2-routes.js';
import { RULES, V2_DISPATCHER_URLS, type Rule, type Sample, type SampleContext } from './matrix-rules.js';
import { can, serves, type Caller } from './matrix-model.js';
import { startMatrixFixture, type MatrixFixture, type MatrixNode } from './matrix-fixture.js';

/**
 * The authorization matrix (issue 9): every route of every plane — /v2 (each HANDLERS entry),
 * the token service, /mgmt/v1, /gateway/v1, the health probes — at a root, a root with anonymous
 * pull and a connected node, × every kind of caller there. Routes are enumerated from the running
 * nodes (fastify's onRoute, and the /v2 dispatcher's HANDLERS table) and each must have a rule in
 * matrix-rules.ts; the outcome expected of each (route, caller) pair is computed from the rule's
 * need and the caller's grants (matrix-model.ts), never written per case.
 */

const CONCURRENCY = 8;

let fixture: MatrixFixture;

before(async () => {
  fixture = await startMatrixFixture();
}, { timeout: 120_000 });

after(async () => {
  await fixture?.close();
});

/** The route keys a node serves: `METHOD url` from onRoute, and `v2 <kind> <METHOD>` per HANDLERS entry behind the /v2 dispatcher. */
function routeKeys(node: MatrixNode): Set<string> {
  const keys = new Set<string>();
  let dispatcher = false;
  for (const route of node.routes) {
    if (V2_DISPATCHER_URLS.includes(route.url)) dispatcher = true;
    else keys.add(`${route.method} ${route.url}`);
  }
  if (dispatcher) {
    for (const [kind, methods] of Object.entries(HANDLERS)) for (const method of Object.keys(methods)) keys.add(`v2 ${kind} ${method}`);
  }
  return keys;
}

test('every route of every node has a rule, and every rule a route', () => {
  const all = new Set<string>();
  for (const node of fixture.nodes) for (const key of routeKeys(node)) all.add(key);
  const uncovered = [...all].filter((key) => !(key in RULES)).sort();
  assert.deepEqual(uncovered, [], `routes without a rule in test/security/matrix-rules.ts:\n  ${uncovered.join('\n  ')}`);
  const stale = Object.keys(RULES).filter((key) => !all.has(key)).sort();
  assert.deepEqual(stale, [], `rules for routes no node registers:\n  ${stale.join('\n  ')}`);
  // The root serves everything; a connected node everything but the management API.
  const root = routeKeys(fixture.nodes.find((n) => n.name === 'root')!);
  const edge = routeKeys(fixture.nodes.find((n) => n.name === 'edge')!);
  for (const [key, rule] of Object.entries(RULES)) {
    assert.ok(root.has(key), `the root serves ${key}`);
    assert.equal(edge.has(key), !rule.rootOnly, `a connected node ${rule.rootOnly ? 'does not serve' : 'serves'} ${key}`);
  }
});

interface Outcome {
  caller: string;
  status: number;
  expected: string;
  ok: boolean;
}

function authorization(caller: Caller): Record<string, string> {
  const p = caller.presents;
  switch (p.kind) {
    case 'none':
      return {};
    case 'basic':
      return { Authorization: `Basic ${Buffer.from(`${p.username}:${p.password}`).toString('base64')}` };
    case 'bearer':
      return { Authorization: `Bearer ${p.token}` };
    case 'refresh':
      // What a holder of the refresh token can present: the access token it got for it, if any.
      return { Authorization: `Bearer ${p.exchanged ?? p.refreshToken}` };
  }
}

/** The token service's POST as each kind of caller makes it. */
function tokenForm(caller: Caller): string {
  const p = caller.presents;
  const form = new URLSearchParams({ service: 'matrix', scope: 'repository:repoa:pull' });
  if (p.kind === 'basic') {
    form.set('grant_type', 'password');
    form.set('username', p.username);
    form.set('password', p.password);
  } else {
    form.set('grant_type', 'refresh_token');
    if (p.kind === 'refresh') form.set('refresh_token', p.refreshToken);
    // An access token is not a refresh token.
    if (p.kind === 'bearer') form.set('refresh_token', p.token);
  }
  return form.toString();
}

async function runCase(node: MatrixNode, key: string, rule: Rule, sample: Sample, caller: Caller, ctx: SampleContext): Promise<Outcome> {
  const method = key.split(' ').at(key.startsWith('v2 ') ? 2 : 0)!;
  const path = sample.path(ctx);
  const tokenPost = rule.need.kind === 'token-endpoint' && rule.need.method === 'POST';
  const headers: Record<string, string> = { ...authorization(caller) };
  let body = sample.body;
  if (tokenPost) {
    body = tokenForm(caller);
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
  } else if (sample.contentType) headers['Content-Type'] = sample.contentType;
  const res = await fetch(new URL(path, node.url), { method, headers, ...(body !== undefined ? { body } : {}) });
  await res.arrayBuffer();
  const status = res.status;

  const resource = sample.resource ? sample.resource(ctx) : 'repoa';
  const serving = serves(rule.need, caller, node, resource);
  let expected: string;
  let ok: boolean;
  if (rule.rootOnly && node.connected) {
    expected = '404 (not served here)';
    ok = status === 404;
  } else if (rule.need.kind === 'token-endpoint') {
    expected = serving ? '200 (a token)' : '401';
    ok = serving ? status === 200 : status === 401;
  } else if (!serving) {
    expected = 'refused (401/403)';
    ok = status === 401 || status === 403;
  } else if (sample.mount) {
    // The blob is in repob at the root only; the caller may take it only when it can read repob.
    const mayTake = caller.grants !== null && can(caller.grants, 'repositories', 'content/read', 'repob') && node.name === 'root';
    const allowed = sample.mount.from === 'repob' ? [mayTake ? 201 : 202] : mayTake ? [201, 202] : [202];
    expected = allowed.join(' or ');
    ok = allowed.includes(status);
  } else {
    expected = 'served (not 401/403, not 5xx)';
    ok = status !== 401 && status !== 403 && status < 500;
  }
  return { caller: caller.label, status, expected, ok };
}

async function pool<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

test('the authorization matrix: each (route, caller) pair is served or refused as its rule and grants say', async (t) => {
  let cases = 0;
  let routeSamples = 0;
  const failing: string[] = [];
  for (const node of fixture.nodes) {
    const keys = [...routeKeys(node)];
    // A connected node is also asked for the root-only routes: it must answer 404, whoever asks.
    for (const [key, rule] of Object.entries(RULES)) if (rule.rootOnly && node.connected) keys.push(key);
    for (const key of keys.sort()) {
      const rule = RULES[key];
      if (!rule) continue; // reported by the coverage test
      for (const sample of rule.samples) {
        routeSamples += 1;
        const name = `${node.name}: ${key}${sample.label ? ` (${sample.label})` : ''}`;
        const outcomes = await pool(node.callers, CONCURRENCY, (caller) => runCase(node, key, rule, sample, caller, node.context()));
        cases += outcomes.length;
        const wrong = outcomes.filter((o) => !o.ok);
        for (const o of wrong) failing.push(`${name} | ${o.caller} | expected ${o.expected}, got ${o.status}`);
        await t.test(name, () => {
          assert.deepEqual(wrong.map((o) => `${o.caller}: expected ${o.expected}, got ${o.status}`), []);
        });
      }
    }
  }
  const callers = fixture.nodes.map((n) => `${n.name} ${n.callers.length}`).join(', ');
  t.diagnostic(`authorization matrix: ${cases} cases (${routeSamples} route samples over 3 nodes; callers: ${callers}); ${failing.length} failing`);
  for (const line of failing) t.diagnostic(`FAIL ${line}`);
});
