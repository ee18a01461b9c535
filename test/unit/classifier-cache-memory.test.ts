/**
 * `query_classifier_cache_size` is a budget in bytes, so what the cache says its forms cost
 * must be what they cost: the cache is filled with 20,000 forms, short and long, and what
 * the heap gives back when it is emptied (after full collections) is held to the cache's count.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  classifierCacheLimit,
  classifierCacheUsage,
  classifyStatement,
  setClassifierCacheLimit,
} from '../../src/proxy/routing/readwritesplit/classifier-cache.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapBytes(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

for (const padding of [0, 1500]) {
  test(`the cache's count of its bytes is within 15 % of what the heap holds for it, forms of ${60 + padding} bytes`, () => {
    const limit = classifierCacheLimit();
    const pad = 'x'.repeat(padding);
    // Flat strings, as a packet's text is: a template's rope would be flattened (allocated) by the classifier.
    const statements = Array.from({ length: 20_000 }, (_, i) =>
      Buffer.from(`SELECT c, pad${pad} FROM mem${padding}_${i} WHERE id = 1 AND k BETWEEN 5 AND 10`).toString(),
    );
    try {
      setClassifierCacheLimit(0);
      setClassifierCacheLimit(limit);
      for (const sql of statements) classifyStatement(sql);
      const counted = classifierCacheUsage();
      assert.equal(counted.entries, 20_000);
      const full = heapBytes();
      setClassifierCacheLimit(0);
      const held = full - heapBytes();
      const ratio = counted.bytes / held;
      console.log(
        `forms of ${60 + padding} bytes: counted ${counted.bytes} bytes, the heap held ${held} (${ratio.toFixed(3)})`,
      );
      assert.ok(ratio > 0.85 && ratio < 1.15, `counted ${counted.bytes} bytes for ${held} held`);
    } finally {
      setClassifierCacheLimit(limit);
    }
  });
}
