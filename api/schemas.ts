/**
 * The API contract: zod schemas that validate every request (query strings) and
 * describe every response, and the OpenAPI 3.0 document generated from them
 * (served at /openapi.json, rendered at /docs). Tests validate every response
 * body against these same schemas.
 */
import { extendZodWithOpenApi, OpenAPIRegistry, OpenApiGeneratorV3 } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { parseCivilDate } from '../lib/time/civil-date';
import { explanationSchema } from './explain-schema';
import {
  accuracyResponseSchema,
  bucketPlanSchema,
  dayOverrideSchema,
  dayPlanSchema,
  hourPlanSchema,
  overrideBodySchema,
  overrideResponseSchema,
} from './overrides-schema';
import {
  CALENDAR_DESCRIPTION,
  calendarEntryBodySchema,
  calendarListResponseSchema,
  calendarPathFields,
  calendarQueryFields,
  calendarWriteResponseSchema,
  dayCalendarSchema,
} from './calendar-schema';

extendZodWithOpenApi(z);

/** Longest range /predict accepts, in days (inclusive count). */
export const MAX_RANGE_DAYS = 92;
/** Dates outside these are refused (400): there is no data and storage types end in 2149. */
export const MIN_DATE = '2000-01-01';
export const MAX_DATE = '2099-12-31';
export const GRANULARITIES = ['weekly', 'daily', 'hourly'] as const;
export type Granularity = (typeof GRANULARITIES)[number];
export const SOURCES = ['actual', 'forecast', 'mixed', 'missing'] as const;
export type Source = (typeof SOURCES)[number];

const minDay = parseCivilDate(MIN_DATE) as number;
const maxDay = parseCivilDate(MAX_DATE) as number;

// ---------------------------------------------------------------- requests

const dateParam = (name: 'start' | 'end', description: string, example: string) =>
  z
    .string({ required_error: 'is required', invalid_type_error: 'must be a single value' })
    .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date in the form yyyy-mm-dd')
    .refine((s) => parseCivilDate(s) !== null, 'is not a calendar date')
    .refine((s) => {
      const d = parseCivilDate(s);
      return d === null || (d >= minDay && d <= maxDay);
    }, `must be between ${MIN_DATE} and ${MAX_DATE}`)
    .openapi({
      description,
      param: { name, in: 'query', required: true, example },
      example,
      format: 'date',
    });

/** Query of GET /predict, field by field (the OpenAPI parameters come from this object). */
export const predictQueryFields = z
  .object({
    branch_id: z
      .string({ required_error: 'is required', invalid_type_error: 'must be a single value' })
      .min(1, 'must not be empty')
      .max(64, 'must be at most 64 characters')
      .regex(/^[!-~]+$/, 'must be printable ASCII without spaces')
      .openapi({
        description: 'Branch id, as listed by `GET /branches`.',
        param: { name: 'branch_id', in: 'query', required: true, example: '352h67i328fh' },
        example: '352h67i328fh',
      }),
    start: dateParam(
      'start',
      "First day of the range (inclusive), a date in the branch's local calendar.",
      '2021-02-04',
    ),
    end: dateParam(
      'end',
      `Last day of the range (inclusive), local date, not before \`start\`; at most ${MAX_RANGE_DAYS} days in all.`,
      '2021-02-10',
    ),
    granularity: z
      .string({ invalid_type_error: 'must be a single value' })
      .regex(
        /^\s*(weekly|daily|hourly)\s*(,\s*(weekly|daily|hourly)\s*)*$/,
        'must be a comma-separated list of hourly, daily, weekly',
      )
      .optional()
      .openapi({
        description:
          'Comma-separated breakdowns to return: any of `hourly`, `daily`, `weekly` (default: all three). `totals` and `coverage` are always returned.',
        param: {
          name: 'granularity',
          in: 'query',
          required: false,
          style: 'form',
          explode: false,
          example: 'daily,hourly',
        },
        example: 'daily,hourly',
      }),
    explain: z
      .enum(['true', 'false'], {
        errorMap: () => ({ message: 'must be true or false' }),
      })
      .optional()
      .openapi({
        description:
          "With `true`, every day, week and the totals also carry `explain`: where the value comes from (actual hours, recent level, weekday/hour shape, calendar, the model's correction), as amounts that add up to it, and the special days behind the calendar part.",
        param: { name: 'explain', in: 'query', required: false, example: 'true' },
        example: 'true',
      }),
  })
  .openapi('PredictQuery');

/** Full request validation for GET /predict: the fields plus the rules across them. */
export const predictQuerySchema = predictQueryFields.superRefine((q, ctx) => {
  const s = parseCivilDate(q.start);
  const e = parseCivilDate(q.end);
  if (s === null || e === null) return;
  if (e < s) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      path: ['end'],
      message: `must not be before start (${q.start})`,
      params: { rule: 'order' },
    });
  } else if (e - s + 1 > MAX_RANGE_DAYS) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      path: ['end'],
      message: `the range ${q.start}..${q.end} is ${e - s + 1} days; at most ${MAX_RANGE_DAYS} are allowed`,
      params: { rule: 'max_range' },
    });
  }
});
export type PredictQuery = z.infer<typeof predictQueryFields>;

// ---------------------------------------------------------------- responses

const isoInstant = z
  .string()
  .datetime()
  .openapi({ description: 'UTC instant, ISO-8601', example: '2021-02-01T00:00:00.000Z' });
const isoDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/)
  .openapi({ format: 'date', example: '2021-02-04' });

const amount = (what: string) => z.number().nullable().openapi({ description: what });

const valueFields = {
  sales: amount(
    'Sales (median forecast, or the actual), currency major units rounded to cents; null when not covered.',
  ),
  sales_p10: amount('Sales, 10th percentile (equals `sales` for actual hours).'),
  sales_p90: amount('Sales, 90th percentile (equals `sales` for actual hours).'),
  orders: amount(
    'Orders (median forecast, or the actual count). Forecasts are expected counts and may be fractional.',
  ),
  orders_p10: amount('Orders, 10th percentile.'),
  orders_p90: amount('Orders, 90th percentile.'),
  source: z.enum(SOURCES).openapi({
    description:
      '`actual`: every hour closed (real numbers from POS); `forecast`: every hour forecast; `mixed`: both; `missing`: at least one hour has neither (values are null).',
  }),
};

export const hourRowSchema = z
  .object({
    start: z.string().datetime({ offset: true }).openapi({
      description: "Hour start, local time with the branch's UTC offset",
      example: '2021-02-04T12:00:00+00:00',
    }),
    ...valueFields,
    plan: hourPlanSchema.optional(),
  })
  .strict()
  .openapi('HourRow');

export const dayRowSchema = z
  .object({
    date: isoDate,
    hours: z
      .number()
      .int()
      .openapi({ description: 'Local hours in the day: 24, or 23/25 on DST change days.' }),
    missing_hours: z.number().int().openapi({ description: 'Hours with neither an actual nor a forecast.' }),
    ...valueFields,
    explain: explanationSchema.optional(),
    calendar: dayCalendarSchema.optional(),
    plan: dayPlanSchema.optional(),
    override: dayOverrideSchema
      .nullable()
      .optional()
      .openapi({ description: "The manager's override in force (null: none); present with `plan`" }),
  })
  .strict()
  .openapi('DayRow');

export const weekRowSchema = z
  .object({
    week_start: isoDate.openapi({ description: 'Monday of the ISO week (may precede the range start).' }),
    iso_week: z
      .string()
      .regex(/^\d{4}-W\d{2}$/)
      .openapi({ example: '2021-W05' }),
    first_date: isoDate.openapi({ description: 'First day of this week inside the range.' }),
    last_date: isoDate.openapi({ description: 'Last day of this week inside the range.' }),
    days: z
      .number()
      .int()
      .min(1)
      .max(7)
      .openapi({ description: 'Days of this week inside the range (the row is clipped to it).' }),
    ...valueFields,
    explain: explanationSchema.optional(),
    plan: bucketPlanSchema.optional(),
  })
  .strict()
  .openapi('WeekRow');

export const totalsSchema = z
  .object({
    days: z.number().int(),
    ...valueFields,
    explain: explanationSchema.optional(),
    plan: bucketPlanSchema.optional(),
  })
  .strict()
  .openapi('Totals');

export const branchInfoSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    timezone: z
      .string()
      .openapi({ description: 'IANA time zone: the calendar of dates and hours.', example: 'Europe/Dublin' }),
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/)
      .openapi({ description: 'ISO 4217 currency of sales.', example: 'EUR' }),
  })
  .strict()
  .openapi('Branch');

export const forecastInfoSchema = z
  .object({
    run_id: z.string(),
    model_version: z.string(),
    generated_at: isoInstant,
    data_through: isoInstant.openapi({ description: 'Start of the last closed hour the run saw (UTC).' }),
    horizon_end: isoInstant.openapi({ description: 'End (exclusive) of the last forecast hour (UTC).' }),
    cold_start: z.literal(true).optional().openapi({
      description:
        'Present (true) when the run forecast a new branch (less than 28 days of its own sales) from its group’s other branches or its expected weekly sales, handing over to its own history as it grows; its ranges are wider. Absent for every other run.',
    }),
  })
  .strict()
  .openapi('ForecastRun');

export const coverageSchema = z
  .object({
    complete: z.boolean(),
    missing: z.array(isoDate).openapi({
      description: 'Local dates with at least one hour that has neither an actual nor a forecast.',
    }),
    missing_hours: z.number().int(),
  })
  .strict()
  .openapi('Coverage');

export const predictResponseSchema = z
  .object({
    branch: branchInfoSchema,
    range: z
      .object({ start: isoDate, end: isoDate, days: z.number().int().min(1).max(MAX_RANGE_DAYS) })
      .strict(),
    granularity: z.array(z.enum(GRANULARITIES)),
    forecast: forecastInfoSchema,
    last_closed_hour: isoInstant
      .nullable()
      .openapi({ description: 'Start of the latest closed hour of the branch (UTC), if known.' }),
    totals: totalsSchema,
    coverage: coverageSchema,
    explained: z.boolean().optional().openapi({
      description:
        'With `explain=true`: whether the serving run carries explanations (false for a run made before they existed: every `explain` of a bucket with forecast hours is then null).',
    }),
    weekly: z.array(weekRowSchema).optional(),
    daily: z.array(dayRowSchema).optional(),
    hourly: z.array(hourRowSchema).optional(),
  })
  .strict()
  .openapi('PredictResponse');
export type PredictResponse = z.infer<typeof predictResponseSchema>;
export type HourRow = z.infer<typeof hourRowSchema>;
export type DayRow = z.infer<typeof dayRowSchema>;
export type WeekRow = z.infer<typeof weekRowSchema>;
export type Totals = z.infer<typeof totalsSchema>;

// ------------------------------------------------ GET /v1/groups/{group_id}/predict (issue 16)

export const groupPathFields = z.object({
  group_id: z.string().openapi({ param: { name: 'group_id', in: 'path', required: true, example: 'nory' } }),
});

/** The query of a group: /predict's without branch_id (the same rules: api/query.ts). */
export const groupPredictQueryFields = predictQueryFields.omit({ branch_id: true });

export const groupHourRowSchema = z
  .object({ start: hourRowSchema.shape.start, ...valueFields })
  .strict()
  .openapi('GroupHourRow');
export const groupDayRowSchema = z
  .object({
    date: isoDate,
    hours: z.number().int(),
    missing_hours: z.number().int().openapi({ description: 'Hours that any branch of the group misses.' }),
    ...valueFields,
  })
  .strict()
  .openapi('GroupDayRow');
export const groupWeekRowSchema = weekRowSchema.omit({ explain: true }).strict().openapi('GroupWeekRow');

export const GROUP_RANGE_METHODS = ['calibrated', 'summed', 'branch'] as const;

/** A branch's part of a group answer: its /predict answer (forecast null while it has no run). */
export const groupBranchSchema = predictResponseSchema
  .extend({ forecast: forecastInfoSchema.nullable() })
  .openapi('GroupBranch');

export const groupPredictResponseSchema = z
  .object({
    group: z
      .object({
        id: z.string(),
        branches: z
          .array(z.string())
          .openapi({ description: 'Ids of the branches of the group, in directory order.' }),
        timezone: branchInfoSchema.shape.timezone,
        currency: branchInfoSchema.shape.currency,
      })
      .strict(),
    range: predictResponseSchema.shape.range,
    granularity: predictResponseSchema.shape.granularity,
    ranges: z
      .object({
        method: z.enum(GROUP_RANGE_METHODS).openapi({
          description:
            "How the group's p10/p90 are made. `calibrated`: k × (sum or root-sum-of-squares) of the branches' half-widths around the summed p50, k measured per grain out of sample when the model was trained (docs/model.md); `summed`: the sums of the branches' p10s and p90s (too wide unless the branches always miss together), because a branch's run carries no group factors (`note` says which); `branch`: a group of one branch has its branch's ranges.",
        }),
        model_version: z
          .string()
          .nullable()
          .openapi({ description: 'The model whose group factors are used.' }),
        note: z.string(),
      })
      .strict(),
    totals: totalsSchema.omit({ explain: true }).strict(),
    coverage: coverageSchema,
    weekly: z.array(groupWeekRowSchema).optional(),
    daily: z.array(groupDayRowSchema).optional(),
    hourly: z.array(groupHourRowSchema).optional(),
    branches: z.array(groupBranchSchema),
  })
  .strict()
  .openapi('GroupPredictResponse');
export type GroupPredictResponse = z.infer<typeof groupPredictResponseSchema>;
export type GroupBranch = z.infer<typeof groupBranchSchema>;

export const branchListItemSchema = branchInfoSchema
  .extend({
    latest_forecast: forecastInfoSchema.nullable(),
    last_closed_hour: isoInstant.nullable(),
  })
  .strict()
  .openapi('BranchListItem');

export const branchesResponseSchema = z
  .object({ branches: z.array(branchListItemSchema) })
  .strict()
  .openapi('BranchesResponse');
export type BranchesResponse = z.infer<typeof branchesResponseSchema>;

export const meResponseSchema = z
  .object({
    auth: z
      .enum(['keys', 'none'])
      .openapi({ description: '`none`: the API runs without keys (AUTH_MODE=none)' }),
    key: z
      .object({ id: z.string().openapi({ description: 'Public id of the key' }), name: z.string() })
      .strict()
      .nullable(),
    write_branches: z.array(z.string()).openapi({
      description:
        'Branches of the directory whose operator data (calendar, overrides) this key may write: the `write` scope on the branches it may read, every branch for `admin`',
    }),
  })
  .strict()
  .openapi('MeResponse');
export type MeResponse = z.infer<typeof meResponseSchema>;

export const errorResponseSchema = z
  .object({
    error: z
      .object({
        code: z.string().openapi({ example: 'invalid_parameter' }),
        message: z.string().openapi({ example: 'start: is not a calendar date (got "2021-02-30")' }),
        details: z.record(z.unknown()).openapi({ example: { parameter: 'start' } }),
      })
      .strict(),
  })
  .strict()
  .openapi('Error');
export type ErrorResponse = z.infer<typeof errorResponseSchema>;

export const healthResponseSchema = z
  .object({ status: z.literal('ok') })
  .strict()
  .openapi('Health');

export const readyResponseSchema = z
  .object({
    status: z.enum(['ready', 'not_ready']),
    checks: z
      .object({
        accepting: z.boolean().openapi({ description: 'false once shutdown began' }),
        clickhouse: z.boolean(),
        forecasts_loaded: z.boolean(),
        forecasts_fresh: z.boolean(),
        last_forecast_poll_age_ms: z.number().nullable(),
        branches_with_forecast: z.number().int(),
      })
      .strict(),
  })
  .strict()
  .openapi('Ready');

// ---------------------------------------------------------------- OpenAPI

export const API_DESCRIPTION = `Hourly, daily and weekly sales and order forecasts per restaurant branch, for staff and stock planning.

Conventions:
- Every date is a date in the branch's local calendar (its IANA \`timezone\`); hour rows carry their local start with the UTC offset in force, so a day has 24 rows, 23 on the spring-forward day and 25 on the fall-back day.
- Sales are in the branch's currency, major units, rounded to cents. Orders of forecast hours are expected counts and may be fractional (3 decimals).
- \`source\` says where numbers come from: \`actual\` for closed hours (the real POS totals; p10 = p50 = p90 = the actual), \`forecast\` for the latest complete forecast run, \`mixed\` for a day, week or total combining both, \`missing\` when an hour has neither (beyond the forecast horizon, before the branch's history, or an hour that has not closed and that the run does not cover).
- Aggregation rule: a day, week or total is the sum of its hours only when every hour is covered; if any hour is missing its values are all null and its source is \`missing\` (never a silent zero). Such days are listed in \`coverage.missing\`; \`missing_hours\` counts the uncovered hours.
- p10/p90 are calibrated for the bucket they belong to: an hour's, a day's, an ISO week's and the range total's p10–p90 are each meant to hold the actual 80% of the time (measured out of sample when the model was trained). p50 (\`sales\`, \`orders\`) of a day, week or total is exactly the sum of its hours; its p10/p90 are not sums of the hourly p10/p90 (quantiles do not add): they are the bucket's own, around that p50, from the model's day and week factors (a day with 5 to 63 forecast hours takes the day's, 64 or more the week's, fewer than 5 the sums of its hourly p10/p90). Closed hours count exactly (no spread): a \`mixed\` bucket's p10/p90 are its actual sum plus the range of its forecast hours. A run made by a model without these factors answers with the sums of the hourly quantiles (a wide band).
- \`explain=true\` adds to every day, week and the totals where the value comes from: \`explain.sales\` and \`explain.orders\` split the p50 into the closed hours' actual, the branch's recent level, the weekday/hour shape, the calendar (with the special days named in \`explain.special_days\`: public holidays and their eves, trading days such as Valentine's Day, likely closures such as Christmas Day) and the model's correction (the network's, and the day totals' combination with Holt-Winters), amounts that add up to \`sales\` and \`orders\` exactly.
- Weeks are ISO weeks (Monday start); a week row is clipped to the requested range and \`days\` counts its days inside it.
- Overrides: a manager may set a day's expected sales and/or orders (\`PUT /v1/branches/{id}/overrides/{date}\`, a key with the \`write\` scope). The model keeps forecasting; when a day of the range has an override in force, every hour, day, week and the totals also carry \`plan\` (and every day its \`override\`, null when none): a day's plan is the override (its model value for a measure not overridden), spread over its hours in proportion to the model's hourly values (evenly when they are all 0); weeks and totals sum their days' plans. Without an override in the range these fields are absent. \`GET /v1/branches/{id}/accuracy\` scores the overrides once their days have closed.
- Branch calendar: a day with an operator's calendar entry (\`PUT /v1/branches/{id}/calendar/{date}\`) carries \`calendar: {kind, name, note?}\` in the daily rows: a \`closed\` day is forecast 0 with a 0–0 range (by the model, from the run made after the entry), an \`event\` day as a special day. A change shows in /predict at once through the API process that took it and within the poll period (2 s) through the others; the forecast follows with the next run (about a second).
- The latest complete forecast run of the branch is served (a run becomes visible only after all its points are written).
- Query parameters: unknown parameters are ignored; a known parameter given twice (\`?start=a&start=b\`) or in array form is refused with 400 \`duplicate_parameter\`.
- Authentication: \`/predict\`, \`/branches\` (and their \`/v1\` paths) need an API key, sent as \`Authorization: Bearer <key>\` (never in the URL); \`/metrics\` needs a key with the \`metrics\` scope; \`/health\`, \`/ready\`, \`/openapi.json\` and \`/docs\` are open. A key reads the branches of its scopes (branch ids, restaurant groups, or all with \`admin\`); \`/branches\` lists only those. Without a key, or with an unknown, malformed or revoked one: 401 \`unauthenticated\` with \`WWW-Authenticate: Bearer\`. A branch outside the key's scopes is 403 \`forbidden\` whether it exists or not, so a key never learns which other branches exist; 404 \`not_found\` for an unknown branch only answers keys whose scopes name it (or admin keys). A revoked key is refused within seconds (the API's key cache TTL, 10 s by default). Keys are made with \`tillcast keys create\`.
- Errors are JSON \`{"error": {"code", "message", "details"}}\`; messages name the offending parameter. 400 bad input, 401 no valid key, 403 a branch outside the key's scopes, 404 unknown branch or path, 405 other methods (only GET, HEAD and OPTIONS exist), 414 URL too long, 429 rate limited (per API key, or per client IP for requests without one, with \`Retry-After\`), 503 no forecast yet or a dependency unavailable (with \`Retry-After\`).
- The API is versioned: \`/v1/...\` paths are stable; the unversioned paths are aliases of the current version.`;

// --- Capture (POST /v1/events, POST /v1/webhooks/square; api/capture/, docs/capture.md) ---
// The documentation of the capture JSON; the parser is api/capture/json-events.ts (its tests post
// these examples).

const moneyMinor = (what: string) =>
  z
    .union([z.number().int(), z.string().regex(/^-?\d{1,17}$/)])
    .optional()
    .openapi({ description: `${what}, integer minor units (cents); give this or the decimal field` });
const moneyDecimal = (what: string) =>
  z
    .string()
    .regex(/^-?\d{1,15}(\.\d{1,9})?$/)
    .optional()
    .openapi({
      description: `${what} as a decimal string in major units ("12.50"), at most the currency's decimals; a JSON number is refused (float_amount)`,
    });
const instant = z.union([z.string(), z.number().int()]).openapi({
  description: 'ISO-8601 with a UTC offset ("2021-02-01T12:30:00+01:00", "...Z") or epoch milliseconds',
});

export const captureSaleSchema = z
  .object({
    type: z.literal('sale').optional().openapi({ description: 'default "sale"' }),
    event_id: z.string().openapi({
      description: 'POS receipt id, unique within the branch; 1-128 printable ASCII',
      example: 'R-10482',
    }),
    branch_id: z.string().openapi({ example: '352h67i328fh' }),
    occurred_at: instant,
    status: z.enum(['SALE', 'REFUND', 'VOID']),
    channel: z
      .enum(['RESTAURANT', 'TAKEAWAY', 'DELIVERY', 'OTHER'])
      .optional()
      .openapi({ description: 'default OTHER' }),
    currency: z.string().openapi({ description: 'ISO 4217, the branch currency', example: 'EUR' }),
    total_minor: moneyMinor('Gross total incl. tax, excl. tip'),
    total: moneyDecimal('Gross total incl. tax, excl. tip'),
    net_minor: moneyMinor('Net of tax'),
    net: moneyDecimal('Net of tax'),
    tax_minor: moneyMinor('Tax'),
    tax: moneyDecimal('Tax'),
    tip_minor: moneyMinor('Tip (default 0; not part of sales)'),
    tip: moneyDecimal('Tip (default 0; not part of sales)'),
    covers: z.number().int().nullable().optional(),
    pos: z
      .record(z.string())
      .optional()
      .openapi({ description: 'free-form POS metadata, string values (at most 64 entries)' }),
  })
  .strict()
  .openapi('CaptureSale', {
    example: {
      event_id: 'R-10482',
      branch_id: '352h67i328fh',
      occurred_at: '2021-02-01T12:30:00+00:00',
      status: 'SALE',
      channel: 'RESTAURANT',
      currency: 'EUR',
      total: '42.50',
      net: '34.55',
      tax: '7.95',
      tip: '4.00',
      covers: 2,
    },
  });

export const captureHeartbeatSchema = z
  .object({
    type: z.literal('heartbeat'),
    branch_id: z.string(),
    at: instant,
    source: z.string().optional().openapi({ description: 'the till (default "capture")' }),
  })
  .strict()
  .openapi('CaptureHeartbeat', {
    example: { type: 'heartbeat', branch_id: '352h67i328fh', at: '2021-02-01T13:00:00Z', source: 'till-1' },
  });

export const captureRequestSchema = z
  .array(z.union([captureSaleSchema, captureHeartbeatSchema]))
  .openapi('CaptureRequest');

export const captureResultSchema = z
  .object({
    index: z
      .number()
      .int()
      .openapi({ description: 'position of the event in the request (NDJSON: among the non-blank lines)' }),
    status: z.enum(['accepted', 'rejected']),
    type: z.enum(['sale', 'heartbeat']).optional(),
    branch_id: z.string().optional(),
    event_id: z.string().optional(),
    code: z.string().optional().openapi({
      description: 'why it was rejected (docs/capture.md lists the codes)',
      example: 'float_amount',
    }),
    reason: z.string().optional(),
  })
  .strict()
  .openapi('CaptureResult');

export const captureResponseSchema = z
  .object({
    accepted: z.number().int(),
    rejected: z.number().int(),
    ignored: z
      .array(z.string())
      .optional()
      .openapi({ description: 'webhooks only: the parts that are not receipts, and why' }),
    results: z.array(captureResultSchema),
  })
  .strict()
  .openapi('CaptureResponse');
export type CaptureResponse = z.infer<typeof captureResponseSchema>;

export const CAPTURE_DESCRIPTION = `For POS systems that cannot speak Kafka (docs/capture.md): a JSON array (or one object) of sale events and heartbeats, or NDJSON (\`Content-Type: application/x-ndjson\`, one per line). Each is checked with the rules of the ingest consumer, and the accepted ones are written to the sales topic (keyed by branch, acknowledged by every in-sync replica) before the answer: **202** with a status per event, \`accepted\` or \`rejected\` with a \`code\` and a \`reason\`. Re-sending an event is harmless: \`(branch_id, event_id)\` identifies it. The key needs the \`capture\` scope (\`tillcast keys create --capture\`) and publishes its own branches only (others: \`forbidden_branch\`).

Limits: at most CAPTURE_MAX_EVENTS events (1000) and CAPTURE_MAX_BODY_BYTES (1 MiB) per request, else 413. **503** (with Retry-After) when Kafka did not acknowledge in time: nothing of that request was accepted, send it again. **429** beyond the key's rate.`;

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: errorResponseSchema } },
});

/** The security scheme of every route that needs a key (`securitySchemes` of the document). */
export const BEARER_SCHEME = 'bearerAuth';
const bearerSecurity = [{ [BEARER_SCHEME]: [] }];
const unauthenticatedResponse = {
  ...errorResponse('No API key, or an unknown, malformed or revoked one (code `unauthenticated`)'),
  headers: z.object({
    'WWW-Authenticate': z.string().openapi({ description: 'Bearer realm="tillcast" (RFC 6750)' }),
  }),
};

export const loginRequestSchema = z
  .object({ code: z.string().min(1).max(64).openapi({ description: 'The one-time login code' }) })
  .openapi('LoginRequest');
export const loginResponseSchema = z
  .object({
    key: z
      .string()
      .openapi({ description: 'The API key: keep it in session storage, send it as a bearer token' }),
    key_id: z.string(),
    name: z.string(),
  })
  .strict()
  .openapi('LoginResponse');

function buildRegistry(): OpenAPIRegistry {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', BEARER_SCHEME, {
    type: 'http',
    scheme: 'bearer',
    description:
      'An API key from `tillcast keys create` (`tc_<key id>_<secret>`), as `Authorization: Bearer <key>`. Its scopes say which branches it reads (`admin`: all) and whether it may read `/metrics`.',
  });
  for (const prefix of ['/v1', '']) {
    const alias = prefix === '' ? ' (alias of the /v1 path)' : '';
    registry.registerPath({
      method: 'get',
      path: `${prefix}/predict`,
      operationId: prefix ? 'predictV1' : 'predict',
      summary: `Sales and orders forecast for one branch and date range${alias}`,
      description:
        'Weekly, daily and hourly sales and orders for the branch over `start`..`end` (local dates, inclusive): actual numbers for closed hours, the latest forecast run for the rest, nulls where neither exists (see `coverage`).',
      tags: ['forecast'],
      security: bearerSecurity,
      request: { query: predictQueryFields },
      responses: {
        200: {
          description: 'The forecast',
          content: { 'application/json': { schema: predictResponseSchema } },
          headers: z.object({
            ETag: z.string().openapi({ description: 'Entity tag; send it back in If-None-Match for a 304' }),
          }),
        },
        304: { description: 'Not modified (If-None-Match matched)' },
        400: errorResponse(
          'A parameter is missing, repeated or malformed, the date is impossible, end is before start, or the range is too long',
        ),
        401: unauthenticatedResponse,
        403: errorResponse(
          "The branch is outside the key's scopes (code `forbidden`, the branch named): answered whether the branch exists or not",
        ),
        404: errorResponse('Unknown branch (only to keys whose scopes name it, or admin keys)'),
        429: errorResponse('Rate limit exceeded, per key (see Retry-After)'),
        503: errorResponse('The branch has no forecast yet, or storage is unavailable (see Retry-After)'),
      },
    });
    registry.registerPath({
      method: 'get',
      path: `${prefix}/branches`,
      operationId: prefix ? 'branchesV1' : 'branches',
      summary: `The branches the key may read, with their latest forecast run${alias}`,
      tags: ['forecast'],
      security: bearerSecurity,
      responses: {
        200: { description: 'Branches', content: { 'application/json': { schema: branchesResponseSchema } } },
        401: unauthenticatedResponse,
        429: errorResponse('Rate limit exceeded'),
      },
    });
  }
  registry.registerPath({
    method: 'get',
    path: '/v1/me',
    operationId: 'me',
    summary: "The request's key and the branches it may write (the dashboard shows editing controls by it)",
    tags: ['forecast'],
    security: bearerSecurity,
    responses: {
      200: { description: 'The key', content: { 'application/json': { schema: meResponseSchema } } },
      401: unauthenticatedResponse,
      429: errorResponse('Rate limit exceeded'),
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/groups/{group_id}/predict',
    operationId: 'groupPredictV1',
    summary: 'Sales and orders forecast of a restaurant group: per branch and group totals',
    description:
      "A group is every branch whose `group` (or POS company id) is `group_id`; its branches share one time zone and currency. `branches` holds each branch's `/predict` answer (its rules: actual, forecast, missing; `forecast` null while a branch has no run). The group's hours, days, ISO weeks and total sum its branches' buckets: p50 is the exact sum of theirs (to the cent), a bucket with any branch missing is missing, `actual`/`forecast` when every branch's is, else `mixed`. Group p10/p90 are calibrated for the group, not sums of the branches' quantiles: k × (sum or root-sum-of-squares) of the branches' half-widths around that p50, k measured per grain (hour, day, week) out of sample when the model was trained; `ranges` says which method an answer used (`summed` when a branch's run carries no group factors). Same query rules as `/predict`.",
    tags: ['forecast'],
    security: bearerSecurity,
    request: { params: groupPathFields, query: groupPredictQueryFields },
    responses: {
      200: {
        description: 'The group forecast',
        content: { 'application/json': { schema: groupPredictResponseSchema } },
      },
      400: errorResponse(
        "A parameter is missing, repeated or malformed (as for `/predict`), or the group's branches mix time zones or currencies (`mixed_group`)",
      ),
      401: unauthenticatedResponse,
      403: errorResponse(
        'The key may not read every branch of the group (code `forbidden`): answered whether the group exists or not',
      ),
      404: errorResponse('Unknown group (only to keys whose scopes name it, or admin keys)'),
      429: errorResponse('Rate limit exceeded, per key (see Retry-After)'),
      503: errorResponse(
        'No branch of the group has a forecast yet, or storage is unavailable (see Retry-After)',
      ),
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/health',
    operationId: 'health',
    summary: 'Liveness: the process serves HTTP',
    tags: ['operations'],
    responses: {
      200: { description: 'Alive', content: { 'application/json': { schema: healthResponseSchema } } },
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/ready',
    operationId: 'ready',
    summary: 'Readiness: ClickHouse reachable and forecasts fresh',
    description:
      'Ready when the process is not shutting down, ClickHouse answers a ping, the initial forecast load is done, and the in-memory forecasts are fresh: the last successful poll of `forecast_runs` is at most 3 poll intervals (at least 15 s) old.',
    tags: ['operations'],
    responses: {
      200: { description: 'Ready', content: { 'application/json': { schema: readyResponseSchema } } },
      503: { description: 'Not ready', content: { 'application/json': { schema: readyResponseSchema } } },
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/metrics',
    operationId: 'metrics',
    summary: 'Prometheus metrics (text exposition format); a key with the metrics scope',
    description:
      'Not public: a key with the `metrics` scope (`tillcast keys create --name prometheus --metrics`; Prometheus sends it with `authorization: {credentials: <key>}` in its scrape config).',
    tags: ['operations'],
    security: bearerSecurity,
    responses: {
      200: { description: 'Metrics', content: { 'text/plain': { schema: z.string() } } },
      401: unauthenticatedResponse,
      403: errorResponse('The key has no `metrics` scope'),
    },
  });
  registry.registerPath({
    method: 'post',
    path: '/auth/login',
    operationId: 'login',
    summary: "Swap a one-time login code for its key (the dashboard's login link)",
    description:
      '`tillcast start` prints a dashboard URL with a one-time code in its fragment; the dashboard posts it here and keeps the key it gets in session storage. A code works once, for 15 minutes, in the process that issued it.',
    tags: ['operations'],
    request: { body: { content: { 'application/json': { schema: loginRequestSchema } } } },
    responses: {
      200: { description: 'The key', content: { 'application/json': { schema: loginResponseSchema } } },
      400: errorResponse('The body is not {"code": "..."}'),
      401: errorResponse('Unknown, used or expired code'),
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/openapi.json',
    operationId: 'openapi',
    summary: 'This document',
    tags: ['operations'],
    responses: {
      200: {
        description: 'OpenAPI 3.0 document',
        content: { 'application/json': { schema: z.object({}).passthrough() } },
      },
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/docs',
    operationId: 'docs',
    summary: 'Human-readable documentation rendered from this document',
    tags: ['operations'],
    responses: { 200: { description: 'HTML', content: { 'text/html': { schema: z.string() } } } },
  });
  registry.registerPath({
    method: 'post',
    path: '/v1/events',
    operationId: 'captureEvents',
    summary: 'Publish sale events and heartbeats (POS capture)',
    description: CAPTURE_DESCRIPTION,
    tags: ['capture'],
    security: bearerSecurity,
    request: {
      body: {
        content: {
          'application/json': { schema: captureRequestSchema },
          'application/x-ndjson': {
            schema: z.string().openapi({ description: 'one capture event per line' }),
          },
        },
      },
    },
    responses: {
      202: {
        description: 'Every event checked; the accepted ones are in Kafka',
        content: { 'application/json': { schema: captureResponseSchema } },
      },
      400: errorResponse('The body is not JSON (`invalid_json`) or holds no events (`invalid_body`)'),
      401: unauthenticatedResponse,
      403: errorResponse('The key has no `capture` scope'),
      413: errorResponse('Too many events or bytes in one request'),
      415: errorResponse('Neither application/json nor application/x-ndjson'),
      429: errorResponse('Rate limit exceeded, per key (see Retry-After)'),
      503: errorResponse(
        'Kafka did not acknowledge in time (`kafka_unavailable`): nothing was accepted, retry after Retry-After',
      ),
    },
  });
  registry.registerPath({
    method: 'post',
    path: '/v1/webhooks/square',
    operationId: 'squareWebhook',
    summary: "Square's payment, refund and order webhooks, as sale events",
    description:
      'Signed by Square (`x-square-hmacsha256-signature`, checked with SQUARE_WEBHOOK_SIGNATURE_KEY over SQUARE_WEBHOOK_URL and the raw body); locations map to branches with SQUARE_LOCATION_BRANCHES. COMPLETED payments are sales, COMPLETED refunds refunds; see docs/capture.md for the mapping. 404 when not configured.',
    tags: ['capture'],
    responses: {
      202: {
        description: 'Mapped, checked and published like POST /v1/events (plus `ignored`)',
        content: { 'application/json': { schema: captureResponseSchema } },
      },
      400: errorResponse('The body is not JSON'),
      401: errorResponse('The signature does not match'),
      404: errorResponse('The Square webhook is not configured'),
      503: errorResponse('Kafka did not acknowledge in time; Square retries'),
    },
  });
  const overridePath = '/v1/branches/{branch_id}/overrides/{date}';
  const overrideParams = z.object({
    branch_id: z.string().openapi({ param: { name: 'branch_id', in: 'path' }, example: '352h67i328fh' }),
    date: z.string().openapi({
      param: { name: 'date', in: 'path' },
      format: 'date',
      example: '2021-02-05',
      description: 'Local date',
    }),
  });
  const overrideErrors = {
    400: errorResponse(
      'The date, the branch id or the body is malformed (the field is named: `sales` negative or with more than 2 decimals, `orders` not a whole number, neither given, ...)',
    ),
    401: unauthenticatedResponse,
    403: errorResponse('The key may not write this branch (it needs the `write` scope on it, or `admin`)'),
    404: errorResponse('Unknown branch'),
    409: errorResponse(
      'The day has closed (`day_closed`: its actuals are in, an override can no longer be scored fairly), or the served forecast does not cover it (`no_model_forecast`: beyond the horizon)',
    ),
    503: errorResponse(
      'The branch has no forecast yet (`no_forecast`), or storage is unavailable (see Retry-After)',
    ),
  };
  registry.registerPath({
    method: 'put',
    path: overridePath,
    operationId: 'setOverride',
    summary: "Set a manager's expected sales and/or orders of a day",
    description:
      "Stored in an append-only ledger with who set it, when, and the model's forecast of the day at that moment (the run, the day's p50 and calibrated p10/p90, as /predict served them), which is what the override is scored against. Idempotent: the same values and reason again answer `changed: false` and write nothing. A closed day cannot be overridden (409 `day_closed`); today can (the model value then includes today's closed hours).",
    tags: ['overrides'],
    security: bearerSecurity,
    request: {
      params: overrideParams,
      body: { content: { 'application/json': { schema: overrideBodySchema } } },
    },
    responses: {
      200: {
        description: 'The override in force',
        content: { 'application/json': { schema: overrideResponseSchema } },
      },
      ...overrideErrors,
    },
  });
  registry.registerPath({
    method: 'delete',
    path: overridePath,
    operationId: 'clearOverride',
    summary: "Clear a day's override",
    description:
      'Writes a clearing row to the ledger (the history stays). `changed: false` when no override was in force. A closed day keeps its override (409 `day_closed`): a score is not erased.',
    tags: ['overrides'],
    security: bearerSecurity,
    request: { params: overrideParams },
    responses: {
      200: {
        description: 'Cleared (override: null)',
        content: { 'application/json': { schema: overrideResponseSchema } },
      },
      ...overrideErrors,
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/branches/{branch_id}/accuracy',
    operationId: 'overrideAccuracy',
    summary: 'Scorecard of the overrides: override against model on every closed overridden day',
    description:
      "For every day of start..end (local dates, at most 366 days) with an override in force that has closed (all its hours): the actual, the model's p50 the override replaced, the override, the absolute errors and who was closer, for sales and orders; summaries for the branch and per manager (key): how often the override was closer, the mean absolute errors, and by how much the overrides beat the model. `pending` lists overridden days not closed yet. The same numbers as the analyst view v_override_accuracy.",
    tags: ['overrides'],
    security: bearerSecurity,
    request: {
      params: z.object({
        branch_id: z.string().openapi({ param: { name: 'branch_id', in: 'path' }, example: '352h67i328fh' }),
      }),
      query: z.object({
        start: z.string().openapi({
          param: { name: 'start', in: 'query', required: true },
          format: 'date',
          example: '2021-01-01',
        }),
        end: z.string().openapi({
          param: { name: 'end', in: 'query', required: true },
          format: 'date',
          example: '2021-01-31',
        }),
      }),
    },
    responses: {
      200: {
        description: 'The scorecard',
        content: { 'application/json': { schema: accuracyResponseSchema } },
      },
      400: errorResponse('start or end missing or malformed, end before start, or more than 366 days'),
      401: unauthenticatedResponse,
      403: errorResponse("The branch is outside the key's scopes"),
      404: errorResponse('Unknown branch'),
      503: errorResponse('Storage is unavailable (see Retry-After)'),
    },
  });
  const calendarPath = '/v1/branches/{branch_id}/calendar/{date}';
  const calendarErrors = {
    400: errorResponse(
      'The date or the body is malformed; the message and `details.field` (body) or `details.parameter` (path) name it',
    ),
    401: unauthenticatedResponse,
    403: errorResponse('The key may not write this branch (it needs the `write` scope on it, or `admin`)'),
    404: errorResponse('Unknown branch (only to keys whose scopes name it, or admin keys)'),
    503: errorResponse(
      'Storage unavailable, or the entry was stored but its refresh could not be announced (`kafka_unavailable`: send the same request again); see Retry-After',
    ),
  };
  registry.registerPath({
    method: 'put',
    path: calendarPath,
    operationId: 'setCalendarEntry',
    summary: 'Set a closure or an event on a date of the branch calendar',
    description: CALENDAR_DESCRIPTION,
    tags: ['calendar'],
    security: bearerSecurity,
    request: {
      params: calendarPathFields,
      body: { content: { 'application/json': { schema: calendarEntryBodySchema } } },
    },
    responses: {
      200: {
        description: 'The entry in force (`changed: false`: it was already)',
        content: { 'application/json': { schema: calendarWriteResponseSchema } },
      },
      ...calendarErrors,
      415: errorResponse('The body is not application/json'),
    },
  });
  registry.registerPath({
    method: 'delete',
    path: calendarPath,
    operationId: 'removeCalendarEntry',
    summary: 'Remove the calendar entry of a date',
    description:
      'Stores a removal as a new version (the history stays) and announces it, so the forecast is refreshed without the entry. `changed: false` when the date had no entry (nothing stored, not an error).',
    tags: ['calendar'],
    security: bearerSecurity,
    request: { params: calendarPathFields },
    responses: {
      200: {
        description: 'Removed (`entry: null`)',
        content: { 'application/json': { schema: calendarWriteResponseSchema } },
      },
      ...calendarErrors,
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/branches/{branch_id}/calendar',
    operationId: 'listCalendar',
    summary: 'The calendar entries in force over a range of local dates',
    tags: ['calendar'],
    security: bearerSecurity,
    request: { params: calendarPathFields.pick({ branch_id: true }), query: calendarQueryFields },
    responses: {
      200: {
        description: 'The entries',
        content: { 'application/json': { schema: calendarListResponseSchema } },
      },
      400: errorResponse('start or end missing or malformed, end before start, or more than 366 days'),
      401: unauthenticatedResponse,
      403: errorResponse("The branch is outside the key's scopes"),
      404: errorResponse('Unknown branch (only to keys whose scopes name it, or admin keys)'),
      503: errorResponse('Storage is unavailable (see Retry-After)'),
    },
  });
  return registry;
}

export type OpenApiDocument = ReturnType<OpenApiGeneratorV3['generateDocument']>;

let cachedDocument: OpenApiDocument | undefined;

/** The OpenAPI 3.0 document (built once). */
export function openApiDocument(): OpenApiDocument {
  cachedDocument ??= new OpenApiGeneratorV3(buildRegistry().definitions).generateDocument({
    openapi: '3.0.3',
    info: { title: 'tillcast prediction API', version: '1.0.0', description: API_DESCRIPTION },
    servers: [{ url: '/' }],
    tags: [
      { name: 'forecast', description: 'Forecasts and branches' },
      { name: 'operations', description: 'Health, readiness, metrics and documentation' },
      { name: 'capture', description: 'Events in from POS systems over HTTPS (docs/capture.md)' },
      { name: 'overrides', description: "Managers' overrides of a day's forecast, and their scorecard" },
      { name: 'calendar', description: 'Closures and events known in advance, per branch and date' },
    ],
  });
  return cachedDocument;
}
