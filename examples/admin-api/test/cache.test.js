'use strict';
// The customer cache's rules, without a database: what the HTTP test cannot
// time (a read racing an invalidation).
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { CustomerCache, applyNotification } = require('../src/app');

function listeningCache(maxEntries) {
  const cache = new CustomerCache(maxEntries);
  cache.listening = true;
  return cache;
}

test('a read that started before an invalidation is not stored', () => {
  const cache = listeningCache();
  const generation = cache.generation;
  cache.invalidate('42', 'notification'); // arrives while the read is under way
  cache.set('42', { segments: ['stale'] }, generation);
  assert.equal(cache.get('42'), undefined);
  cache.set('42', { segments: ['fresh'] }, cache.generation);
  assert.deepEqual(cache.get('42'), { segments: ['fresh'] });
});

test('nothing is stored while the listener is not listening', () => {
  const cache = new CustomerCache();
  cache.set('42', {}, cache.generation);
  assert.equal(cache.get('42'), undefined);
});

test('the oldest entry makes room past the size limit', () => {
  const cache = listeningCache(2);
  for (const id of ['1', '2', '3']) cache.set(id, { id }, cache.generation);
  assert.deepEqual([...cache.entries.keys()], ['2', '3']);
});

test('notifications: one customer, or a summary that drops everything', () => {
  const cache = listeningCache();
  for (const id of ['42', 'ann', '7']) cache.set(id, { id }, cache.generation);
  applyNotification(cache, '{"customer_id": 42, "added": [1, 3], "removed": [2]}');
  applyNotification(cache, '{"customer_id": "ann", "added": [], "removed": [2]}');
  assert.deepEqual([...cache.entries.keys()], ['7']);
  applyNotification(cache, '{"segment_id": 7, "added": 123456, "removed": 10, "summary": true}');
  assert.equal(cache.entries.size, 0);
});

test('a truncated notification drops everything: its text id may be cut', () => {
  const cache = listeningCache();
  const long = 'x'.repeat(1500);
  for (const id of [long, '7']) cache.set(id, { id }, cache.generation);
  applyNotification(cache, JSON.stringify({ customer_id: long.slice(0, 1000), added: [1], removed: [], truncated: true }));
  assert.equal(cache.entries.size, 0);
});
