/**
 * The branch calendar (issue 16; the contract: api/calendar-schema.ts):
 * - `PUT /v1/branches/{id}/calendar/{date}` `{kind, name, note?, expected_effect?}` sets the entry
 *   of a local date, `DELETE` the same path removes it, each as a new version of the append-only
 *   `branch_calendar` (clickhouse/store/branch-calendar.ts), then announced on the calendar topic
 *   so the branch's forecaster refreshes it at once (api/calendar-publisher.ts);
 * - `GET /v1/branches/{id}/calendar?start&end` lists the entries in force.
 *
 * Order of checks: the request's shape (400, reveals nothing), then the key's scope for the branch
 * (401/403, whether the branch exists or not, like /predict), then the branch (404).
 *
 * Idempotent: a PUT of the entry in force, or a DELETE of a date without one, stores nothing,
 * announces nothing and answers 200 `changed: false` (a retried DELETE after a lost answer is no
 * error, so 404 is kept for unknown branches). Writes of one (branch, date) are serialized in this
 * process, so two identical PUTs racing here store one version. If the version was stored but
 * Kafka did not acknowledge its announcement, the answer is 503 and the (branch, date) is kept as
 * unannounced: the same request sent again finds nothing to store and announces it then.
 */
import type Koa from 'koa';
import type { z } from 'zod';
import type { BranchCalendar, CalendarEntry } from '../../clickhouse/store/branch-calendar';
import type { Branch, BranchDirectory } from '../../lib/branches';
import { NotFoundError, ValidationError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import { parseCivilDate } from '../../lib/time/civil-date';
import { isoUtc } from '../../lib/time/wall-clock';
import type { CalendarCache } from '../calendar-cache';
import type { CalendarPublisher } from '../calendar-publisher';
import {
  calendarEntryBodySchema,
  MAX_CALENDAR_RANGE_DAYS,
  type CalendarEntryBody,
  type CalendarEntryJson,
  type CalendarListResponse,
  type CalendarWriteResponse,
} from '../calendar-schema';
import { readBoundedBody } from '../request-body';
import { truncate } from '../error-middleware';
import { authorOf } from '../key-auth';
import { MAX_DATE, MIN_DATE } from '../schemas';

export interface CalendarRouteDeps {
  branches: BranchDirectory;
  /** Reads (the API's read-only client). */
  reader: BranchCalendar;
  /** Appends versions (the API's writing client). */
  writer: BranchCalendar;
  cache: CalendarCache;
  publisher: CalendarPublisher;
  logger: Logger;
  /** 403 unless the request's key may read the branch. */
  assertMayRead: (ctx: Koa.Context, branchId: string) => void;
  /** 401/403 unless the request's key may write the branch. */
  assertMayWrite: (ctx: Koa.Context, branchId: string) => void;
  /** Clock of the versions' written_at (tests). */
  now?: () => number;
}

export interface CalendarRoutes {
  put: Koa.Middleware;
  remove: Koa.Middleware;
  list: Koa.Middleware;
}

/** The body is a few hundred bytes at most. */
const MAX_BODY_BYTES = 4096;
const MIN_DAY = parseCivilDate(MIN_DATE) as number;
const MAX_DAY = parseCivilDate(MAX_DATE) as number;

export class UnknownBranchError extends NotFoundError {
  readonly details: Record<string, unknown>;
  constructor(branchId: string) {
    super(`branch_id: unknown branch ${JSON.stringify(truncate(branchId))}`);
    this.details = { parameter: 'branch_id' };
  }
}

/** The path parameters (@koa/router's are untyped). */
const params = (ctx: Koa.Context): { branch_id?: string; date?: string } =>
  ctx.params as { branch_id?: string; date?: string };

/** A local date of the path or query, as given and as its epoch day; 400 naming the parameter. */
function localDate(value: unknown, parameter: string): { date: string; day: number } {
  const text = typeof value === 'string' ? value : '';
  const day = /^\d{4}-\d{2}-\d{2}$/.test(text) ? parseCivilDate(text) : null;
  if (day === null)
    throw new ValidationError(
      'invalid_parameter',
      `${parameter}: must be a calendar date YYYY-MM-DD (got ${JSON.stringify(truncate(text))})`,
      { parameter },
    );
  if (day < MIN_DAY || day > MAX_DAY)
    throw new ValidationError(
      'invalid_parameter',
      `${parameter}: must be between ${MIN_DATE} and ${MAX_DATE} (got ${text})`,
      { parameter },
    );
  return { date: text, day };
}

/** The first problem of a body, naming its field. */
function bodyError(error: z.ZodError): ValidationError {
  const issue = error.issues[0];
  if (!issue) return new ValidationError('invalid_body', 'the body is not a calendar entry', {});
  if (issue.code === 'unrecognized_keys') {
    const field = issue.keys[0] ?? '';
    return new ValidationError(
      'invalid_body',
      `${truncate(field)}: unknown field (a calendar entry has kind, name, note and expected_effect)`,
      { field: truncate(field) },
    );
  }
  const field = issue.path.length > 0 ? issue.path.join('.') : 'body';
  const message =
    issue.code === 'invalid_type' && issue.received === 'undefined' ? 'is required' : issue.message;
  return new ValidationError('invalid_body', `${field}: ${message}`, { field });
}

/** The body of a PUT: a JSON calendar entry, 400 naming the field otherwise. */
async function readEntryBody(ctx: Koa.Context): Promise<CalendarEntryBody> {
  if (!ctx.is('application/json')) ctx.throw(415, 'send the calendar entry as application/json');
  const raw = await readBoundedBody(ctx, MAX_BODY_BYTES);
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new ValidationError('invalid_json', 'the body is not JSON', { field: 'body' });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new ValidationError(
      'invalid_body',
      'body: must be a JSON object {kind, name, note?, expected_effect?}',
      {
        field: 'body',
      },
    );
  const parsed = calendarEntryBodySchema.safeParse(json);
  if (!parsed.success) throw bodyError(parsed.error);
  const body = parsed.data;
  if (body.kind === 'closed' && body.expected_effect !== undefined)
    throw new ValidationError(
      'invalid_body',
      'expected_effect: only an event takes one (a closed day is forecast 0)',
      { field: 'expected_effect' },
    );
  // An empty note is no note: the same entry either way.
  if (body.note === '') delete body.note;
  return body;
}

export function entryJson(e: CalendarEntry): CalendarEntryJson {
  const out: CalendarEntryJson = {
    branch_id: e.branchId,
    date: e.date,
    kind: e.kind,
    name: e.name,
    version: e.version,
    changed_by: { key_id: e.keyId, key_name: e.keyName },
    changed_at: isoUtc(e.writtenAt),
  };
  if (e.note !== undefined) out.note = e.note;
  if (e.expectedEffect !== undefined) out.expected_effect = e.expectedEffect;
  return out;
}

const sameEntry = (e: CalendarEntry, b: CalendarEntryBody): boolean =>
  e.kind === b.kind && e.name === b.name && e.note === b.note && e.expectedEffect === b.expected_effect;

export function calendarRoutes(deps: CalendarRouteDeps): CalendarRoutes {
  const log = deps.logger.child({ module: 'calendar' });
  const now = deps.now ?? Date.now;
  /** Per (branch, date): the write in progress, so writes of one date go one at a time. */
  const locks = new Map<string, Promise<unknown>>();
  /** (branch, date) whose stored latest version Kafka has not acknowledged. */
  const unannounced = new Map<string, { version: number; deleted: boolean; writtenAt: number }>();

  const serially = async <T>(key: string, work: () => Promise<T>): Promise<T> => {
    const before = locks.get(key) ?? Promise.resolve();
    const mine = before.catch(() => undefined).then(work);
    locks.set(key, mine);
    try {
      return await mine;
    } finally {
      if (locks.get(key) === mine) locks.delete(key);
    }
  };

  const target = (ctx: Koa.Context): { branch: Branch; date: string; key: string } => {
    const branchId = String(params(ctx).branch_id ?? '');
    const { date } = localDate(params(ctx).date, 'date');
    deps.assertMayWrite(ctx, branchId);
    const branch = deps.branches.get(branchId);
    if (!branch) throw new UnknownBranchError(branchId);
    return { branch, date, key: `${branch.id}\u0000${date}` };
  };

  const announce = async (
    key: string,
    branchId: string,
    date: string,
    v: { version: number; deleted: boolean; writtenAt: number },
  ): Promise<void> => {
    unannounced.set(key, v);
    await deps.publisher.publish({
      branch_id: branchId,
      local_date: date,
      version: v.version,
      deleted: v.deleted,
      changed_at: v.writtenAt,
    });
    if (unannounced.get(key) === v) unannounced.delete(key);
  };

  /** A change stored by an earlier request of this process but not announced: announce it now. */
  const announcePending = async (key: string, branchId: string, date: string): Promise<void> => {
    const pending = unannounced.get(key);
    if (pending) await announce(key, branchId, date, pending);
  };

  const answer = (ctx: Koa.Context, body: CalendarWriteResponse): void => {
    ctx.status = 200;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = body;
  };

  const put: Koa.Middleware = async (ctx) => {
    // The shape first (400 reveals nothing), then the scope, then the branch.
    localDate(params(ctx).date, 'date');
    const body = await readEntryBody(ctx);
    const { branch, date, key } = target(ctx);
    const result = await serially(key, async (): Promise<CalendarWriteResponse> => {
      const latest = await deps.reader.latest(branch.id, date);
      if (latest && !latest.deleted && sameEntry(latest, body)) {
        await announcePending(key, branch.id, date);
        return { changed: false, entry: entryJson(latest) };
      }
      const who = authorOf(ctx);
      const entry: CalendarEntry = {
        branchId: branch.id,
        date,
        kind: body.kind,
        name: body.name,
        ...(body.note !== undefined ? { note: body.note } : {}),
        ...(body.expected_effect !== undefined ? { expectedEffect: body.expected_effect } : {}),
        version: (latest?.version ?? 0) + 1,
        keyId: who.keyId,
        keyName: who.keyName,
        writtenAt: now(),
      };
      await deps.writer.append({ ...entry, deleted: false });
      log.info(
        { branch_id: branch.id, date, kind: entry.kind, version: entry.version, key_id: who.keyId },
        'calendar entry set',
      );
      // This process's /predict shows it at once; others within their poll period.
      await refreshCache(branch.id);
      await announce(key, branch.id, date, {
        version: entry.version,
        deleted: false,
        writtenAt: entry.writtenAt,
      });
      return { changed: true, entry: entryJson(entry) };
    });
    answer(ctx, result);
  };

  const remove: Koa.Middleware = async (ctx) => {
    const { branch, date, key } = target(ctx);
    const result = await serially(key, async (): Promise<CalendarWriteResponse> => {
      const latest = await deps.reader.latest(branch.id, date);
      if (!latest || latest.deleted) {
        await announcePending(key, branch.id, date);
        return { changed: false, entry: null };
      }
      const who = authorOf(ctx);
      const version = latest.version + 1;
      const writtenAt = now();
      // The removal repeats the entry it removes, so the history says what was removed.
      const { version: _previous, keyId: _k, keyName: _n, writtenAt: _w, deleted: _d, ...removed } = latest;
      await deps.writer.append({
        ...removed,
        deleted: true,
        version,
        keyId: who.keyId,
        keyName: who.keyName,
        writtenAt,
      });
      log.info({ branch_id: branch.id, date, version, key_id: who.keyId }, 'calendar entry removed');
      await refreshCache(branch.id);
      await announce(key, branch.id, date, { version, deleted: true, writtenAt });
      return { changed: true, entry: null };
    });
    answer(ctx, result);
  };

  /** The cache is re-read after a write; a failed re-read leaves it to the poll (the write stands). */
  const refreshCache = async (branchId: string): Promise<void> => {
    try {
      await deps.cache.refreshBranch(branchId);
    } catch (err) {
      log.warn(
        { err, branch_id: branchId },
        'calendar cache refresh after a write failed; the poll will catch up',
      );
    }
  };

  const list: Koa.Middleware = async (ctx) => {
    const q = ctx.query;
    for (const p of ['start', 'end'] as const)
      if (Array.isArray(q[p]))
        throw new ValidationError('duplicate_parameter', `${p}: given more than once`, { parameter: p });
    const start = localDate(q.start, 'start');
    const end = localDate(q.end, 'end');
    if (end.day < start.day)
      throw new ValidationError('invalid_range', `end: must not be before start (${start.date})`, {
        parameter: 'end',
      });
    if (end.day - start.day + 1 > MAX_CALENDAR_RANGE_DAYS)
      throw new ValidationError(
        'invalid_range',
        `end: the range ${start.date}..${end.date} is ${end.day - start.day + 1} days; at most ${MAX_CALENDAR_RANGE_DAYS} are allowed`,
        { parameter: 'end' },
      );
    const branchId = String(params(ctx).branch_id ?? '');
    deps.assertMayRead(ctx, branchId);
    const branch = deps.branches.get(branchId);
    if (!branch) throw new UnknownBranchError(branchId);
    const entries = await deps.reader.current(branch.id, start.date, end.date);
    const body: CalendarListResponse = {
      branch_id: branch.id,
      start: start.date,
      end: end.date,
      entries: entries.map(entryJson),
    };
    ctx.status = 200;
    ctx.set('Cache-Control', 'private, no-cache');
    ctx.body = body;
  };

  return { put, remove, list };
}
