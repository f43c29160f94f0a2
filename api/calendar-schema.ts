/**
 * The branch calendar part of the API contract (issue 16): the body and answers of
 * PUT/DELETE /v1/branches/{id}/calendar/{date} and GET /v1/branches/{id}/calendar, and the
 * per-day `calendar` field of /predict. api/schemas.ts puts them in the /predict day rows and the
 * OpenAPI document; api/routes/calendar.ts validates with them.
 */
import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

extendZodWithOpenApi(z);

export const CALENDAR_KINDS = ['closed', 'event'] as const;
/** Longest GET range (local days, inclusive): a year and a day. */
export const MAX_CALENDAR_RANGE_DAYS = 366;
/** Bounds of `expected_effect`, a fraction of an ordinary day's sales: (−1, 5]. */
export const MIN_EXPECTED_EFFECT = -1;
export const MAX_EXPECTED_EFFECT = 5;

/** No control characters (a name is shown on dashboards and in logs, one line). */
const oneLine = /^[^\p{Cc}]*$/u;
/** A note may span lines, nothing else invisible. */
const text = /^(?:[^\p{Cc}]|[\n\t])*$/u;

const isoDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/)
  .openapi({ format: 'date', example: '2026-12-14' });
const isoInstant = z.string().datetime().openapi({ example: '2026-12-07T06:15:00.000Z' });

export const calendarPathFields = z.object({
  branch_id: z
    .string()
    .openapi({ param: { name: 'branch_id', in: 'path', required: true, example: '352h67i328fh' } }),
  date: isoDate.openapi({
    description: "A date in the branch's local calendar, 2000-01-01..2099-12-31",
    param: { name: 'date', in: 'path', required: true, example: '2026-12-14' },
  }),
});

export const calendarQueryFields = z.object({
  start: isoDate.openapi({
    description: 'First local date (inclusive)',
    param: { name: 'start', in: 'query', required: true, example: '2026-12-01' },
  }),
  end: isoDate.openapi({
    description: `Last local date (inclusive); at most ${MAX_CALENDAR_RANGE_DAYS} days after start`,
    param: { name: 'end', in: 'query', required: true, example: '2026-12-31' },
  }),
});

export const calendarEntryBodySchema = z
  .object({
    kind: z.enum(CALENDAR_KINDS).openapi({
      description:
        '`closed`: the branch does not trade that day (its forecast is 0, with a 0–0 range). `event`: a special day (a match, a festival): days with the same name before teach the model what it does.',
    }),
    name: z
      .string()
      .trim()
      .min(1)
      .max(100)
      .regex(oneLine, 'must be one line without control characters')
      .openapi({
        description: 'What the day is ("Refit", "Match day"): 1–100 characters',
        example: 'Match day',
      }),
    note: z
      .string()
      .trim()
      .max(500)
      .regex(text, 'must not contain control characters other than line breaks and tabs')
      .optional()
      .openapi({ description: 'Free text for people (at most 500 characters); empty: none' }),
    expected_effect: z.number().finite().gt(MIN_EXPECTED_EFFECT).lte(MAX_EXPECTED_EFFECT).optional().openapi({
      description:
        "Events only: the expected change of the day's sales against an ordinary day, as a fraction (0.3 = +30 %, −0.5 = −50 %), more than −1 and at most 5. Used for an event name the branch has not had before; omitted: the model's own special-day behaviour with a wider range.",
      example: 0.3,
    }),
  })
  .strict()
  .openapi('CalendarEntryBody', { example: { kind: 'event', name: 'Match day', expected_effect: 0.3 } });
export type CalendarEntryBody = z.infer<typeof calendarEntryBodySchema>;

export const calendarEntrySchema = z
  .object({
    branch_id: z.string(),
    date: isoDate,
    kind: z.enum(CALENDAR_KINDS),
    name: z.string(),
    note: z.string().optional(),
    expected_effect: z.number().optional(),
    version: z.number().int().openapi({
      description: 'Changes of this branch and date so far, removals included (1: never edited)',
    }),
    changed_by: z
      .object({
        key_id: z.string().openapi({ description: 'Public id of the API key (auth-none without keys)' }),
        key_name: z.string(),
      })
      .strict(),
    changed_at: isoInstant,
  })
  .strict()
  .openapi('CalendarEntry');
export type CalendarEntryJson = z.infer<typeof calendarEntrySchema>;

export const calendarWriteResponseSchema = z
  .object({
    changed: z.boolean().openapi({
      description:
        'false: the request changed nothing (the same entry was in force, or there was none to remove): no new version was stored and no refresh was announced',
    }),
    entry: calendarEntrySchema.nullable().openapi({ description: 'The entry in force now; null: none' }),
  })
  .strict()
  .openapi('CalendarWriteResponse');
export type CalendarWriteResponse = z.infer<typeof calendarWriteResponseSchema>;

export const calendarListResponseSchema = z
  .object({
    branch_id: z.string(),
    start: isoDate,
    end: isoDate,
    entries: z.array(calendarEntrySchema).openapi({ description: 'The entries in force, by date' }),
  })
  .strict()
  .openapi('CalendarList');
export type CalendarListResponse = z.infer<typeof calendarListResponseSchema>;

/** /predict: what a day with a calendar entry carries (daily rows). */
export const dayCalendarSchema = z
  .object({
    kind: z.enum(CALENDAR_KINDS),
    name: z.string(),
    note: z.string().optional(),
  })
  .strict()
  .openapi('DayCalendar', {
    description:
      'The branch calendar entry of the day (PUT /v1/branches/{id}/calendar/{date}), so the answer says why a day differs: a `closed` day is forecast 0 with a 0–0 range by the model, an `event` day as a special day. Absent: no entry.',
  });

export const CALENDAR_DESCRIPTION = `The branch calendar: days an operator knows in advance, a closure (\`closed\`, a refit) or an event (\`event\`, a match day), per branch and local date. Every change is stored as a new version (who, when; the history is kept) and announced to the forecaster, which refreshes the branch's forecast at once (a new run within about a second). /predict then forecasts a closed day as 0 with a 0–0 range and says why in the day's \`calendar\`.

Writing needs a key with the \`write\` scope on the branch (\`tillcast keys create … --write\`; admin keys: every branch). Requests are idempotent: sending the same entry again answers 200 with \`changed: false\` and stores nothing; removing a date without an entry answers 200 with \`changed: false\` (so a retried DELETE is not an error). Answers are 400 for a bad date or body (the message and \`details.field\` name the field), 401 without a key, 403 for a branch outside the key's write scope (whether it exists or not), 404 for an unknown branch (to keys whose scopes name it), 503 (with Retry-After) when storage is unavailable, or when the entry was stored but the refresh could not be announced (send the same request again: it announces it without storing a second version).`;
