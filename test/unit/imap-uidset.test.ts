import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chunks, fromUidSet, toUidSet } from '../../src/imap/uidset.js';

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

test('fromUidSet expands ranges, sorted and without duplicates', () => {
  assert.deepEqual(fromUidSet('1:5,7', 100), [1, 2, 3, 4, 5, 7]);
  assert.deepEqual(fromUidSet('9', 100), [9]);
  assert.deepEqual(fromUidSet('12:10,3,3', 100), [3, 10, 11, 12]);
  assert.deepEqual(fromUidSet('', 100), []);
});

test('fromUidSet undoes toUidSet', () => {
  const uids = [1, 2, 3, 8, 20, 21, 22, 40];
  assert.deepEqual(fromUidSet(toUidSet(uids), uids.length), uids);
});

test('fromUidSet refuses what is not a UID set, and sets larger than the limit', () => {
  assert.throws(() => fromUidSet('1:*', 100), RangeError);
  assert.throws(() => fromUidSet('0:3', 100), RangeError);
  assert.throws(() => fromUidSet('a', 100), RangeError);
  assert.throws(() => fromUidSet('1:4294967295', 1000), /more than 1000/);
  assert.throws(() => fromUidSet('1:600,700:1200', 1000), /more than 1000/);
});
