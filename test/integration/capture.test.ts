/**
 * Acceptance of the HTTP capture route (issue 18) on the real broker and the real engine:
 * - the whole shared export, posted to POST /v1/events in batches (mixed spellings of instants
 *   and money), ingested by the real ingest consumer, equals the independent reference to the
 *   cent, every hour closed; posting batches again changes nothing;
 * - on a broker of its own, stopping Kafka mid-load answers 503 with Retry-After, and once it is
 *   back, every event ever answered `accepted` is in sales_events (the POS re-sends what got 503).
 * The API runs in process (createApiServer) with its real sink: the `pos` principal's producer.
 */
import http from 'node:http';
import type { Config } from '../../lib/config';
import { provisionKafka } from '../../lib/kafka-provision';
import { loadPosExport } from '../../producers/pos-export';
import type { SaleEvent } from '../../schemas/events';
import { createApiServer, type ApiServer } from '../../api/server';
import { postEvents, toCaptureJson, type CaptureAnswer } from '../../bench/capture-client';
import { createTestKey } from '../api-helpers';
import { createHarness, type Harness } from '../ingest-harness';
import { dedicatedBroker, startBroker, stopBroker, TEST_KAFKA_USERS } from '../kafka-broker';
import { computeReferenceHourly } from '../reference-totals';
import { EXPORT_CLOSE_AT, requireSharedExport } from '../shared-data';

const HOUR = 3_600_000;

async function serve(h: Harness, env: Partial<Config> = {}): Promise<{ api: ApiServer; key: string }> {
  const api = createApiServer(
    { config: { ...h.config, ...env }, ch: h.ch, branches: h.branches, logger: h.logger },
    { forecastPollMs: 60_000 },
  );
  await api.start();
  await api.listen(0, '127.0.0.1');
  const { key } = await createTestKey(h.ch, { admin: true, capture: true }, 'capture test');
  return { api, key };
}

function chunks<T>(xs: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

async function rawEvents(h: Harness): Promise<Map<string, number>> {
  const rs = await h.ch.client.query({
    query: `SELECT branch_id, event_id, total_minor FROM ${h.ch.table('sales_events')} FINAL`,
    format: 'JSONEachRow',
  });
  const rows = await rs.json<{ branch_id: string; event_id: string; total_minor: string }>();
  return new Map(rows.map((r) => [`${r.branch_id}/${r.event_id}`, Number(r.total_minor)]));
}

describe('POST /v1/events into the real pipeline', () => {
  const file = requireSharedExport();
  let h: Harness | undefined;
  let api: ApiServer | undefined;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

  afterAll(async () => {
    agent.destroy();
    await api?.stop();
    await h?.close();
  });

  it('the whole shared export posted in batches equals the reference to the cent; posting again changes nothing', async () => {
    h = await createHarness();
    await h.startIngest();
    const served = await serve(h);
    api = served.api;
    const base = api.url();
    const { events, errors } = await loadPosExport(file, { branches: h.branches });
    expect(errors).toEqual([]);
    // One poster per branch, like its till: its receipts in event-time order (its hours close
    // behind its own clock), in batches of 500; the branches post concurrently.
    const byBranch = new Map<string, SaleEvent[]>();
    for (const e of [...events].sort((a, b) => a.occurred_at - b.occurred_at)) {
      let list = byBranch.get(e.branch_id);
      if (!list) byBranch.set(e.branch_id, (list = []));
      list.push(e);
    }
    const batches: unknown[][] = [];
    let accepted = 0;
    const failures: string[] = [];
    let variant = 0;
    await Promise.all(
      [...byBranch.values()].map(async (list) => {
        for (const batch of chunks(
          list.map((e) => toCaptureJson(e, variant++)),
          500,
        )) {
          batches.push(batch);
          const a = await postEvents(base, served.key, batch, agent, 60_000);
          if (a.status !== 202) {
            failures.push(`${a.status} ${JSON.stringify(a.body).slice(0, 200)}`);
            continue;
          }
          const body = a.body as CaptureAnswer;
          accepted += body.accepted;
          for (const r of body.results)
            if (r.status !== 'accepted') failures.push(`#${r.index}: ${r.code} ${r.reason}`);
        }
      }),
    );
    expect(failures.slice(0, 5)).toEqual([]);
    expect(accepted).toBe(events.length);
    // The tills' last word: heartbeats that close the export's last day.
    const closeAt = EXPORT_CLOSE_AT + h.config.INGEST_ALLOWED_LATENESS_S * 1000;
    const beats = h.branches
      .list()
      .map((b) => ({ type: 'heartbeat', branch_id: b.id, at: closeAt, source: 'test' }));
    const hb = await postEvents(base, served.key, beats, agent);
    expect([hb.status, (hb.body as CaptureAnswer).accepted]).toEqual([202, beats.length]);
    await h.waitForIngestCaughtUp(300_000);

    const reference = computeReferenceHourly(file);
    const ours = await h.hourly();
    const mismatches: string[] = [];
    let compared = 0;
    for (const branch of h.branches.list()) {
      const mine: Map<number, { sales: number; orders: number; closed: number }> =
        ours.get(branch.id) ?? new Map();
      const ref: Map<number, { salesCents: number; orders: number }> = reference.get(branch.id) ?? new Map();
      for (const hour of new Set([...mine.keys(), ...ref.keys()])) {
        const a = mine.get(hour);
        const b = ref.get(hour);
        const got = { sales: a?.sales ?? 0, orders: a?.orders ?? 0 };
        const want = { sales: b?.salesCents ?? 0, orders: b?.orders ?? 0 };
        if (got.sales !== want.sales || got.orders !== want.orders)
          mismatches.push(
            `${branch.id} ${new Date(hour).toISOString()} got ${JSON.stringify(got)} want ${JSON.stringify(want)}`,
          );
        compared++;
      }
      if (ref.size === 0) continue;
      const firstHour = Math.min(...ref.keys());
      const closed = [...mine.entries()].filter(([hour, v]) => v.closed === 1 && hour < EXPORT_CLOSE_AT);
      expect({ branch: branch.id, closedHours: closed.length }).toEqual({
        branch: branch.id,
        closedHours: (EXPORT_CLOSE_AT - firstHour) / HOUR,
      });
    }
    expect(mismatches.slice(0, 10)).toEqual([]);
    expect(compared).toBeGreaterThan(10_000);
    const stored = await rawEvents(h);
    expect(stored.size).toBe(events.length);

    // Re-sending is harmless: the first 4 batches again, all accepted, nothing changes.
    for (const batch of batches.slice(0, 4)) {
      const a = await postEvents(base, served.key, batch, agent);
      expect([a.status, (a.body as CaptureAnswer).rejected]).toEqual([202, 0]);
    }
    await h.waitForIngestCaughtUp();
    expect((await rawEvents(h)).size).toBe(events.length);
    expect(await h.hourly()).toEqual(ours);
  }, 900_000);
});

describe('POST /v1/events while Kafka stops and comes back (broker of its own)', () => {
  const file = requireSharedExport();
  const broker = dedicatedBroker('capture', Number(process.env.TILLCAST_CAPTURE_BROKER_PORT ?? 19492));
  let h: Harness | undefined;
  let api: ApiServer | undefined;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

  beforeAll(async () => {
    await startBroker({ target: broker });
  }, 180_000);

  afterAll(async () => {
    agent.destroy();
    await api?.stop();
    await h?.close().catch(() => undefined);
    await stopBroker({ target: broker }).catch((err: unknown) =>
      process.stderr.write(`[capture] cannot stop the dedicated broker: ${String(err)}\n`),
    );
  }, 120_000);

  it('answers 503 with Retry-After while Kafka is away; every event ever accepted is stored', async () => {
    h = await createHarness({ KAFKA_BROKERS: broker.address });
    const served = await serve(h, { CAPTURE_SEND_TIMEOUT_MS: 3000 });
    api = served.api;
    const base = api.url();
    const { events } = await loadPosExport(file, { branches: h.branches });
    const sample: SaleEvent[] = [...events].sort((a, b) => a.occurred_at - b.occurred_at).slice(0, 6000);
    const batches = chunks(
      sample.map((e, i) => toCaptureJson(e, i)),
      100,
    );
    const accepted = new Set<string>();
    const statuses: number[] = [];
    let retryAfterMissing = 0;
    let stopped: Promise<void> | undefined;
    let restarted: Promise<void> | undefined;
    const third = Math.floor(batches.length / 3);
    let next = 0;
    let sent = 0;
    // 4 posters; a batch answered 503 (or not answered) is sent again until it is 202, as a POS does.
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (;;) {
          const b = next++;
          if (b >= batches.length) return;
          const batch = batches[b] as { branch_id: string; event_id: string }[];
          for (;;) {
            sent++;
            if (sent === third) stopped = stopBroker({ target: broker });
            if (stopped && !restarted && statuses.filter((s) => s === 503).length >= 4) {
              restarted = stopped.then(() => startBroker({ target: broker }));
            }
            const a = await postEvents(base, served.key, batch, agent, 30_000).catch(() => undefined);
            if (a) statuses.push(a.status);
            if (a?.status === 202) {
              const body = a.body as CaptureAnswer;
              for (const r of body.results)
                if (r.status === 'accepted')
                  accepted.add(`${batch[r.index]?.branch_id}/${batch[r.index]?.event_id}`);
              break;
            }
            if (a?.status === 503 && a.retryAfter === undefined) retryAfterMissing++;
            await new Promise((resolve) => setTimeout(resolve, 500));
          }
        }
      }),
    );
    await restarted;
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThanOrEqual(4);
    expect(statuses.filter((s) => s !== 202 && s !== 503)).toEqual([]);
    expect(retryAfterMissing).toBe(0);
    expect(accepted.size).toBe(sample.length);

    await h.startIngest();
    await h.waitForIngestCaughtUp(300_000);
    const stored = await rawEvents(h);
    const missing = [...accepted].filter((id) => !stored.has(id));
    expect(missing.slice(0, 10)).toEqual([]);
    expect(stored.size).toBe(sample.length);
  }, 900_000);
});

describe('POST /v1/events publishes as the pos principal', () => {
  const harnesses: Harness[] = [];
  const apis: ApiServer[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });

  afterAll(async () => {
    agent.destroy();
    for (const a of apis) await a.stop();
    for (const h of harnesses) await h.close();
  });

  const events = (branchId: string, currency: string) =>
    [1, 2, 3].map((i) => ({
      event_id: `pos-${i}`,
      branch_id: branchId,
      occurred_at: Date.UTC(2021, 0, 10, 12, i),
      status: 'SALE',
      currency,
      total_minor: 1000 * i,
      net_minor: 800 * i,
      tax_minor: 200 * i,
    }));

  it('with nothing but the ACL table (WRITE on the sales topic) the events are stored; without it, 503 and nothing accepted', async () => {
    // KAFKA_POS_PASSWORD set: the API's capture client authenticates as tillcast-pos, not the admin.
    const granted = await createHarness({ KAFKA_POS_PASSWORD: TEST_KAFKA_USERS.pos.password });
    harnesses.push(granted);
    await provisionKafka(granted.kafka, granted.config, granted.logger, ['pos']);
    const branch = granted.branches.list()[0]!;
    const a = await serve(granted);
    apis.push(a.api);
    const ok = await postEvents(a.api.url(), a.key, events(branch.id, branch.currency), agent);
    expect([ok.status, (ok.body as CaptureAnswer).accepted]).toEqual([202, 3]);
    await granted.startIngest();
    await granted.waitForIngestCaughtUp();
    expect([...(await rawEvents(granted)).keys()].sort()).toEqual(
      ['pos-1', 'pos-2', 'pos-3'].map((id) => `${branch.id}/${id}`),
    );

    // Same principal, topics without ACLs: the broker refuses the pos producer.
    const refused = await createHarness({
      KAFKA_POS_PASSWORD: TEST_KAFKA_USERS.pos.password,
    });
    harnesses.push(refused);
    const b = await serve(refused, { CAPTURE_SEND_TIMEOUT_MS: 5000 });
    apis.push(b.api);
    const no = await postEvents(b.api.url(), b.key, events(branch.id, branch.currency), agent);
    expect([no.status, no.retryAfter]).toEqual([503, '2']);
  }, 180_000);
});
