/**
 * The POS simulator: deterministic, time-ordered, realistic in shape (daily and
 * weekly pattern, voids, refunds, closed days), with heartbeats through quiet hours.
 * Behaviour only: no timing assertions.
 */
import type { Heartbeat, PosMessage, SaleEvent } from '../schemas/events';
import { utcToLocal } from '../lib/time/wall-clock';
import {
  DEFAULT_HEARTBEAT_EVERY_MS,
  mulberry32,
  simulate,
  simulatedBranches,
  type SimulateOptions,
} from './simulator';

const HOUR = 3_600_000;
const DAY = 86_400_000;
const FROM = Date.UTC(2024, 0, 1); // a Monday, 00:00 Dublin (GMT)

function run(opts: SimulateOptions): { sales: SaleEvent[]; heartbeats: Heartbeat[]; all: PosMessage[] } {
  const all = [...simulate(opts)];
  const sales: SaleEvent[] = [];
  const heartbeats: Heartbeat[] = [];
  for (const m of all) {
    if (m.kind === 'sale') sales.push(m.value);
    else heartbeats.push(m.value);
  }
  return { sales, heartbeats, all };
}

/** Sales only, without keeping the heartbeats (for the long runs). */
function salesOf(opts: SimulateOptions): SaleEvent[] {
  const out: SaleEvent[] = [];
  for (const m of simulate(opts)) if (m.kind === 'sale') out.push(m.value);
  return out;
}

/** Dublin local hour and ISO weekday of an instant, memoised per UTC hour. */
const localMemo = new Map<number, { hour: number; weekday: number }>();
function dublinHour(ms: number): { hour: number; weekday: number } {
  const key = Math.floor(ms / 3_600_000);
  let l = localMemo.get(key);
  if (!l) {
    const x = utcToLocal('Europe/Dublin', key * 3_600_000);
    localMemo.set(key, (l = { hour: x.hour, weekday: x.weekday }));
  }
  return l;
}

const timeOf = (m: PosMessage) => (m.kind === 'sale' ? m.value.occurred_at : m.value.at);

describe('simulatedBranches', () => {
  it('names demo branches sim-0001 ... in Dublin, EUR, IE', () => {
    const b = simulatedBranches(3);
    expect(b.map((x) => [x.id, x.name])).toEqual([
      ['sim-0001', 'Demo Bistro 1'],
      ['sim-0002', 'Demo Bistro 2'],
      ['sim-0003', 'Demo Bistro 3'],
    ]);
    expect(
      b.every(
        (x) =>
          x.timezone === 'Europe/Dublin' &&
          x.currency === 'EUR' &&
          x.country === 'IE' &&
          x.pos_company_id === undefined,
      ),
    ).toBe(true);
    expect(simulatedBranches(0)).toEqual([]);
    expect(simulatedBranches(2, { startIndex: 10 }).map((x) => x.id)).toEqual(['sim-0010', 'sim-0011']);
    expect(() => simulatedBranches(-1)).toThrow();
  });
});

describe('simulate', () => {
  const branches = simulatedBranches(5);
  const fourWeeks: SimulateOptions = { branches, from: FROM, to: FROM + 28 * DAY, seed: 42 };
  const base = run(fourWeeks);
  let twelveWeeks: SaleEvent[] | undefined;
  /** 30 branches, 12 weeks from a Monday. */
  const longRun = () =>
    (twelveWeeks ??= salesOf({ branches: simulatedBranches(30), from: FROM, to: FROM + 84 * DAY, seed: 11 }));

  it('is deterministic: the same seed gives identical messages; another seed differs', () => {
    const again = run(fourWeeks);
    expect(JSON.stringify(again.all) === JSON.stringify(base.all)).toBe(true);
    const other = run({ ...fourWeeks, seed: 43 });
    expect(other.sales.length).toBeGreaterThan(0);
    expect(JSON.stringify(other.sales) === JSON.stringify(base.sales)).toBe(false);
    expect(mulberry32(1)()).toBe(mulberry32(1)());
    expect(mulberry32(1)()).not.toBe(mulberry32(2)());
  });

  it('gives the same receipts for an hour wherever the simulation starts or stops', () => {
    const from = FROM + 10 * DAY + 13 * HOUR + 17 * 60_000;
    const to = FROM + 12 * DAY + 5 * HOUR;
    const window = run({ ...fourWeeks, from, to });
    const expected = base.sales.filter((e) => {
      // Void reversals stay with their receipt.
      const anchor = e.pos.voids
        ? base.sales.find((o) => o.branch_id === e.branch_id && o.event_id === e.pos.voids)!.occurred_at
        : e.occurred_at;
      return anchor >= from && anchor < to;
    });
    expect(window.sales.length).toBeGreaterThan(100);
    expect(JSON.stringify(window.sales) === JSON.stringify(expected)).toBe(true);
    expect(window.all.every((m) => timeOf(m) >= from && timeOf(m) < to)).toBe(true);
  });

  it('yields messages in non-decreasing event time, within [from, to)', () => {
    let prev = -Infinity;
    for (const m of base.all) {
      const t = timeOf(m);
      if (t < prev) throw new Error(`out of order at ${new Date(t).toISOString()}`);
      prev = t;
    }
    expect(base.all.every((m) => timeOf(m) >= fourWeeks.from && timeOf(m) < fourWeeks.to)).toBe(true);
  });

  it('produces valid events with ids unique per branch', () => {
    const ids = new Set(base.sales.map((e) => `${e.branch_id}/${e.event_id}`));
    expect(ids.size).toBe(base.sales.length);
    const known = new Set(branches.map((b) => b.id));
    const bad = base.sales.filter(
      (e) =>
        !known.has(e.branch_id) ||
        !/^[\x21-\x7e]{1,128}$/.test(e.event_id) ||
        e.currency !== 'EUR' ||
        ![e.total_minor, e.net_minor, e.tax_minor, e.tip_minor].every(Number.isSafeInteger) ||
        e.net_minor + e.tax_minor !== e.total_minor ||
        (e.status === 'SALE' && e.total_minor < 0) ||
        (e.status === 'REFUND' && e.total_minor >= 0) ||
        (e.covers !== null && (!Number.isInteger(e.covers) || e.covers < 1)) ||
        (e.channel !== 'RESTAURANT' && e.covers !== null && e.status !== 'VOID') ||
        e.pos.source !== 'simulator',
    );
    expect(bad).toEqual([]);
    const channels = new Set(base.sales.map((e) => e.channel));
    expect([...channels].sort()).toEqual(['DELIVERY', 'OTHER', 'RESTAURANT', 'TAKEAWAY']);
    expect(base.sales.some((e) => e.status === 'SALE' && e.total_minor === 0)).toBe(true);
    expect(base.sales.some((e) => e.channel === 'RESTAURANT' && e.covers !== null && e.covers > 1)).toBe(
      true,
    );
  });

  it('voids ~0.3% of receipts, as a VOID receipt plus a later negative VOID reversal that sum to zero', () => {
    const big = {
      sales: salesOf({ branches: simulatedBranches(20), from: FROM, to: FROM + 56 * DAY, seed: 3 }),
    };
    const voids = big.sales.filter((e) => e.status === 'VOID');
    const originals = voids.filter((e) => e.pos.void_status === 'Voided');
    const reversals = voids.filter((e) => e.pos.void_status === 'Void');
    expect(originals.length).toBeGreaterThan(0);
    expect(reversals.length).toBe(originals.length);
    const byKey = new Map(originals.map((e) => [`${e.branch_id}/${e.event_id}`, e]));
    for (const r of reversals) {
      const o = byKey.get(`${r.branch_id}/${r.pos.voids}`)!;
      expect(o).toBeDefined();
      expect([
        o.total_minor + r.total_minor,
        o.net_minor + r.net_minor,
        o.tax_minor + r.tax_minor,
        o.tip_minor + r.tip_minor,
      ]).toEqual([0, 0, 0, 0]);
      expect(o.total_minor).toBeGreaterThan(0);
      expect(r.occurred_at).toBeGreaterThanOrEqual(o.occurred_at);
      expect(Math.floor(r.occurred_at / HOUR)).toBe(Math.floor(o.occurred_at / HOUR));
    }
    const receipts = big.sales.length - reversals.length;
    expect(originals.length / receipts).toBeGreaterThan(0.001);
    expect(originals.length / receipts).toBeLessThan(0.006);
    const refunds = big.sales.filter((e) => e.status === 'REFUND');
    expect(refunds.length).toBeGreaterThan(0);
    expect(refunds.length / receipts).toBeLessThan(0.002);
  });

  it('has lunch and dinner peaks in the local daily profile, and Fri/Sat busiest, Mon quietest', () => {
    const byHour = new Array<number>(24).fill(0);
    const byWeekday = new Array<number>(8).fill(0);
    for (const e of longRun()) {
      if (e.status !== 'SALE') continue;
      const l = dublinHour(e.occurred_at);
      byHour[l.hour]!++;
      byWeekday[l.weekday]!++;
    }
    const h = (x: number) => byHour[x]!;
    // Lunch peak at 12-13, a dip mid-afternoon, the dinner peak at 18-20, quiet late and at night.
    expect(Math.max(h(12), h(13))).toBeGreaterThan(1.5 * Math.max(h(11), h(15), h(16)));
    expect(Math.max(h(18), h(19), h(20))).toBeGreaterThan(1.5 * Math.max(h(15), h(16), h(22)));
    expect(Math.max(h(18), h(19), h(20))).toBeGreaterThan(Math.max(h(12), h(13)));
    expect(byHour.slice(0, 11).reduce((a, b) => a + b, 0)).toBe(0);
    expect(h(23)).toBe(0);
    const w = byWeekday.slice(1); // Mon..Sun
    const sorted = [...w].sort((a, b) => a - b);
    expect(w[0]).toBe(sorted[0]); // Monday quietest
    expect(new Set([w[4], w[5]])).toEqual(new Set([sorted[5], sorted[6]])); // Friday and Saturday busiest
  });

  it('closes some branches on some days (Christmas for all; some Mondays)', () => {
    const xmas = Date.UTC(2024, 11, 25);
    const r = run({ branches: simulatedBranches(10), from: xmas - 2 * DAY, to: xmas + 2 * DAY, seed: 5 });
    expect(r.sales.filter((e) => e.occurred_at >= xmas && e.occurred_at < xmas + DAY)).toEqual([]);
    expect(r.sales.filter((e) => e.occurred_at >= xmas + DAY).length).toBeGreaterThan(0);
    expect(r.heartbeats.filter((h) => h.at >= xmas && h.at < xmas + DAY).length).toBeGreaterThan(0);

    // January-March 2024: Dublin is on GMT, so UTC days are local days.
    const openDays = new Set(longRun().map((e) => `${e.branch_id} ${Math.floor(e.occurred_at / DAY)}`));
    let closedMondays = 0;
    for (const b of simulatedBranches(30)) {
      for (let d = 0; d < 84; d += 7)
        if (!openDays.has(`${b.id} ${Math.floor(FROM / DAY) + d}`)) closedMondays++;
    }
    expect(closedMondays).toBeGreaterThan(0);
    expect(closedMondays).toBeLessThan((30 * 12) / 2);
    // Other weekdays are (almost) always open.
    let closedOther = 0;
    for (const b of simulatedBranches(30)) {
      for (let d = 0; d < 84; d++)
        if (d % 7 !== 0 && !openDays.has(`${b.id} ${Math.floor(FROM / DAY) + d}`)) closedOther++;
    }
    expect(closedOther).toBeLessThan(0.02 * 30 * 72);
  });

  it('sends heartbeats so that no branch is silent for more than two grid steps, open or closed', () => {
    const every = DEFAULT_HEARTBEAT_EVERY_MS;
    for (const b of branches) {
      const times = base.all
        .filter((m) => (m.kind === 'sale' ? m.value.branch_id : m.value.branch_id) === b.id)
        .map(timeOf);
      expect(times[0]).toBe(FROM);
      let maxGap = 0;
      for (let i = 1; i < times.length; i++) maxGap = Math.max(maxGap, times[i]! - times[i - 1]!);
      maxGap = Math.max(maxGap, fourWeeks.to - times.at(-1)!);
      expect(maxGap).toBeLessThanOrEqual(2 * every);
      // Every hour of the range sees this branch (so every hour can close), incl. 03:00-04:00 closed hours.
      const hours = new Set(times.map((t) => Math.floor(t / HOUR)));
      expect(hours.size).toBe(28 * 24);
    }
    const hb = base.heartbeats;
    expect(hb.every((h) => h.at % every === 0 && h.source === 'simulator')).toBe(true);
    // A custom grid: hourly heartbeats.
    const hourly = run({ ...fourWeeks, to: FROM + 2 * DAY, heartbeatEveryMs: HOUR });
    expect(hourly.heartbeats.every((h) => h.at % HOUR === 0)).toBe(true);
    expect(
      hourly.heartbeats.filter(
        (h) => h.branch_id === 'sim-0001' && utcToLocal('Europe/Dublin', h.at).hour === 3,
      ),
    ).toHaveLength(2);
    expect(() => [...simulate({ ...fourWeeks, heartbeatEveryMs: 0 })]).toThrow(/heartbeatEveryMs/);
  });

  it('generates 200k events lazily with many branches (throughput sanity)', () => {
    const many = simulatedBranches(200);
    let sales = 0;
    let heartbeats = 0;
    let prev = -Infinity;
    const ids = new Set<string>();
    for (const m of simulate({ branches: many, from: FROM, to: FROM + 400 * DAY, seed: 7 })) {
      const t = timeOf(m);
      if (t < prev) throw new Error('out of order');
      prev = t;
      if (m.kind === 'sale') {
        if (m.value.branch_id === 'sim-0001') ids.add(m.value.event_id);
        if (++sales >= 200_000) break;
      } else {
        heartbeats++;
      }
    }
    expect(sales).toBe(200_000);
    expect(heartbeats).toBeGreaterThan(0);
    expect(ids.size).toBeGreaterThan(100);
    // Stopped after 200k events: only days of the 400 were generated.
    expect(prev).toBeLessThan(FROM + 30 * DAY);
  });

  it('handles empty inputs and validates options', () => {
    expect([...simulate({ branches: [], from: FROM, to: FROM + DAY, seed: 1 })]).toEqual([]);
    expect([...simulate({ branches, from: FROM, to: FROM, seed: 1 })]).toEqual([]);
    expect(() => [
      ...simulate({ branches: [...branches, branches[0]!], from: FROM, to: FROM + DAY, seed: 1 }),
    ]).toThrow(/listed twice/);
    expect(() => [
      ...simulate({
        branches: [{ ...branches[0]!, timezone: 'Nowhere/Land' }],
        from: FROM,
        to: FROM + DAY,
        seed: 1,
      }),
    ]).toThrow(/unknown IANA time zone/);
  });
});
