// @ts-check
/**
 * The shapes of the API answers the dashboard reads: hand-written JSDoc copies
 * of the fields it uses. The contract itself is the zod schemas of the API
 * (api/schemas.ts, TypeScript); the browser loads these files as they are, with
 * no build step, so it cannot import them. Type-only: nothing imports this
 * module at run time (`@import` tags are erased), it exists for `tsc --checkJs`.
 *
 * @typedef {'actual' | 'forecast' | 'mixed' | 'missing'} Source
 *
 * @typedef {object} Values
 * @property {number | null} sales
 * @property {number | null} sales_p10
 * @property {number | null} sales_p90
 * @property {number | null} orders
 * @property {number | null} orders_p10
 * @property {number | null} orders_p90
 * @property {Source} source
 *
 * @typedef {object} Parts Where a value comes from (`explain=true`): the five add up to it.
 * @property {number} actual
 * @property {number} level
 * @property {number} shape
 * @property {number} calendar
 * @property {number} network
 *
 * @typedef {object} CalendarNote
 * @property {string} date
 * @property {string} name
 * @property {'public_holiday' | 'eve_of_public_holiday' | 'trading_day' | 'likely_closure' | 'holiday_in_reference_week'} kind
 *
 * @typedef {{ sales: Parts, orders: Parts, special_days: CalendarNote[] } | null} Explanation
 *
 * @typedef {Values & { start: string }} HourRow Local start with the branch's offset, e.g. 2021-03-28T03:00:00+01:00.
 * @typedef {Values & { date: string, hours: number, missing_hours: number, explain?: Explanation }} DayRow
 * @typedef {Values & { week_start: string, iso_week: string, first_date: string, last_date: string, days: number, explain?: Explanation }} WeekRow
 * @typedef {Values & { days: number, explain?: Explanation }} Totals
 *
 * @typedef {object} Branch
 * @property {string} id
 * @property {string} name
 * @property {string} timezone IANA zone: the calendar of the branch's dates and hours.
 * @property {string} currency ISO 4217 code.
 *
 * @typedef {object} ForecastRun
 * @property {string} run_id
 * @property {string} model_version
 * @property {string} generated_at
 * @property {string} data_through
 * @property {string} horizon_end
 *
 * @typedef {Branch & { latest_forecast: ForecastRun | null, last_closed_hour: string | null }} BranchListItem
 * @typedef {{ branches: BranchListItem[] }} BranchesResponse
 *
 * @typedef {object} Coverage
 * @property {boolean} complete
 * @property {string[]} missing Local dates with at least one hour without numbers.
 * @property {number} missing_hours
 *
 * @typedef {object} PredictResponse
 * @property {Branch} branch
 * @property {{ start: string, end: string, days: number }} range
 * @property {string[]} granularity
 * @property {ForecastRun} forecast
 * @property {string | null} last_closed_hour
 * @property {Totals} totals
 * @property {Coverage} coverage
 * @property {boolean} [explained] Whether the serving run carries explanations (with `explain=true`).
 * @property {WeekRow[]} [weekly]
 * @property {DayRow[]} [daily]
 * @property {HourRow[]} [hourly]
 *
 * @typedef {{ error?: { code?: unknown, message?: unknown } }} ErrorBody What an error answer may carry.
 */

export {};
