/**
 * The explanation part of the /predict contract (`explain=true`): where a bucket's p50 comes
 * from, as amounts that add up to it, and the special days behind its calendar part. The parts
 * are the model's (model/forecast-types.ts HourParts), stored with every run (migration 0008).
 */
import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

extendZodWithOpenApi(z);

const part = (what: string) => z.number().openapi({ description: what });

const partsSchema = (unit: string) =>
  z
    .object({
      actual: part(`The closed hours' actual ${unit} (0 for a bucket of forecast hours only).`),
      level: part(
        `Recent level: the branch's mean ${unit} per open hour over the open days of the last 7 days before the run, once for every hour the model forecasts open.`,
      ),
      shape: part(
        'Weekday and hour shape: what the typical week (half last week, half the 4-week open-day shape) adds to or takes from the level in these hours.',
      ),
      calendar: part('Calendar: what the special days (`special_days`) change; 0 on ordinary days.'),
      network: part(
        "The model's correction of that structural base: the network's (recent trends, closed days, the horizon) and, on ordinary days, the day total's combination with Holt-Winters (each day's total is the mean of the network's, the base's and Holt-Winters' totals). The rest, so actual + level + shape + calendar + network equals the bucket's value exactly.",
      ),
    })
    .strict();

export const CALENDAR_NOTE_KINDS = [
  'public_holiday',
  'eve_of_public_holiday',
  'trading_day',
  'likely_closure',
  'holiday_in_reference_week',
  'closed',
  'event',
] as const;

export const calendarNoteSchema = z
  .object({
    date: z.string().openapi({ format: 'date', description: "The special day's local date." }),
    name: z.string().openapi({ example: "St Patrick's Day" }),
    kind: z.enum(CALENDAR_NOTE_KINDS).openapi({
      description:
        "`public_holiday`, `eve_of_public_holiday` (the day before one), `trading_day` (e.g. Valentine's Day, Christmas Eve), `likely_closure` (a day restaurants are often closed, e.g. Christmas Day), `holiday_in_reference_week` (the past day the weekly shape is read from was a holiday), `closed` (the operators closed the branch that day: the forecast is 0), `event` (an operators' event: the forecast moves by its learned or expected effect).",
    }),
  })
  .strict()
  .openapi('CalendarNote');

export const explanationSchema = z
  .object({
    sales: partsSchema('sales (currency major units)'),
    orders: partsSchema('orders'),
    special_days: z.array(calendarNoteSchema).openapi({
      description: 'The special days behind the calendar part of the forecast hours (empty: none).',
    }),
  })
  .strict()
  .nullable()
  .openapi('Explanation', {
    description:
      'With `explain=true`: where the value comes from, as amounts that add up to `sales` and `orders` exactly (p50; the range is not split). null when the value is null, or when the serving run was made before runs carried explanations (`explained: false`).',
  });

export type Explanation = z.infer<typeof explanationSchema>;
export type CalendarNoteJson = z.infer<typeof calendarNoteSchema>;
