import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ancestorsOf, descendantsOf, type HierarchyNode } from '../../src/metadata/index.js';

const node = (name: string, parent: string | null = null): HierarchyNode => ({ name, parent });
const names = (records: readonly HierarchyNode[]): string[] => records.map((r) => r.name);

//   top ── mid-b ── leaf-z
//     └─── mid-a ── leaf-y
//                └─ leaf-x
//   other
const TREE = [node('leaf-z', 'mid-b'), node('mid-b', 'top'), node('other'), node('leaf-x', 'mid-a'), node('top'), node('mid-a', 'top'), node('leaf-y', 'mid-a')];

describe('connected-registry hierarchy', () => {
  test('descendants: parents before children, by name within a level, never the record itself', () => {
    assert.deepEqual(names(descendantsOf('top', TREE)), ['mid-a', 'mid-b', 'leaf-x', 'leaf-y', 'leaf-z']);
    assert.deepEqual(names(descendantsOf('mid-a', TREE)), ['leaf-x', 'leaf-y']);
    assert.deepEqual(descendantsOf('leaf-x', TREE), []);
    assert.deepEqual(descendantsOf('nowhere', TREE), []);
  });

  test('ancestors: the parent first, up to a top-level record', () => {
    assert.deepEqual(names(ancestorsOf(node('leaf-y', 'mid-a'), TREE)), ['mid-a', 'top']);
    assert.deepEqual(names(ancestorsOf(node('new-kid', 'leaf-z'), TREE)), ['leaf-z', 'mid-b', 'top'], 'a record not stored yet');
    assert.deepEqual(ancestorsOf(node('top'), TREE), []);
  });

  test('ancestors stop at a parent that is not stored (the hierarchy above a connected node)', () => {
    const local = [node('site', null), node('line', 'site'), node('cell', 'line')];
    assert.deepEqual(names(ancestorsOf(node('cell', 'line'), local)), ['line', 'site']);
    assert.deepEqual(names(ancestorsOf(node('orphan', 'gone'), local)), []);
  });

  test('cycle guard: a cycle in the records ends every walk, each record at most once', () => {
    const cyclic = [node('a', 'c'), node('b', 'a'), node('c', 'b'), node('d', 'b'), node('self', 'self')];
    assert.deepEqual(names(descendantsOf('a', cyclic)), ['b', 'c', 'd']);
    assert.deepEqual(names(ancestorsOf(node('d', 'b'), cyclic)), ['b', 'a', 'c']);
    assert.deepEqual(names(ancestorsOf(node('a', 'c'), cyclic)), ['c', 'b'], 'never the record itself');
    assert.deepEqual(descendantsOf('self', cyclic), []);
    assert.deepEqual(ancestorsOf(node('self', 'self'), cyclic), []);
  });
});
