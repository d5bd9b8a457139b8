import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chunks, toUidSet } from '../../src/imap/uidset.js';

test('toUidSet collapses runs into ranges', () => {
  assert.equal(toUidSet([1, 2, 3, 4, 5, 7]), '1:5,7');
  assert.equal(toUidSet([9]), '9');
  assert.equal(toUidSet([3, 4, 10, 11, 12, 20]), '3:4,10:12,20');
});

test('toUidSet sorts and drops duplicates', () => {
  assert.equal(toUidSet([7, 5, 1, 3, 2, 4, 5, 1]), '1:5,7');
});

test('toUidSet of nothing is the empty string', () => {
  assert.equal(toUidSet([]), '');
});

test('toUidSet refuses values that are not UIDs', () => {
  assert.throws(() => toUidSet([1, 0]), RangeError);
  assert.throws(() => toUidSet([1.5]), RangeError);
});

test('chunks keeps order and bounds each chunk', () => {
  assert.deepEqual(chunks([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
  assert.deepEqual(chunks([], 3), []);
});
