import { BranchDirectory, type Branch } from '../lib/branches';
import type { SaleEvent } from './events';
import { closeOfLastDay, hourlyTotals } from './sale-totals';

const branch = (id: string, timezone: string): Branch => ({
  id,
  name: id,
  timezone,
  currency: 'EUR',
  country: 'IE',
});
const branches = new BranchDirectory([branch('dub', 'Europe/Dublin'), branch('del', 'Asia/Kolkata')]);

function sale(branchId: string, at: string, status: SaleEvent['status'] = 'SALE', total = 1000): SaleEvent {
  return {
    event_id: `${branchId}-${at}-${status}`,
    branch_id: branchId,
    occurred_at: Date.parse(at),
    status,
    channel: 'RESTAURANT',
    currency: 'EUR',
    total_minor: total,
    net_minor: total,
    tax_minor: 0,
    tip_minor: 0,
    covers: null,
    pos: {},
  };
}

describe('sale totals', () => {
  it('sums a receipt into its UTC hour: sales and orders, refunds without an order, voids not at all', () => {
    const t = hourlyTotals([
      sale('dub', '2021-02-01T10:15:00Z'),
      sale('dub', '2021-02-01T10:59:59.999Z', 'REFUND', -300),
      sale('dub', '2021-02-01T10:30:00Z', 'VOID', 5000),
    ]);
    expect(t.get('dub')?.get(Date.UTC(2021, 1, 1, 10))).toEqual({ salesCents: 700, orders: 1 });
  });

  it('closes at the local midnight after the last event', () => {
    const at = (events: SaleEvent[]) => new Date(closeOfLastDay(events, branches)!).toISOString();
    expect(at([sale('dub', '2020-10-25T23:30:00Z'), sale('dub', '2020-10-25T01:30:00Z')])).toBe(
      '2020-10-26T00:00:00.000Z',
    );
    expect(at([sale('dub', '2021-06-01T22:59:00Z')])).toBe('2021-06-01T23:00:00.000Z'); // 23:59 IST
    expect(at([sale('dub', '2021-06-01T23:00:00Z')])).toBe('2021-06-02T23:00:00.000Z'); // 00:00 IST
    expect(at([sale('del', '2021-02-03T18:00:00Z')])).toBe('2021-02-03T18:30:00.000Z'); // 23:30 IST (India)
    expect(closeOfLastDay([], branches)).toBeUndefined();
  });
});
