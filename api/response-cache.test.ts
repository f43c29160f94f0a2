import { makeEntry, ResponseCache, revalidated, gzipped } from './response-cache';

const entry = (id: string, bytes = 10) =>
  makeEntry('run-1', 0, Infinity, 'fp', `"${'x'.repeat(bytes - 2)}"${id}`);

describe('ResponseCache', () => {
  it('evicts the oldest entry that was not used since it was stored', () => {
    const cache = new ResponseCache(3, 1_000_000);
    cache.set('a', entry('a'));
    cache.set('b', entry('b'));
    cache.set('c', entry('c'));
    expect(cache.get('a')).toBeDefined(); // a is used: second chance
    cache.set('d', entry('d'));
    expect(cache.get('b')).toBeUndefined(); // the oldest unused one went
    expect(['a', 'c', 'd'].map((k) => cache.get(k) !== undefined)).toEqual([true, true, true]);
    expect(cache.size).toBe(3);
  });

  it('keeps the byte bound and counts replaced entries once', () => {
    const cache = new ResponseCache(100, 100);
    cache.set('a', entry('a', 20));
    cache.set('a', entry('a', 20));
    expect(cache.totalBytes).toBe(21);
    for (const k of ['b', 'c', 'd', 'e', 'f']) cache.set(k, entry(k, 20));
    expect(cache.totalBytes).toBeLessThanOrEqual(100);
    expect(cache.size).toBe(4);
    expect(cache.get('a')).toBeUndefined();
  });

  it('refuses bodies larger than a quarter of the byte bound', () => {
    const cache = new ResponseCache(100, 100);
    cache.set('big', entry('big', 30));
    expect(cache.size).toBe(0);
  });

  it('a revalidated copy gets the gzip variant of its original, also when compressed later', async () => {
    const original = entry('z', 5000);
    const pending = gzipped(original);
    const copy = revalidated(original, 1, 123);
    expect(copy.gzipDone).toBeUndefined();
    const gz = await pending;
    await copy.gzip;
    expect(copy.gzipDone).toEqual(gz);
    expect(gz.etag).toBe(`${original.etag.slice(0, -1)}-gz"`);
    expect(copy).toMatchObject({ epoch: 1, validUntil: 123, etag: original.etag });
  });
});
