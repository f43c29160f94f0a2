/**
 * Special days per country: public holidays (most people off work) and trading days (days
 * restaurants see unusual demand: Christmas Eve, New Year's Eve, Valentine's Day, Mother's Day).
 *
 * A country calendar is data: a list of rules (fixed date, n-th weekday of a month, last weekday
 * of a month, offset from Easter Sunday, or a function of the year). Ireland is built in; other
 * countries are added with `registerCountryCalendar` (or passed explicitly); an unknown country
 * gets the generic calendar (New Year's Day, Christmas and the international trading days).
 *
 * Dates are local calendar dates `yyyy-mm-dd` (no time zone involved).
 */
import { dateToDayNumber, daysFromCivil, formatCivilDate, isoWeekday } from '../lib/time/civil-date';

export type SpecialDayKind = 'public_holiday' | 'trading_day';

/** What the model sees of a day (see features.ts). */
export interface DayFlags {
  publicHoliday: boolean;
  /** The day before a public holiday (e.g. the Sunday of a bank-holiday weekend). */
  eveOfPublicHoliday: boolean;
  tradingDay: boolean;
  /** Christmas Day / St Stephen's Day: restaurants are often closed. */
  closureProne: boolean;
  names: string[];
}

export type DateRule =
  | { type: 'fixed'; month: number; day: number }
  /** n-th (1-based) ISO weekday (1 = Monday … 7 = Sunday) of a month. */
  | { type: 'nth_weekday'; month: number; weekday: number; n: number }
  | { type: 'last_weekday'; month: number; weekday: number }
  /** Days after Easter Sunday (Western): Easter Monday = 1, Good Friday = -2, IE/UK Mother's Day = -21. */
  | { type: 'easter'; offset: number }
  /** Anything else: the date (yyyy-mm-dd) in that year, or null for none. */
  | { type: 'custom'; date: (year: number) => string | null };

export interface SpecialDayRule {
  name: string;
  kind: SpecialDayKind;
  rule: DateRule;
  fromYear?: number;
  toYear?: number;
  /** Falls on Saturday/Sunday: the next free weekday is also a public holiday ("observed"). */
  observedIfWeekend?: boolean;
  /** Restaurants are often closed (a hint for the model, learned where seen). */
  closureProne?: boolean;
}

export interface CountryCalendar {
  country: string;
  rules: SpecialDayRule[];
  /** One-off dates (e.g. IE 2022-03-18). */
  extra?: Array<{ date: string; name: string; kind: SpecialDayKind }>;
}

export interface SpecialDay {
  date: string;
  name: string;
  kind: SpecialDayKind;
  observed: boolean;
  closureProne: boolean;
}

const TRADING_DAYS: SpecialDayRule[] = [
  { name: "Valentine's Day", kind: 'trading_day', rule: { type: 'fixed', month: 2, day: 14 } },
  { name: 'Christmas Eve', kind: 'trading_day', rule: { type: 'fixed', month: 12, day: 24 } },
  { name: "New Year's Eve", kind: 'trading_day', rule: { type: 'fixed', month: 12, day: 31 } },
];

/** Ireland: the ten public holidays (St Brigid's from 2023) and the trading days. */
export const IRELAND: CountryCalendar = {
  country: 'IE',
  rules: [
    {
      name: "New Year's Day",
      kind: 'public_holiday',
      rule: { type: 'fixed', month: 1, day: 1 },
      observedIfWeekend: true,
    },
    {
      name: "St Brigid's Day",
      kind: 'public_holiday',
      fromYear: 2023,
      // First Monday of February, or 1 February when that is a Friday.
      rule: {
        type: 'custom',
        date: (y) => (weekdayOfFields(y, 2, 1) === 5 ? isoDate(y, 2, 1) : nthWeekday(y, 2, 1, 1)),
      },
    },
    {
      name: "St Patrick's Day",
      kind: 'public_holiday',
      rule: { type: 'fixed', month: 3, day: 17 },
      observedIfWeekend: true,
    },
    { name: 'Easter Monday', kind: 'public_holiday', rule: { type: 'easter', offset: 1 } },
    {
      name: 'May Bank Holiday',
      kind: 'public_holiday',
      rule: { type: 'nth_weekday', month: 5, weekday: 1, n: 1 },
    },
    {
      name: 'June Bank Holiday',
      kind: 'public_holiday',
      rule: { type: 'nth_weekday', month: 6, weekday: 1, n: 1 },
    },
    {
      name: 'August Bank Holiday',
      kind: 'public_holiday',
      rule: { type: 'nth_weekday', month: 8, weekday: 1, n: 1 },
    },
    {
      name: 'October Bank Holiday',
      kind: 'public_holiday',
      rule: { type: 'last_weekday', month: 10, weekday: 1 },
    },
    {
      name: 'Christmas Day',
      kind: 'public_holiday',
      rule: { type: 'fixed', month: 12, day: 25 },
      observedIfWeekend: true,
      closureProne: true,
    },
    {
      name: "St Stephen's Day",
      kind: 'public_holiday',
      rule: { type: 'fixed', month: 12, day: 26 },
      observedIfWeekend: true,
      closureProne: true,
    },
    // Mother's Day in Ireland (and the UK): the fourth Sunday of Lent, three weeks before Easter.
    { name: "Mother's Day", kind: 'trading_day', rule: { type: 'easter', offset: -21 } },
    ...TRADING_DAYS,
  ],
  extra: [{ date: '2022-03-18', name: 'Covid remembrance public holiday', kind: 'public_holiday' }],
};

/** Countries without a registered calendar. */
export const GENERIC: CountryCalendar = {
  country: '*',
  rules: [
    { name: "New Year's Day", kind: 'public_holiday', rule: { type: 'fixed', month: 1, day: 1 } },
    {
      name: 'Christmas Day',
      kind: 'public_holiday',
      rule: { type: 'fixed', month: 12, day: 25 },
      closureProne: true,
    },
    ...TRADING_DAYS,
  ],
};

const registry = new Map<string, CountryCalendar>([['IE', IRELAND]]);

/** Adds or replaces the calendar of a country (ISO 3166 code). */
export function registerCountryCalendar(calendar: CountryCalendar): void {
  registry.set(calendar.country.toUpperCase(), calendar);
}

export function countryCalendar(country: string): CountryCalendar {
  return registry.get(country.toUpperCase()) ?? GENERIC;
}

// ------------------------------------------------------------------------------ dates

/** yyyy-mm-dd of year-month-day; a day past the month's end runs on into the next month. */
export function isoDate(year: number, month: number, day: number): string {
  return formatCivilDate(daysFromCivil(year, month, day));
}

/** ISO weekday (1 = Monday … 7 = Sunday) of year-month-day. */
function weekdayOfFields(year: number, month: number, day: number): number {
  return isoWeekday(daysFromCivil(year, month, day));
}

function nthWeekday(year: number, month: number, weekday: number, n: number): string {
  const first = weekdayOfFields(year, month, 1);
  return isoDate(year, month, 1 + ((weekday - first + 7) % 7) + 7 * (n - 1));
}

function lastWeekday(year: number, month: number, weekday: number): string {
  const lastDay = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const last = weekdayOfFields(year, month, lastDay);
  return isoDate(year, month, lastDay - ((last - weekday + 7) % 7));
}

/** Western Easter Sunday (anonymous Gregorian algorithm). */
export function easterSunday(year: number): string {
  const a = year % 19;
  const b = Math.floor(year / 100);
  const c = year % 100;
  const d = Math.floor(b / 4);
  const e = b % 4;
  const f = Math.floor((b + 8) / 25);
  const g = Math.floor((b - f + 1) / 3);
  const h = (19 * a + b - d - g + 15) % 30;
  const i = Math.floor(c / 4);
  const k = c % 4;
  const l = (32 + 2 * e + 2 * i - h - k) % 7;
  const m = Math.floor((a + 11 * h + 22 * l) / 451);
  const month = Math.floor((h + l - 7 * m + 114) / 31);
  const day = ((h + l - 7 * m + 114) % 31) + 1;
  return isoDate(year, month, day);
}

export function addDays(date: string, days: number): string {
  return formatCivilDate(dateToDayNumber(date) + days);
}

function resolveRule(rule: DateRule, year: number): string | null {
  switch (rule.type) {
    case 'fixed':
      return isoDate(year, rule.month, rule.day);
    case 'nth_weekday':
      return nthWeekday(year, rule.month, rule.weekday, rule.n);
    case 'last_weekday':
      return lastWeekday(year, rule.month, rule.weekday);
    case 'easter':
      return addDays(easterSunday(year), rule.offset);
    case 'custom':
      return rule.date(year);
  }
}

/** The special days of one year, sorted by date (observed substitutes included). */
export function specialDays(calendar: CountryCalendar, year: number): SpecialDay[] {
  const out: SpecialDay[] = [];
  const holidayDates = new Set<string>();
  for (const r of calendar.rules) {
    if ((r.fromYear !== undefined && year < r.fromYear) || (r.toYear !== undefined && year > r.toYear))
      continue;
    const date = resolveRule(r.rule, year);
    if (date === null) continue;
    out.push({ date, name: r.name, kind: r.kind, observed: false, closureProne: r.closureProne ?? false });
    if (r.kind === 'public_holiday') holidayDates.add(date);
  }
  for (const e of calendar.extra ?? []) {
    if (e.date.startsWith(`${year}-`)) {
      out.push({ date: e.date, name: e.name, kind: e.kind, observed: false, closureProne: false });
      if (e.kind === 'public_holiday') holidayDates.add(e.date);
    }
  }
  // Observed substitutes, in date order so that Christmas Day and St Stephen's Day on a weekend
  // push each other to Monday and Tuesday.
  const observedRules = calendar.rules
    .filter((r) => r.observedIfWeekend && r.kind === 'public_holiday')
    .map((r) => ({ r, date: resolveRule(r.rule, year) }))
    .filter((x): x is { r: SpecialDayRule; date: string } => x.date !== null)
    .sort((a, b) => a.date.localeCompare(b.date));
  for (const { r, date } of observedRules) {
    const wd = weekdayOf(date);
    if (wd < 6) continue;
    let sub = addDays(date, 8 - wd);
    while (holidayDates.has(sub) || weekdayOf(sub) >= 6) sub = addDays(sub, 1);
    holidayDates.add(sub);
    out.push({
      date: sub,
      name: `${r.name} (observed)`,
      kind: 'public_holiday',
      observed: true,
      closureProne: false,
    });
  }
  return out.sort((a, b) => a.date.localeCompare(b.date) || a.name.localeCompare(b.name));
}

/** ISO weekday (1 = Monday … 7 = Sunday) of a yyyy-mm-dd. */
export function weekdayOf(date: string): number {
  return isoWeekday(dateToDayNumber(date));
}

const NO_FLAGS: DayFlags = Object.freeze({
  publicHoliday: false,
  eveOfPublicHoliday: false,
  tradingDay: false,
  closureProne: false,
  names: [],
});

/**
 * Flags of every date of a country, memoised per (calendar, year): `flagsOf(date)`.
 * Cheap enough to call per day of every branch on every refresh.
 */
export class SpecialDayIndex {
  private readonly byYear = new Map<number, Map<string, DayFlags>>();
  constructor(readonly calendar: CountryCalendar) {}

  flagsOf(date: string): DayFlags {
    const year = Number(date.slice(0, 4));
    return this.year(year).get(date) ?? NO_FLAGS;
  }

  /** The special days falling on a date (several may: Christmas Day is a holiday and closure-prone). */
  daysOn(date: string): SpecialDay[] {
    const year = Number(date.slice(0, 4));
    let list = this.listByYear.get(year);
    if (!list) this.listByYear.set(year, (list = specialDays(this.calendar, year)));
    return list.filter((d) => d.date === date);
  }
  private readonly listByYear = new Map<number, SpecialDay[]>();

  private year(year: number): Map<string, DayFlags> {
    let m = this.byYear.get(year);
    if (m) return m;
    m = new Map();
    const get = (date: string): DayFlags => {
      let f = m.get(date);
      if (!f) m.set(date, (f = { ...NO_FLAGS, names: [] }));
      return f;
    };
    for (const d of specialDays(this.calendar, year)) {
      const f = get(d.date);
      f.names.push(d.name);
      if (d.kind === 'public_holiday') f.publicHoliday = true;
      else f.tradingDay = true;
      if (d.closureProne) f.closureProne = true;
    }
    // Eves, including 31 December when 1 January of the next year is a public holiday.
    for (const d of [...specialDays(this.calendar, year), ...specialDays(this.calendar, year + 1)]) {
      if (d.kind !== 'public_holiday') continue;
      const eve = addDays(d.date, -1);
      if (eve.startsWith(`${year}-`)) get(eve).eveOfPublicHoliday = true;
    }
    this.byYear.set(year, m);
    return m;
  }
}

const indexes = new Map<CountryCalendar, SpecialDayIndex>();

/** The memoised index of a country's calendar. */
export function specialDayIndex(country: string): SpecialDayIndex {
  const cal = countryCalendar(country);
  let idx = indexes.get(cal);
  if (!idx) indexes.set(cal, (idx = new SpecialDayIndex(cal)));
  return idx;
}

/**
 * A country's special days plus a branch's operator events (model/branch-calendar.ts): an event
 * day is a trading day for the features (unusual demand, like Valentine's Day), so the network
 * treats it as it learned to treat special days, in training and in forecasts. Everything else
 * is the country index's (memoised there).
 */
export class BranchSpecialDayIndex extends SpecialDayIndex {
  constructor(
    private readonly base: SpecialDayIndex,
    /** Local dates (`yyyy-mm-dd`) of the branch's event days. */
    private readonly eventDates: ReadonlySet<string>,
  ) {
    super(base.calendar);
  }

  override flagsOf(date: string): DayFlags {
    const f = this.base.flagsOf(date);
    return this.eventDates.has(date) ? { ...f, tradingDay: true } : f;
  }

  override daysOn(date: string): SpecialDay[] {
    return this.base.daysOn(date);
  }
}

/** The country's index, with `eventDays` (local day numbers) as trading days when there are any. */
export function withBranchEvents(index: SpecialDayIndex, eventDays: Iterable<number>): SpecialDayIndex {
  const dates = new Set<string>();
  for (const d of eventDays) dates.add(formatCivilDate(d));
  return dates.size > 0 ? new BranchSpecialDayIndex(index, dates) : index;
}
