import fc from 'fast-check';
import { ValidationError } from '../lib/errors';
import { fastParsePredictQuery, parsePredictQuery, PredictQueryParser, zodParsePredictQuery } from './query';

type Raw = Record<string, string | string[] | undefined>;

const outcome = (f: (q: Raw) => unknown, q: Raw) => {
  try {
    return { ok: f(q) };
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    return { error: { code: err.code, message: err.message, details: err.details } };
  }
};

const date = fc.oneof(
  fc
    .date({ min: new Date('1998-01-01'), max: new Date('2101-12-31'), noInvalidDate: true })
    .map((d) => d.toISOString().slice(0, 10)),
  fc
    .tuple(
      fc.integer({ min: 1999, max: 2100 }),
      fc.integer({ min: 0, max: 13 }),
      fc.integer({ min: 0, max: 32 }),
    )
    .map(([y, m, d]) => `${y}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`),
  fc.string({ maxLength: 12 }),
);
const value = <T>(a: fc.Arbitrary<T>) =>
  fc.oneof(
    { weight: 8, arbitrary: a },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.array(a, { minLength: 2, maxLength: 2 }) },
  );
/** Mostly plausible ranges (end = start + -2..95 days), so the fast path is exercised at its edges. */
const plausible = fc
  .tuple(
    fc.date({ min: new Date('1999-10-01'), max: new Date('2100-03-31'), noInvalidDate: true }),
    fc.integer({ min: -2, max: 95 }),
    fc.constantFrom('352h67i328fh', 'sim-0001', 'x'.repeat(64), 'x'.repeat(65)),
    fc.option(
      fc.constantFrom('daily', 'hourly,daily', 'weekly,daily,hourly', 'daily,daily', ' daily', 'Daily', ''),
    ),
    fc.option(fc.constantFrom('true', 'false', 'TRUE', '1', '')),
  )
  .map(([d, len, branch_id, granularity, explain]) => ({
    branch_id,
    start: d.toISOString().slice(0, 10),
    end: new Date(d.getTime() + len * 86_400_000).toISOString().slice(0, 10),
    ...(granularity === null ? {} : { granularity }),
    ...(explain === null ? {} : { explain }),
  }));
const mixed = fc.record({
  branch_id: value(
    fc.oneof(
      fc.constantFrom('352h67i328fh', 'x'.repeat(64), 'x'.repeat(65), '', 'a b', 'é'),
      fc.string({ maxLength: 70 }),
    ),
  ),
  start: value(date),
  end: value(date),
  granularity: value(
    fc.oneof(
      fc.subarray(['hourly', 'daily', 'weekly', 'daily', ' weekly ', 'monthly']).map((x) => x.join(',')),
      fc.string({ maxLength: 10 }),
    ),
  ),
  explain: value(fc.oneof(fc.constantFrom('true', 'false', 'yes'), fc.string({ maxLength: 5 }))),
});

const query = fc.oneof(plausible, mixed);

describe('query validation', () => {
  it('the fast path behaves exactly like the zod schema (property)', () => {
    let fast = 0;
    fc.assert(
      fc.property(query, (q) => {
        const raw = q as Raw;
        if (fastParsePredictQuery(raw)) fast++;
        expect(outcome(parsePredictQuery, raw)).toEqual(outcome(zodParsePredictQuery, raw));
      }),
      { numRuns: 20_000 },
    );
    expect(fast).toBeGreaterThan(500); // the generator does exercise the fast path
  });
});

describe('PredictQueryParser (memo per raw query string)', () => {
  const qs = 'branch_id=352h67i328fh&start=2021-02-04&end=2021-02-10&granularity=daily';
  const raw = { branch_id: '352h67i328fh', start: '2021-02-04', end: '2021-02-10', granularity: 'daily' };

  it('parses a query string once and hands back the same frozen result', () => {
    const parser = new PredictQueryParser();
    let parses = 0;
    const first = parser.parse(qs, () => (parses++, raw));
    const again = parser.parse(qs, () => (parses++, raw));
    expect(parses).toBe(1);
    expect(again).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(first).toMatchObject({
      branchId: '352h67i328fh',
      granularityKey: 'daily',
      endDay: first.startDay + 6,
    });
    expect(first.cacheKey).toBe(`352h67i328fh\n${first.startDay}\n${first.endDay}\ndaily`);
  });

  it('explain=true is part of the cache key; any other value than true or false is a 400 naming it', () => {
    const parser = new PredictQueryParser();
    const explained = parser.parse(`${qs}&explain=true`, () => ({ ...raw, explain: 'true' }));
    expect(explained.explain).toBe(true);
    expect(explained.cacheKey).toBe(
      `352h67i328fh\n${explained.startDay}\n${explained.endDay}\ndaily\nexplain`,
    );
    const not = parser.parse(`${qs}&explain=false`, () => ({ ...raw, explain: 'false' }));
    expect(not.explain).toBe(false);
    expect(not.cacheKey).toBe(`352h67i328fh\n${not.startDay}\n${not.endDay}\ndaily`);
    expect(() => parser.parse(`${qs}&explain=yes`, () => ({ ...raw, explain: 'yes' }))).toThrow(
      /^explain: must be true or false/,
    );
  });

  it('does not keep invalid queries: each one is validated (and rejected) again', () => {
    const parser = new PredictQueryParser();
    let parses = 0;
    const bad = () => (parses++, { ...raw, end: '2021-02-30' });
    for (let i = 0; i < 2; i++) {
      expect(() => parser.parse('end=2021-02-30', bad)).toThrow(/end/);
    }
    expect(parses).toBe(2);
    expect(parser.size).toBe(0);
  });

  it('stays within its bound and skips very long query strings', () => {
    const parser = new PredictQueryParser(3);
    for (let i = 0; i < 5; i++) parser.parse(`${qs}&_=${i}`, () => raw);
    expect(parser.size).toBeLessThanOrEqual(3);
    const long = new PredictQueryParser();
    long.parse(`${qs}&_=${'x'.repeat(600)}`, () => raw);
    expect(long.size).toBe(0);
  });
});
