/**
 * ClickHouse unavailable, server mode (CLICKHOUSE_URL): `tillcast ingest` and
 * `tillcast api` run as child processes against a ClickHouse HTTP endpoint that
 * the test takes away (its port refuses connections) and brings back.
 *
 * There is no ClickHouse server binary on these machines, so the endpoint is
 * test/clickhouse-http-facade.ts: ClickHouse's HTTP interface (the part the
 * client uses) in front of the real engine — the embedded chdb of this jest
 * worker, its data directory, a fresh database. tillcast cannot tell it from a
 * server: it is configured with a URL and speaks HTTP to it. The facade runs
 * here WITHOUT a users configuration: no authentication, every request runs as
 * the engine's `default` user (the facade's list of differences, item 3). The
 * users, their profiles and what a server refuses them are
 * least-privilege.test.ts's and clickhouse-server-semantics.test.ts's business.
 *
 *   a. ingest, ClickHouse gone mid-stream: no offset is committed while it is
 *      down, the consumer keeps retrying (kafkajs backoff, then a consumer
 *      restart), and once it is back every event is stored exactly once and
 *      every hour equals the reference.
 *   b. ingest or api started while ClickHouse is down: they stop with exit 3
 *      (a component is down) and say why (fail fast; docker compose restarts them).
 *   c. api, ClickHouse gone while serving: /health 200, /ready 503, /predict
 *      answers what it holds in memory and 503 `storage_unavailable` (JSON,
 *      Retry-After, no internals) for what it would have to read; back: 200.
 */
import { Session } from 'chdb';
import { migrate } from '../../clickhouse/migrate';
import { createClickHouse, type ClickHouse } from '../../clickhouse/client';
import { createLogger } from '../../lib/logger';
import { Fixtures } from '../../bench/api-fixtures';
import { NORY_BRANCHES } from '../../lib/branches';
import { killAllChildren, requireBuiltCli, runCli, spawnCli, type CliProcess } from '../child-process';
import { ClickHouseHttpFacade } from '../clickhouse-http-facade';
import {
  apiBase,
  committedOffsets,
  createTopics,
  endOffsets,
  faultScenario,
  removeScenarioDirs,
  waitForCommitted,
  type FaultScenario,
} from '../fault-helpers';
import { waitFor } from '../kafka-broker';
import { createTestKey, destroyAgent, request, useApiKey } from '../api-helpers';
import { referenceDaily } from '../reference-totals';
import { requireSharedExport } from '../shared-data';
import { freshDatabaseName, testConfig, workerDataDir } from '../test-config';

jest.setTimeout(180_000);

const SUSHI = '352h67i328fh';
const file = requireSharedExport();
let session: Session;
let facade: ClickHouseHttpFacade;
const database = freshDatabaseName('chdown');

async function rows<T>(sql: string): Promise<T[]> {
  const r = await session.queryAsync(`${sql} FORMAT JSONEachRow`);
  return Buffer.from(r.bytes())
    .toString('utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as T);
}

function serverScenario(name: string, extra: Record<string, string> = {}): FaultScenario {
  return faultScenario(name, {
    CLICKHOUSE_URL: facade.url,
    CLICKHOUSE_DATABASE: database,
    CLICKHOUSE_USER: 'default',
    CLICKHOUSE_PASSWORD: '',
    ...extra,
  });
}

beforeAll(async () => {
  requireBuiltCli();
  session = new Session(workerDataDir());
  facade = new ClickHouseHttpFacade(session);
  await facade.start();
});

afterAll(async () => {
  await killAllChildren();
  removeScenarioDirs();
  destroyAgent();
  await facade?.stop();
  try {
    await session?.queryAsync(`DROP DATABASE IF EXISTS ${database}`);
  } finally {
    session?.close();
  }
});

describe('ingest with ClickHouse unavailable (server mode)', () => {
  it('commits nothing while ClickHouse refuses connections, keeps retrying, and resumes without loss when it is back', async () => {
    const s = serverScenario('chdown-ingest');
    await createTopics(s);
    const topic = s.config.KAFKA_TOPIC_SALES;
    const group = s.config.KAFKA_INGEST_GROUP;
    const ingest = spawnCli('ingest', ['ingest'], s.env);
    await ingest.waitForLog('ingest consuming', { description: 'the ingest to consume', timeoutMs: 90_000 });

    // Three days go in while ClickHouse is up.
    const first = await runCli(
      ['replay', file, '--from', '2020-12-01', '--through', '2020-12-03'],
      { ...s.env, LOG_LEVEL: 'warn' },
      120_000,
    );
    await waitForCommitted(s, group, topic, 60_000);
    const committedBefore = await committedOffsets(s, group, topic);

    // ClickHouse goes away; three more days are published.
    await facade.stop();
    const down = Date.now();
    const second = await runCli(
      ['replay', file, '--from', '2020-12-04', '--through', '2020-12-06'],
      { ...s.env, LOG_LEVEL: 'warn' },
      120_000,
    );
    const ends = await endOffsets(s, topic);
    expect(
      Object.entries(ends).some(([p, high]) => BigInt(high) > BigInt(committedBefore[Number(p)] ?? '0')),
    ).toBe(true);

    // It keeps trying: kafkajs retries the batch with backoff (each try fails on the
    // refused connection), gives up after its retries and restarts the consumer, which tries again.
    // One kafkajs Runner error per failed try of the batch (its lookup of existing events fails).
    const failedTries = () =>
      ingest.lines.filter(
        (l) => l.module === 'kafkajs' && l.ns === 'Runner' && String(l.stack).startsWith('StorageError'),
      ).length;
    await waitFor(() => ingest.logs('ingest consumer crashed').some((l) => l.restart === true), {
      description: 'the ingest consumer to give up its retries and restart itself',
      timeoutMs: 90_000,
      intervalMs: 250,
    });
    const outageS = (Date.now() - down) / 1000;
    expect(ingest.running).toBe(true);
    // Not one offset moved while ClickHouse was away.
    expect(await committedOffsets(s, group, topic)).toEqual(committedBefore);
    const triesBeforeRestart = failedTries();
    expect(triesBeforeRestart).toBeGreaterThanOrEqual(8); // kafkajs: 8 retries with backoff, then the restart

    // Back on the same port, with its data: the ingest catches up by itself.
    await facade.start();
    await waitForCommitted(s, group, topic, 90_000);
    expect(ingest.running).toBe(true);
    expect((await ingest.kill('SIGTERM')).code).toBe(0);
    // Nothing was dead-lettered on the way: an outage is not bad input.
    expect(Object.values(await endOffsets(s, s.config.KAFKA_TOPIC_DLQ)).every((o) => o === '0')).toBe(true);

    const published = [first, second].reduce(
      (n, r) => n + Number(/(\d+) events published/.exec(r.stdout.join('\n'))?.[1]),
      0,
    );
    const [counts] = await rows<{ n: string; ids: string }>(
      `SELECT count() AS n, uniqExact(branch_id, event_id) AS ids FROM ${database}.sales_events FINAL`,
    );
    expect({ stored: Number(counts?.n), distinct: Number(counts?.ids) }).toEqual({
      stored: published,
      distinct: published,
    });

    const daily = await rows<{ b: string; d: string; sales: string; orders: string }>(
      `SELECT branch_id AS b, toString(local_date) AS d, toString(sum(sales_minor)) AS sales, toString(sum(orders)) AS orders
       FROM ${database}.sales_hourly FINAL GROUP BY b, d ORDER BY b, d`,
    );
    const reference = referenceDaily(file);
    const want: string[] = [];
    for (const [b, days] of reference)
      for (const [d, v] of days)
        if (d >= '2020-12-01' && d <= '2020-12-06') want.push(`${b} ${d} ${v.salesCents} ${v.orders}`);
    expect(daily.map((r) => `${r.b} ${r.d} ${r.sales} ${r.orders}`)).toEqual(want.sort());
    process.stderr.write(
      `[clickhouse-outage] ingest: ClickHouse away ${outageS.toFixed(1)} s (${triesBeforeRestart} failed tries of the batch before the consumer restarted, ${ingest.logs('ingest consumer crashed').length} restarts in all); ${published} events stored once each\n`,
    );
  });

  it.each([['ingest'], ['api']])(
    'tillcast %s started while ClickHouse is down stops with exit 3 and says why',
    async (role) => {
      const s = serverScenario(`chdown-start-${role}`, { CLICKHOUSE_URL: 'http://127.0.0.1:9' }); // discard port: nothing listens
      await createTopics(s);
      const child = spawnCli(role, [role], s.env);
      const exit = await child.waitForExit(120_000);
      expect(exit.code).toBe(3);
      const fatal = child.logs('start failed; stopping what started');
      expect(fatal).toHaveLength(1);
      expect(fatal[0]).toMatchObject({ exitCode: 3 });
      expect(JSON.stringify(fatal[0]!.err)).toMatch(/ECONNREFUSED/);
      if (role === 'ingest') {
        // It never joined the group: nothing was consumed, nothing committed.
        expect(await committedOffsets(s, s.config.KAFKA_INGEST_GROUP, s.config.KAFKA_TOPIC_SALES)).toEqual({
          0: '-1',
          1: '-1',
          2: '-1',
        });
      }
    },
  );
});

describe('api with ClickHouse unavailable (server mode)', () => {
  let child: CliProcess;
  let base: string;
  let writer: ClickHouse;

  beforeAll(async () => {
    // A run for Sushi through the facade (the same HTTP path the roles use); its actuals are
    // the hours the ingest test stored.
    const logger = createLogger('warn');
    writer = createClickHouse(
      testConfig({ CLICKHOUSE_URL: facade.url, CLICKHOUSE_DATABASE: database }),
      logger,
    );
    await migrate(writer, logger); // idempotent: the ingest test (if it ran) migrated already
    useApiKey((await createTestKey(writer)).key); // the API needs a key (issue 14)
    const sushi = NORY_BRANCHES.find((b) => b.id === SUSHI)!;
    await new Fixtures(writer).forecastRun(sushi, {
      origin: Date.UTC(2020, 11, 7),
      hours: 14 * 24,
      generatedAt: Date.now() - 60_000,
      runId: 'outage-run-1',
    });
  });

  afterAll(async () => {
    await writer?.close();
  });

  it('answers /health 200, /ready 503 and /predict 503 storage_unavailable for what it cannot read; recovers when ClickHouse is back', async () => {
    const s = serverScenario('chdown-api', { API_FORECAST_POLL_MS: '200', API_ACTUALS_TTL_MS: '0' });
    child = spawnCli('api', ['api'], s.env);
    base = await apiBase(child);
    const predict = (start: string, end: string) =>
      request(base, `/predict?branch_id=${SUSHI}&start=${start}&end=${end}&granularity=daily`);

    await waitFor(async () => (await request(base, '/ready')).status === 200, {
      description: '/ready 200',
      timeoutMs: 30_000,
    });
    const warm = await predict('2020-12-07', '2020-12-13'); // forecast days only
    expect(warm.status).toBe(200);
    expect((warm.json as { forecast: { run_id: string } }).forecast.run_id).toBe('outage-run-1');
    const past = await predict('2020-12-01', '2020-12-06'); // closed days: actuals from ClickHouse
    expect(past.status).toBe(200);

    await facade.stop();

    const health = await request(base, '/health');
    expect({ status: health.status, body: health.json }).toEqual({ status: 200, body: { status: 'ok' } });
    const ready = await waitFor(
      async () => {
        const r = await request(base, '/ready');
        return r.status === 503 ? r : undefined;
      },
      { description: '/ready 503 with ClickHouse away', timeoutMs: 30_000 },
    );
    expect(ready.headers['retry-after']).toBe('5');
    expect(ready.json).toMatchObject({ status: 'not_ready', checks: { clickhouse: false } });

    // Days it holds: still served from memory.
    expect((await predict('2020-12-07', '2020-12-13')).status).toBe(200);
    // Days it has to read (actuals of other closed days): 503, JSON, Retry-After, nothing internal.
    const cold = await predict('2020-11-30', '2020-12-02');
    expect(cold.status).toBe(503);
    expect(cold.headers['content-type']).toMatch(/^application\/json/);
    expect(cold.headers['retry-after']).toBe('5');
    expect(cold.json).toEqual({
      error: {
        code: 'storage_unavailable',
        message: 'storage is unavailable; try again shortly',
        details: { retry_after_s: 5, request_id: expect.any(String) },
      },
    });
    expect(cold.text).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|at .*\.js|SELECT/);
    expect(child.running).toBe(true);

    await facade.start();
    await waitFor(async () => (await request(base, '/ready')).status === 200, {
      description: '/ready 200 again',
      timeoutMs: 30_000,
    });
    const back = await predict('2020-11-30', '2020-12-02');
    expect(back.status).toBe(200);
    expect(child.logs('request failed').length).toBe(0); // no 500 on the way
    expect((await child.kill('SIGTERM')).code).toBe(0);
  });
});
