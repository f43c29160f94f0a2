/**
 * Deterministic synthetic POS traffic for demo branches (sim-0001, ...). Pure: no
 * Kafka, no clock, no Math.random: the same options give the same messages.
 *
 * Shape (per branch, in its local time):
 * - hourly profile with a lunch peak (12-14) and a higher dinner peak (18-21),
 *   zero outside opening hours (open 11 or 12, last orders 21-22 h);
 * - weekly pattern: Fri/Sat busiest, Mon quietest; mild seasonality (December
 *   rush, quiet January); day-to-day noise;
 * - per-branch scale (≈60-260 receipts on a typical Thursday), ticket size,
 *   channel mix (restaurant / takeaway / delivery / a little OTHER, e.g. staff food
 *   that is often zero-total), lunch/dinner balance;
 * - closed days: Christmas Day for all; some branches every Monday, some on some
 *   Mondays, and rare one-off closures;
 * - ~0.3% voids: a VOID receipt (pos.void_status Voided) and, a few minutes later
 *   in the same hour, its negative VOID reversal (Void) that sums with it to zero;
 *   rare REFUNDs (negative totals); covers on restaurant receipts.
 * Amounts are integer cents (tax = 13.5% VAT included in the total).
 *
 * Determinism is per (seed, branch id, UTC hour): the receipts of an hour do not
 * depend on `from`/`to` (except being cut to [from, to)), so ids are stable across
 * runs and a re-published hour is a duplicate, not new sales. Event ids are
 * `h<hour index base 36>-<n>` (reversal: `...-v`), unique per branch.
 *
 * Heartbeats: on a grid of `heartbeatEveryMs` (default 5 min, aligned to the
 * epoch), a branch gets a heartbeat unless it had a sale in the preceding grid
 * interval; so no branch is ever silent for more than 2 grid steps of event time,
 * open or closed, and every hour can close. Messages are yielded in
 * non-decreasing event time (sales before heartbeats of the same instant).
 *
 * Time zones with a non-whole-hour offset are simulated by UTC hour, each taking
 * the profile of the local hour it starts in.
 */
import type { Branch } from '../lib/branches';
import type { Channel, Heartbeat, PosMessage, SaleEvent } from '../schemas/events';
import { floorToHour, HOUR_MS, MINUTE_MS } from '../lib/time/units';
import { utcToLocal } from '../lib/time/wall-clock';
import { ianaZone } from '../lib/time/zones';

const SECOND = 1000;

export interface SimulatedBranchOptions {
  /** Number of the first branch (default 1 -> sim-0001). */
  startIndex?: number;
  timezone?: string;
  currency?: string;
  country?: string;
}

/** `n` demo branches: sim-0001 "Demo Bistro 1", ... (Europe/Dublin, EUR, IE by default). */
export function simulatedBranches(n: number, opts: SimulatedBranchOptions = {}): Branch[] {
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`simulatedBranches: n must be a non-negative integer, got ${n}`);
  const start = opts.startIndex ?? 1;
  const out: Branch[] = [];
  for (let i = start; i < start + n; i++) {
    out.push({
      id: `sim-${String(i).padStart(4, '0')}`,
      name: `Demo Bistro ${i}`,
      timezone: opts.timezone ?? 'Europe/Dublin',
      currency: opts.currency ?? 'EUR',
      country: opts.country ?? 'IE',
    });
  }
  return out;
}

export interface SimulateOptions {
  branches: Branch[];
  /** Start, epoch ms (inclusive). */
  from: number;
  /** End, epoch ms (exclusive). */
  to: number;
  seed: number;
  /** Heartbeat grid step (event time), default 5 minutes. */
  heartbeatEveryMs?: number;
}

export const DEFAULT_HEARTBEAT_EVERY_MS = 5 * MINUTE_MS;

// ---------------------------------------------------------------- randomness

/** mulberry32: a small, fast, seedable 32-bit PRNG. Returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Reseedable mulberry32 (one instance, no closure per branch-hour). */
class Rng {
  private a = 0;
  seed(s: number): this {
    this.a = s >>> 0;
    return this;
  }
  next(): number {
    this.a = (this.a + 0x6d2b79f5) | 0;
    let t = Math.imul(this.a ^ (this.a >>> 15), 1 | this.a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Poisson(lambda): Knuth below 30, normal approximation above. */
  poisson(lambda: number): number {
    if (lambda <= 0) return 0;
    if (lambda < 30) {
      const limit = Math.exp(-lambda);
      let k = 0;
      let p = this.next();
      while (p > limit) {
        k++;
        p *= this.next();
      }
      return k;
    }
    const g = Math.sqrt(-2 * Math.log(1 - this.next())) * Math.cos(2 * Math.PI * this.next());
    return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * g));
  }
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function hash(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) h = fmix((h ^ (p >>> 0)) + 0x7f4a7c15);
  return h;
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

// ---------------------------------------------------------------- the traffic model

/** Relative demand by local hour of day (before opening hours and branch balance). */
const BASE_HOURLY = [
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.35, 1.3, 1.5, 0.8, 0.45, 0.55, 1.0, 1.7, 2.0, 1.5, 0.8, 0.3, 0,
];
/** ISO weekday 1 = Monday ... 7 = Sunday (index 0 unused). */
const WEEKDAY = [0, 0.72, 0.82, 0.9, 1.0, 1.35, 1.45, 1.05];
/** Month 1-12 (index 0 unused). */
const MONTH = [0, 0.85, 0.9, 0.95, 1.0, 1.0, 1.05, 1.05, 1.0, 0.97, 1.0, 1.05, 1.2];
const VAT = 1.135;
const VOID_RATE = 0.003;
const REFUND_RATE = 0.0004;
const CHANNELS: readonly Channel[] = ['RESTAURANT', 'TAKEAWAY', 'DELIVERY', 'OTHER'];

interface Profile {
  index: number;
  branch: Branch;
  idHash: number;
  /** Expected receipts per hour of day on a weekday factor 1.0, month factor 1.0 day. */
  hourly: Float64Array;
  /** Cumulative channel probabilities (restaurant, takeaway, delivery, other). */
  mix: [number, number, number];
  /** Mean spend per cover (restaurant), cents. */
  perCover: number;
  /** 0 never closed on Mondays, 1 always, in between: that probability per Monday. */
  mondayClosed: number;
}

function buildProfile(branch: Branch, index: number, seed: number): Profile {
  const idHash = fnv1a(branch.id);
  const r = new Rng().seed(hash(seed, idHash, 0xb4a7c4));
  const daily = 60 + 200 * r.next() * r.next() + 20 * r.next();
  const open = r.next() < 0.5 ? 11 : 12;
  const lastOrders = r.next() < 0.4 ? 21 : 22;
  const lunch = 0.6 + 0.8 * r.next();
  const dinner = 0.8 + 0.5 * r.next();
  const weights = new Float64Array(24);
  let sum = 0;
  for (let h = 0; h < 24; h++) {
    let w = h >= open && h <= lastOrders ? BASE_HOURLY[h]! : 0;
    if (h >= 11 && h <= 14) w *= lunch;
    if (h >= 17 && h <= 21) w *= dinner;
    weights[h] = w;
    sum += w;
  }
  for (let h = 0; h < 24; h++) weights[h] = (weights[h]! / sum) * daily;
  const restaurant = 0.25 + 0.35 * r.next();
  const takeaway = 0.12 + 0.2 * r.next();
  const other = 0.01 + 0.02 * r.next();
  const u = r.next();
  return {
    index,
    branch,
    idHash,
    hourly: weights,
    mix: [restaurant, restaurant + takeaway, 1 - other],
    perCover: 1400 + Math.round(1400 * r.next()),
    mondayClosed: u < 0.15 ? 1 : u < 0.45 ? 0.3 : 0,
  };
}

/** Day factor for a branch on a local date (0 = closed). */
function dayFactor(
  p: Profile,
  seed: number,
  year: number,
  month: number,
  day: number,
  weekday: number,
  rng: Rng,
): number {
  if (month === 12 && day === 25) return 0;
  rng.seed(hash(seed, p.idHash, year * 10_000 + month * 100 + day, 0xda7));
  const closedDraw = rng.next();
  if (weekday === 1 && closedDraw < p.mondayClosed) return 0;
  if (rng.next() < 0.004) return 0; // one-off closure (staff, maintenance, ...)
  let f = WEEKDAY[weekday]! * MONTH[month]! * (0.85 + 0.3 * rng.next());
  if (month === 12 && (day === 24 || day === 26)) f *= 0.65;
  if (month === 12 && day === 31) f *= 1.3;
  if (month === 1 && day === 1) f *= 0.5;
  return f;
}

const round5 = (cents: number) => Math.max(0, Math.round(cents / 5) * 5);

interface Pending {
  t: number;
  b: number;
  e: SaleEvent;
}

function makeSale(p: Profile, id: string, t: number, rng: Rng): SaleEvent {
  const c = rng.next();
  const channel =
    c < p.mix[0] ? CHANNELS[0]! : c < p.mix[1] ? CHANNELS[1]! : c < p.mix[2] ? CHANNELS[2]! : CHANNELS[3]!;
  let total: number;
  let covers: number | null = null;
  let tip = 0;
  const spread = 0.6 + 0.8 * rng.next();
  if (channel === 'RESTAURANT') {
    const k = rng.next();
    covers = k < 0.25 ? 1 : k < 0.7 ? 2 : k < 0.82 ? 3 : k < 0.94 ? 4 : k < 0.97 ? 5 : 6;
    total = round5(covers * p.perCover * spread);
    if (rng.next() < 0.2) tip = Math.round((total * (0.05 + 0.07 * rng.next())) / 10) * 10;
  } else if (channel === 'TAKEAWAY') {
    total = round5(p.perCover * 1.2 * spread);
  } else if (channel === 'DELIVERY') {
    total = round5(p.perCover * 1.6 * spread + 250);
    if (rng.next() < 0.05) tip = 100 + 50 * Math.floor(rng.next() * 5);
  } else {
    total = rng.next() < 0.6 ? 0 : round5(400 * spread);
  }
  const net = Math.round(total / VAT);
  return {
    event_id: id,
    branch_id: p.branch.id,
    occurred_at: t,
    status: 'SALE',
    channel,
    currency: p.branch.currency,
    total_minor: total,
    net_minor: net,
    tax_minor: total - net,
    tip_minor: tip,
    covers,
    pos: { source: 'simulator' },
  };
}

function compareTime(a: Pending, b: Pending): number {
  return a.t - b.t || a.b - b.b || (a.e.event_id < b.e.event_id ? -1 : a.e.event_id > b.e.event_id ? 1 : 0);
}

/**
 * Simulated POS messages for [from, to), time-ordered: sales (SALE, VOID pairs,
 * REFUND) and heartbeats. Lazy: consume as much as needed.
 */
export function* simulate(opts: SimulateOptions): Generator<PosMessage, void, undefined> {
  const every = opts.heartbeatEveryMs ?? DEFAULT_HEARTBEAT_EVERY_MS;
  if (!Number.isInteger(every) || every <= 0)
    throw new Error(`heartbeatEveryMs must be a positive integer, got ${every}`);
  if (!Number.isFinite(opts.from) || !Number.isFinite(opts.to))
    throw new Error('simulate: from and to must be epoch milliseconds');
  if (!Number.isFinite(opts.seed)) throw new Error('simulate: seed must be a number');
  const ids = new Set<string>();
  for (const b of opts.branches) {
    if (ids.has(b.id)) throw new Error(`simulate: branch ${b.id} is listed twice`);
    ids.add(b.id);
    ianaZone(b.timezone); // fail fast on an unknown zone
  }
  const seed = hash(Math.floor(opts.seed) >>> 0, Math.floor(opts.seed / 4294967296) >>> 0);
  const profiles = opts.branches.map((b, i) => buildProfile(b, i, seed));
  const zones = [...new Set(opts.branches.map((b) => b.timezone))];
  const zoneOf = profiles.map((p) => zones.indexOf(p.branch.timezone));
  const lastSaleAt = new Float64Array(profiles.length).fill(-Infinity);
  const rng = new Rng();
  const dayRng = new Rng();
  const times: number[] = [];

  for (let hourStart = floorToHour(opts.from); hourStart < opts.to; hourStart += HOUR_MS) {
    const hourIndex = hourStart / HOUR_MS;
    const hourEnd = hourStart + HOUR_MS;
    const prefix = `h${hourIndex.toString(36)}-`;
    const local = zones.map((zone) => utcToLocal(zone, hourStart));

    const batch: Pending[] = [];
    for (const p of profiles) {
      const l = local[zoneOf[p.index]!]!;
      const base = p.hourly[l.hour]!;
      if (base === 0) continue;
      const f = dayFactor(p, seed, l.year, l.month, l.day, l.weekday, dayRng);
      if (f === 0) continue;
      rng.seed(hash(seed, p.idHash, hourIndex));
      const n = rng.poisson(base * f);
      if (n === 0) continue;
      times.length = 0;
      for (let k = 0; k < n; k++) times.push(hourStart + Math.floor(rng.next() * 3600) * SECOND);
      times.sort((a, b) => a - b);
      for (let k = 0; k < n; k++) {
        const t = times[k]!;
        const e = makeSale(p, prefix + k, t, rng);
        // Every draw happens whether or not the receipt is inside [from, to): an hour's
        // receipts do not depend on where the simulation starts or stops.
        const u = rng.next();
        const extra = rng.next();
        let reversal: SaleEvent | null = null;
        if (u < VOID_RATE && e.total_minor > 0) {
          e.status = 'VOID';
          e.pos = { source: 'simulator', void_status: 'Voided' };
          const at = Math.min(
            t + MINUTE_MS + Math.floor(extra * 14 * 60) * SECOND,
            hourEnd - SECOND,
            opts.to - 1,
          );
          reversal = {
            ...e,
            event_id: `${e.event_id}-v`,
            occurred_at: at,
            total_minor: -e.total_minor,
            net_minor: -e.net_minor,
            tax_minor: -e.tax_minor,
            tip_minor: -e.tip_minor,
            pos: { source: 'simulator', void_status: 'Void', voids: e.event_id },
          };
        } else if (u > 1 - REFUND_RATE && e.total_minor > 0) {
          const refund = Math.min(e.total_minor, round5(300 + 1700 * extra));
          const net = Math.round(refund / VAT);
          e.status = 'REFUND';
          e.total_minor = -refund;
          e.net_minor = -net;
          e.tax_minor = -(refund - net);
          e.tip_minor = 0;
          e.covers = null;
        }
        if (t < opts.from || t >= opts.to) continue;
        batch.push({ t, b: p.index, e });
        if (reversal) batch.push({ t: reversal.occurred_at, b: p.index, e: reversal });
      }
    }
    batch.sort(compareTime);

    // Merge with the heartbeat grid points of this hour.
    let g = Math.ceil(Math.max(hourStart, opts.from) / every) * every;
    const gEnd = Math.min(hourEnd, opts.to);
    let i = 0;
    for (;;) {
      const next = batch[i];
      if (next !== undefined && (g >= gEnd || next.t <= g)) {
        lastSaleAt[next.b] = next.t;
        yield { kind: 'sale', value: next.e };
        i++;
        continue;
      }
      if (g >= gEnd) break;
      for (const p of profiles) {
        if (lastSaleAt[p.index]! <= g - every) {
          const h: Heartbeat = { branch_id: p.branch.id, at: g, source: 'simulator' };
          yield { kind: 'heartbeat', value: h };
        }
      }
      g += every;
    }
  }
}
