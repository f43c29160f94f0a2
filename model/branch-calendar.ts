/**
 * What a branch's operators know in advance (issue 16): days it will be closed (a refit) and
 * events (a match day). Entered through the API (`PUT /v1/branches/{id}/calendar/{date}`), stored
 * in ClickHouse and handed to the model with the branch's series (`HourlySeries.calendar`).
 * Unlike the sales history, entries may lie after a forecast's origin: they are known then.
 */

export type BranchCalendarKind = 'closed' | 'event';

export interface BranchCalendarEntry {
  /** Local date (`YYYY-MM-DD`) in the branch's zone. */
  date: string;
  kind: BranchCalendarKind;
  /** Operator's name for the day ("Refit", "Match day"); events with the same name learn from each other. */
  name: string;
  /** Expected change of the day's sales against an ordinary day, as a fraction: 0.3 = +30 %, −0.5 = −50 %. */
  expectedEffect?: number;
}
