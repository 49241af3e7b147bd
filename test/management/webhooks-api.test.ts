import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestNode, type TestNode } from '../helpers/test-node.js';
import { TestClient } from '../helpers/oci-client.js';
import { errorCodeOf, errorMessage, mgmt } from '../helpers/management-calls.js';

/**
 * The webhook routes of the management API (docs/management-api.md, "Webhooks"): the resource's
 * life cycle, and bad input on every route — answered 400/404/409 with OCI error JSON, never
 * changing what is stored, never echoing a header value.
 */
describe('management API: webhooks', () => {
  let node: TestNode;
  let admin: TestClient;
  const VALID = { name: 'hookvalid', serviceUri: 'https://hooks.example/in', actions: ['push'] };

  before(async () => {
    node = await startTestNode();
    admin = new TestClient(node.url);
  });

  after(async () => {
    await node?.close();
  });

  async function listed(): Promise<string[]> {
    return ((await mgmt(admin, 'GET', '/webhooks')).json as Array<{ name: string }>).map((w) => w.name);
  }

  test('create (with the defaults), show, list, update, delete', async () => {
    const created = await mgmt(admin, 'POST', '/webhooks', VALID);
    assert.equal(created.status, 201);
    const webhook = created.json as Record<string, unknown>;
    assert.deepEqual({ ...webhook, creationDate: null, lastUpdated: null }, {
      id: 'webhooks/hookvalid', name: 'hookvalid', type: 'webhooks', provisioningState: 'Succeeded', status: 'enabled', scope: '',
      actions: ['push'], serviceUri: 'https://hooks.example/in', customHeaders: {}, creationDate: null, lastUpdated: null,
      deliveries: { pending: 0, delivered: 0, failed: 0 },
    });
    assert.deepEqual((await mgmt(admin, 'GET', '/webhooks/hookvalid')).json, webhook);
    assert.deepEqual(await listed(), ['hookvalid']);
    const updated = await mgmt(admin, 'PATCH', '/webhooks/hookvalid', { actions: ['delete', 'push', 'delete'], scope: 'samples/*:v1', status: 'disabled', customHeaders: { 'X-Env': 'prod' } });
    assert.equal(updated.status, 200, JSON.stringify(updated.json));
    assert.deepEqual((updated.json as Record<string, unknown>).actions, ['delete', 'push']);
    assert.equal((updated.json as Record<string, unknown>).scope, 'samples/*:v1');
    assert.equal((updated.json as Record<string, unknown>).status, 'disabled');
    assert.deepEqual((updated.json as Record<string, unknown>).customHeaders, { 'X-Env': 'prod' });
    const cleared = await mgmt(admin, 'PATCH', '/webhooks/hookvalid', { customHeaders: {} });
    assert.deepEqual((cleared.json as Record<string, unknown>).customHeaders, {}, '{} clears the headers');
    assert.equal((cleared.json as Record<string, unknown>).scope, 'samples/*:v1', 'what is not given stays');
    assert.equal((await mgmt(admin, 'DELETE', '/webhooks/hookvalid')).status, 204);
    assert.equal((await mgmt(admin, 'GET', '/webhooks/hookvalid')).status, 404);
    assert.deepEqual(await listed(), []);
  });

  test('bad input on create: 400 REQUEST_INVALID naming what is wrong, nothing created', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [[VALID], /JSON object/],
      [{ ...VALID, name: undefined }, /Invalid webhook name/],
      [{ ...VALID, name: 'abcd' }, /5 to 50 letters and digits/],
      [{ ...VALID, name: 'a'.repeat(51) }, /5 to 50 letters and digits/],
      [{ ...VALID, name: 'bad-name' }, /5 to 50 letters and digits/],
      [{ ...VALID, serviceUri: undefined }, /serviceUri is required/],
      [{ ...VALID, serviceUri: 'ftp://hooks.example/in' }, /must use http or https/],
      [{ ...VALID, serviceUri: 'not a url' }, /not a valid URL/],
      [{ ...VALID, serviceUri: 'https://hooks.example/in#frag' }, /fragment/],
      [{ ...VALID, serviceUri: `https://hooks.example/${'x'.repeat(2050)}` }, /at most 2048/],
      [{ ...VALID, serviceUri: 42 }, /http or https URL/],
      [{ ...VALID, actions: undefined }, /actions is required/],
      [{ ...VALID, actions: [] }, /non-empty list/],
      [{ ...VALID, actions: 'push' }, /non-empty list/],
      [{ ...VALID, actions: ['pull'] }, /Invalid action 'pull'/],
      [{ ...VALID, actions: ['push', 'quarantine'] }, /'quarantine' is not supported: Outpost has no quarantine/],
      [{ ...VALID, actions: ['chart_push'] }, /'chart_push' is not supported: Outpost has no Helm chart repositories/],
      [{ ...VALID, actions: ['chart_delete'] }, /'chart_delete' is not supported/],
      [{ ...VALID, scope: 'a:b:c' }, /Invalid scope/],
      [{ ...VALID, scope: 'Bad Repo:*' }, /Invalid scope/],
      [{ ...VALID, scope: 7 }, /scope must be a string/],
      [{ ...VALID, customHeaders: ['Authorization: x'] }, /JSON object of header names/],
      [{ ...VALID, customHeaders: { 'Bad Name': 'x' } }, /Invalid header name/],
      [{ ...VALID, customHeaders: { Host: 'evil.example' } }, /set by the registry itself/],
      [{ ...VALID, customHeaders: { 'Content-Length': '1' } }, /set by the registry itself/],
      [{ ...VALID, customHeaders: { 'x-a': '1', 'X-A': '2' } }, /given twice/],
      [{ ...VALID, customHeaders: { 'X-A': 5 } }, /must be a string/],
      [{ ...VALID, customHeaders: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`X-H${i}`, 'v'])) }, /At most 20 custom headers/],
      [{ ...VALID, status: 'paused' }, /Invalid status 'paused'/],
      [{ ...VALID, headers: { a: 'b' } }, /Unknown field 'headers'/],
    ];
    for (const [body, message] of cases) {
      const answer = await mgmt(admin, 'POST', '/webhooks', body);
      assert.equal(answer.status, 400, `${JSON.stringify(body).slice(0, 120)}: ${JSON.stringify(answer.json)}`);
      assert.equal(errorCodeOf(answer), 'REQUEST_INVALID');
      assert.match(errorMessage(answer), message, JSON.stringify(body).slice(0, 120));
    }
    // A header value that may be a secret is never repeated in the answer.
    const injected = await mgmt(admin, 'POST', '/webhooks', { ...VALID, customHeaders: { Authorization: 'Basic s3cr3t\r\nX-Evil: 1' } });
    assert.equal(injected.status, 400);
    assert.ok(!JSON.stringify(injected.json).includes('s3cr3t'), JSON.stringify(injected.json));
    assert.deepEqual(await listed(), []);
    const notJson = await admin.request('POST', '/mgmt/v1/webhooks', { body: '{"name":', headers: { 'Content-Type': 'application/json' } });
    assert.equal(notJson.status, 400);
  });

  test('a name taken is 409 CONFLICT; the first one stays as it was', async () => {
    assert.equal((await mgmt(admin, 'POST', '/webhooks', { ...VALID, name: 'hooktaken' })).status, 201);
    const again = await mgmt(admin, 'POST', '/webhooks', { ...VALID, name: 'hooktaken', serviceUri: 'https://other.example/' });
    assert.equal(again.status, 409);
    assert.equal(errorCodeOf(again), 'CONFLICT');
    assert.equal(((await mgmt(admin, 'GET', '/webhooks/hooktaken')).json as { serviceUri: string }).serviceUri, VALID.serviceUri);
  });

  test('bad input on update, show, delete, ping and list-events: 400 or 404, nothing changed', async () => {
    assert.equal((await mgmt(admin, 'POST', '/webhooks', { ...VALID, name: 'hookkept', scope: 'app:*' })).status, 201);
    const before = (await mgmt(admin, 'GET', '/webhooks/hookkept')).json;
    const updates: Array<[unknown, RegExp]> = [
      [{}, /Nothing to update/],
      [{ serviceUri: 'gopher://x' }, /http or https/],
      [{ actions: ['quarantine'] }, /not supported/],
      [{ actions: [] }, /non-empty/],
      [{ scope: 'x:y:z' }, /Invalid scope/],
      [{ customHeaders: { Connection: 'close' } }, /set by the registry itself/],
      [{ status: 'on' }, /Invalid status/],
      [{ name: 'renamed' }, /Unknown field 'name'/],
    ];
    for (const [body, message] of updates) {
      const answer = await mgmt(admin, 'PATCH', '/webhooks/hookkept', body);
      assert.equal(answer.status, 400, JSON.stringify(body));
      assert.match(errorMessage(answer), message);
    }
    assert.deepEqual((await mgmt(admin, 'GET', '/webhooks/hookkept')).json, before, 'a refused update changes nothing');

    for (const [method, path] of [
      ['GET', '/webhooks/nosuchhook'], ['PATCH', '/webhooks/nosuchhook'], ['DELETE', '/webhooks/nosuchhook'],
      ['POST', '/webhooks/nosuchhook/ping'], ['GET', '/webhooks/nosuchhook/events'],
    ] as const) {
      const answer = await mgmt(admin, method, path, method === 'PATCH' ? { status: 'enabled' } : undefined);
      assert.equal(answer.status, 404, `${method} ${path}`);
      assert.equal(errorCodeOf(answer), 'NOT_FOUND');
      assert.equal(errorMessage(answer), "The webhook 'nosuchhook' could not be found.");
    }
    for (const [method, path] of [['GET', '/webhooks/bad-name'], ['DELETE', '/webhooks/abc'], ['POST', '/webhooks/x/ping']] as const) {
      const answer = await mgmt(admin, method, path);
      assert.equal(answer.status, 400, `${method} ${path}`);
      assert.equal(errorCodeOf(answer), 'REQUEST_INVALID');
    }
    for (const top of ['0', 'abc', '1001', '-1', '1.5']) {
      const answer = await mgmt(admin, 'GET', `/webhooks/hookkept/events?top=${top}`);
      assert.equal(answer.status, 400, `top=${top}`);
      assert.match(errorMessage(answer), /top must be a whole number from 1 to 1000/);
    }
    assert.deepEqual((await mgmt(admin, 'GET', '/webhooks/hookkept/events?top=5')).json, []);
  });

  test('only the admin: a token, even one allowed everything on repositories, gets 403; no credentials 401', async () => {
    const token = await mgmt(admin, 'POST', '/tokens', { name: 'allrepos', scopeMap: '_repositories_admin' });
    const password = (token.json as { credentials: { passwords: Array<{ value: string }> } }).credentials.passwords[0]!.value;
    const asToken = new TestClient(node.url, `Basic ${Buffer.from(`allrepos:${password}`).toString('base64')}`);
    assert.equal((await mgmt(asToken, 'GET', '/webhooks')).status, 403);
    assert.equal((await mgmt(asToken, 'POST', '/webhooks', { ...VALID, name: 'hooksneaky' })).status, 403);
    assert.equal((await mgmt(new TestClient(node.url, null), 'GET', '/webhooks')).status, 401);
    assert.ok(!(await listed()).includes('hooksneaky'));
  });
});
