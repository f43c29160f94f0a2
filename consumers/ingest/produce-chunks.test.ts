/**
 * Dead letters and HourClosed events are sent in produce requests of at most
 * MAX_PRODUCE_BYTES: the broker refuses a record batch over 1 MB with
 * MESSAGE_TOO_LARGE, which is not retriable (the consumer would stop for good).
 */
import { chunkBySize, MAX_PRODUCE_BYTES, messageBytes } from './produce';

describe('chunkBySize', () => {
  const size = (n: number) => n;

  it('keeps the order and puts everything in one chunk when it fits', () => {
    expect(chunkBySize([1, 2, 3], size, 10)).toEqual([[1, 2, 3]]);
    expect(chunkBySize([], size, 10)).toEqual([]);
  });

  it('starts a new chunk before the limit would be passed', () => {
    expect(chunkBySize([4, 4, 4, 1, 9, 10], size, 10)).toEqual([[4, 4], [4, 1], [9], [10]]);
  });

  it('sends an item larger than the limit alone', () => {
    expect(chunkBySize([3, 25, 3], size, 10)).toEqual([[3], [25], [3]]);
  });

  it('splits four 400 KB dead letters into requests under the broker limit', () => {
    const letters = Array.from({ length: 4 }, (_, i) => ({
      key: 'branch',
      value: Buffer.alloc(400_000, i),
      headers: { 'tillcast-dlq-code': 'oversized', 'tillcast-dlq-reason': 'x'.repeat(100) },
    }));
    const chunks = chunkBySize(letters, messageBytes);
    expect(chunks.map((c) => c.length)).toEqual([2, 2]);
    for (const c of chunks)
      expect(c.reduce((n, m) => n + messageBytes(m), 0)).toBeLessThanOrEqual(MAX_PRODUCE_BYTES);
    expect(chunks.flat()).toEqual(letters);
  });
});

describe('messageBytes', () => {
  it('counts key, value, header names and values, plus a record overhead', () => {
    const bare = messageBytes({ key: null, value: null });
    expect(bare).toBeGreaterThan(0);
    expect(
      messageBytes({ key: 'abc', value: Buffer.alloc(10), headers: { h: ['x', Buffer.from('yz')] } }),
    ).toBe(bare + 3 + 10 + 1 + 8 + 1 + 2);
  });
});
