import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parse as parseYaml } from 'yaml';
import { formatOutput, formatTable, formatTsv, headerFor } from '../../src/cli/output.js';
import { TOKEN_TABLE, NEW_PASSWORDS_TABLE } from '../../src/cli/token-commands.js';
import { SCOPE_MAP_TABLE } from '../../src/cli/scope-map-commands.js';

const token = {
  name: 't-line1',
  status: 'enabled',
  scopeMapId: 'scopeMaps/hello-world-scopemap',
  creationDate: '2026-11-23T12:00:00.000Z',
  id: 'tokens/t-line1',
  credentials: {
    passwords: [
      { name: 'password1', creationTime: '2026-11-23T12:00:00.000Z', expiry: null, value: 'secret-1' },
      { name: 'password2', creationTime: '2026-11-23T12:00:00.000Z', expiry: '2027-01-01T00:00:00.000Z', value: 'secret-2' },
    ],
  },
};
const maps = [
  { name: '_repositories_pull', description: 'Can pull', actions: ['repositories/*/content/read'], type: 'SystemDefined', creationDate: '2026-11-23T12:00:00.000Z', id: 'scopeMaps/_repositories_pull' },
  { name: 'hello-world-scopemap', description: '', actions: ['repositories/hello-world/content/read'], type: 'UserDefined', creationDate: '2026-11-23T12:01:00.000Z', id: 'scopeMaps/hello-world-scopemap' },
];

describe('output formatting', () => {
  test('json is the default, pretty-printed with two spaces as az', () => {
    assert.equal(formatOutput(maps[1]), `${JSON.stringify(maps[1], null, 2)}\n`);
    assert.equal(formatOutput(['a', 'b'], { output: 'json' }), '[\n  "a",\n  "b"\n]\n');
  });

  test('nothing to print gives no output', () => {
    assert.equal(formatOutput(undefined), '');
    assert.equal(formatOutput(undefined, { output: 'table' }), '');
  });

  test('none prints nothing, whatever the answer and the query (az -o none)', () => {
    assert.equal(formatOutput(token, { output: 'none' }), '');
    assert.equal(formatOutput(maps, { output: 'NONE', table: SCOPE_MAP_TABLE }), '');
    assert.equal(formatOutput(token, { output: 'none', query: 'credentials.passwords[0].value' }), '');
  });

  test('yaml round-trips', () => {
    assert.deepEqual(parseYaml(formatOutput(token, { output: 'yaml' })), token);
  });

  test('tsv: scalar values tab-separated, no headers, nested values left out', () => {
    assert.equal(formatTsv(maps), '_repositories_pull\tCan pull\tSystemDefined\t2026-11-23T12:00:00.000Z\tscopeMaps/_repositories_pull\nhello-world-scopemap\t\tUserDefined\t2026-11-23T12:01:00.000Z\tscopeMaps/hello-world-scopemap\n');
    assert.equal(formatOutput(['a', 'b'], { output: 'tsv' }), 'a\nb\n');
    assert.equal(formatOutput('x', { output: 'TSV' }), 'x\n');
  });

  test('table: the command columns, az headers, dashes, two spaces apart', () => {
    const text = formatOutput(maps, { output: 'table', table: SCOPE_MAP_TABLE });
    const lines = text.trimEnd().split('\n');
    assert.match(lines[0]!, /^NAME\s+TYPE\s+CREATION DATE\s+DESCRIPTION$/);
    assert.match(lines[1]!, /^-+ {2}-+ {2}-+ {2}-+$/);
    assert.match(lines[2]!, /^_repositories_pull {4}SystemDefined {2}2026-11-23T12:00:00.000Z {2}Can pull$/);
    assert.match(lines[3]!, /^hello-world-scopemap {2}UserDefined/);
    assert.equal(lines.length, 4);
  });

  test('token table shows the scope map name; the create table shows the new passwords', () => {
    const list = formatOutput([token], { output: 'table', table: TOKEN_TABLE });
    assert.match(list, /^NAME\s+STATUS\s+SCOPE MAP\s+PASSWORD1 EXPIRY\s+PASSWORD2 EXPIRY\s+CREATION DATE\n/);
    assert.match(list, /t-line1\s+enabled\s+hello-world-scopemap\s+2027-01-01T00:00:00.000Z\s+2026-11-23/);
    const created = formatOutput(token, { output: 'table', table: NEW_PASSWORDS_TABLE });
    assert.match(created, /^PASSWORD\s+VALUE\s+EXPIRY\n/);
    assert.match(created, /password1\s+secret-1\n/);
    assert.match(created, /password2\s+secret-2\s+2027-01-01T00:00:00.000Z\n/);
  });

  test('table without command columns: scalar keys as headers; a list of strings as RESULT', () => {
    assert.equal(headerFor('creationDate'), 'CREATION DATE');
    assert.equal(headerFor('scopeMapId'), 'SCOPE MAP ID');
    assert.equal(formatTable(['hello', 'other/x']), 'RESULT\n-------\nhello\nother/x\n');
    const text = formatTable([{ name: 'a', tagCount: 2, nested: { x: 1 } }]);
    assert.equal(text, 'NAME  TAG COUNT\n----  ---------\na     2\n');
  });

  test('--query is applied before formatting, and the command table is then not used', () => {
    assert.equal(formatOutput(maps, { query: '[].name' }), '[\n  "_repositories_pull",\n  "hello-world-scopemap"\n]\n');
    assert.equal(formatOutput(maps, { query: "[?type=='UserDefined'].name", output: 'tsv' }), 'hello-world-scopemap\n');
    assert.equal(formatOutput(token, { query: 'credentials.passwords[0].value', output: 'tsv' }), 'secret-1\n');
    assert.equal(
      formatOutput(maps, { query: '[].{Name:name, Actions:length(actions)}', output: 'table', table: SCOPE_MAP_TABLE }),
      'NAME                  ACTIONS\n--------------------  -------\n_repositories_pull    1\nhello-world-scopemap  1\n',
    );
  });

  test('a bad --query or -o is a usage error', () => {
    assert.throws(() => formatOutput(maps, { query: '[?' }), { code: 'USAGE_INVALID', message: /invalid JMESPath query '\[\?'/ });
    assert.throws(() => formatOutput(maps, { output: 'xml' }), { code: 'USAGE_INVALID', message: /invalid choice: 'xml'/ });
  });
});
