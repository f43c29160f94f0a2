/**
 * The batch pipeline's runner: every step's duration lands in
 * tillcast_ingest_step_duration_seconds under the step's name, in the order the steps ran;
 * a failing step ends the batch with its own error. The second half runs one real batch
 * (embedded ClickHouse, the real store and codec) through processBatch with a commit step last.
 */
import { BranchDirectory, NORY_BRANCHES } from '../../lib/branches';
import { createClickHouse, type ClickHouse } from '../../clickhouse/client';
import { createLogger } from '../../lib/logger';
import { migrate } from '../../clickhouse/migrate';
import { defaultCodec } from '../../schemas/avro-codec';
import type { HourClosed, SaleEvent } from '../../schemas/events';
import { testConfig } from '../../test/test-config';
import { processBatch, type DeadLetter, type RawMessage } from './batch-processor';
import { HOUR_MS } from '../../lib/time/units';
import type { BranchClock } from './hour-close';
import * as metrics from './metrics';
import { SalesStore } from '../../clickhouse/store/sales-store';
import { runSteps, type Step } from './step-runner';

/** Each observed step with its count, in the order the histogram first saw them. */
async function observedSteps(): Promise<[string, number][]> {
  const { values } = await metrics.stepSeconds.get();
  return values
    .filter((v) => v.metricName === 'tillcast_ingest_step_duration_seconds_count')
    .map((v) => [String(v.labels.step), v.value]);
}

beforeEach(() => metrics.stepSeconds.reset());

describe('runSteps', () => {
  it('times every step under its name, in order, passing one context along', async () => {
    const ctx = { seen: [] as string[] };
    const step = (name: string): Step<typeof ctx> => ({ name, run: (c) => void c.seen.push(name) });
    const slow: Step<typeof ctx> = {
      name: 'slow',
      run: async (c) => {
        await new Promise((resolve) => setTimeout(resolve, 30));
        c.seen.push('slow');
      },
    };
    await runSteps(ctx, [step('first'), slow, step('last')]);
    expect(ctx.seen).toEqual(['first', 'slow', 'last']);
    expect(await observedSteps()).toEqual([
      ['first', 1],
      ['slow', 1],
      ['last', 1],
    ]);
    const { values } = await metrics.stepSeconds.get();
    const slowSum = values.find(
      (v) => v.metricName === 'tillcast_ingest_step_duration_seconds_sum' && v.labels.step === 'slow',
    );
    expect(slowSum?.value).toBeGreaterThanOrEqual(0.025);
  });

  it('ends at a failing step with its own error: the step and those after it are not observed', async () => {
    const refused = Object.assign(new Error('broker says UNKNOWN_MEMBER_ID'), { type: 'UNKNOWN_MEMBER_ID' });
    const ran: string[] = [];
    const steps: Step<null>[] = [
      { name: 'write', run: () => void ran.push('write') },
      {
        name: 'commit',
        run: () => {
          throw refused;
        },
      },
      { name: 'after', run: () => void ran.push('after') },
    ];
    await expect(runSteps(null, steps)).rejects.toBe(refused);
    expect(ran).toEqual(['write']);
    expect(await observedSteps()).toEqual([['write', 1]]);
  });
});

describe('processBatch', () => {
  let ch: ClickHouse;
  beforeAll(async () => {
    const logger = createLogger('silent');
    ch = createClickHouse(testConfig(), logger);
    await migrate(ch, logger);
  });
  afterAll(async () => {
    await ch?.client.command({ query: `DROP DATABASE IF EXISTS ${ch.database}` });
    await ch?.close();
  });

  it('records each step of one batch once, in pipeline order, the commit last', async () => {
    const codec = defaultCodec();
    const branch = { ...NORY_BRANCHES[0]!, id: 'runner-branch', pos_company_id: undefined };
    const directory = new BranchDirectory([branch]);
    const at = Date.parse('2021-01-05T12:10:00Z');
    const sale: SaleEvent = {
      event_id: 'runner-1',
      branch_id: branch.id,
      occurred_at: at,
      status: 'SALE',
      channel: 'RESTAURANT',
      currency: 'EUR',
      total_minor: 1_250,
      net_minor: 1_101,
      tax_minor: 149,
      tip_minor: 0,
      covers: 2,
      pos: { source: 'test' },
    };
    const key = Buffer.from(branch.id);
    const messages: RawMessage[] = [
      { offset: '0', key, value: codec.encodeSale(sale) },
      { offset: '1', key, value: Buffer.from('not avro') },
      {
        offset: '2',
        key,
        value: codec.encodeHeartbeat({ branch_id: branch.id, at: at + 2 * HOUR_MS, source: 'test' }),
      },
    ];
    const letters: DeadLetter[] = [];
    const closed: HourClosed[] = [];
    const committed: string[] = [];
    const result = await processBatch(
      {
        store: new SalesStore(ch),
        decode: (buf) => codec.decode(buf),
        rules: { branches: directory, acceptUnknownBranches: false, maxFutureMs: 3_600_000, now: Date.now },
        settings: { allowedLatenessMs: 5 * 60_000, correctionWindowMs: 72 * HOUR_MS },
        branches: directory,
        clocks: new Map<string, BranchClock>(),
        deadLetter: async (l) => void letters.push(...(await Promise.resolve(l))),
        publishHoursClosed: async (e) => void closed.push(...(await Promise.resolve(e))),
        now: Date.now,
        logger: createLogger('silent'),
      },
      'pos.sales.runner',
      0,
      messages,
      [{ name: 'commit', run: (ctx) => void committed.push(ctx.messages.at(-1)!.offset) }],
    );
    expect(await observedSteps()).toEqual([
      ['decode', 1],
      ['validate', 1],
      ['load clocks', 1],
      ['dedupe', 1],
      ['store events', 1],
      ['advance clocks', 1],
      ['recompute hours', 1],
      ['dead letters', 1],
      ['hour-close events', 1],
      ['save clocks', 1],
      ['commit', 1],
    ]);
    // The batch itself went through: one sale, one dead letter, its hour and the next closed.
    expect(committed).toEqual(['2']);
    expect({ accepted: result.accepted, rejected: result.rejected, heartbeats: result.heartbeats }).toEqual({
      accepted: 1,
      rejected: 1,
      heartbeats: 1,
    });
    expect(letters.map((l) => [l.original.offset, l.code])).toEqual([['1', 'not_single_object']]);
    expect(closed.map((h) => [new Date(h.hour_start).toISOString(), h.sales_minor, h.revision])).toEqual([
      ['2021-01-05T12:00:00.000Z', 1_250, 1],
      ['2021-01-05T13:00:00.000Z', 0, 1],
    ]);
  });
});
