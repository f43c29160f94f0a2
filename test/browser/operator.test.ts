/**
 * The dashboard's operator flows (issue 16) in a real headless Chromium against the real API: a
 * fresh embedded ClickHouse database (Sushi, Dublin/EUR: a closed week and a 14-day run), the API
 * on port 0, the page driven like a user (Edit on a day, typing, buttons). With a key that has the
 * write scope: an override on a future day shows as the plan, equal to the plan /predict answers,
 * and clearing it takes it away; a closure and an event show on their day as GET …/calendar has
 * them; what the API refuses (400 naming the field, 409 for a day that has closed) is said in the
 * form. Once an overridden day has closed, its scorecard equals GET …/accuracy. A read-only key gets no editing controls, and
 * a write it should not make is answered 403, said as such.
 *
 * The forecaster is not running here: a closure making the day's forecast 0 is the forecaster's
 * test; this one checks what the page sends and shows. Calendar changes are announced to a
 * recording publisher instead of Kafka.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { Fixtures } from '../../bench/api-fixtures';
import type { PredictResponse } from '../../api/schemas';
import type { AccuracyResponse } from '../../api/overrides-schema';
import type { CalendarListResponse } from '../../api/calendar-schema';
import type { CalendarPublisher } from '../../api/calendar-publisher';
import { createApiServer, type ApiServer } from '../../api/server';
import { generateKey } from '../../api/keys';
import { migrate } from '../../clickhouse/migrate';
import { createClickHouse, type ClickHouse } from '../../clickhouse/client';
import { ApiKeys, type KeyScopes } from '../../clickhouse/store/api-keys';
import { BranchDirectory, NORY_BRANCHES, type Branch } from '../../lib/branches';
import { PROJECT_ROOT } from '../../lib/config';
import { createLogger } from '../../lib/logger';
import type { CalendarChanged } from '../../schemas/events';
import { destroyAgent, eventually, request } from '../api-helpers';
import { testConfig } from '../test-config';
import {
  describeBrowser,
  ensureChromium,
  launchChromium,
  preflight,
  signedIn,
  waitRendered,
  type DomEl,
} from './dashboard-page';

const HOUR = 3_600_000;
const SUSHI = NORY_BRANCHES.find((b) => b.id === '352h67i328fh') as Branch;
/** Every hour before this is closed (Dublin = UTC in February); the run covers the next 14 days. */
const CLOSED = Date.UTC(2021, 1, 5, 12);
const START = '2021-02-05';
const END = '2021-02-11';
/** Screenshots of the flows, for people (like the dashboard test's). */
const OUT = path.join(PROJECT_ROOT, 'out');
const PAGE = `/?branch=${SUSHI.id}&start=${START}&end=${END}&view=daily`;

describeBrowser('dashboard: operators set and clear overrides and calendar entries', () => {
  let ch: ClickHouse;
  let api: ApiServer;
  let base: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let writer: string;
  let reader: string;
  const announced: CalendarChanged[] = [];
  const consoleErrors: string[] = [];

  async function createKey(scopes: Partial<KeyScopes>, name: string): Promise<string> {
    const k = generateKey();
    await new ApiKeys(ch).create({
      keyId: k.keyId,
      keyHash: k.keyHash,
      name,
      branches: scopes.branches ?? [],
      groups: [],
      admin: false,
      metrics: false,
      capture: false,
      write: scopes.write ?? false,
      createdAt: Date.now(),
      createdBy: 'operator test',
    });
    return k.key;
  }

  async function call<T>(path: string, key = writer, method = 'GET', body?: unknown) {
    const headers: Record<string, string> = { Authorization: `Bearer ${key}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const a = await request(base, path, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: a.status, body: a.json as T };
  }

  const predict = async () => {
    const a = await call<PredictResponse>(
      `/v1/predict?branch_id=${SUSHI.id}&start=${START}&end=${END}&granularity=weekly,daily`,
    );
    expect(a.status).toBe(200);
    return a.body;
  };

  const row = (p: Page, date: string) => p.locator(`[data-testid="daily-row"][data-date="${date}"]`);

  /** The plan cells of the daily table: [date, data-value, data-orders, data-overridden]. */
  const planCells = (p: Page) =>
    p
      .locator('[data-testid="daily-row"]')
      .evaluateAll((rows: (DomEl & { querySelector(s: string): DomEl | null })[]) =>
        rows.map((r) => {
          const c = r.querySelector('[data-field="plan_sales"]');
          return [
            r.getAttribute('data-date'),
            c?.getAttribute('data-value') ?? null,
            c?.getAttribute('data-orders') ?? null,
            c?.getAttribute('data-overridden') ?? null,
          ];
        }),
      );

  /** Opens a day's editor with its Edit button, by keyboard like a user without a mouse. */
  async function openEditor(p: Page, date: string) {
    const edit = row(p, date).getByTestId('edit-day');
    await edit.focus();
    await p.keyboard.press('Enter');
    await p.waitForSelector(`[data-testid="day-editor"][data-date="${date}"]:not([hidden])`);
    expect(await edit.getAttribute('aria-expanded')).toBe('true');
  }

  /** Clicks a button of the editor and waits for its form's message to say how it went. */
  async function press(p: Page, testId: string, form: 'override' | 'calendar', kind: 'ok' | 'error') {
    const msg = p.getByTestId(`${form}-message`);
    await p.getByTestId(testId).click();
    await p.waitForSelector(`[data-testid="${form}-message"][data-kind="${kind}"]`);
    if (kind === 'ok') await waitRendered(p, SUSHI.id, START, END, 'daily');
    return (await msg.textContent()) ?? '';
  }

  beforeAll(async () => {
    const pf = preflight ?? ensureChromium();
    if (!pf.ok)
      throw new Error(
        `${pf.message}\nSet TILLCAST_SKIP_BROWSER=1 to skip this test (it is then reported as skipped, not passed).`,
      );
    const config = testConfig({ API_RATE_LIMIT_PER_MIN: '0' });
    const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'warn');
    ch = createClickHouse(config, logger);
    await migrate(ch, logger);
    const fx = new Fixtures(ch);
    await fx.actuals(SUSHI, CLOSED - 7 * 24 * HOUR, CLOSED);
    await fx.watermark(SUSHI.id, CLOSED);
    await fx.forecastRun(SUSHI, {
      origin: CLOSED,
      hours: 14 * 24,
      generatedAt: Math.floor(Date.now() / 1000) * 1000 - HOUR,
      runId: 'run-operator-1',
    });
    const publisher: CalendarPublisher = {
      publish: (change) => {
        announced.push(change);
        return Promise.resolve();
      },
      close: () => Promise.resolve(),
    };
    api = createApiServer(
      {
        config,
        ch,
        logger,
        branches: new BranchDirectory([SUSHI]),
        calendarPublisher: publisher,
      },
      // Watermarks polled often: the scorecard test closes a day while the API runs.
      { forecastPollMs: 300, actualsTtlMs: 300 },
    );
    await api.start();
    await api.listen(0, '127.0.0.1');
    base = api.url();
    writer = await createKey({ branches: [SUSHI.id], write: true }, 'manager sushi');
    reader = await createKey({ branches: [SUSHI.id] }, 'viewer sushi');

    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 1000 }, locale: 'en-IE' });
    page = await context.newPage();
    page.setDefaultTimeout(20_000);
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') consoleErrors.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
    fs.mkdirSync(OUT, { recursive: true });
    await page.addInitScript(signedIn(writer));
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
    if (!page) return;
    const csp = (await page.evaluate('window.__csp || []').catch(() => [])) as string[];
    expect(csp).toEqual([]);
    // The 400 and 409 the tests provoke on purpose are logged by the browser; nothing else may be.
    expect(consoleErrors.filter((e) => !/status of (400|409)/.test(e))).toEqual([]);
  });

  it('a key with the write scope sets an override on a future day: the plan equals /predict’s, then it is cleared', async () => {
    const me = await call<{ key: { name: string }; write_branches: string[] }>('/v1/me');
    expect(me.body).toEqual({
      auth: 'keys',
      key: { id: expect.any(String), name: 'manager sushi' },
      write_branches: [SUSHI.id],
    });

    await page.goto(`${base}${PAGE}`);
    await waitRendered(page, SUSHI.id, START, END, 'daily');
    // No override in the range: no plan column, an Edit button on every day.
    expect((await page.getByTestId('daily-table').getAttribute('class')) ?? '').not.toContain('has-plan');
    expect(await page.getByTestId('edit-day').count()).toBe(7);
    expect(await page.getByTestId('day-editor').isHidden()).toBe(true);

    await openEditor(page, '2021-02-08');
    await expect(page.locator('#day-editor-title').textContent()).resolves.toBe(
      'Plan of Monday 8 February 2021',
    );
    await expect(page.getByTestId('override-current').textContent()).resolves.toMatch(
      /^No override in force/,
    );
    await page.getByLabel('Sales (EUR)', { exact: true }).fill('2000.5');
    await page.getByLabel('Orders', { exact: true }).fill('150');
    await page.getByLabel('Reason', { exact: true }).fill('Six Nations on TV');
    expect(await press(page, 'override-save', 'override', 'ok')).toBe('Saved the override of Mon, 8 Feb.');

    const body = await predict();
    const day = body.daily!.find((d) => d.date === '2021-02-08')!;
    expect(day.plan).toEqual({ sales: 2000.5, orders: 150 });
    expect(day.override).toMatchObject({ sales: 2000.5, orders: 150, reason: 'Six Nations on TV' });
    // Every day's plan cell is the API's plan (the model's value on days without an override).
    expect((await page.getByTestId('daily-table').getAttribute('class')) ?? '').toContain('has-plan');
    expect(await page.locator('[data-testid="daily-table"] thead .plan-col').isVisible()).toBe(true);
    expect(await planCells(page)).toEqual(
      body.daily!.map((d) => [
        d.date,
        String(d.plan!.sales),
        String(d.plan!.orders),
        d.date === '2021-02-08' ? 'true' : 'false',
      ]),
    );
    // The model's p50 stays beside it.
    expect(await row(page, '2021-02-08').locator('[data-field="sales"]').getAttribute('data-value')).toBe(
      String(day.sales),
    );
    const total = page.locator('[data-testid="daily-table"] tfoot [data-field="plan_sales"]');
    expect(await total.getAttribute('data-value')).toBe(String(body.totals.plan!.sales));
    // Weeks add up their days' plans, as the API does.
    const weekPlans = await page
      .locator('[data-testid="weekly-row"] [data-field="plan_sales"]')
      .evaluateAll((els: DomEl[]) => els.map((e) => e.getAttribute('data-value')));
    expect(weekPlans).toEqual(body.weekly!.map((w) => String(w.plan!.sales)));
    await expect(page.getByTestId('override-current').getAttribute('data-sales')).resolves.toBe('2000.5');
    // The chart draws the plan of the overridden day beside the forecast: by day, then by hour (the
    // override spread over the day's hours, as /predict's hourly plan).
    const planLines = (p: Page) =>
      p
        .getByTestId('plan-line')
        .evaluateAll((els: DomEl[]) =>
          els.map((e) => ['data-from', 'data-to', 'data-values'].map((a) => e.getAttribute(a))),
        );
    expect(await planLines(page)).toEqual([['2021-02-08', '2021-02-08', String(day.plan!.sales)]]);
    await expect(page.getByTestId('legend-plan').textContent()).resolves.toBe("Plan (manager's override)");
    await page.getByText('Hourly', { exact: true }).click();
    await waitRendered(page, SUSHI.id, START, END, 'hourly');
    const hourly = await call<PredictResponse>(
      `/v1/predict?branch_id=${SUSHI.id}&start=${START}&end=${END}&granularity=hourly`,
    );
    const hours = hourly.body.hourly!.filter((h) => h.start.startsWith('2021-02-08'));
    expect(hours).toHaveLength(24);
    expect(await planLines(page)).toEqual([
      [hours[0]!.start, hours[23]!.start, hours.map((h) => String(h.plan!.sales)).join(',')],
    ]);
    // The hours' plan adds up to the day's (in cents).
    expect(hours.reduce((t, h) => t + Math.round(h.plan!.sales! * 100), 0)).toBe(200050);
    await page.getByText('Daily', { exact: true }).click();
    await waitRendered(page, SUSHI.id, START, END, 'daily');
    await page.screenshot({ path: path.join(OUT, 'dashboard-override.png'), fullPage: true });

    // The same again: the API stores nothing new, and the page says so.
    expect(await press(page, 'override-save', 'override', 'ok')).toBe(
      'Nothing changed: this override was already in force.',
    );

    // What the API refuses is said with its message, and the field it names is marked.
    await page.getByLabel('Sales (EUR)', { exact: true }).fill('-5');
    const refused = await press(page, 'override-save', 'override', 'error');
    const direct = await call<{ error: { code: string; message: string } }>(
      `/v1/branches/${SUSHI.id}/overrides/2021-02-08`,
      writer,
      'PUT',
      { sales: -5, orders: 150, reason: 'Six Nations on TV' },
    );
    expect(direct.status).toBe(400);
    expect(refused).toBe(
      `Not saved, please check: ${direct.body.error.message} (400 ${direct.body.error.code})`,
    );
    expect(refused).toContain('sales');
    expect(await page.getByTestId('override-message').getAttribute('data-field')).toBe('sales');
    expect(await page.getByLabel('Sales (EUR)', { exact: true }).getAttribute('aria-invalid')).toBe('true');

    // Cleared: the plan is gone from the API and from the page.
    expect(await press(page, 'override-clear', 'override', 'ok')).toBe('Cleared the override of Mon, 8 Feb.');
    const after = await predict();
    expect(after.daily!.find((d) => d.date === '2021-02-08')!.plan).toBeUndefined();
    expect(after.totals.plan).toBeUndefined();
    expect((await page.getByTestId('daily-table').getAttribute('class')) ?? '').not.toContain('has-plan');
    expect((await planCells(page)).map((c) => c[1])).toEqual(Array(7).fill(''));
    expect(await page.getByTestId('plan-line').count()).toBe(0);
    await expect(page.getByTestId('override-current').textContent()).resolves.toMatch(
      /^No override in force/,
    );
    expect(await page.getByTestId('override-clear').isDisabled()).toBe(true);

    // Escape closes the editor and gives the focus back to the day's Edit button.
    await page.keyboard.press('Escape');
    expect(await page.getByTestId('day-editor').isHidden()).toBe(true);
    expect(
      await row(page, '2021-02-08')
        .getByTestId('edit-day')
        .evaluate((e) => e === e.ownerDocument.activeElement),
    ).toBe(true);
  });

  it('sets a closure, then an event with an expected effect, as GET …/calendar has them, and removes it', async () => {
    const calendar = async () => {
      const a = await call<CalendarListResponse>(
        `/v1/branches/${SUSHI.id}/calendar?start=${START}&end=${END}`,
      );
      expect(a.status).toBe(200);
      return a.body.entries;
    };
    const shown = () =>
      row(page, '2021-02-09')
        .locator('[data-field="calendar"]')
        .evaluateAll((els: DomEl[]) =>
          els.map((e) =>
            ['data-kind', 'data-name', 'data-note', 'data-expected-effect'].map((a) => e.getAttribute(a)),
          ),
        );
    expect(await shown()).toEqual([]);
    await openEditor(page, '2021-02-09');
    await expect(page.getByTestId('calendar-current').textContent()).resolves.toBe(
      'No calendar entry on this day.',
    );
    await page.getByLabel('Closed', { exact: true }).check();
    expect(await page.getByLabel('Expected effect on sales (%)', { exact: true }).isDisabled()).toBe(true);
    await page.getByLabel('Name', { exact: true }).fill('Refit');
    await page.getByLabel('Note', { exact: true }).fill('New kitchen');
    expect(await press(page, 'calendar-save', 'calendar', 'ok')).toBe(
      'Saved the calendar entry of Tue, 9 Feb.',
    );
    const closed = await calendar();
    expect(closed.map((e) => [e.date, e.kind, e.name, e.note])).toEqual([
      ['2021-02-09', 'closed', 'Refit', 'New kitchen'],
    ]);
    expect(await shown()).toEqual([['closed', 'Refit', 'New kitchen', '']]);
    await expect(row(page, '2021-02-09').locator('.cal-label').textContent()).resolves.toBe('Closed: Refit');
    expect(announced.map((c) => [c.branch_id, c.local_date, c.deleted])).toEqual([
      [SUSHI.id, '2021-02-09', false],
    ]);

    // An event: an expected effect beyond what the API takes is refused, naming the field.
    await page.getByLabel('Event', { exact: true }).check();
    await page.getByLabel('Name', { exact: true }).fill('Match day');
    await page.getByLabel('Note', { exact: true }).fill('');
    await page.getByLabel('Expected effect on sales (%)', { exact: true }).fill('-150');
    const refused = await press(page, 'calendar-save', 'calendar', 'error');
    expect(refused).toMatch(/^Not saved, please check: expected_effect: .* \(400 invalid_body\)$/);
    expect(await page.getByTestId('calendar-message').getAttribute('data-field')).toBe('expected_effect');
    expect(
      await page.getByLabel('Expected effect on sales (%)', { exact: true }).getAttribute('aria-invalid'),
    ).toBe('true');
    expect(await calendar()).toEqual(closed);

    await page.getByLabel('Expected effect on sales (%)', { exact: true }).fill('30');
    await press(page, 'calendar-save', 'calendar', 'ok');
    const event = await calendar();
    expect(event.map((e) => [e.kind, e.name, e.note, e.expected_effect])).toEqual([
      ['event', 'Match day', undefined, 0.3],
    ]);
    expect(await shown()).toEqual([['event', 'Match day', '', '0.3']]);
    await expect(row(page, '2021-02-09').locator('.cal-label').textContent()).resolves.toBe(
      'Event: Match day, +30 %',
    );
    await page.screenshot({ path: path.join(OUT, 'dashboard-calendar.png'), fullPage: true });

    expect(await press(page, 'calendar-remove', 'calendar', 'ok')).toBe(
      'Removed the calendar entry of Tue, 9 Feb.',
    );
    expect(await calendar()).toEqual([]);
    expect(await shown()).toEqual([]);
    expect(announced.map((c) => [c.local_date, c.deleted])).toEqual([
      ['2021-02-09', false],
      ['2021-02-09', false],
      ['2021-02-09', true],
    ]);
    await page.getByTestId('day-editor-close').click();
  });

  it('a past overridden day shows its scorecard as GET …/accuracy has it', async () => {
    await openEditor(page, '2021-02-06');
    await page.getByLabel('Sales (EUR)', { exact: true }).fill('1234.56');
    await page.getByLabel('Orders', { exact: true }).fill('');
    await page.getByLabel('Reason', { exact: true }).fill('Rugby');
    await press(page, 'override-save', 'override', 'ok');

    // The day closes (every hour through 2021-02-06 final, the branch's clock past it) while the
    // editor is still open.
    const fx = new Fixtures(ch);
    const closedThrough = Date.UTC(2021, 1, 7);
    await fx.actuals(SUSHI, CLOSED, closedThrough);
    await fx.watermark(SUSHI.id, closedThrough);
    const accuracy = await eventually(async () => {
      const a = await call<AccuracyResponse>(`/v1/branches/${SUSHI.id}/accuracy?start=${START}&end=${END}`);
      return a.status === 200 && a.body.days.length === 1 ? a.body : undefined;
    }, 20_000);
    await eventually(async () => (await predict()).daily![1]!.source === 'actual');
    // Once the API knows the day has closed, a clear sent now is refused (a closed day's override
    // is final), said as the API says it.
    const refused = await press(page, 'override-clear', 'override', 'error');
    const direct = await call<{ error: { code: string; message: string } }>(
      `/v1/branches/${SUSHI.id}/overrides/2021-02-06`,
      writer,
      'DELETE',
    );
    expect([direct.status, direct.body.error.code]).toEqual([409, 'day_closed']);
    expect(refused).toBe(`Refused: ${direct.body.error.message} (409 day_closed)`);
    await page.getByTestId('day-editor-close').click();
    const scored = accuracy.days[0]!;
    expect([scored.date, scored.sales.override, scored.orders.override, scored.reason]).toEqual([
      '2021-02-06',
      1234.56,
      null,
      'Rugby',
    ]);

    await page.reload();
    await waitRendered(page, SUSHI.id, START, END, 'daily');
    const card = row(page, '2021-02-06').locator('[data-field="scorecard"]');
    const attrs = await card.evaluate((e: DomEl) =>
      ['data-actual', 'data-model', 'data-override', 'data-closer', 'data-orders-override'].map((a) =>
        e.getAttribute(a),
      ),
    );
    expect(attrs).toEqual([
      String(scored.sales.actual),
      String(scored.sales.model),
      '1234.56',
      scored.sales.closer,
      '',
    ]);
    expect(await card.textContent()).toContain(
      `(${scored.sales.closer === 'tie' ? 'tie' : `${scored.sales.closer} closer`})`,
    );
    // The day's actual in the table is the scorecard's actual.
    expect(await row(page, '2021-02-06').locator('[data-field="sales"]').getAttribute('data-value')).toBe(
      String(scored.sales.actual),
    );
    const summary = page.getByTestId('score-summary');
    expect(await summary.isVisible()).toBe(true);
    const s = accuracy.summary.branch.sales;
    expect(
      await summary.evaluate((e: DomEl) =>
        [
          'data-days',
          'data-override-closer',
          'data-model-closer',
          'data-ties',
          'data-model-mae',
          'data-override-mae',
        ].map((a) => e.getAttribute(a)),
      ),
    ).toEqual([s.days, s.override_closer, s.model_closer, s.ties, s.model_mae, s.override_mae].map(String));
    await expect(summary.textContent()).resolves.toContain('Sales, 1 day: override closer on');

    // A closed day's override is final: its editor says so and offers only the calendar.
    await openEditor(page, '2021-02-06');
    expect(await page.getByLabel('Sales (EUR)', { exact: true }).isDisabled()).toBe(true);
    expect(await page.getByTestId('override-save').isDisabled()).toBe(true);
    await expect(page.getByTestId('override-message').textContent()).resolves.toBe(
      'This day has closed: its override can no longer be set or cleared.',
    );
    expect(await page.getByTestId('calendar-save').isEnabled()).toBe(true);
    await page.screenshot({ path: path.join(OUT, 'dashboard-scorecard.png'), fullPage: true });
    await page.getByTestId('day-editor-close').click();
  });

  it('a read-only key sees the plan and the scorecard but no editing controls; a write it tries is refused with 403', async () => {
    const me = await call<{ write_branches: string[] }>('/v1/me', reader);
    expect(me.body.write_branches).toEqual([]);
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-IE' });
    try {
      const p = await ctx.newPage();
      p.setDefaultTimeout(20_000);
      const errors: string[] = [];
      p.on('pageerror', (e) => errors.push(e.message));
      await p.addInitScript(signedIn(reader));
      await p.goto(`${base}${PAGE}`);
      await waitRendered(p, SUSHI.id, START, END, 'daily');
      expect(await p.getByTestId('edit-day').count()).toBe(0);
      expect(await p.getByTestId('day-editor').isHidden()).toBe(true);
      expect(await row(p, '2021-02-06').locator('[data-field="scorecard"]').count()).toBe(1);
      expect(await row(p, '2021-02-06').locator('[data-field="plan_sales"]').getAttribute('data-value')).toBe(
        '1234.56',
      );
      // The API refuses this key's writes whatever the page shows.
      const put = await call<{ error: { code: string; message: string } }>(
        `/v1/branches/${SUSHI.id}/overrides/2021-02-10`,
        reader,
        'PUT',
        { sales: 100 },
      );
      expect(put.status).toBe(403);

      // Were the page told otherwise (an answer of /v1/me claiming the write scope), the API's
      // 403 is said plainly in the form.
      await p.route('**/v1/me', (route) =>
        route.fulfill({
          status: 200,
          contentType: 'application/json',
          body: JSON.stringify({ auth: 'keys', key: null, write_branches: [SUSHI.id] }),
        }),
      );
      await p.reload();
      await waitRendered(p, SUSHI.id, START, END, 'daily');
      await openEditor(p, '2021-02-10');
      await p.getByLabel('Sales (EUR)', { exact: true }).fill('100');
      const text = await press(p, 'override-save', 'override', 'error');
      expect(text).toBe(
        `Not saved: this key may not change this branch: ${put.body.error.message} (403 ${put.body.error.code})`,
      );
      expect(await p.getByTestId('override-message').getAttribute('data-status')).toBe('403');
      expect(errors).toEqual([]);
    } finally {
      await ctx.close();
    }
  });
});
