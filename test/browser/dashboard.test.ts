/**
 * The dashboard (api/static/) in a real headless Chromium against the real API:
 * a fresh embedded ClickHouse database with synthetic data for three branches
 * (Sushi, Dublin/EUR: a closed past week + a 14-day run; Williamsburg,
 * New York/USD: another run crossing the March 2021 spring-forward; Wexford,
 * Dublin: a short run over the October 2021 fall-back; Taco: actuals only, no
 * forecast), the API on port 0, and the page driven like a
 * user (select, date inputs, toggle). Every number the page shows is compared
 * with what GET /predict answers for the same parameters. The page is signed in with
 * an admin key; the last tests sign in by hand: a valid key, none, a wrong one, a key
 * for another branch, and the one-time login link of `npm start`.
 *
 * Chromium is Debian's package (scripts/ensure-chromium.sh installs it). When
 * it cannot be installed the tests fail, unless TILLCAST_SKIP_BROWSER=1, which
 * skips them with a loud warning.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DateTime } from 'luxon';
import type { Browser, Page, Response } from 'playwright-core';
import { Fixtures, syntheticForecast, type ForecastValues } from '../../bench/api-fixtures';
import type { BranchesResponse, PredictResponse } from '../../api/schemas';
import { createApiServer, type ApiServer } from '../../api/server';
import { migrate } from '../../clickhouse/migrate';
import { BranchDirectory, NORY_BRANCHES, type Branch } from '../../lib/branches';
import { createClickHouse, type ClickHouse } from '../../clickhouse/client';
import { PROJECT_ROOT } from '../../lib/config';
import { createLogger } from '../../lib/logger';
import { createTestKey, destroyAgent, eventually, expectValidBody, request, useApiKey } from '../api-helpers';
import { testConfig } from '../test-config';
import {
  chartPoints,
  describeBrowser,
  ensureChromium,
  expectDailyMatch,
  expectNoOverlap,
  expectPointsMatch,
  expectTotalsMatch,
  expectWeeklyMatch,
  isPredict,
  KEY_STORAGE,
  launchChromium,
  preflight,
  signedIn,
  tableRows,
  waitRendered,
  type DomEl,
} from './dashboard-page';

const SCREENSHOT = path.join(PROJECT_ROOT, 'out', 'dashboard.png');
const HOUR = 3_600_000;

const SUSHI = NORY_BRANCHES.find((b) => b.id === '352h67i328fh') as Branch;
const TACO = NORY_BRANCHES.find((b) => b.id === '2hg8j32gw8g') as Branch;
/** Wexford: a short run over the 25-hour 2021-10-31 (Irish clocks go back). */
const WEXFORD: Branch = {
  id: 'dub-wex',
  name: 'Nory Wexford',
  timezone: 'Europe/Dublin',
  currency: 'EUR',
  country: 'IE',
};
const BROOKLYN: Branch = {
  id: 'nyc-wbg',
  name: 'Nory Williamsburg',
  timezone: 'America/New_York',
  currency: 'USD',
  country: 'US',
};

/** Sushi: every hour before this is closed (Dublin = UTC in February); its run covers the next 14 days. */
const SUSHI_CLOSED = Date.UTC(2021, 1, 5, 12);
/** Williamsburg: closed through 12:00 EST on 2021-03-10; its run crosses the 23-hour 2021-03-14. */
const NYC_CLOSED = Date.UTC(2021, 2, 10, 17);
const RUN_HOURS = 14 * 24;
/** Wexford: closed through 23:00 IST on 2021-10-29; a 5-day run from there. */
const WEX_CLOSED = Date.UTC(2021, 9, 29, 22);

// ------------------------------------------------------------------ the test

describeBrowser('dashboard in a real browser', () => {
  let apiConfig: () => ReturnType<typeof testConfig>;
  let ch: ClickHouse;
  let api: ApiServer;
  let base: string;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];
  const predictUrls: string[] = [];

  async function getJson<T>(p: string): Promise<{ status: number; body: T }> {
    const a = await request(base, p);
    expectValidBody(p, a);
    return { status: a.status, body: a.json as T };
  }

  /** The /predict answer for the query the page sent (same parameters, fetched by the test). */
  async function predictLike(pageResponse: Response): Promise<PredictResponse> {
    const u = new URL(pageResponse.url());
    const { status, body } = await getJson<PredictResponse>(`/predict${u.search}`);
    expect(status).toBe(200);
    return body;
  }

  beforeAll(async () => {
    const pf = preflight ?? ensureChromium();
    if (!pf.ok)
      throw new Error(
        `${pf.message}\nSet TILLCAST_SKIP_BROWSER=1 to skip this test (it is then reported as skipped, not passed).`,
      );

    const config = testConfig({ API_RATE_LIMIT_PER_MIN: '0' });
    apiConfig = () => config;
    const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'warn');
    ch = createClickHouse(config, logger);
    await migrate(ch, logger);
    const fx = new Fixtures(ch);
    const generatedAt = Math.floor(Date.now() / 1000) * 1000 - HOUR;

    await fx.actuals(SUSHI, SUSHI_CLOSED - 7 * 24 * HOUR, SUSHI_CLOSED);
    await fx.watermark(SUSHI.id, SUSHI_CLOSED);
    await fx.forecastRun(SUSHI, {
      origin: SUSHI_CLOSED,
      hours: RUN_HOURS,
      generatedAt,
      runId: 'run-sushi-1',
    });

    const scaled = (v: ForecastValues, k: number): ForecastValues => {
      const r = (x: number, d: number) => Math.round(x * k * 10 ** d) / 10 ** d;
      return {
        sales_p10: r(v.sales_p10, 2),
        sales_p50: r(v.sales_p50, 2),
        sales_p90: r(v.sales_p90, 2),
        orders_p10: r(v.orders_p10, 3),
        orders_p50: r(v.orders_p50, 3),
        orders_p90: r(v.orders_p90, 3),
      };
    };
    await fx.actuals(BROOKLYN, NYC_CLOSED - 7 * 24 * HOUR, NYC_CLOSED);
    await fx.watermark(BROOKLYN.id, NYC_CLOSED);
    await fx.forecastRun(BROOKLYN, {
      origin: NYC_CLOSED,
      hours: RUN_HOURS,
      generatedAt: generatedAt - 2 * HOUR,
      runId: 'run-wbg-7',
      modelVersion: 'm-synthetic-2',
      values: (h) => scaled(syntheticForecast(BROOKLYN, h, 5), 1.6),
    });

    await fx.actuals(WEXFORD, WEX_CLOSED - 24 * HOUR, WEX_CLOSED);
    await fx.watermark(WEXFORD.id, WEX_CLOSED);
    await fx.forecastRun(WEXFORD, { origin: WEX_CLOSED, hours: 5 * 24, generatedAt, runId: 'run-wex-1' });

    await fx.actuals(TACO, SUSHI_CLOSED - 2 * 24 * HOUR, SUSHI_CLOSED);
    await fx.watermark(TACO.id, SUSHI_CLOSED);

    api = createApiServer(
      { config, ch, logger, branches: new BranchDirectory([SUSHI, BROOKLYN, WEXFORD, TACO]) },
      { forecastPollMs: 60_000, actualsTtlMs: 60_000 },
    );
    await api.start();
    await api.listen(0, '127.0.0.1');
    base = api.url();
    const admin = await createTestKey(ch, { admin: true }, 'dashboard test');
    useApiKey(admin.key);

    browser = await launchChromium();
    const context = await browser.newContext({
      viewport: { width: 1280, height: 900 },
      locale: 'en-IE',
      timezoneId: 'Asia/Tokyo',
    });
    page = await context.newPage();
    page.setDefaultTimeout(20_000);
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') consoleErrors.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
    await page.addInitScript(signedIn(admin.key));
    page.on('request', (r) => {
      if (new URL(r.url()).pathname.endsWith('/predict')) predictUrls.push(r.url());
    });
    await page.addInitScript(
      "document.addEventListener('securitypolicyviolation', (e) => { (window.__csp = window.__csp || []).push(e.violatedDirective + ' ' + e.blockedURI); });",
    );
  }, 600_000);

  afterAll(async () => {
    await browser?.close();
    await api?.stop();
    destroyAgent();
    if (ch) {
      await ch.client.command({ query: `DROP DATABASE IF EXISTS ${ch.database}` });
      await ch.close();
    }
  });

  afterEach(async () => {
    // No CSP violation, script error or console error on any step.
    if (!page) return; // beforeAll failed: its error says why
    const csp = (await page?.evaluate('window.__csp || []').catch(() => [])) as string[];
    expect(csp).toEqual([]);
    expect(consoleErrors.filter((e) => !/status of 503|status of 400/.test(e))).toEqual([]);
  });

  it('loads the branches and the default range, and draws exactly what /predict returns (hourly, then daily)', async () => {
    const firstPredict = page.waitForResponse(isPredict);
    const root = await page.goto(`${base}/`);
    expect(root!.status()).toBe(200);
    expect(root!.headers()['content-security-policy']).toMatch(/script-src 'self'; style-src 'self'/);

    // Branch list = GET /branches (sorted by name), branches without a forecast marked.
    const { body: branches } = await getJson<BranchesResponse>('/branches');
    await page.waitForSelector('[data-testid="branch-select"]:not([disabled])');
    const options = await page
      .locator('[data-testid="branch-select"] option')
      .evaluateAll((els: DomEl[]) => els.map((e) => [e.getAttribute('value'), e.textContent]));
    const sorted = [...branches.branches].sort((a, b) => a.name.localeCompare(b.name));
    expect(options).toEqual(
      sorted.map((b) => [b.id, b.latest_forecast ? b.name : `${b.name} (no forecast yet)`]),
    );
    expect(await page.getByLabel('Branch', { exact: true }).inputValue()).toBe(SUSHI.id);

    // Default range: 7 days from the local day of the first open hour after last_closed_hour.
    const sushi = branches.branches.find((b) => b.id === SUSHI.id)!;
    expect(sushi.last_closed_hour).toBe(new Date(SUSHI_CLOSED - HOUR).toISOString());
    const start = DateTime.fromISO(sushi.last_closed_hour!)
      .plus({ hours: 1 })
      .setZone(SUSHI.timezone)
      .toISODate()!;
    const end = DateTime.fromISO(start).plus({ days: 6 }).toISODate()!;
    expect([start, end]).toEqual(['2021-02-05', '2021-02-11']);
    expect(await page.getByLabel('From', { exact: true }).inputValue()).toBe(start);
    expect(await page.getByLabel('To', { exact: true }).inputValue()).toBe(end);

    const resp = await firstPredict;
    const q = new URL(resp.url()).searchParams;
    expect([q.get('branch_id'), q.get('start'), q.get('end')]).toEqual([SUSHI.id, start, end]);
    await waitRendered(page, SUSHI.id, start, end, 'hourly');
    const body = await predictLike(resp);
    expect(body.hourly).toHaveLength(7 * 24);

    // Branch info: the served run's generated_at / data_through.
    expect(await page.getByTestId('generated-at').getAttribute('data-value')).toBe(
      sushi.latest_forecast!.generated_at,
    );
    expect(await page.getByTestId('data-through').getAttribute('data-value')).toBe(
      sushi.latest_forecast!.data_through,
    );
    await expect(page.getByTestId('branch-info').textContent()).resolves.toContain('forecast generated');

    // Chart: one p50 point per hour with the API's numbers.
    expectPointsMatch(await chartPoints(page), body.hourly!);
    expect(await page.getByTestId('chart-svg').getAttribute('data-points')).toBe('168');

    // Actual hours are drawn differently: bars (own colour) for exactly the actual hours, the p50 line for the rest.
    const actualHours = body.hourly!.filter((h) => h.source === 'actual');
    expect(actualHours.length).toBe(12); // 2021-02-05 00:00..11:00
    const bars = await page
      .getByTestId('actual-bar')
      .evaluateAll((els: DomEl[]) =>
        els.map((e) => [e.getAttribute('data-start'), e.getAttribute('data-value')]),
      );
    expect(bars).toEqual(actualHours.map((h) => [h.start, String(h.sales)]));
    const lines = await page
      .getByTestId('p50-line')
      .evaluateAll((els: DomEl[]) =>
        els.map((e) => [e.getAttribute('data-from'), e.getAttribute('data-to')]),
      );
    expect(lines).toEqual([[body.hourly![12]!.start, body.hourly![167]!.start]]);
    const barFill = await page
      .getByTestId('actual-bar')
      .first()
      .evaluate((e: DomEl) => e.ownerDocument.defaultView!.getComputedStyle(e).fill);
    const lineStroke = await page
      .getByTestId('p50-line')
      .first()
      .evaluate((e: DomEl) => e.ownerDocument.defaultView!.getComputedStyle(e).stroke);
    expect(barFill).toMatch(/^rgb/);
    expect(lineStroke).toMatch(/^rgb/);
    expect(barFill).not.toBe(lineStroke);
    const points = await chartPoints(page);
    expect(points.filter((p) => p.cls.includes('pt-actual')).map((p) => p.start)).toEqual(
      actualHours.map((h) => h.start),
    );
    await expect(page.getByTestId('legend-actual').textContent()).resolves.toMatch(/Actual/);
    await expect(page.getByTestId('legend-band').textContent()).resolves.toMatch(/p10–p90/);

    // Axis: currency title; hour labels are the rows' own local hours.
    await expect(page.getByTestId('y-axis-title').textContent()).resolves.toBe('Sales (EUR)');
    const hourLabels = await page
      .getByTestId('x-hour-label')
      .evaluateAll((els: DomEl[]) => els.map((e) => [e.getAttribute('data-start'), e.textContent]));
    expect(hourLabels.length).toBeGreaterThan(7);
    for (const [s, text] of hourLabels) expect(text!.slice(0, 2)).toBe(s!.slice(11, 13));

    // Tables and totals = /predict.
    expectWeeklyMatch(await tableRows(page, 'weekly'), body);
    expectDailyMatch(await tableRows(page, 'daily'), body);
    await expectTotalsMatch(page, body);
    await expect(page.locator('[data-testid="daily-table"] tfoot').textContent()).resolves.toContain('€');
    expect(await page.getByTestId('missing-notice').isHidden()).toBe(true);

    // Keyboard: the chart is focusable and arrow keys read single hours.
    await page.getByTestId('chart').focus();
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    const tip = page.getByTestId('chart-tooltip');
    await expect(tip.isVisible()).resolves.toBe(true);
    await expect(tip.textContent()).resolves.toContain('01:00');
    await page.keyboard.press('Escape');
    await page.getByTestId('chart').blur();
    await expectNoOverlap(page, 'x-hour-label');
    await expectNoOverlap(page, 'x-day-label');

    fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    // Toggle daily (like a user: the radio's label) and compare again.
    await page.getByText('Daily', { exact: true }).click();
    await waitRendered(page, SUSHI.id, start, end, 'daily');
    const daily = await getJson<PredictResponse>(
      `/predict?branch_id=${SUSHI.id}&start=${start}&end=${end}&granularity=daily,weekly`,
    );
    expectPointsMatch(await chartPoints(page), daily.body.daily!);
    expect(daily.body.daily!.map((d) => d.source)).toEqual([
      'mixed',
      'forecast',
      'forecast',
      'forecast',
      'forecast',
      'forecast',
      'forecast',
    ]);
    expect((await chartPoints(page))[0]!.cls).toContain('pt-mixed');
    expectDailyMatch(await tableRows(page, 'daily'), daily.body);
    expectWeeklyMatch(await tableRows(page, 'weekly'), daily.body);
    await page.screenshot({
      path: path.join(path.dirname(SCREENSHOT), 'dashboard-daily.png'),
      fullPage: true,
    });
  });

  it('re-fetches on a change of branch and range and shows the new numbers (DST day included)', async () => {
    const before = predictUrls.length;
    // Branch change: the range was the default one, so it follows the new branch's default.
    const nycDefault = page.waitForResponse(
      (r) => isPredict(r) && new URL(r.url()).searchParams.get('branch_id') === BROOKLYN.id,
    );
    await page.getByLabel('Branch', { exact: true }).selectOption(BROOKLYN.id);
    const r1 = await nycDefault;
    expect(new URL(r1.url()).searchParams.get('start')).toBe('2021-03-10');
    await waitRendered(page, BROOKLYN.id, '2021-03-10', '2021-03-16', 'daily');

    // Range change through the date inputs.
    const changed = page.waitForResponse(
      (r) =>
        isPredict(r) &&
        new URL(r.url()).searchParams.get('end') === '2021-03-17' &&
        new URL(r.url()).searchParams.get('start') === '2021-03-12',
    );
    await page.getByLabel('From', { exact: true }).fill('2021-03-12');
    await page.getByLabel('To', { exact: true }).fill('2021-03-17');
    const r2 = await changed;
    await waitRendered(page, BROOKLYN.id, '2021-03-12', '2021-03-17', 'daily');
    expect(predictUrls.length).toBeGreaterThan(before + 1);
    const body = await predictLike(r2);
    expect(body.branch.currency).toBe('USD');
    expectPointsMatch(await chartPoints(page), body.daily!);
    expectDailyMatch(await tableRows(page, 'daily'), body);
    expectWeeklyMatch(await tableRows(page, 'weekly'), body);
    await expectTotalsMatch(page, body);
    await expect(page.getByTestId('y-axis-title').textContent()).resolves.toBe('Sales (USD)');
    await expect(page.locator('[data-testid="daily-table"] tfoot').textContent()).resolves.toContain('US$');
    await expect(page.locator('tr[data-date="2021-03-14"]').textContent()).resolves.toContain('23 h day');
    expect(await page.getByTestId('generated-at').getAttribute('data-value')).toBe(
      body.forecast.generated_at,
    );

    // Back to hourly: needs hourly rows, so the page fetches them.
    const hourlyResp = page.waitForResponse(
      (r) => isPredict(r) && /hourly/.test(new URL(r.url()).searchParams.get('granularity') ?? ''),
    );
    await page.getByText('Hourly', { exact: true }).click();
    const hb = await predictLike(await hourlyResp);
    await waitRendered(page, BROOKLYN.id, '2021-03-12', '2021-03-17', 'hourly');
    expect(hb.hourly).toHaveLength(6 * 24 - 1);
    expectPointsMatch(await chartPoints(page), hb.hourly!);
    const starts = (await chartPoints(page)).map((p) => p.start);
    const i = starts.indexOf('2021-03-14T01:00:00-05:00');
    expect(starts.slice(i, i + 2)).toEqual(['2021-03-14T01:00:00-05:00', '2021-03-14T03:00:00-04:00']);
    const hourLabels = await page
      .getByTestId('x-hour-label')
      .evaluateAll((els: DomEl[]) => els.map((e) => [e.getAttribute('data-start'), e.textContent]));
    for (const [s, text] of hourLabels) expect(text!.slice(0, 2)).toBe(s!.slice(11, 13));
    expect(hourLabels.some(([s]) => s!.startsWith('2021-03-14T02'))).toBe(false);
    await page.screenshot({
      path: path.join(path.dirname(SCREENSHOT), 'dashboard-nyc-dst.png'),
      fullPage: true,
    });
  });

  it('shows "no forecast for …" beyond the horizon, the 503 of a branch without forecast and 400 messages', async () => {
    await page.getByLabel('Branch', { exact: true }).selectOption(SUSHI.id);
    // The user's range stays (it is no longer the default): wait for Sushi over it, then move it past the horizon.
    await waitRendered(page, SUSHI.id, '2021-03-12', '2021-03-17', 'hourly');
    const late = page.waitForResponse(
      (r) =>
        isPredict(r) &&
        new URL(r.url()).searchParams.get('start') === '2021-02-17' &&
        new URL(r.url()).searchParams.get('end') === '2021-02-22',
    );
    await page.getByLabel('From', { exact: true }).fill('2021-02-17');
    await page.getByLabel('To', { exact: true }).fill('2021-02-22');
    const body = await predictLike(await late);
    await waitRendered(page, SUSHI.id, '2021-02-17', '2021-02-22', 'hourly');
    expect(body.coverage.missing).toEqual(['2021-02-19', '2021-02-20', '2021-02-21', '2021-02-22']);
    const notice = page.getByTestId('missing-notice');
    expect(await notice.isVisible()).toBe(true);
    await expect(notice.textContent()).resolves.toMatch(/No forecast for /);
    expect(await notice.getAttribute('data-dates')).toBe(body.coverage.missing.join(','));
    expect(await page.getByTestId('missing-zone').count()).toBe(1);
    expectPointsMatch(await chartPoints(page), body.hourly!);
    expectDailyMatch(await tableRows(page, 'daily'), body);
    await expectTotalsMatch(page, body);
    await expect(page.getByTestId('total-sales').textContent()).resolves.toBe('—');
    await page.screenshot({
      path: path.join(path.dirname(SCREENSHOT), 'dashboard-horizon.png'),
      fullPage: true,
    });

    // A branch without a forecast: the API's 503 message.
    const nofc = await request(
      base,
      `/predict?branch_id=${TACO.id}&start=2021-02-17&end=2021-02-22&granularity=weekly,daily,hourly`,
    );
    expect(nofc.status).toBe(503);
    const nofcMessage = (nofc.json as { error: { message: string } }).error.message;
    await page.getByLabel('Branch', { exact: true }).selectOption(TACO.id);
    await page.waitForSelector('body[data-state="error"] [data-testid="error"][data-code="no_forecast"]');
    await expect(page.getByTestId('error-message').textContent()).resolves.toBe(nofcMessage);
    await expect(page.getByTestId('error').textContent()).resolves.toContain('No forecast yet');
    expect(await page.locator('#results').isHidden()).toBe(true);
    await expect(page.getByTestId('branch-info').textContent()).resolves.toContain('no forecast yet');

    // An end before the start: the API's 400 message, shown as is.
    await page.getByLabel('Branch', { exact: true }).selectOption(SUSHI.id);
    await waitRendered(page, SUSHI.id, '2021-02-17', '2021-02-22', 'hourly');
    const bad = await request(
      base,
      `/predict?branch_id=${SUSHI.id}&start=2021-02-17&end=2021-02-10&granularity=weekly,daily,hourly`,
    );
    expect(bad.status).toBe(400);
    await page.getByLabel('To', { exact: true }).fill('2021-02-10');
    await page.waitForSelector('body[data-state="error"] [data-testid="error"][data-code="invalid_range"]');
    await expect(page.getByTestId('error-message').textContent()).resolves.toBe(
      (bad.json as { error: { message: string } }).error.message,
    );
  });
  it('copes with 25-hour days and the longest range (92 days, 2209 hourly points)', async () => {
    // The last test left an error on screen (end before start); a new branch keeps the user's (bad) range,
    // "Next 7 days" puts the branch's default back.
    await page.getByLabel('Branch', { exact: true }).selectOption(WEXFORD.id);
    await page.waitForSelector('body[data-state="error"] [data-testid="error"][data-code="invalid_range"]');
    await page.getByTestId('next7').click();
    await waitRendered(page, WEXFORD.id, '2021-10-29', '2021-11-04', 'hourly');
    const { body } = await getJson<PredictResponse>(
      `/predict?branch_id=${WEXFORD.id}&start=2021-10-29&end=2021-11-04`,
    );
    expect(body.hourly).toHaveLength(7 * 24 + 1);
    expectPointsMatch(await chartPoints(page), body.hourly!);
    expectDailyMatch(await tableRows(page, 'daily'), body);
    expectWeeklyMatch(await tableRows(page, 'weekly'), body);
    await expect(page.locator('tr[data-date="2021-10-31"]').textContent()).resolves.toContain('25 h day');
    const starts = (await chartPoints(page)).map((p) => p.start);
    const i = starts.indexOf('2021-10-31T01:00:00+01:00');
    expect(starts.slice(i, i + 3)).toEqual([
      '2021-10-31T01:00:00+01:00',
      '2021-10-31T01:00:00+00:00',
      '2021-10-31T02:00:00+00:00',
    ]);
    const hourLabels = await page
      .getByTestId('x-hour-label')
      .evaluateAll((els: DomEl[]) => els.map((e) => [e.getAttribute('data-start'), e.textContent]));
    for (const [s, text] of hourLabels) expect(text!.slice(0, 2)).toBe(s!.slice(11, 13));
    await expectNoOverlap(page, 'x-hour-label');
    // The tooltip names the offset of the repeated hour.
    await page.getByTestId('chart').focus();
    await page.keyboard.press('Home');
    for (let k = 0; k < i + 1; k++) await page.keyboard.press('ArrowRight');
    await expect(page.getByTestId('chart-tooltip').textContent()).resolves.toContain('01:00 (UTC+00:00)');
    await page.keyboard.press('Escape');
    await page.getByTestId('chart').blur();
    await page.screenshot({
      path: path.join(path.dirname(SCREENSHOT), 'dashboard-fallback.png'),
      fullPage: true,
    });

    // 92 days: every hour is a point, labels stay readable.
    await page.getByLabel('From', { exact: true }).fill('2021-09-01');
    await page.getByLabel('To', { exact: true }).fill('2021-12-01');
    await waitRendered(page, WEXFORD.id, '2021-09-01', '2021-12-01', 'hourly');
    const long = await getJson<PredictResponse>(
      `/predict?branch_id=${WEXFORD.id}&start=2021-09-01&end=2021-12-01`,
    );
    expect(long.body.hourly).toHaveLength(92 * 24 + 1);
    expectPointsMatch(await chartPoints(page), long.body.hourly!);
    expectDailyMatch(await tableRows(page, 'daily'), long.body);
    expectWeeklyMatch(await tableRows(page, 'weekly'), long.body);
    expect(await expectNoOverlap(page, 'x-day-label')).toBeGreaterThanOrEqual(12);
    await expectNoOverlap(page, 'x-hour-label');
    await page.screenshot({
      path: path.join(path.dirname(SCREENSHOT), 'dashboard-92days.png'),
      fullPage: true,
    });
    await page.getByText('Daily', { exact: true }).click();
    await waitRendered(page, WEXFORD.id, '2021-09-01', '2021-12-01', 'daily');
    expectPointsMatch(await chartPoints(page), long.body.daily!);
    expect(await expectNoOverlap(page, 'x-day-label')).toBeGreaterThanOrEqual(12);

    // A narrow window redraws the chart to its width; labels still do not collide.
    await page.getByText('Hourly', { exact: true }).click();
    await page.getByTestId('next7').click();
    await waitRendered(page, WEXFORD.id, '2021-10-29', '2021-11-04', 'hourly');
    await page.setViewportSize({ width: 760, height: 1000 });
    // (Polled from here: string predicates would be eval'ed in the page, which its CSP forbids.)
    await eventually(async () => Number(await page.getByTestId('chart-svg').getAttribute('width')) < 760);
    await expectNoOverlap(page, 'x-hour-label');
    await expectNoOverlap(page, 'x-day-label');
    await page.screenshot({
      path: path.join(path.dirname(SCREENSHOT), 'dashboard-narrow.png'),
      fullPage: true,
    });
  });

  describe('signing in with an API key', () => {
    /** A fresh tab (no key in its session storage) that records what it asks of the API. */
    async function freshPage() {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-IE' });
      const p = await context.newPage();
      p.setDefaultTimeout(20_000);
      const errors: string[] = [];
      const urls: string[] = [];
      p.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
      p.on('request', (r) => urls.push(r.url()));
      return { p, errors, urls, close: () => context.close() };
    }
    const stored = (p: Page) => p.evaluate(`sessionStorage.getItem(${JSON.stringify(KEY_STORAGE)})`);

    it('no key: the form asks for one; a wrong key is refused with a clear message; a valid key shows the forecast', async () => {
      const tab = await freshPage();
      try {
        await tab.p.goto(`${base}/`);
        await tab.p.waitForSelector('body[data-state="login"]');
        expect(await tab.p.getByTestId('dashboard').isHidden()).toBe(true);
        expect(await tab.p.getByTestId('login-message').textContent()).toBe('');

        await tab.p.getByLabel('API key').fill('tc_0123456789ab_' + 'A'.repeat(43));
        await tab.p.getByTestId('api-key-submit').click();
        await tab.p.waitForSelector('body[data-state="login"] [data-testid="login-message"]:not(:empty)');
        expect(await tab.p.getByTestId('login-message').textContent()).toBe(
          'The API refused this key (the API key is not valid (unknown, malformed or revoked)). Enter another.',
        );
        expect(await stored(tab.p)).toBeNull();

        const { key } = await createTestKey(ch, { branches: [SUSHI.id, BROOKLYN.id] }, 'browser user');
        await tab.p.getByLabel('API key').fill(key);
        await tab.p.getByTestId('api-key-submit').click();
        await tab.p.waitForSelector('body[data-state="ready"]');
        const options = await tab.p
          .locator('[data-testid="branch-select"] option')
          .evaluateAll((els: DomEl[]) => els.map((e) => e.getAttribute('value')));
        expect(options.sort()).toEqual([BROOKLYN.id, SUSHI.id].sort());
        expect((await chartPoints(tab.p)).length).toBeGreaterThan(24);
        expect(await stored(tab.p)).toBe(key);
        // The key went in a header only: never in a URL the page asked for or shows.
        expect(tab.urls.filter((u) => u.includes(key))).toEqual([]);
        expect(tab.p.url()).not.toContain(key);
        // A reload keeps the tab signed in.
        await tab.p.reload();
        await tab.p.waitForSelector('body[data-state="ready"]');
        expect(tab.errors).toEqual([]);
      } finally {
        await tab.close();
      }
    });

    it('a key for another branch: the page says plainly that it may not read the branch in the URL', async () => {
      const tab = await freshPage();
      try {
        const { key } = await createTestKey(ch, { branches: [WEXFORD.id] }, 'wexford only');
        await tab.p.addInitScript(signedIn(key));
        await tab.p.goto(`${base}/?branch=${SUSHI.id}`);
        await tab.p.waitForSelector('body[data-state="error"]');
        expect(await tab.p.getByTestId('error-message').textContent()).toBe(
          `This API key may not read branch "${SUSHI.id}". Pick one of its branches above.`,
        );
        expect(await tab.p.getByTestId('error').getAttribute('data-code')).toBe('forbidden');
        // The API says the same to that key.
        const a = await request(base, `/predict?branch_id=${SUSHI.id}&start=2021-02-05&end=2021-02-05`, {
          headers: { Authorization: `Bearer ${key}` },
        });
        expect(a.status).toBe(403);
        // Its own branch still works from the same page.
        await tab.p.getByLabel('Branch', { exact: true }).selectOption(WEXFORD.id);
        await tab.p.waitForSelector('body[data-state="ready"]');
        expect(tab.errors).toEqual([]);
      } finally {
        await tab.close();
      }
    });

    it('AUTH_MODE=none (local development): no sign-in, the forecast at once', async () => {
      const open = createApiServer(
        {
          config: { ...apiConfig(), AUTH_MODE: 'none' },
          ch,
          logger: createLogger('warn'),
          branches: new BranchDirectory([SUSHI, TACO]),
        },
        { forecastPollMs: 60_000 },
      );
      await open.start();
      await open.listen(0, '127.0.0.1');
      const tab = await freshPage();
      try {
        await tab.p.goto(`${open.url()}/`);
        await tab.p.waitForSelector('body[data-state="ready"]');
        expect(await tab.p.getByTestId('login').isHidden()).toBe(true);
        expect(await tab.p.getByTestId('sign-out').isHidden()).toBe(true);
        expect((await chartPoints(tab.p)).length).toBeGreaterThan(24);
        expect(tab.errors).toEqual([]);
      } finally {
        await tab.close();
        await open.stop();
      }
    });

    it('the one-time login link signs in once and leaves no code in the address bar', async () => {
      const tab = await freshPage();
      try {
        const k = await createTestKey(ch, { branches: [SUSHI.id] }, 'demo');
        const code = api.issueLoginCode({ key: k.key, keyId: k.keyId, name: 'demo' });
        await tab.p.goto(`${base}/#login=${code}`);
        await tab.p.waitForSelector('body[data-state="ready"]');
        expect(tab.p.url()).toBe(`${base}/?branch=${SUSHI.id}`);
        expect(await stored(tab.p)).toBe(k.key);
        expect(tab.urls.filter((u) => u.includes(code) || u.includes(k.key))).toEqual([]);

        // Used: a second tab with the same link is asked for a key.
        const again = await freshPage();
        try {
          await again.p.goto(`${base}/#login=${code}`);
          await again.p.waitForSelector('body[data-state="login"]');
          expect(await again.p.getByTestId('login-message').textContent()).toBe(
            'This login link was already used or has expired: enter an API key.',
          );
        } finally {
          await again.close();
        }
      } finally {
        await tab.close();
      }
    });
  });
});
