/**
 * What a branch's operators know in advance (issue 16): days it will be closed (a refit) and
 * events (a match day). Entered through the API (`PUT /v1/branches/{id}/calendar/{date}`), stored
 * in ClickHouse and handed to the model with the branch's series (`HourlySeries.calendar`).
 * Unlike the sales history, entries may lie after a forecast's origin: they are known then.
 */
import { parseCivilDate } from '../lib/time/civil-date';

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

/** An event's name as it is matched against the branch's past events: trimmed, case-insensitive. */
export function eventKey(name: string): string {
  return name.trim().replace(/\s+/g, ' ').toLowerCase();
}

/** A branch's calendar by local day number (dates that are not valid `YYYY-MM-DD` are ignored). */
export interface BranchDays {
  /** Days the operators marked closed. */
  closed: ReadonlySet<number>;
  /** Event days (not closed), with their entry. */
  events: ReadonlyMap<number, BranchCalendarEntry>;
}

/**
 * The calendar's days, or undefined when it has none. A date with both a closure and an event is
 * closed: nothing is sold on a closed day, whatever else was planned.
 */
export function branchDays(entries: readonly BranchCalendarEntry[] | undefined): BranchDays | undefined {
  if (!entries || entries.length === 0) return undefined;
  const closed = new Set<number>();
  const events = new Map<number, BranchCalendarEntry>();
  for (const e of entries) {
    const day = parseCivilDate(e.date);
    if (day === null) continue;
    if (e.kind === 'closed') closed.add(day);
    else events.set(day, e);
  }
  for (const day of closed) events.delete(day);
  return closed.size + events.size > 0 ? { closed, events } : undefined;
}

/** How the forecast treats an operator's day (see docs/model.md, "Operators' calendar"). */
export type CalendarDayMode = 'closed' | 'learned' | 'expected' | 'generic';

/** What the forecast did with one calendar day of its horizon: the explanation's note. */
export interface BranchCalendarNote {
  /** Local date `YYYY-MM-DD`. */
  date: string;
  kind: BranchCalendarKind;
  name: string;
  /**
   * 'closed': 0 with a 0–0 range; 'learned': the effect of the branch's past events of that name;
   * 'expected': the operator's expected effect; 'generic': the network's special-day behaviour.
   */
  mode: CalendarDayMode;
  /** Multiplier applied to the day's sales and orders (p10, p50, p90); absent for 'generic'. */
  multiplier?: { sales: number; orders: number };
  /** Past event days of the same name it was learned from ('learned'). */
  pastDays?: number;
  /** Factor on the day's p10–p90 half-widths around p50 (1: none). */
  widening: number;
  /** One line for people: "closed: Refit", "event: match day, learned from 3 past days: +22 %". */
  text: string;
}
