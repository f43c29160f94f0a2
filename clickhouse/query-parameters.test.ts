import { MAX_PARAM_CHARS, parameterChunks } from './query-parameters';

describe('parameterChunks', () => {
  test('keeps the order and bounds both the encoded characters and the count', () => {
    const ids = Array.from({ length: 5_000 }, (_, i) => `id-${i}|'quoted'\\`);
    const chunks = parameterChunks(ids, (x) => x, 2_000, 10_000);
    expect(chunks.flat()).toEqual(ids);
    for (const c of chunks) {
      expect(c.length).toBeLessThanOrEqual(2_000);
      const text = `[${c.map((x) => `'${x.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`).join(',')}]`;
      expect(encodeURIComponent(text).length).toBeLessThanOrEqual(10_000);
    }
    expect(parameterChunks(ids, (x) => x, 2_000).length).toBeGreaterThan(1);
    expect(MAX_PARAM_CHARS).toBeLessThan(128 * 1024);
  });
});
