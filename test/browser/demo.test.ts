/**
 * The README's main command, end to end: `tillcast start` (what `npm start`
 * runs) as a child process on the simulator, against the test broker, with its
 * own embedded data directory and port. Within minutes a simulated branch has
 * a forecast on /predict, and the dashboard renders exactly that answer in a
 * real Chromium, signed in by the one-time login link the command prints (the
 * key itself is never printed: the test gets it as the printed curl line does).
 * A screenshot is saved to out/demo-dashboard.png.
 */
import { isolatedKafkaEnv } from '../../lib/topics';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import type { PredictResponse } from '../../api/schemas';
import { PROJECT_ROOT } from '../../lib/config';
import { destroyAgent, eventually, expectValidBody, request, useApiKey } from '../api-helpers';
import { killAllChildren, requireBuiltCli, spawnCli, type CliProcess } from '../child-process';
import { testBrokerAddress, uniqueName } from '../kafka-broker';
import {
  chartPoints,
  describeBrowser,
  ensureChromium,
  expectDailyMatch,
  expectPointsMatch,
  isPredict,
  launchChromium,
  preflight,
  tableRows,
  waitRendered,
} from './dashboard-page';

jest.setTimeout(600_000);

const SCREENSHOT = path.join(PROJECT_ROOT, 'out', 'demo-dashboard.png');

describeBrowser('npm start (simulator) → forecast → dashboard', () => {
  let start: CliProcess;
  let browser: Browser | undefined;
  let base: string;
  let dataDir: string;

  beforeAll(() => {
    const pf = preflight ?? ensureChromium();
    if (!pf.ok)
      throw new Error(`${pf.message}\nSet TILLCAST_SKIP_BROWSER=1 to skip this test (reported as skipped).`);
    requireBuiltCli();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillcast-demo-'));
    const name = uniqueName('demo');
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    base = `http://127.0.0.1:${port}`;
    start = spawnCli('start', ['start', '--no-stack'], {
      ...process.env,
      LOG_LEVEL: 'info',
      KAFKA_BROKERS: testBrokerAddress(),
      ...isolatedKafkaEnv(name),
      CLICKHOUSE_DATA_DIR: path.join(dataDir, 'clickhouse'),
      MODELS_DIR: path.join(dataDir, 'models'),
      HOST: '127.0.0.1',
      PORT: String(port),
      DEMO_BRANCHES: '3',
    });
  });

  afterAll(async () => {
    await browser?.close();
    destroyAgent();
    // An orderly stop first (the way Ctrl-C stops the demo), then nothing may be left running.
    if (start?.running) await start.kill('SIGTERM', 60_000).catch(() => undefined);
    await killAllChildren();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  /** The code of a printed line (`#login=<code>` or `{"code":"<code>"}`). */
  const printed = (re: RegExp): string => {
    const line = start.output.find((l) => re.test(l));
    return line === undefined ? '' : (re.exec(line)?.[1] ?? '');
  };

  it('prints a login link and a way to fetch the demo key, never the key itself', async () => {
    await eventually(() => Promise.resolve(printed(/#login=([A-Za-z0-9_-]+)/) !== ''), 180_000, 500);
    const curlCode = printed(/'\{"code":"([A-Za-z0-9_-]+)"\}'/);
    const got = await request(base, '/auth/login', {
      method: 'POST',
      auth: false,
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ code: curlCode }),
    });
    expect(got.status).toBe(200);
    const key = (got.json as { key: string }).key;
    expect(key).toMatch(/^tc_[0-9a-f]{12}_/);
    expect(start.output.filter((l) => l.includes(key))).toEqual([]);
    expect(start.lines.filter((l) => JSON.stringify(l).includes(key))).toEqual([]);
    useApiKey(key);
    // The demo key reads the demo branches, not others, and the metrics.
    const branches = await request(base, '/branches');
    expect((branches.json as { branches: { id: string }[] }).branches.map((b) => b.id).sort()).toEqual([
      'sim-0001',
      'sim-0002',
      'sim-0003',
    ]);
    expect((await request(base, '/metrics')).status).toBe(200);
    expect((await request(base, '/branches', { auth: false })).status).toBe(401);
  });

  it('serves a neural forecast for a simulated branch on /predict, and the dashboard draws it', async () => {
    // The simulator publishes 56 days of history, the forecaster trains a first model, refreshes.
    const branches = await eventually(
      async () => {
        const a = await request(base, '/branches');
        if (a.status !== 200) return undefined;
        const list = (
          a.json as {
            branches: {
              id: string;
              latest_forecast: { model_version: string } | null;
              last_closed_hour: string | null;
            }[];
          }
        ).branches;
        return list.find((b) => b.id === 'sim-0001')?.latest_forecast ? list : undefined;
      },
      300_000,
      1000,
    );
    const sim = branches.find((b) => b.id === 'sim-0001')!;
    expect(sim.latest_forecast!.model_version).toMatch(/-full-/);

    const today = new Date(Date.parse(sim.last_closed_hour!) + 3_600_000).toISOString().slice(0, 10);
    const end = new Date(Date.parse(`${today}T00:00:00Z`) + 6 * 86_400_000).toISOString().slice(0, 10);
    const q = `/predict?branch_id=sim-0001&start=${today}&end=${end}`;
    const answer = await request(base, q);
    expectValidBody('/predict', answer);
    expect(answer.status).toBe(200);
    const body = answer.json as Required<PredictResponse>;
    expect(body.daily).toHaveLength(7);
    expect(body.totals.sales).toBeGreaterThan(0);
    expect(body.daily.filter((d) => d.source !== 'actual').every((d) => d.sales !== null)).toBe(true);

    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(30_000);
    const rendered = page.waitForResponse(isPredict);
    // The printed link, as a newcomer opens it (with a branch and range added to its query).
    const code = printed(/#login=([A-Za-z0-9_-]+)/);
    await page.goto(`${base}/?branch=sim-0001&start=${today}&end=${end}#login=${code}`);
    await rendered;
    await waitRendered(page, 'sim-0001', today, end, 'hourly');
    // The page shows exactly what /predict answers for the same query (fetched now: the
    // forecaster may have refreshed since the first request).
    const now = (await request(base, q)).json as Required<PredictResponse>;
    expectPointsMatch(await chartPoints(page), now.hourly);
    expectDailyMatch(await tableRows(page, 'daily'), now);
    fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });
});
