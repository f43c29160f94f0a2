/**
 * The overrides part of the API contract (issue 16): the `plan` and `override` fields /predict
 * adds when a day of the range has a manager's override, the body and answer of
 * PUT/DELETE /v1/branches/{id}/overrides/{date}, and the scorecard of
 * GET /v1/branches/{id}/accuracy. api/schemas.ts puts them in the /predict rows and the OpenAPI
 * document.
 */
import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

extendZodWithOpenApi(z);

const isoDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/)
  .openapi({ format: 'date', example: '2021-02-04' });
const isoInstant = z.string().datetime().openapi({ example: '2021-02-03T09:15:00.000Z' });

// ---------------------------------------------------------------- /predict

const planValue = (what: string) => z.number().nullable().openapi({ description: what });

export const hourPlanSchema = z
  .object({
    sales: planValue(
      "The hour's share of the day's override (by the model's hourly values; evenly when the model has 0 for every hour), or the hour's own value on a day without an override of sales.",
    ),
    orders: planValue('The same for orders (thousandths).'),
  })
  .strict()
  .openapi('HourPlan');

export const dayPlanSchema = z
  .object({
    sales: planValue("The manager's sales of the day when overridden, else the model's value (`sales`)."),
    orders: planValue("The manager's orders when overridden, else the model's value (`orders`)."),
  })
  .strict()
  .openapi('DayPlan');

export const bucketPlanSchema = z
  .object({
    sales: planValue(
      "Sum of the days' plans (days without an override count their model value); null when a day's plan is null.",
    ),
    orders: planValue("Sum of the days' order plans."),
    overridden_days: z.number().int().openapi({ description: 'Days of the bucket with an override.' }),
  })
  .strict()
  .openapi('BucketPlan');

const setBySchema = z
  .object({
    key_id: z
      .string()
      .openapi({ description: 'API key that set it (`auth-none` when the API runs without keys)' }),
    key_name: z.string().openapi({ description: 'The name of that key: who holds it' }),
  })
  .strict()
  .openapi('SetBy');

export const dayOverrideSchema = z
  .object({
    sales: z
      .number()
      .nullable()
      .openapi({ description: "Manager's sales of the day (major units); null: not overridden" }),
    orders: z
      .number()
      .int()
      .nullable()
      .openapi({ description: "Manager's orders of the day; null: not overridden" }),
    reason: z.string(),
    set_at: isoInstant,
    set_by: setBySchema,
  })
  .strict()
  .openapi('DayOverride');

// ---------------------------------------------------------------- PUT / DELETE

/** Longest reason kept (characters). */
export const MAX_REASON_CHARS = 500;

export const overrideBodySchema = z
  .object({
    sales: z.number().nullable().optional().openapi({
      description:
        'Expected sales of the day, major units of the branch currency, at most 2 decimals, 0 or more: a JSON number (1850.5) or a decimal string ("1850.50").',
      example: 1850.5,
    }),
    orders: z.number().int().nullable().optional().openapi({
      description: 'Expected orders of the day: a whole number, 0 or more.',
      example: 210,
    }),
    reason: z
      .string()
      .optional()
      .openapi({
        description: `Why (free text, at most ${MAX_REASON_CHARS} characters)`,
        example: 'school holidays',
      }),
  })
  .openapi('OverrideBody', { description: 'At least one of `sales` and `orders`.' });

const modelSnapshotSchema = z
  .object({
    run_id: z.string(),
    model_version: z.string(),
    source: z.enum(['forecast', 'mixed']).openapi({
      description: '`mixed`: some hours of the day had already closed; their actuals are part of the values',
    }),
    sales: z
      .number()
      .openapi({ description: "The day's sales p50 as /predict served it when the override was set" }),
    sales_p10: z.number(),
    sales_p90: z.number(),
    orders: z.number(),
    orders_p10: z.number(),
    orders_p90: z.number(),
  })
  .strict()
  .openapi('OverriddenForecast');

export const overrideStateSchema = dayOverrideSchema
  .extend({ model: modelSnapshotSchema })
  .strict()
  .openapi('OverrideState');

export const overrideResponseSchema = z
  .object({
    branch_id: z.string(),
    date: isoDate,
    changed: z.boolean().openapi({
      description:
        'false: the request changed nothing (the same override was already in force, or none to clear); no ledger row was written',
    }),
    override: overrideStateSchema
      .nullable()
      .openapi({ description: 'The override in force after the request; null: none' }),
  })
  .strict()
  .openapi('OverrideResponse');
export type OverrideResponse = z.infer<typeof overrideResponseSchema>;

// ---------------------------------------------------------------- GET accuracy

/** Longest period /accuracy scores at once (days, inclusive). */
export const MAX_ACCURACY_DAYS = 366;

const score = (unit: string) =>
  z
    .object({
      actual: z.number().openapi({ description: `The day's actual ${unit}` }),
      model: z.number().openapi({ description: "The model's p50 of the day when the override was set" }),
      model_p10: z.number(),
      model_p90: z.number(),
      override: z
        .number()
        .nullable()
        .openapi({ description: `The manager's ${unit}; null: not overridden` }),
      model_abs_error: z.number(),
      override_abs_error: z.number().nullable(),
      closer: z.enum(['override', 'model', 'tie']).nullable().openapi({
        description: 'Whose value was closer to the actual; null when this measure was not overridden',
      }),
    })
    .strict();

export const scoredDaySchema = z
  .object({
    date: isoDate,
    set_at: isoInstant,
    set_by: setBySchema,
    reason: z.string(),
    revisions: z.number().int().openapi({ description: 'Ledger rows of the day (sets and clears)' }),
    run_id: z.string(),
    model_version: z.string(),
    model_source: z.string(),
    sales: score('sales (major units)'),
    orders: score('orders'),
  })
  .strict()
  .openapi('ScoredDay');

export const accuracySummarySchema = z
  .object({
    days: z.number().int().openapi({ description: 'Closed days with this measure overridden' }),
    override_closer: z.number().int(),
    model_closer: z.number().int(),
    ties: z.number().int(),
    override_beat_share: z.number().nullable().openapi({
      description: 'override_closer / days (ties do not count as beating the model); null without days',
    }),
    model_mae: z
      .number()
      .nullable()
      .openapi({ description: 'Mean absolute error of the model over these days' }),
    override_mae: z.number().nullable().openapi({ description: 'Mean absolute error of the overrides' }),
    mae_improvement: z.number().nullable().openapi({
      description:
        'model_mae - override_mae: positive when the overrides were better, by that much a day on average',
    }),
    mae_improvement_share: z.number().nullable().openapi({
      description:
        'mae_improvement / model_mae (0.25 = overrides cut the error by 25%); null when model_mae is 0',
    }),
  })
  .strict()
  .openapi('AccuracySummary');

const measures = z.object({ sales: accuracySummarySchema, orders: accuracySummarySchema }).strict();

export const accuracyResponseSchema = z
  .object({
    branch: z
      .object({ id: z.string(), name: z.string(), timezone: z.string(), currency: z.string() })
      .strict(),
    range: z.object({ start: isoDate, end: isoDate, days: z.number().int() }).strict(),
    days: z
      .array(scoredDaySchema)
      .openapi({ description: 'Every overridden day of the range that has closed' }),
    pending: z.array(isoDate).openapi({
      description:
        'Days of the range with an override in force that have not closed yet (scored once they have)',
    }),
    summary: z
      .object({
        branch: measures,
        managers: z.array(setBySchema.extend(measures.shape).strict()).openapi({
          description: 'The same per key that set the overrides in force, by key id',
        }),
      })
      .strict(),
  })
  .strict()
  .openapi('AccuracyResponse');
export type AccuracyResponse = z.infer<typeof accuracyResponseSchema>;
export type AccuracySummary = z.infer<typeof accuracySummarySchema>;
