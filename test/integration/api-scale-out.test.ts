/**
 * The API scaled out: N stateless `tillcast api` processes (as behind a load balancer) against
 * one shared ClickHouse serve the same answers, and each picks up a new forecast run and a late
 * correction of a closed hour by itself, within its poll period / actuals TTL.
 *
 * The shared ClickHouse is the real engine (this jest worker's chdb) behind
 * test/clickhouse-http-facade.ts: there is no ClickHouse server binary on these machines, so the
 * facade is the only way several processes share one ClickHouse here. The API processes talk to
 * it over ClickHouse's HTTP interface (CLICKHOUSE_URL) exactly as to a server.
 */
import { Session } from 'chdb';
import { killAllChildren, requireBuiltCli, spawnCli, type CliProcess } from '../child-process';
import { ClickHouseHttpFacade } from '../clickhouse-http-facade';
import { apiBase } from '../fault-helpers';
import {
  CLOSED_THROUGH,
  createTestKey,
  destroyAgent,
  eventually,
  GENERATED_AT,
  HORIZON_H,
  request,
  setupScenario,
  SUSHI,
  useApiKey,
  type HttpAnswer,
  type Scenario,
} from '../api-helpers';
import { testBrokerAddress, uniqueName } from '../kafka-broker';
import { freshDatabaseName, workerDataDir } from '../test-config';
import { isolatedKafkaEnv } from '../../lib/topics';

jest.setTimeout(180_000);

const PROCESSES = 3;
const POLL_MS = 300;
const ACTUALS_TTL_MS = 500;
const HOUR = 3_600_000;
/** A range with closed hours (from 2021-02-01) and forecast hours (after CLOSED_THROUGH, 2021-02-05 12:00). */
const PATH = `/predict?branch_id=${SUSHI.id}&start=2021-02-01&end=2021-02-10`;

let session: Session;
let facade: ClickHouseHttpFacade;
let sc: Scenario;
const apis: { child: CliProcess; base: string }[] = [];
const database = freshDatabaseName('apiscale');

interface Body {
  forecast: { run_id: string };
  daily: { date: string; sales: number | null; source: string }[];
}

const predict = async (base: string): Promise<HttpAnswer & { body: Body }> => {
  const a = await request(base, PATH);
  if (a.status !== 200) throw new Error(`${base}${PATH}: ${a.status} ${a.text.slice(0, 300)}`);
  return { ...a, body: a.json as Body };
};

/** Polls every process until `ok` holds for its answer; returns the answers. */
const allUntil = (ok: (b: Body) => boolean, what: string) =>
  Promise.all(
    apis.map(({ base }) =>
      eventually(
        async () => {
          const a = await predict(base);
          return ok(a.body) ? a : undefined;
        },
        30_000,
        50,
      ).catch((err: Error) => {
        throw new Error(`${base}: ${what}: ${err.message}`);
      }),
    ),
  );

beforeAll(async () => {
  requireBuiltCli();
  session = new Session(workerDataDir());
  facade = new ClickHouseHttpFacade(session);
  await facade.start();
  // Closed actuals through 2021-02-05 12:00 and a 14-day run for Sushi, written over HTTP.
  sc = await setupScenario({ CLICKHOUSE_URL: facade.url, CLICKHOUSE_DATABASE: database });
  // Every process reads the same key from the shared ClickHouse (issue 14).
  useApiKey((await createTestKey(sc.ch)).key);
  const env = {
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    CLICKHOUSE_URL: facade.url,
    CLICKHOUSE_DATABASE: database,
    HOST: '127.0.0.1',
    PORT: '0',
    API_FORECAST_POLL_MS: String(POLL_MS),
    API_ACTUALS_TTL_MS: String(ACTUALS_TTL_MS),
    // The API never talks to Kafka (it provisions no topic since issue 14); the broker settings only
    // keep the config complete, as a deployment's would be.
    KAFKA_BROKERS: testBrokerAddress(),
    ...isolatedKafkaEnv(uniqueName('apiscale')),
  };
  for (let i = 0; i < PROCESSES; i++) {
    const child = spawnCli(`api-${i}`, ['api'], env);
    apis.push({ child, base: await apiBase(child) });
  }
});

afterAll(async () => {
  await killAllChildren();
  destroyAgent();
  await sc?.drop().catch(() => undefined);
  await facade?.stop();
  session?.close();
});

describe(`${PROCESSES} API processes sharing one ClickHouse`, () => {
  test('answer byte-identical bodies with the same ETag', async () => {
    const answers = await allUntil((b) => b.forecast.run_id === sc.runs[SUSHI.id], 'the first run');
    const [first, ...rest] = answers;
    for (const a of rest) {
      expect(a.text).toBe(first!.text);
      expect(a.headers.etag).toBe(first!.headers.etag);
    }
    // The answer really mixes closed hours and the run: both halves are served from ClickHouse.
    const sources = new Set(first!.body.daily.map((d) => d.source));
    expect(sources).toEqual(new Set(['actual', 'mixed', 'forecast']));
  });

  test('each process switches to a newer run by itself, and they agree again', async () => {
    const before = await Promise.all(apis.map(({ base }) => predict(base)));
    const runId = await sc.fx.forecastRun(SUSHI, {
      origin: CLOSED_THROUGH + HOUR,
      hours: HORIZON_H,
      generatedAt: GENERATED_AT + 60_000,
      runId: `run-${SUSHI.id}-2`,
    });
    const after = await allUntil((b) => b.forecast.run_id === runId, 'the newer run');
    for (const a of after.slice(1)) expect(a.text).toBe(after[0]!.text);
    expect(after[0]!.headers.etag).not.toBe(before[0]!.headers.etag);
    // Nobody told the processes: each found the run through its own poll of forecast_runs.
    for (const { child } of apis) expect(child.running).toBe(true);
  });

  test('a late correction of a closed hour reaches every process within its actuals TTL', async () => {
    const day = '2021-02-02';
    const before = (await predict(apis[0]!.base)).body.daily.find((d) => d.date === day)!;
    expect(before.source).toBe('actual');
    // Revision 2 of one closed hour of that day, €1,000 more: what ingest writes for a late receipt.
    const hour = Date.UTC(2021, 1, 2, 13);
    const [stored] = await (
      await sc.ch.client.query({
        query: `SELECT argMax(sales_minor, version) AS s, argMax(orders, version) AS o
                FROM ${sc.ch.table('sales_hourly')} WHERE branch_id = {b:String} AND hour_start = {h:DateTime('UTC')}`,
        query_params: { b: SUSHI.id, h: hour / 1000 },
        format: 'JSONEachRow',
      })
    ).json<{ s: string; o: number }>();
    await sc.fx.actuals(SUSHI, hour, hour + HOUR, {
      values: () => ({ sales_minor: Number(stored!.s) + 100_000, orders: Number(stored!.o) + 1 }),
      revision: 2,
    });
    const after = await allUntil(
      (b) => b.daily.find((d) => d.date === day)!.sales !== before.sales,
      'the corrected day',
    );
    for (const a of after.slice(1)) expect(a.text).toBe(after[0]!.text);
    const corrected = after[0]!.body.daily.find((d) => d.date === day)!;
    expect(corrected.sales).toBeCloseTo(before.sales! + 1000, 2);
  });
});
