/**
 * The branch calendar repository on the real engine (a fresh embedded database): versions are
 * appended and the latest wins, a deletion hides the entry but keeps the history, the analyst
 * view shows the same current entries, and values are bound as parameters (a name with quotes
 * and a backslash round-trips).
 */
import { createLogger } from '../../lib/logger';
import { testConfig } from '../../test/test-config';
import { createClickHouse, type ClickHouse } from '../client';
import { migrate } from '../migrate';
import { BranchCalendar, type CalendarWrite } from './branch-calendar';
import { ForecastStore } from './forecast-store';
import { SalesHourly } from './sales-hourly';
import { closedHourRow } from '../../test/closed-hours';
import { HOUR_MS } from '../../lib/time/units';

jest.setTimeout(60_000);

const logger = createLogger('silent');
let ch: ClickHouse;
let cal: BranchCalendar;
const T = Date.UTC(2026, 11, 7, 6, 0, 0);

beforeAll(async () => {
  ch = createClickHouse(testConfig(), logger);
  await migrate(ch, logger);
  cal = new BranchCalendar(ch);
});

afterAll(async () => {
  await ch.client.command({ query: `DROP DATABASE IF EXISTS ${ch.database}` });
  await ch.close();
});

const write = (w: Partial<CalendarWrite> & Pick<CalendarWrite, 'date' | 'version'>): CalendarWrite => ({
  branchId: 'b1',
  kind: 'closed',
  name: 'Refit',
  deleted: false,
  keyId: 'k1',
  keyName: 'manager',
  writtenAt: T + w.version * 1000,
  ...w,
});

test('the latest version is current; a deletion hides it, the history stays; the view agrees', async () => {
  await cal.append(write({ date: '2026-12-14', version: 1 }));
  await cal.append(
    write({
      date: '2026-12-14',
      version: 2,
      kind: 'event',
      name: `Match "day" o'clock \\ final`,
      note: 'home game',
      expectedEffect: 0.3,
    }),
  );
  await cal.append(write({ date: '2026-12-15', version: 1 }));
  await cal.append(write({ date: '2026-12-15', version: 2, deleted: true }));
  await cal.append(
    write({ branchId: 'b2', date: '2026-12-14', version: 1, keyId: 'auth-none', keyName: 'auth-none' }),
  );

  expect(await cal.current('b1', '2026-12-01', '2026-12-31')).toEqual([
    {
      branchId: 'b1',
      date: '2026-12-14',
      kind: 'event',
      name: `Match "day" o'clock \\ final`,
      note: 'home game',
      expectedEffect: 0.3,
      version: 2,
      keyId: 'k1',
      keyName: 'manager',
      writtenAt: T + 2000,
    },
  ]);
  expect(await cal.current('b1', '2026-12-15', '2026-12-31')).toEqual([]);
  expect(await cal.latest('b1', '2026-12-15')).toMatchObject({ version: 2, deleted: true, kind: 'closed' });
  expect(await cal.latest('b1', '2026-12-16')).toBeUndefined();

  const of = await cal.currentOf(['b1', 'b2', 'b3']);
  expect([...of.keys()].sort()).toEqual(['b1', 'b2']);
  expect(of.get('b2')).toEqual([
    {
      branchId: 'b2',
      date: '2026-12-14',
      kind: 'closed',
      name: 'Refit',
      version: 1,
      keyId: 'auth-none',
      keyName: 'auth-none',
      writtenAt: T + 1000,
    },
  ]);
  expect([...(await cal.currentOf()).keys()].sort()).toEqual(['b1', 'b2']);
  expect(await cal.currentOf([])).toEqual(new Map());

  const rs = await ch.client.query({
    query: `SELECT branch_id, toString(local_date) AS d, kind, name, note, expected_effect, version, changed_by, changed_by_key
            FROM ${ch.database}.v_branch_calendar ORDER BY branch_id, local_date`,
    format: 'JSONEachRow',
  });
  expect(await rs.json()).toEqual([
    {
      branch_id: 'b1',
      d: '2026-12-14',
      kind: 'event',
      name: `Match "day" o'clock \\ final`,
      note: 'home game',
      expected_effect: 0.3,
      version: 2,
      changed_by: 'manager',
      changed_by_key: 'k1',
    },
    {
      branch_id: 'b2',
      d: '2026-12-14',
      kind: 'closed',
      name: 'Refit',
      note: null,
      expected_effect: null,
      version: 1,
      changed_by: 'auth-none',
      changed_by_key: 'auth-none',
    },
  ]);
  const before = await cal.signatures();
  expect([...before.keys()].sort()).toEqual(['b1', 'b2']);
  await cal.append(write({ branchId: 'b2', date: '2026-12-20', version: 1, writtenAt: T }));
  const after = await cal.signatures();
  expect(after.get('b1')).toBe(before.get('b1'));
  expect(after.get('b2')).not.toBe(before.get('b2'));
  // Nothing was replaced: every version is still there.
  const all = await ch.client.query({
    query: `SELECT toUInt32(count()) AS n FROM ${ch.database}.branch_calendar`,
    format: 'JSONEachRow',
  });
  expect(await all.json()).toEqual([{ n: 6 }]);
});

test("the forecaster's histories carry their branch's calendar in the model's form; a branch without one has none", async () => {
  const store = new ForecastStore(ch);
  const branch = (id: string) => ({
    id,
    name: id,
    timezone: 'Europe/Dublin',
    currency: 'EUR',
    country: 'IE',
  });
  const origin = Date.UTC(2026, 11, 7);
  const [b1, b3] = await store.histories(
    [
      { branch: branch('b1'), origin },
      { branch: branch('b3'), origin },
    ],
    24,
  );
  expect(b1!.calendar).toEqual([
    { date: '2026-12-14', kind: 'event', name: `Match "day" o'clock \\ final`, expectedEffect: 0.3 },
  ]);
  expect(b3!.calendar).toBeUndefined();
});

test('a branch whose event learns from an older day of its name gets its history from there; the others the usual hours', async () => {
  const hourly = new SalesHourly(ch);
  const origin = Date.UTC(2027, 2, 1);
  const DAY = 24 * HOUR_MS;
  const branch = (id: string) => ({
    id,
    name: id,
    timezone: 'Europe/Dublin',
    currency: 'EUR',
    country: 'IE',
  });
  await hourly.insertHours(
    ['b8', 'b9'].flatMap((id) => [
      closedHourRow(branch(id), origin - 60 * DAY, 10, 1, 1),
      closedHourRow(branch(id), origin - HOUR_MS, 20, 2, 1),
    ]),
  );
  for (const [date, v] of [
    ['2026-12-31', 1],
    ['2027-03-04', 1],
  ] as const)
    await cal.append(write({ branchId: 'b9', date, version: v, kind: 'event', name: 'Match day' }));
  const historyStart = (s: { calendar?: readonly { name: string }[] }, o: number) =>
    s.calendar?.some((e) => e.name === 'Match day') ? o - 61 * DAY : o - 24 * HOUR_MS;
  const [b8, b9] = await new ForecastStore(ch).histories(
    [
      { branch: branch('b8'), origin },
      { branch: branch('b9'), origin },
    ],
    24,
    historyStart,
  );
  expect([b8!.start, b8!.sales.length, b8!.calendar]).toEqual([origin - HOUR_MS, 1, undefined]);
  expect([b9!.start, b9!.sales.length]).toEqual([origin - 60 * DAY, 60 * 24]);
  expect(b9!.calendar!.map((e) => e.date)).toEqual(['2026-12-31', '2027-03-04']);
});
