/**
 * A shutdown that is really bounded (issue 13, fault 2): SIGTERM with a component gone ends the
 * process within SHUTDOWN_TIMEOUT_MS (3 s here) with exit code 5 (EXIT.shutdownIncomplete), and
 * the log says what was left pending — even though kafkajs or the ClickHouse client still retry.
 * The real CLI runs as child processes (dist/cli/tillcast.js).
 *
 *   a. Kafka gone: `tillcast start --no-stack` (the user's report: embedded engine, simulator,
 *      ingest, forecaster, API) on a broker of this file's own, which is stopped once the process
 *      is ready and has joined its groups. SIGTERM: the simulator's and the consumers' stops are
 *      given up as soon as no broker accepts a connection (nothing could be committed or
 *      published), well within the bound; the API stops in order.
 *   b. Healthy but slow ClickHouse (server mode, every engine call 0.5 s late): an ingest batch
 *      being written at SIGTERM finishes, COMMITS, and the process exits 0 (kafkajs 2.2.4 skips
 *      consumer.commitOffsets once a stop began: lib/kafka-client.ts commitBatch).
 *   c. ClickHouse gone: `tillcast run ingest forecaster api` in server mode (CLICKHOUSE_URL)
 *      against ClickHouse's HTTP interface, which is then taken away while the ingest holds a
 *      batch it cannot write (kafkajs retries it with a growing backoff). SIGTERM: the ingest
 *      cannot finish its batch in time; the process exits when the bound runs out.
 *   d. A second SIGTERM during a shutdown that would take long exits at once.
 *
 * There is no ClickHouse server binary on these machines: the "server" of b-d is
 * test/clickhouse-http-facade.ts, ClickHouse's HTTP interface in front of the real engine (an
 * embedded chdb session of this jest worker, on a data directory of this file's own), without a
 * users configuration (no authentication: this file is about the shutdown, not grants). That a
 * healthy shutdown exits 0 within the default bound is also asserted by every fault test that
 * ends its processes with SIGTERM (ingest-faults, clickhouse-outage, forecaster-faults, cli).
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Session } from 'chdb';
import { EXIT } from '../../lib/exit-codes';
import { destroyAgent, request } from '../api-helpers';
import { killAllChildren, requireBuiltCli, runCli, spawnCli, type CliProcess } from '../child-process';
import { ClickHouseHttpFacade } from '../clickhouse-http-facade';
import {
  apiBase,
  committedOffsets,
  createTopics,
  endOffsets,
  faultScenario,
  removeScenarioDirs,
  type FaultScenario,
} from '../fault-helpers';
import { dedicatedBroker, startBroker, stopBroker, waitFor } from '../kafka-broker';
import { requireSharedExport } from '../shared-data';
import { freshDatabaseName } from '../test-config';

jest.setTimeout(300_000);

const BOUND_MS = 3_000;
/** Process exit after the bound: the last log lines, the exit itself, a loaded 2-core machine. */
const MARGIN_MS = 2_000;

// This file's ports: 19300 (broker) and 19301 (its controller).
const broker = dedicatedBroker(
  'bounded-shutdown',
  Number(process.env.TILLCAST_SHUTDOWN_BROKER_PORT ?? 19300),
);
const database = freshDatabaseName('shutdown');
let session: Session | undefined;
let engineDir: string | undefined;
let facade: ClickHouseHttpFacade | undefined;
/** Latency the facade adds to each engine call (a slow server: a batch stays in flight for seconds). */
let latencyMs = 0;
/** Inserts into sales_events the facade was asked to run (a batch's middle step). */
let eventInserts = 0;

/** The error code of a TCP connect to `host:port` ('connected' if something listens). */
function connectOutcome(address: string): Promise<string> {
  const colon = address.lastIndexOf(':');
  return new Promise((resolve) => {
    const socket = net.connect({ host: address.slice(0, colon), port: Number(address.slice(colon + 1)) });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('timeout');
    }, 5_000);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code ?? err.message);
    });
  });
}

/** Waits until the API of `child` answers /ready with 200 (it is serving, ClickHouse reachable). */
async function waitReady(child: CliProcess): Promise<void> {
  const base = await apiBase(child, 180_000);
  await waitFor(async () => (await request(base, '/ready', { timeoutMs: 5_000 })).status === 200, {
    description: `${child.name}: /ready to answer 200`,
    timeoutMs: 120_000,
    intervalMs: 250,
  });
}

/** SIGTERM and the time to the exit. */
async function terminate(child: CliProcess): Promise<{ code: number | null; ms: number }> {
  const t0 = Date.now();
  const exit = await child.kill('SIGTERM', BOUND_MS + 60_000);
  return { code: exit.code, ms: Date.now() - t0 };
}

/**
 * Failed tries of the ingest's batch: kafkajs logs an error per partition batch that throws (our
 * StorageError), all within milliseconds of each other; tries are further apart (its backoff,
 * 300 ms at least, -20 %), so lines more than 150 ms apart belong to different tries.
 */
function failedBatchTries(child: CliProcess): number {
  const times = child.lines
    .filter((l) => l.module === 'kafkajs' && l.ns === 'Runner' && String(l.stack).startsWith('StorageError'))
    .map((l) => Date.parse(String(l.time)));
  let tries = 0;
  let last = -Infinity;
  for (const t of times) {
    if (t - last > 150) tries++;
    last = t;
  }
  return tries;
}

beforeAll(() => {
  requireBuiltCli();
});

afterAll(async () => {
  await killAllChildren();
  destroyAgent();
  await stopBroker({ target: broker });
  await facade?.stop();
  session?.close();
  if (engineDir) fs.rmSync(engineDir, { recursive: true, force: true });
  removeScenarioDirs();
});

describe('Kafka gone', () => {
  it('tillcast start exits within SHUTDOWN_TIMEOUT_MS with exit 5 and names the consumers it left', async () => {
    await startBroker({ target: broker });
    const s = faultScenario('shutdown-kafka', {
      KAFKA_BROKERS: broker.address,
      SHUTDOWN_TIMEOUT_MS: String(BOUND_MS),
      DEMO_BRANCHES: '1',
      TRAIN_RETRY_MS: '0',
    });
    await createTopics(s);
    const start = spawnCli('start', ['start', '--no-stack'], s.env);
    await waitReady(start);
    await start.waitForLog('joined ingest group', { description: 'the ingest to join', orSeen: true });
    await start.waitForLog('forecaster consuming', {
      description: 'the forecaster to consume',
      orSeen: true,
      timeoutMs: 120_000,
    });

    await stopBroker({ target: broker });
    expect(await connectOutcome(broker.address)).toBe('ECONNREFUSED');
    // The process noticed: kafkajs is retrying the broker (the state of the user's report).
    await waitFor(
      () =>
        start.lines.some(
          (l) =>
            l.module === 'kafkajs' &&
            /ECONNREFUSED|Connection error|Closed connection/.test(`${l.msg} ${String(l.error)}`),
        ),
      { description: 'kafkajs to report the broker gone', timeoutMs: 60_000, intervalMs: 100 },
    );
    expect(await connectOutcome(broker.address)).toBe('ECONNREFUSED');

    const { code, ms } = await terminate(start);
    expect(code).toBe(EXIT.shutdownIncomplete);
    expect(ms).toBeLessThan(BOUND_MS + MARGIN_MS);
    expect(start.logs('shutting down')).toHaveLength(1);
    // Faster than the bound: nothing waited for it. The API does not need Kafka and stopped in
    // order; the consumers could neither commit nor leave their group, and were given up as soon as
    // no broker accepted a connection (the simulator too, unless it was between two sends).
    expect(start.logs('shutdown timed out with work pending')).toEqual([]);
    expect(start.logs('role stopped').map((l) => l.role)).toEqual(['api']);
    const givenUp = start
      .logs(
        'no Kafka broker reachable: not waiting for the role to commit and leave its group (its uncommitted input is redelivered)',
      )
      .map((l) => String(l.role));
    expect(givenUp.filter((r) => r !== 'source')).toEqual(['forecaster', 'ingest']);
  });
});

describe('server mode (CLICKHOUSE_URL): ClickHouse slow, then gone', () => {
  beforeAll(async () => {
    // The broker of this file (Kafka stays up here).
    await startBroker({ target: broker });
    // A data directory of this file's own: another jest run on this machine may hold the worker's.
    engineDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillcast-shutdown-engine-'));
    const engine = new Session(engineDir);
    session = engine;
    facade = new ClickHouseHttpFacade({
      queryAsync: async (query, opts) => {
        if (/^\s*INSERT INTO\s+\S*sales_events\b/im.test(query)) eventInserts++;
        if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));
        return engine.queryAsync(query, opts);
      },
    });
    await facade.start();
  });

  function serverScenario(name: string, extra: Record<string, string>): FaultScenario {
    return faultScenario(name, {
      KAFKA_BROKERS: broker.address,
      CLICKHOUSE_URL: facade!.url,
      CLICKHOUSE_DATABASE: database,
      CLICKHOUSE_USER: 'default',
      CLICKHOUSE_PASSWORD: '',
      TRAIN_RETRY_MS: '0',
      ...extra,
    });
  }

  /**
   * Starts `tillcast run <roles>` and waits until it serves; then takes ClickHouse away, publishes
   * a day of the export and waits until the ingest has failed to write its batch `tries` times
   * (kafkajs' next try is then seconds away). Returns the process and the committed offsets.
   */
  async function stuckOnClickHouse(
    s: FaultScenario,
    roles: string[],
    tries: number,
  ): Promise<{ child: CliProcess; committed: Record<number, string> }> {
    await createTopics(s);
    const child = spawnCli(roles.join(','), ['run', ...roles], s.env);
    await waitReady(child);
    await child.waitForLog('ingest consuming', { description: 'the ingest to consume', orSeen: true });
    const committed = await committedOffsets(s, s.config.KAFKA_INGEST_GROUP, s.config.KAFKA_TOPIC_SALES);

    await facade!.stop();
    expect(await connectOutcome(new URL(facade!.url).host)).toBe('ECONNREFUSED');
    await runCli(
      ['replay', requireSharedExport(), '--from', '2020-12-01', '--through', '2020-12-01', '--no-heartbeats'],
      { ...s.env, LOG_LEVEL: 'warn' },
      120_000,
    );
    const ends = await endOffsets(s, s.config.KAFKA_TOPIC_SALES);
    expect(Object.values(ends).some((high) => BigInt(high) > 0n)).toBe(true);
    await waitFor(() => failedBatchTries(child) >= tries, {
      description: `${tries} failed tries of the ingest batch`,
      timeoutMs: 120_000,
      intervalMs: 20,
    });
    return { child, committed };
  }

  it('healthy but slow: a batch in flight at SIGTERM still finishes and commits, exit 0', async () => {
    const s = serverScenario('shutdown-inflight', { SHUTDOWN_TIMEOUT_MS: '60000', LOG_LEVEL: 'debug' });
    await createTopics(s);
    const group = s.config.KAFKA_INGEST_GROUP;
    const topic = s.config.KAFKA_TOPIC_SALES;
    const ingest = spawnCli('ingest', ['ingest'], s.env);
    await ingest.waitForLog('ingest consuming', { description: 'the ingest to consume', timeoutMs: 120_000 });
    latencyMs = 500;
    try {
      await runCli(
        [
          'replay',
          requireSharedExport(),
          '--from',
          '2020-12-01',
          '--through',
          '2020-12-01',
          '--no-heartbeats',
        ],
        { ...s.env, LOG_LEVEL: 'warn' },
        120_000,
      );
      // A batch is being written: its events are going in, and the hours, the rejections and the
      // watermarks come next, a second each. SIGTERM now.
      await waitFor(() => eventInserts > 0, {
        description: 'the ingest to start writing a batch',
        timeoutMs: 60_000,
        intervalMs: 10,
      });
      const before = await committedOffsets(s, group, topic);
      const t0 = Date.now();
      const exit = await ingest.kill('SIGTERM', 70_000);
      expect(exit.code).toBe(EXIT.ok);
      expect(Date.now() - t0).toBeLessThan(60_000);
      // The batch was in flight at the signal: it committed after the shutdown began.
      const shutdownAt = Date.parse(String(ingest.logs('shutting down')[0]?.time));
      const committedAfter = ingest
        .logs('batch committed')
        .filter((l) => Date.parse(String(l.time)) > shutdownAt);
      expect(committedAfter.length).toBeGreaterThan(0);
      const after = await committedOffsets(s, group, topic);
      for (const l of committedAfter) {
        const p = Number(l.partition);
        const was = BigInt(before[p] === undefined || before[p] === '-1' ? '0' : before[p]);
        expect(BigInt(after[p] ?? '-1')).toBeGreaterThanOrEqual(was + BigInt(Number(l.messages)));
      }
      expect(ingest.logs('role stopped').map((l) => l.role)).toEqual(['ingest']);
      expect(ingest.logs('shutdown timed out with work pending')).toEqual([]);
    } finally {
      latencyMs = 0;
    }
  });

  it('tillcast run ingest forecaster api exits within SHUTDOWN_TIMEOUT_MS with exit 5, the ingest batch pending', async () => {
    const s = serverScenario('shutdown-chdown', { SHUTDOWN_TIMEOUT_MS: String(BOUND_MS) });
    try {
      // After 6 failed tries kafkajs waits 300 ms * 2^5 = 9.6 s (±20 %) before the next: longer than
      // the bound, and the ingest's stop waits for that try (kafkajs checks for a stop only then).
      const { child, committed } = await stuckOnClickHouse(s, ['ingest', 'forecaster', 'api'], 6);
      expect(await connectOutcome(new URL(facade!.url).host)).toBe('ECONNREFUSED');
      const { code, ms } = await terminate(child);
      expect(code).toBe(EXIT.shutdownIncomplete);
      expect(ms).toBeLessThan(BOUND_MS + MARGIN_MS);
      const timedOut = child.logs('shutdown timed out with work pending');
      expect(timedOut).toHaveLength(1);
      expect(timedOut[0]).toMatchObject({ pending: 'stop ingest', timeoutMs: BOUND_MS, abandoned: [] });
      // The roles before it stopped in order; nothing was committed while ClickHouse was away.
      expect(child.logs('role stopped').map((l) => l.role)).toEqual(['api', 'forecaster']);
      expect(await committedOffsets(s, s.config.KAFKA_INGEST_GROUP, s.config.KAFKA_TOPIC_SALES)).toEqual(
        committed,
      );
    } finally {
      if (!facade!.running) await facade!.start();
    }
  });

  it('a second SIGTERM during a long shutdown exits at once with exit 5 and names the pending step', async () => {
    // A bound far longer than the test waits: only the second signal can end the process early.
    const s = serverScenario('shutdown-twice', { SHUTDOWN_TIMEOUT_MS: '120000' });
    try {
      const { child } = await stuckOnClickHouse(s, ['ingest', 'api'], 6);
      child.child.kill('SIGTERM');
      await child.waitForLog('shutting down', { description: 'the shutdown to begin', orSeen: true });
      await child.waitForLog('role stopped', { description: 'the API to stop', orSeen: true });
      expect(child.logs('role stopped').map((l) => l.role)).toEqual(['api']);
      const { code, ms } = await terminate(child);
      expect(code).toBe(EXIT.shutdownIncomplete);
      expect(ms).toBeLessThan(MARGIN_MS);
      const cut = child.logs('second signal during the shutdown: exiting now');
      expect(cut).toHaveLength(1);
      expect(cut[0]).toMatchObject({ signal: 'SIGTERM', pending: 'stop ingest' });
    } finally {
      if (!facade!.running) await facade!.start();
    }
  });
});
