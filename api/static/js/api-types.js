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
 * @typedef {object} Plan What the day, week or total comes to with the managers' overrides (present
 *   when a day of the range has one): the override, or the model's value where none.
 * @property {number | null} sales
 * @property {number | null} orders
 * @property {number} [overridden_days] weeks and totals: days with an override
 *
 * @typedef {object} SetBy Who set an override or changed a calendar entry: the API key.
 * @property {string} key_id
 * @property {string} key_name
 *
 * @typedef {object} DayOverride The manager's override in force of a day.
 * @property {number | null} sales null: sales not overridden
 * @property {number | null} orders null: orders not overridden
 * @property {string} reason
 * @property {string} set_at
 * @property {SetBy} set_by
 *
 * @typedef {'closed' | 'event'} CalendarKind
 * @typedef {{ kind: CalendarKind, name: string, note?: string }} DayCalendar The day's calendar entry in /predict.
 *
 * @typedef {Values & { start: string, plan?: Plan }} HourRow Local start with the branch's offset, e.g. 2021-03-28T03:00:00+01:00.
 * @typedef {Values & { date: string, hours: number, missing_hours: number, explain?: Explanation, calendar?: DayCalendar, plan?: Plan, override?: DayOverride | null }} DayRow
 * @typedef {Values & { week_start: string, iso_week: string, first_date: string, last_date: string, days: number, explain?: Explanation, plan?: Plan }} WeekRow
 * @typedef {Values & { days: number, explain?: Explanation, plan?: Plan }} Totals
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
 * @typedef {object} MeResponse GET v1/me: the key and the branches it may write.
 * @property {'keys' | 'none'} auth
 * @property {{ id: string, name: string } | null} key
 * @property {string[]} write_branches
 *
 * @typedef {object} CalendarEntry An entry of GET v1/branches/{id}/calendar.
 * @property {string} date
 * @property {CalendarKind} kind
 * @property {string} name
 * @property {string} [note]
 * @property {number} [expected_effect] events: the expected change of the day's sales, a fraction (0.3 = +30 %)
 * @property {number} version
 * @property {SetBy} changed_by
 * @property {string} changed_at
 *
 * @typedef {{ branch_id: string, start: string, end: string, entries: CalendarEntry[] }} CalendarListResponse
 * @typedef {{ changed: boolean, entry: CalendarEntry | null }} CalendarWriteResponse
 * @typedef {{ branch_id: string, date: string, changed: boolean, override: (DayOverride & { model: { sales: number, orders: number } }) | null }} OverrideResponse
 *
 * @typedef {'override' | 'model' | 'tie'} Closer
 *
 * @typedef {object} Score One measure of a scored day.
 * @property {number} actual
 * @property {number} model the model's p50 the override replaced
 * @property {number} model_p10
 * @property {number} model_p90
 * @property {number | null} override null: this measure was not overridden
 * @property {number} model_abs_error
 * @property {number | null} override_abs_error
 * @property {Closer | null} closer
 *
 * @typedef {object} ScoredDay
 * @property {string} date
 * @property {string} set_at
 * @property {SetBy} set_by
 * @property {string} reason
 * @property {Score} sales
 * @property {Score} orders
 *
 * @typedef {object} AccuracySummary
 * @property {number} days
 * @property {number} override_closer
 * @property {number} model_closer
 * @property {number} ties
 * @property {number | null} override_beat_share
 * @property {number | null} model_mae
 * @property {number | null} override_mae
 * @property {number | null} mae_improvement
 * @property {number | null} mae_improvement_share
 *
 * @typedef {object} AccuracyResponse GET v1/branches/{id}/accuracy: the overridden days that have closed, scored.
 * @property {{ start: string, end: string, days: number }} range
 * @property {ScoredDay[]} days
 * @property {string[]} pending overridden days not closed yet
 * @property {{ branch: { sales: AccuracySummary, orders: AccuracySummary } }} summary
 *
 * @typedef {{ error?: { code?: unknown, message?: unknown, details?: unknown } }} ErrorBody What an error answer may carry.
 */

export {};
