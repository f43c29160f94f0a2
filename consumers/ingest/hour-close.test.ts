import { floorToHour, HOUR_MS } from '../../lib/time/units';
import { advance, classify, laterClock, type BranchClock } from './hour-close';

const s = { allowedLatenessMs: 5 * 60_000, correctionWindowMs: 24 * HOUR_MS };
const t = (iso: string) => Date.parse(iso);

describe('hour close', () => {
  it('seeds a new branch at the hour of its first sale and closes hours the watermark passed, minus lateness', () => {
    const r = advance(
      undefined,
      { maxEventTime: t('2021-01-01T14:04:00Z'), minSaleTime: t('2021-01-01T11:30:00Z') },
      s,
    );
    // 14:04 - 5 min = 13:59: hours 11:00 and 12:00 are closed, 13:00 not yet.
    expect(r.closing).toEqual([t('2021-01-01T11:00:00Z'), t('2021-01-01T12:00:00Z')]);
    expect(r.next).toEqual({
      watermark: t('2021-01-01T14:04:00Z'),
      closedThrough: t('2021-01-01T13:00:00Z'),
    });

    const r2 = advance(r.next, { maxEventTime: t('2021-01-01T14:05:00Z'), minSaleTime: null }, s);
    expect(r2.closing).toEqual([t('2021-01-01T13:00:00Z')]);
  });

  it('never moves backwards and closes nothing twice', () => {
    const clock: BranchClock = {
      watermark: t('2021-01-01T20:00:00Z'),
      closedThrough: t('2021-01-01T19:00:00Z'),
    };
    const r = advance(
      clock,
      { maxEventTime: t('2021-01-01T10:00:00Z'), minSaleTime: t('2021-01-01T10:00:00Z') },
      s,
    );
    expect(r.closing).toEqual([]);
    expect(r.next).toEqual(clock);
  });

  it('a branch with only heartbeats has no closable hours yet', () => {
    const r = advance(undefined, { maxEventTime: t('2021-01-01T20:00:00Z'), minSaleTime: null }, s);
    expect(r).toEqual({ next: { watermark: t('2021-01-01T20:00:00Z'), closedThrough: null }, closing: [] });
  });

  it('a quiet day closes every hour (they become zero rows)', () => {
    const clock: BranchClock = {
      watermark: t('2021-01-01T00:00:00Z'),
      closedThrough: t('2021-01-01T00:00:00Z'),
    };
    const r = advance(clock, { maxEventTime: t('2021-01-02T00:10:00Z'), minSaleTime: null }, s);
    expect(r.closing).toHaveLength(24);
  });

  it('classifies late events against the closed-through point', () => {
    const clock: BranchClock = {
      watermark: t('2021-01-03T00:10:00Z'),
      closedThrough: t('2021-01-03T00:00:00Z'),
    };
    expect(classify(clock, t('2021-01-03T00:30:00Z'), s)).toBe('on_time');
    expect(classify(clock, t('2021-01-02T23:59:59Z'), s)).toBe('correction');
    expect(classify(clock, t('2021-01-02T00:00:00Z'), s)).toBe('correction');
    expect(classify(clock, t('2021-01-01T23:59:59Z'), s)).toBe('too_late');
    expect(classify(undefined, 0, s)).toBe('on_time');
    expect(floorToHour(t('2021-01-01T10:59:59.999Z'))).toBe(t('2021-01-01T10:00:00Z'));
  });
});

describe('laterClock', () => {
  it('takes each component at its most advanced: the clock of the longer prefix of the partition', () => {
    const early: BranchClock = {
      watermark: t('2021-01-01T10:40:00Z'),
      closedThrough: t('2021-01-01T10:00:00Z'),
    };
    const late: BranchClock = {
      watermark: t('2021-01-01T12:10:00Z'),
      closedThrough: t('2021-01-01T12:00:00Z'),
    };
    expect(laterClock(early, late)).toEqual(late);
    expect(laterClock(late, early)).toEqual(late);
    expect(laterClock(undefined, early)).toEqual(early);
    // A branch only heartbeats have reached (no closed-through yet) takes the other's.
    const heartbeatsOnly: BranchClock = { watermark: t('2021-01-01T13:00:00Z'), closedThrough: null };
    expect(laterClock(heartbeatsOnly, early)).toEqual({
      watermark: t('2021-01-01T13:00:00Z'),
      closedThrough: t('2021-01-01T10:00:00Z'),
    });
    expect(laterClock(early, heartbeatsOnly)).toEqual({
      watermark: t('2021-01-01T13:00:00Z'),
      closedThrough: t('2021-01-01T10:00:00Z'),
    });
  });
});
