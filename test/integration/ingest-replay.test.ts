/**
 * Acceptance of the streaming half: the whole shared export, replayed through
 * the real broker into the embedded engine, gives hourly totals equal to the
 * cent and the order to a reference computed straight from the CSV; replaying
 * the same file again changes nothing.
 */
import { loadPosExport } from '../../producers/pos-export';
import { replay } from '../../producers/replay';
import { computeReferenceHourly } from '../reference-totals';
import { createHarness, type Harness } from '../ingest-harness';
import { EXPORT_CLOSE_AT, requireSharedExport } from '../shared-data';

const HOUR = 3_600_000;

describe('replaying the shared export through Kafka into ClickHouse', () => {
  let h: Harness;
  const file = requireSharedExport();

  beforeAll(async () => {
    h = await createHarness();
    await h.startIngest();
  });
  afterAll(async () => {
    await h?.close();
  });

  async function replayFile() {
    const { events, errors } = await loadPosExport(file, { branches: h.branches });
    expect(errors).toEqual([]);
    await replay({
      events,
      branchIds: h.branches.list().map((b) => b.id),
      publisher: h.publisher,
      codec: h.codec,
      topic: h.topics.sales,
      speed: 'max',
      closeAt: EXPORT_CLOSE_AT + h.config.INGEST_ALLOWED_LATENESS_S * 1000,
    });
    await h.waitForIngestCaughtUp();
    return events.length;
  }

  function expectEqualToReference(
    ours: Awaited<ReturnType<Harness['hourly']>>,
    reference: ReturnType<typeof computeReferenceHourly>,
  ) {
    let hoursCompared = 0;
    const mismatches: string[] = [];
    for (const branch of h.branches.list()) {
      const mine =
        ours.get(branch.id) ??
        new Map<number, { sales: number; orders: number; closed: number; revision: number }>();
      const ref = reference.get(branch.id) ?? new Map<number, { salesCents: number; orders: number }>();
      const hours = new Set([...mine.keys(), ...ref.keys()]);
      for (const hour of hours) {
        const a = mine.get(hour);
        const b = ref.get(hour);
        const got = { sales: a?.sales ?? 0, orders: a?.orders ?? 0 };
        const want = { sales: b?.salesCents ?? 0, orders: b?.orders ?? 0 };
        if (got.sales !== want.sales || got.orders !== want.orders) {
          mismatches.push(
            `${branch.id} ${new Date(hour).toISOString()} got ${JSON.stringify(got)} want ${JSON.stringify(want)}`,
          );
        }
        hoursCompared++;
      }
      // Every hour from the branch's first receipt through 2021-01-31 23:00 (Dublin = UTC in winter) is closed.
      const firstHour = Math.min(...ref.keys());
      const expectedHours = (EXPORT_CLOSE_AT - firstHour) / HOUR;
      const closed = [...mine.entries()].filter(([hour, v]) => v.closed === 1 && hour < EXPORT_CLOSE_AT);
      expect({ branch: branch.id, closedHours: closed.length }).toEqual({
        branch: branch.id,
        closedHours: expectedHours,
      });
      expect(closed.every(([, v]) => v.revision >= 1)).toBe(true);
    }
    expect(mismatches.slice(0, 10)).toEqual([]);
    return hoursCompared;
  }

  it('matches the independent reference for every branch and hour, and a second replay changes nothing', async () => {
    const published = await replayFile();
    expect(published).toBeGreaterThan(70_000);
    const reference = computeReferenceHourly(file);
    const first = await h.hourly();
    const compared = expectEqualToReference(first, reference);
    expect(compared).toBeGreaterThan(10_000);

    const rawCount = async () => {
      const rs = await h.ch.client.query({
        query: `SELECT count() AS n FROM ${h.ch.table('sales_events')} FINAL`,
        format: 'JSONEachRow',
      });
      return Number((await rs.json<{ n: string }>())[0]?.n);
    };
    expect(await rawCount()).toBe(published);

    await replayFile(); // the same file again: every event is a duplicate
    expectEqualToReference(await h.hourly(), reference);
    expect(await rawCount()).toBe(published);
  }, 600_000);
});
