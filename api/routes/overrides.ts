/**
 * Managers' overrides of a day's forecast and their scorecard (issue 16; api/README.md "Overrides"):
 * - PUT /v1/branches/{id}/overrides/{date} `{sales?, orders?, reason?}` sets the day's override as a
 *   whole (a measure left out is not overridden), appending a ledger row with who, when, and the
 *   model's forecast of the day as /predict serves it now (run, p50, calibrated p10/p90);
 * - DELETE on the same path clears it (a ledger row with cleared = 1; the history stays);
 * - GET /v1/branches/{id}/accuracy?start&end scores the overridden days that have closed.
 *
 * Decisions: a closed day (every hour closed) is refused with 409 `day_closed` for PUT and DELETE:
 * its actual is known, so an override would be scored against what the manager already saw, and a
 * clear would erase a score. Today is allowed; its model value then counts its closed hours'
 * actuals (`source: mixed`), as /predict shows it. A branch without a forecast run answers 503
 * `no_forecast` with Retry-After, like /predict (the override needs the forecast it replaces); a
 * day the served run does not cover answers 409 `no_model_forecast`. Idempotent: a PUT equal to
 * the override in force, or a DELETE with none in force, answers `changed: false` and writes
 * nothing (writes of one day are serialized in this process; two processes racing the same PUT may
 * both append, which the ledger tolerates: the latest row is the one in force).
 */
import { randomUUID } from 'node:crypto';
import type Koa from 'koa';
import type { Branch, BranchDirectory } from '../../lib/branches';
import { ConflictError, UnavailableError, ValidationError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import { parseCivilDate } from '../../lib/time/civil-date';
import { dayLayout, type DayLayout } from '../../lib/time/local-days';
import { HOUR_MS } from '../../lib/time/units';
import { isoUtc } from '../../lib/time/wall-clock';
import type { ModelDay, OverrideRow, Overrides, ScoredDay } from '../../clickhouse/store/overrides';
import type { ActualsCache } from '../actuals-cache';
import { truncate } from '../error-middleware';
import type { ForecastCache } from '../forecast-cache';
import { withTimeout } from '../http-middleware';
import { authorOf } from '../key-auth';
import type { OverridesCache } from '../overrides-cache';
import { readBoundedBody } from '../request-body';
import {
  MAX_ACCURACY_DAYS,
  MAX_REASON_CHARS,
  type AccuracyResponse,
  type AccuracySummary,
  type OverrideResponse,
} from '../overrides-schema';
import { assemblePrediction } from '../predict-service';
import { MAX_DATE, MIN_DATE } from '../schemas';
import { UnknownBranchError } from './predict';

export interface OverridesRouteDeps {
  branches: BranchDirectory;
  forecastCache: ForecastCache;
  actualsCache: ActualsCache;
  overridesCache: OverridesCache;
  /** Reads the ledger and the scores (the API's read-only client). */
  reader: Overrides;
  /** Appends to the ledger (the API's writer client). */
  writer: Overrides;
  /** 403 naming the branch unless the key may write it (401 without a key). */
  assertMayWrite: (ctx: Koa.Context, branchId: string) => void;
  /** 403 naming the branch unless the key may read it. */
  assertMayRead: (ctx: Koa.Context, branchId: string) => void;
  noForecastRetryAfterS: number;
  /** Time limit of a request's ClickHouse work; then 503 `timeout`. */
  requestTimeoutMs: number;
  logger: Logger;
  now?: () => number;
}

/** Bodies are a few fields: anything longer is refused before it is read whole. */
const MAX_BODY_BYTES = 8 * 1024;
/** Upper bounds that keep integers exact and catch typos of a few orders of magnitude. */
const MAX_SALES_CENTS = 1e12;
const MAX_ORDERS = 10_000_000;
const BRANCH_ID = /^[!-~]{1,64}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DECIMAL = /^\d{1,10}(\.\d{1,2})?$/;
const MIN_DAY = parseCivilDate(MIN_DATE) as number;
const MAX_DAY = parseCivilDate(MAX_DATE) as number;
const invalid = (parameter: string, message: string, code = 'invalid_parameter') =>
  new ValidationError(code, `${parameter}: ${message}`, { parameter });
const invalidField = (field: string, message: string, code = 'invalid_field') =>
  new ValidationError(code, `${field}: ${message}`, { field });

function branchIdParam(raw: unknown): string {
  if (typeof raw !== 'string' || !BRANCH_ID.test(raw))
    throw invalid('branch_id', 'must be 1-64 printable ASCII characters without spaces');
  return raw;
}

/** A local date (YYYY-MM-DD) as an epoch day; `name` is what the error names. */
function dateValue(name: string, raw: unknown): number {
  if (Array.isArray(raw))
    throw new ValidationError('duplicate_parameter', `${name}: given ${raw.length} times; give it once`, {
      parameter: name,
    });
  if (raw === undefined) throw invalid(name, 'is required', 'missing_parameter');
  if (typeof raw !== 'string') throw invalid(name, 'must be a date in the form yyyy-mm-dd');
  if (!DATE.test(raw))
    throw invalid(name, `must be a date in the form yyyy-mm-dd (got ${JSON.stringify(truncate(raw))})`);
  const day = parseCivilDate(raw);
  if (day === null) throw invalid(name, `is not a calendar date (got ${JSON.stringify(raw)})`);
  if (day < MIN_DAY || day > MAX_DAY) throw invalid(name, `must be between ${MIN_DATE} and ${MAX_DATE}`);
  return day;
}

/** The body of a PUT, checked field by field. */
export interface OverrideInput {
  salesCents: number | null;
  orders: number | null;
  reason: string;
}

/** Sales in major units, a JSON number or a decimal string, at most 2 decimals, 0 or more: cents. */
function salesCents(v: unknown): number | null {
  if (v === undefined || v === null) return null;
  let text: string;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw invalidField('sales', 'must be a finite number');
    if (v < 0) throw invalidField('sales', `must be 0 or more (got ${v})`);
    text = String(v);
  } else if (typeof v === 'string') text = v.trim();
  else throw invalidField('sales', 'must be a number of major units, e.g. 1850.5');
  if (text.startsWith('-')) throw invalidField('sales', `must be 0 or more (got ${truncate(text)})`);
  if (!DECIMAL.test(text))
    throw invalidField(
      'sales',
      `must have at most 2 decimals and 10 digits before them (got ${truncate(text)})`,
    );
  const [whole, frac = ''] = text.split('.') as [string, string?];
  const cents = Number(whole) * 100 + Number(frac.padEnd(2, '0'));
  if (cents > MAX_SALES_CENTS) throw invalidField('sales', 'is too large');
  return cents;
}

export function parseOverrideBody(raw: unknown): OverrideInput {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ValidationError('invalid_body', 'the body must be a JSON object {sales?, orders?, reason?}', {
      field: 'body',
    });
  const body = raw as Record<string, unknown>;
  for (const k of Object.keys(body))
    if (k !== 'sales' && k !== 'orders' && k !== 'reason')
      throw invalidField(
        truncate(k, 40),
        'is not a field of an override (sales, orders, reason)',
        'unknown_field',
      );
  const sales = salesCents(body.sales);
  let orders: number | null = null;
  if (body.orders !== undefined && body.orders !== null) {
    const o = body.orders;
    if (typeof o !== 'number' || !Number.isInteger(o))
      throw invalidField('orders', `must be a whole number (got ${truncate(JSON.stringify(o))})`);
    if (o < 0) throw invalidField('orders', `must be 0 or more (got ${o})`);
    if (o > MAX_ORDERS) throw invalidField('orders', 'is too large');
    orders = o;
  }
  let reason = '';
  if (body.reason !== undefined && body.reason !== null) {
    if (typeof body.reason !== 'string') throw invalidField('reason', 'must be a string');
    reason = body.reason.trim();
    if (reason.length > MAX_REASON_CHARS)
      throw invalidField('reason', `must be at most ${MAX_REASON_CHARS} characters`);
  }
  if (sales === null && orders === null)
    throw invalidField(
      'sales',
      'give sales, orders or both (use DELETE to clear an override)',
      'missing_field',
    );
  return { salesCents: sales, orders, reason };
}

async function readJsonBody(ctx: Koa.Context): Promise<unknown> {
  const text = (await readBoundedBody(ctx, MAX_BODY_BYTES)).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ValidationError('invalid_json', 'the body is not JSON: send {"sales": 1850.5, "orders": 210}', {
      field: 'body',
    });
  }
}

const cents = (c: number) => c / 100;
const milli = (m: number) => m / 1000;

function stateJson(row: OverrideRow): NonNullable<OverrideResponse['override']> {
  return {
    sales: row.salesCents === null ? null : cents(row.salesCents),
    orders: row.orders,
    reason: row.reason,
    set_at: isoUtc(row.setAt),
    set_by: { key_id: row.by.keyId, key_name: row.by.keyName },
    model: {
      run_id: row.model.runId,
      model_version: row.model.modelVersion,
      source: row.model.source,
      sales: cents(row.model.salesP50Cents),
      sales_p10: cents(row.model.salesP10Cents),
      sales_p90: cents(row.model.salesP90Cents),
      orders: milli(row.model.ordersP50Milli),
      orders_p10: milli(row.model.ordersP10Milli),
      orders_p90: milli(row.model.ordersP90Milli),
    },
  };
}

/** Summary of one measure over scored days: [model error, override error] per overridden day. */
function summarize(errors: readonly (readonly [number, number])[], unit: number): AccuracySummary {
  const n = errors.length;
  let model = 0;
  let over = 0;
  let oc = 0;
  let mc = 0;
  for (const [m, o] of errors) {
    model += m;
    over += o;
    if (o < m) oc++;
    else if (o > m) mc++;
  }
  const mean = (sum: number) => (n === 0 ? null : Math.round(sum / n) / unit);
  return {
    days: n,
    override_closer: oc,
    model_closer: mc,
    ties: n - oc - mc,
    override_beat_share: n === 0 ? null : Math.round((oc / n) * 10_000) / 10_000,
    model_mae: mean(model),
    override_mae: mean(over),
    // The difference of the two means as shown, so the three numbers agree to the cent.
    mae_improvement: n === 0 ? null : (Math.round(model / n) - Math.round(over / n)) / unit,
    mae_improvement_share:
      n === 0 || model === 0 ? null : Math.round(((model - over) / model) * 10_000) / 10_000,
  };
}

/** Absolute errors of a scored day, integer units: sales in cents, orders in thousandths. */
function errorsOf(d: ScoredDay): { sales?: [number, number]; orders?: [number, number] } {
  const out: { sales?: [number, number]; orders?: [number, number] } = {};
  if (d.overrideSalesCents !== null)
    out.sales = [
      Math.abs(d.modelSalesCents - d.actualSalesCents),
      Math.abs(d.overrideSalesCents - d.actualSalesCents),
    ];
  if (d.overrideOrders !== null)
    out.orders = [
      Math.abs(d.modelOrdersMilli - d.actualOrders * 1000),
      Math.abs(d.overrideOrders - d.actualOrders) * 1000,
    ];
  return out;
}

function measuresOf(days: readonly ScoredDay[]) {
  const e = days.map(errorsOf);
  return {
    sales: summarize(
      e.flatMap((x) => (x.sales ? [x.sales] : [])),
      100,
    ),
    orders: summarize(
      e.flatMap((x) => (x.orders ? [x.orders] : [])),
      1000,
    ),
  };
}

function scoredJson(d: ScoredDay): AccuracyResponse['days'][number] {
  const e = errorsOf(d);
  return {
    date: d.date,
    set_at: isoUtc(d.setAt),
    set_by: { key_id: d.by.keyId, key_name: d.by.keyName },
    reason: d.reason,
    revisions: d.revisions,
    run_id: d.runId,
    model_version: d.modelVersion,
    model_source: d.modelSource,
    sales: {
      actual: cents(d.actualSalesCents),
      model: cents(d.modelSalesCents),
      model_p10: cents(d.modelSalesP10Cents),
      model_p90: cents(d.modelSalesP90Cents),
      override: d.overrideSalesCents === null ? null : cents(d.overrideSalesCents),
      model_abs_error: cents(Math.abs(d.modelSalesCents - d.actualSalesCents)),
      override_abs_error: e.sales ? cents(e.sales[1]) : null,
      closer: d.salesCloser,
    },
    orders: {
      actual: d.actualOrders,
      model: milli(d.modelOrdersMilli),
      model_p10: milli(d.modelOrdersP10Milli),
      model_p90: milli(d.modelOrdersP90Milli),
      override: d.overrideOrders,
      model_abs_error: milli(Math.abs(d.modelOrdersMilli - d.actualOrders * 1000)),
      override_abs_error: e.orders ? milli(e.orders[1]) : null,
      closer: d.ordersCloser,
    },
  };
}

export function overrideRoutes(deps: OverridesRouteDeps): {
  put: Koa.Middleware;
  del: Koa.Middleware;
  accuracy: Koa.Middleware;
} {
  const log = deps.logger.child({ module: 'overrides' });
  const now = deps.now ?? Date.now;
  /** Writes of one branch day run one at a time in this process (idempotency holds within it). */
  const writing = new Map<string, Promise<unknown>>();
  const serialized = async <T>(key: string, work: () => Promise<T>): Promise<T> => {
    const before = writing.get(key) ?? Promise.resolve();
    const mine = before.catch(() => undefined).then(work);
    writing.set(key, mine);
    try {
      return await mine;
    } finally {
      if (writing.get(key) === mine) writing.delete(key);
    }
  };

  /** Path parameters checked, write scope, branch known, day not closed. */
  const target = (ctx: Koa.Context): { branch: Branch; layout: DayLayout } => {
    const params = ctx.params as Record<string, string | undefined>;
    const branchId = branchIdParam(params.branch_id);
    const day = dateValue('date', params.date);
    deps.assertMayWrite(ctx, branchId);
    const branch = deps.branches.get(branchId);
    if (!branch) throw new UnknownBranchError(branchId);
    const layout = dayLayout(branch.timezone, day);
    const lastClosed = deps.actualsCache.lastClosedHour(branch.id);
    if (lastClosed !== null && lastClosed + HOUR_MS >= layout.firstHour + layout.hours * HOUR_MS) {
      throw new ConflictError(
        'day_closed',
        `date: ${layout.date} has closed (every hour of it is final); only days not closed yet can be overridden or cleared`,
        { parameter: 'date', date: layout.date },
      );
    }
    return { branch, layout };
  };

  /** The day as /predict serves it now, with the run it comes from. */
  const modelDay = async (branch: Branch, layout: DayLayout): Promise<ModelDay> => {
    const run = deps.forecastCache.get(branch.id);
    if (!run)
      throw new UnavailableError(
        'no_forecast',
        `branch ${branch.id} has no forecast yet, so there is nothing to override; try again later`,
        deps.noForecastRetryAfterS,
      );
    const range = await deps.actualsCache.getRange(branch, layout.epochDay, layout.epochDay);
    const answer = assemblePrediction({
      branch,
      startDay: layout.epochDay,
      endDay: layout.epochDay,
      granularity: new Set(['daily']),
      run,
      actuals: range.actuals,
      lastClosedHour: deps.actualsCache.lastClosedHour(branch.id),
    });
    const d = answer.daily?.[0];
    if (!d || d.source === 'missing' || d.sales === null || d.orders === null)
      throw new ConflictError(
        'no_model_forecast',
        `date: the served forecast of ${branch.id} (run ${run.runId}) does not cover ${layout.date}; overrides need the forecast they replace`,
        { parameter: 'date', date: layout.date, horizon_end: isoUtc(run.horizonEnd) },
      );
    if (d.source === 'actual')
      throw new ConflictError('day_closed', `date: ${layout.date} has closed`, {
        parameter: 'date',
        date: layout.date,
      });
    const c = (v: number | null) => Math.round((v ?? 0) * 100);
    const m = (v: number | null) => Math.round((v ?? 0) * 1000);
    return {
      runId: run.runId,
      modelVersion: run.modelVersion,
      source: d.source === 'mixed' ? 'mixed' : 'forecast',
      salesP10Cents: c(d.sales_p10),
      salesP50Cents: c(d.sales),
      salesP90Cents: c(d.sales_p90),
      ordersP10Milli: m(d.orders_p10),
      ordersP50Milli: m(d.orders),
      ordersP90Milli: m(d.orders_p90),
    };
  };

  /** After a write: this process's plan shows it at once (a failure leaves it to the poll). */
  const refresh = async (branchId: string) => {
    try {
      await deps.overridesCache.refreshBranch(branchId);
    } catch (err) {
      log.warn({ err, branchId }, 'overrides refresh after a write failed; the poll will pick it up');
    }
  };

  const answer = (ctx: Koa.Context, body: OverrideResponse) => {
    ctx.status = 200;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = body;
  };

  const put: Koa.Middleware = async (ctx) => {
    const { branch, layout } = target(ctx);
    const input = parseOverrideBody(await readJsonBody(ctx));
    const key = `${branch.id}|${layout.date}`;
    const body = await serialized(key, () =>
      withTimeout(
        (async (): Promise<OverrideResponse> => {
          const current = await deps.reader.latest(branch.id, layout.date);
          if (
            current &&
            !current.cleared &&
            current.salesCents === input.salesCents &&
            current.orders === input.orders &&
            current.reason === input.reason
          )
            return { branch_id: branch.id, date: layout.date, changed: false, override: stateJson(current) };
          const row: OverrideRow = {
            branchId: branch.id,
            date: layout.date,
            // After the day's latest row even if this clock is behind the writer of that one.
            setAt: Math.max(now(), (current?.setAt ?? 0) + 1),
            overrideId: randomUUID(),
            cleared: false,
            salesCents: input.salesCents,
            orders: input.orders,
            reason: input.reason,
            by: authorOf(ctx),
            dayHours: layout.hours,
            model: await modelDay(branch, layout),
          };
          await deps.writer.append(row);
          log.info(
            { branchId: branch.id, date: layout.date, keyId: row.by.keyId, runId: row.model.runId },
            'override set',
          );
          await refresh(branch.id);
          return { branch_id: branch.id, date: layout.date, changed: true, override: stateJson(row) };
        })(),
        deps.requestTimeoutMs,
      ),
    );
    answer(ctx, body);
  };

  const del: Koa.Middleware = async (ctx) => {
    const { branch, layout } = target(ctx);
    const key = `${branch.id}|${layout.date}`;
    const body = await serialized(key, () =>
      withTimeout(
        (async (): Promise<OverrideResponse> => {
          const current = await deps.reader.latest(branch.id, layout.date);
          if (!current || current.cleared)
            return { branch_id: branch.id, date: layout.date, changed: false, override: null };
          await deps.writer.append({
            ...current,
            setAt: Math.max(now(), current.setAt + 1),
            overrideId: randomUUID(),
            cleared: true,
            salesCents: null,
            orders: null,
            reason: '',
            by: authorOf(ctx),
          });
          log.info({ branchId: branch.id, date: layout.date }, 'override cleared');
          await refresh(branch.id);
          return { branch_id: branch.id, date: layout.date, changed: true, override: null };
        })(),
        deps.requestTimeoutMs,
      ),
    );
    answer(ctx, body);
  };

  const accuracy: Koa.Middleware = async (ctx) => {
    const params = ctx.params as Record<string, string | undefined>;
    const branchId = branchIdParam(params.branch_id);
    const startDay = dateValue('start', ctx.query.start);
    const endDay = dateValue('end', ctx.query.end);
    if (endDay < startDay) throw invalid('end', 'must not be before start', 'invalid_range');
    if (endDay - startDay + 1 > MAX_ACCURACY_DAYS)
      throw invalid(
        'end',
        `the range is ${endDay - startDay + 1} days; at most ${MAX_ACCURACY_DAYS}`,
        'range_too_long',
      );
    deps.assertMayRead(ctx, branchId);
    const branch = deps.branches.get(branchId);
    if (!branch) throw new UnknownBranchError(branchId);
    const start = String(ctx.query.start);
    const end = String(ctx.query.end);
    const days = await withTimeout(deps.reader.scored(branch.id, start, end), deps.requestTimeoutMs);
    const scored = new Set(days.map((d) => d.date));
    const pending = [...deps.overridesCache.forBranch(branch.id).days.keys()]
      .filter((d) => d >= startDay && d <= endDay)
      .sort((a, b) => a - b)
      .map((d) => dayLayout(branch.timezone, d).date)
      .filter((date) => !scored.has(date));
    const byKey = new Map<string, ScoredDay[]>();
    for (const d of days) {
      let list = byKey.get(d.by.keyId);
      if (!list) byKey.set(d.by.keyId, (list = []));
      list.push(d);
    }
    const body: AccuracyResponse = {
      branch: { id: branch.id, name: branch.name, timezone: branch.timezone, currency: branch.currency },
      range: { start, end, days: endDay - startDay + 1 },
      days: days.map(scoredJson),
      pending,
      summary: {
        branch: measuresOf(days),
        managers: [...byKey]
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([keyId, list]) => ({
            key_id: keyId,
            key_name: (list[list.length - 1] as ScoredDay).by.keyName,
            ...measuresOf(list),
          })),
      },
    };
    ctx.status = 200;
    ctx.set('Cache-Control', 'private, no-cache');
    ctx.body = body;
  };

  return { put, del, accuracy };
}
