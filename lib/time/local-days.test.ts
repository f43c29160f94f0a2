import { DateTime } from 'luxon';
import { dateToDayNumber, formatCivilDate } from './civil-date';
import { dayLayout, horizonEnd, localMidnightUtc } from './local-days';
import { DAY_MS, HOUR_MS } from './units';
import { formatLocal, localSlotOf } from './wall-clock';

const day = dateToDayNumber;
const ZONES = [
  'Europe/Dublin',
  'Asia/Kolkata',
  'America/St_Johns',
  'America/Sao_Paulo', // springs forward at midnight (until 2018)
  'America/Santiago', // falls back from 24:00 to 23:00
  'Australia/Lord_Howe', // 30-minute shifts
  'Pacific/Chatham', // +12:45 / +13:45
  'UTC',
];
// Falls back from 01:00 to 00:00: local midnight happens twice.
const HAVANA = 'America/Havana';

/** The code these functions replaced, as the reference (model/local-grid.ts, api/time.ts, forecaster horizon.ts). */
const reference = {
  localMidnightUtc(zone: string, d: number): number {
    for (let t = d * DAY_MS - 15 * HOUR_MS; t <= d * DAY_MS + 15 * HOUR_MS; t += HOUR_MS)
      if (localSlotOf(zone, t).day === d) return t;
    throw new Error('none');
  },
  dayLayout(zone: string, d: number): { firstHour: number; hours: number; labels(): string[] } {
    const start = (n: number) => {
      const x = new Date(n * DAY_MS);
      const ms = DateTime.fromObject(
        { year: x.getUTCFullYear(), month: x.getUTCMonth() + 1, day: x.getUTCDate() },
        { zone },
      ).toMillis();
      return Math.ceil(ms / HOUR_MS) * HOUR_MS;
    };
    const firstHour = start(d);
    const hours = Math.round((start(d + 1) - firstHour) / HOUR_MS);
    const labels = () =>
      Array.from({ length: hours }, (_, i) => {
        const h = firstHour + i * HOUR_MS;
        return formatLocal(h, DateTime.fromMillis(h, { zone }).offset);
      });
    return { firstHour, hours, labels };
  },
  horizonEnd(origin: number, zone: string, days: number): number {
    const dayStart = DateTime.fromMillis(origin, { zone }).startOf('day');
    return dayStart.plus({ days: dayStart.toMillis() === origin ? days : days + 1 }).toMillis();
  },
};

describe('local days', () => {
  it('Europe/Dublin 2020-10-25 has 25 local hours, 2021-03-28 has 23', () => {
    const fall = dayLayout('Europe/Dublin', day('2020-10-25'));
    expect(fall.hours).toBe(25);
    expect(fall.labels.slice(0, 4)).toEqual([
      '2020-10-25T00:00:00+01:00',
      '2020-10-25T01:00:00+01:00',
      '2020-10-25T01:00:00+00:00',
      '2020-10-25T02:00:00+00:00',
    ]);
    expect(fall.labels.at(-1)).toBe('2020-10-25T23:00:00+00:00');
    const spring = dayLayout('Europe/Dublin', day('2021-03-28'));
    expect(spring.hours).toBe(23);
    expect(spring.labels.slice(0, 2)).toEqual(['2021-03-28T00:00:00+00:00', '2021-03-28T02:00:00+01:00']);
    expect(spring.firstHour).toBe(Date.UTC(2021, 2, 28));
    expect(spring.date).toBe('2021-03-28');
  });

  it('half-hour zones use the UTC hours starting on the local date', () => {
    const k = dayLayout('Asia/Kolkata', day('2021-02-04'));
    expect(k.hours).toBe(24);
    expect(k.labels[0]).toBe('2021-02-04T00:30:00+05:30');
    expect(localMidnightUtc('Asia/Kolkata', day('2021-02-04'))).toBe(Date.UTC(2021, 1, 3, 19));
  });

  it('the first hour of a local day', () => {
    expect(localMidnightUtc('Europe/Dublin', day('2020-07-01'))).toBe(Date.UTC(2020, 5, 30, 23));
    expect(localMidnightUtc('Europe/Dublin', day('2020-12-01'))).toBe(Date.UTC(2020, 11, 1, 0));
    // A day the zone skipped has no hours: Samoa went from 2011-12-29 to 2011-12-31.
    expect(dayLayout('Pacific/Apia', day('2011-12-30')).hours).toBe(0);
    expect(dayLayout('Pacific/Apia', day('2011-12-31')).labels[0]).toBe('2011-12-31T00:00:00+14:00');
  });

  it('agrees with the code it replaced (scan, luxon) on every day of 2018-2021 in zones with odd rules', () => {
    for (const zone of ZONES)
      for (let d = day('2018-01-01'); d <= day('2021-12-31'); d++) {
        const want = reference.dayLayout(zone, d);
        const got = dayLayout(zone, d);
        if (got.firstHour !== want.firstHour || got.hours !== want.hours)
          throw new Error(`${zone} ${formatCivilDate(d)}: ${JSON.stringify({ got, want })}`);
        // Labels of transition days and of every tenth day (luxon is slow to ask hour by hour).
        if (got.hours !== 24 || d % 10 === 0) expect(got.labels).toEqual(want.labels());
        expect(localMidnightUtc(zone, d)).toBe(reference.localMidnightUtc(zone, d));
        // Luxon kept the wall time of a day that began after a gap at midnight (01:00) 14 days on.
        if (!got.labels[0]?.includes('T00:')) continue;
        // Horizons that start or end near a transition, and those of every seventh day.
        const near = [0, 14, 15].some((k) => dayLayout(zone, d + k).hours !== 24);
        if (!near && d % 7 !== 0) continue;
        for (const hour of [0, 7, 23]) {
          const origin = got.firstHour + hour * HOUR_MS;
          expect(horizonEnd(origin, zone, 14)).toBe(reference.horizonEnd(origin, zone, 14));
        }
      }
  });

  it('a twice-happening midnight belongs to the new day (luxon took the later one)', () => {
    const d = day('2021-11-07');
    const layout = dayLayout(HAVANA, d);
    expect(layout.hours).toBe(25);
    expect(layout.labels.slice(0, 3)).toEqual([
      '2021-11-07T00:00:00-04:00',
      '2021-11-07T00:00:00-05:00',
      '2021-11-07T01:00:00-05:00',
    ]);
    expect(dayLayout(HAVANA, d - 1).hours).toBe(24);
    expect(
      reference
        .dayLayout(HAVANA, d - 1)
        .labels()
        .at(-1),
    ).toBe('2021-11-07T00:00:00-04:00');
    // Every other day agrees with the old code.
    for (let x = day('2019-01-01'); x <= day('2022-12-31'); x++) {
      const ambiguous = ['2019-11-03', '2020-11-01', '2021-11-07', '2022-11-06'].map(day);
      if (ambiguous.includes(x) || ambiguous.includes(x + 1)) continue;
      expect(dayLayout(HAVANA, x).firstHour).toBe(reference.dayLayout(HAVANA, x).firstHour);
      expect(localMidnightUtc(HAVANA, x)).toBe(reference.localMidnightUtc(HAVANA, x));
    }
    // The hour-scan rule always agreed with the new one.
    expect(localMidnightUtc(HAVANA, d)).toBe(reference.localMidnightUtc(HAVANA, d));
  });
});

describe('forecast horizon', () => {
  it('ends at a local midnight also when the origin day began after a gap', () => {
    // America/Santiago 2019-09-08 00:00 does not exist (-04:00 -> -03:00); 2019-09-22 00:00 does.
    const origin = Date.UTC(2019, 8, 8, 4); // 01:00 -03:00, the day's first instant
    expect(new Date(horizonEnd(origin, 'America/Santiago', 14)).toISOString()).toBe(
      '2019-09-22T03:00:00.000Z',
    );
    expect(reference.horizonEnd(origin, 'America/Santiago', 14)).toBe(Date.UTC(2019, 8, 22, 4)); // 01:00
  });

  it('an origin at local midnight covers exactly the next 14 local days', () => {
    const origin = Date.UTC(2021, 1, 1, 0); // 2021-02-01 00:00 Dublin (GMT)
    const end = horizonEnd(origin, 'Europe/Dublin', 14);
    expect(new Date(end).toISOString()).toBe('2021-02-15T00:00:00.000Z');
    expect((end - origin) / HOUR_MS).toBe(14 * 24);
  });

  it('a mid-day origin covers the rest of the day plus 14 full days, across DST', () => {
    const origin = Date.UTC(2021, 2, 20, 15); // 2021-03-20 15:00 GMT; DST starts 2021-03-28
    const end = horizonEnd(origin, 'Europe/Dublin', 14);
    // 2021-04-04 00:00 IST = 2021-04-03 23:00 UTC
    expect(new Date(end).toISOString()).toBe('2021-04-03T23:00:00.000Z');
    expect((end - origin) / HOUR_MS).toBe(9 + 14 * 24 - 1);
  });
});
