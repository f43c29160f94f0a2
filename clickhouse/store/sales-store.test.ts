/**
 * SalesStore in server mode with lookups as large as a redelivered backlog batch makes. Query
 * parameters travel in the URL, and a ClickHouse server refuses a URL field longer than
 * http_max_field_value_size (128 KiB; code 1000): a batch of one branch touching 5,000 hours was
 * refused on every retry and stalled its partition (found by `npm run bench:scale`). The server
 * here is the real engine behind test/clickhouse-http-facade.ts (there is no ClickHouse server
 * binary on these machines), which applies the same limit.
 */
import { Session } from 'chdb';
import { migrate } from '../migrate';
import { createClickHouse, type ClickHouse } from '../client';
import { createLogger } from '../../lib/logger';
import type { SaleEvent } from '../../schemas/events';
import { ClickHouseHttpFacade } from '../../test/clickhouse-http-facade';
import { freshDatabaseName, testConfig, workerDataDir } from '../../test/test-config';
import { SalesStore } from './sales-store';

jest.setTimeout(120_000);

const HOUR = 3_600_000;
const T0 = Date.UTC(2020, 5, 1);
const HOURS = 6_000;
const BRANCH = 'branch-with-a-long-backlog';

let session: Session;
let facade: ClickHouseHttpFacade;
let ch: ClickHouse;
let store: SalesStore;
const database = freshDatabaseName('chunks');

const sale = (i: number): SaleEvent => ({
  event_id: `receipt-${String(i).padStart(8, '0')}-${'x'.repeat(40)}`,
  branch_id: BRANCH,
  occurred_at: T0 + i * HOUR + 60_000,
  status: 'SALE',
  channel: 'RESTAURANT',
  currency: 'EUR',
  total_minor: 100 + (i % 97),
  net_minor: 100,
  tax_minor: i % 97,
  tip_minor: 0,
  covers: null,
  pos: {},
});

beforeAll(async () => {
  session = new Session(workerDataDir());
  facade = new ClickHouseHttpFacade(session);
  await facade.start();
  const logger = createLogger('warn');
  ch = createClickHouse(testConfig({ CLICKHOUSE_URL: facade.url, CLICKHOUSE_DATABASE: database }), logger);
  await migrate(ch, logger);
  store = new SalesStore(ch);
  const events = Array.from({ length: HOURS }, (_, i) => sale(i));
  await store.insertEvents(
    events.map((event, i) => ({ event, tooLate: false, partition: 0, offset: String(i) })),
  );
});

afterAll(async () => {
  await ch?.close();
  await facade?.stop();
  try {
    await session?.queryAsync(`DROP DATABASE IF EXISTS ${database}`);
  } finally {
    session?.close();
  }
});

const allHours = () => new Map([[BRANCH, new Set(Array.from({ length: HOURS }, (_, i) => T0 + i * HOUR))]]);

describe('lookups of a backlog batch through the HTTP interface', () => {
  test('one parameter of them all would be refused by the server (what the chunks avoid)', async () => {
    const keys = [...allHours().get(BRANCH)!].map((h) => `${BRANCH}|${h / 1000}`);
    await expect(
      ch.client.query({
        query: 'SELECT length({keys:Array(String)}) AS n',
        query_params: { keys },
        format: 'JSONEachRow',
      }),
    ).rejects.toThrow(/Code: 1000.*Field value too long/);
  });

  test('aggregateHours of 6,000 hours: every hour, exact', async () => {
    const aggregates = await store.aggregateHours(allHours());
    expect(aggregates.size).toBe(HOURS);
    for (let i = 0; i < HOURS; i += 499) {
      expect(aggregates.get(`${BRANCH}|${(T0 + i * HOUR) / 1000}`)).toMatchObject({
        sales_minor: 100 + (i % 97),
        orders: 1,
        events: 1,
      });
    }
  });

  test('storedHours of 6,000 written hours: every one', async () => {
    const aggregates = await store.aggregateHours(allHours());
    await store.insertHours(
      [...aggregates].map(([key, agg]) => ({
        ...agg,
        branch_id: BRANCH,
        hour_start: Number(key.split('|')[1]) * 1000,
        timezone: 'UTC',
        closed: true,
        revision: 1,
        version: 1n << 63n,
      })),
    );
    const stored = await store.storedHours(allHours());
    expect(stored.size).toBe(HOURS);
    expect(stored.get(`${BRANCH}|${(T0 + 123 * HOUR) / 1000}`)).toMatchObject({
      sales_minor: 100 + (123 % 97),
      closed: true,
    });
  });

  test('findEvents of 6,000 long ids: every stored copy', async () => {
    const ids = Array.from({ length: HOURS }, (_, i) => sale(i).event_id);
    const found = await store.findEvents([BRANCH], ids);
    expect(found).toHaveLength(HOURS);
  });
});
