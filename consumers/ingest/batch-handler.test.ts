import type { HourClosed } from '../../schemas/events';
import { correctedBranches } from './batch-handler';

const closed = (branch_id: string, revision: number, hour = 0): HourClosed => ({
  branch_id,
  hour_start: Date.UTC(2021, 1, 1, hour),
  sales_minor: 100,
  orders: 1,
  revision,
  closed_at: Date.UTC(2021, 1, 1, 12),
});

describe('correctedBranches', () => {
  it('names each branch once whose closed hour the batch corrected; first closes are not corrections', () => {
    expect(correctedBranches({ hoursClosed: [] })).toEqual([]);
    expect(correctedBranches({ hoursClosed: [closed('a', 1), closed('b', 1, 1)] })).toEqual([]);
    expect(
      correctedBranches({
        hoursClosed: [closed('a', 1), closed('b', 2), closed('b', 3, 1), closed('c', 2), closed('a', 1, 1)],
      }),
    ).toEqual(['b', 'c']);
  });
});
