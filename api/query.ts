/**
 * Query-string validation for GET /predict with the zod request schema, turned
 * into ValidationErrors whose message and details name the parameter.
 *
 * Policy: unknown parameters are ignored (cache busters like `_=123` pass); a
 * known parameter given more than once, or in array form, is a 400
 * `duplicate_parameter` (which one would win is ambiguous).
 */
import type { ZodIssue } from 'zod';
import { ValidationError } from '../lib/errors';
import { truncate } from './error-middleware';
import {
  GRANULARITIES,
  MAX_DATE,
  MAX_RANGE_DAYS,
  MIN_DATE,
  predictQueryFields,
  predictQuerySchema,
  type Granularity,
} from './schemas';
import { parseCivilDate } from '../lib/time/civil-date';

export interface ParsedPredictQuery {
  branchId: string;
  start: string;
  end: string;
  startDay: number;
  endDay: number;
  granularity: ReadonlySet<Granularity>;
  /** Canonical granularity list, e.g. `weekly,daily,hourly` (cache key part). */
  granularityKey: string;
  /** `explain=true`: buckets say where their values come from. */
  explain: boolean;
  /** Response-cache key: branch, days, granularity and explain (the same answer for the same key and state). */
  cacheKey: string;
}

type RawQuery = Record<string, string | string[] | undefined>;

const PARAMS = Object.keys(predictQueryFields.shape) as (keyof typeof predictQueryFields.shape)[];

function issueCode(issue: ZodIssue, value: unknown): string {
  if (issue.code === 'invalid_type' && value === undefined) return 'missing_parameter';
  if (issue.code === 'custom') {
    const rule = (issue.params as { rule?: string } | undefined)?.rule;
    if (rule === 'order') return 'invalid_range';
    if (rule === 'max_range') return 'range_too_long';
  }
  return 'invalid_parameter';
}

const FAST_BRANCH = /^[!-~]{1,64}$/;
const FAST_GRANULARITY = /^(?:weekly|daily|hourly)(?:,(?:weekly|daily|hourly)){0,2}$/;
const MIN_DAY = parseCivilDate(MIN_DATE) as number;
const MAX_DAY = parseCivilDate(MAX_DATE) as number;

function result(
  branchId: string,
  start: string,
  end: string,
  startDay: number,
  endDay: number,
  granularity: string | undefined,
  explain: string | undefined,
): ParsedPredictQuery {
  const wanted = new Set(
    (granularity ?? GRANULARITIES.join(','))
      .split(',')
      .map((s) => s.trim())
      .filter((s): s is Granularity => (GRANULARITIES as readonly string[]).includes(s)),
  );
  const granularityKey = GRANULARITIES.filter((g) => wanted.has(g)).join(',');
  return Object.freeze({
    branchId,
    start,
    end,
    startDay,
    endDay,
    granularity: wanted,
    granularityKey,
    explain: explain === 'true',
    cacheKey: `${branchId}\n${startDay}\n${endDay}\n${granularityKey}${explain === 'true' ? '\nexplain' : ''}`,
  });
}

/**
 * The common case without zod (its refinement chain costs ~40 µs a request):
 * accepts only queries the zod schema accepts too (property-tested), and
 * returns undefined for anything else, which then goes through zod for the
 * precise error.
 */
export function fastParsePredictQuery(query: RawQuery): ParsedPredictQuery | undefined {
  const { branch_id: b, start, end, granularity: g, explain: x } = query;
  if (typeof b !== 'string' || typeof start !== 'string' || typeof end !== 'string') return undefined;
  if (g !== undefined && (typeof g !== 'string' || !FAST_GRANULARITY.test(g))) return undefined;
  if (x !== undefined && x !== 'true' && x !== 'false') return undefined;
  if (!FAST_BRANCH.test(b)) return undefined;
  const s = parseCivilDate(start);
  const e = parseCivilDate(end);
  if (s === null || e === null || s < MIN_DAY || e > MAX_DAY || e < s || e - s + 1 > MAX_RANGE_DAYS)
    return undefined;
  return result(b, start, end, s, e, g, x);
}

/** Validates a parsed query string (Koa's ctx.query). Throws ValidationError. */
export function parsePredictQuery(query: RawQuery): ParsedPredictQuery {
  const fast = fastParsePredictQuery(query);
  if (fast) return fast;
  return zodParsePredictQuery(query);
}

/** The reference validation: the zod request schema (also what /openapi.json documents). */
export function zodParsePredictQuery(query: RawQuery): ParsedPredictQuery {
  const input: Record<string, string | undefined> = {};
  for (const p of PARAMS) {
    const v = query[p];
    if (Array.isArray(v)) {
      throw new ValidationError('duplicate_parameter', `${p}: given ${v.length} times; give it once`, {
        parameter: p,
      });
    }
    input[p] = v;
  }
  const parsed = predictQuerySchema.safeParse(input);
  if (!parsed.success) {
    const issues = [...parsed.error.issues].sort(
      (a, b) => PARAMS.indexOf(a.path[0] as never) - PARAMS.indexOf(b.path[0] as never),
    );
    const first = issues[0] as ZodIssue;
    const parameter = String(first.path[0] ?? 'query');
    const value = input[parameter];
    const got = value === undefined ? '' : ` (got ${JSON.stringify(truncate(value))})`;
    throw new ValidationError(issueCode(first, value), `${parameter}: ${first.message}${got}`, {
      parameter,
      ...(value === undefined ? {} : { value: truncate(value) }),
      issues: issues.map((i) => ({ parameter: String(i.path[0] ?? 'query'), message: i.message })),
    });
  }
  const q = parsed.data;
  return result(
    q.branch_id,
    q.start,
    q.end,
    parseCivilDate(q.start) as number,
    parseCivilDate(q.end) as number,
    q.granularity,
    q.explain,
  );
}

/** Query strings longer than this are parsed every time (they are not what a dashboard sends). */
const MEMO_MAX_QUERY_LENGTH = 512;

/**
 * parsePredictQuery memoised per raw query string: a dashboard repeats the same
 * few queries, and skipping the query-string parse and validation is a good part
 * of a cached answer's cost. Only valid queries are kept (errors are thrown
 * every time); the memo is bounded by `maxEntries` and starts over when full.
 */
export class PredictQueryParser {
  private readonly memo = new Map<string, ParsedPredictQuery>();

  constructor(private readonly maxEntries = 4_096) {}

  /** `querystring` is the raw query (without `?`); `query` parses it (Koa's ctx.query), called on a miss only. */
  parse(querystring: string, query: () => RawQuery): ParsedPredictQuery {
    const known = this.memo.get(querystring);
    if (known) return known;
    const parsed = parsePredictQuery(query());
    if (querystring.length <= MEMO_MAX_QUERY_LENGTH) {
      if (this.memo.size >= this.maxEntries) this.memo.clear();
      this.memo.set(querystring, parsed);
    }
    return parsed;
  }

  get size(): number {
    return this.memo.size;
  }
}
