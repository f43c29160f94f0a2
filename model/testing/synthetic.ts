/**
 * Synthetic branch histories for unit tests: a restaurant open 12:00–22:00 local time with a
 * lunch and a dinner peak, busier at weekends, closed on Mondays (optional), with seeded noise.
 */
import { weekdayOfDayNumber } from '../../lib/time/civil-date';
import { HOUR_MS } from '../../lib/time/units';
import { localSlotOf } from '../../lib/time/wall-clock';
import { Rng } from '../rng';
import type { HourlySeries } from '../series';

export interface SyntheticOptions {
  branchId?: string;
  timezone?: string;
  country?: string;
  /** UTC start (hour-aligned). */
  start: number;
  hours: number;
  /** Mean sales of a busy hour. */
  level?: number;
  closedMondays?: boolean;
  seed?: number;
}

export function syntheticSeries(o: SyntheticOptions): HourlySeries {
  const rng = new Rng(o.seed ?? 1);
  const zone = o.timezone ?? 'Europe/Dublin';
  const level = o.level ?? 100;
  const sales = new Float64Array(o.hours);
  const orders = new Float64Array(o.hours);
  for (let i = 0; i < o.hours; i++) {
    const { day, hour } = localSlotOf(zone, o.start + i * HOUR_MS);
    const wd = weekdayOfDayNumber(day);
    if (hour < 12 || hour >= 22) continue;
    if (o.closedMondays && wd === 0) continue;
    const shape = hour === 13 || hour === 19 || hour === 20 ? 1 : 0.5;
    const week = wd >= 4 ? 1.4 : 1;
    const mean = level * shape * week * (0.8 + 0.4 * rng.next());
    const n = Math.max(0, Math.round(mean / 25));
    orders[i] = n;
    sales[i] = n > 0 ? Math.round(mean * 100) / 100 : 0;
  }
  return {
    branchId: o.branchId ?? 'synthetic',
    timezone: zone,
    country: o.country ?? 'IE',
    start: o.start,
    sales,
    orders,
  };
}
