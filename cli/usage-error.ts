/**
 * Bad command-line input: the CLI prints the message and exits 2 (usage), as
 * commander does for its own parse errors; anything else that fails exits 1.
 */
import { parseIsoDate } from '../lib/time/civil-date';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A real calendar date yyyy-mm-dd (2021-02-30 is not), or undefined when the option is absent. */
export function dateOption(name: string, v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (parseIsoDate(v) === null) throw new UsageError(`${name} must be a date yyyy-mm-dd, got "${v}"`);
  return v;
}

/** An integer option within [min, max]. */
export function intOption(name: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`${name} must be an integer in ${min}..${max}, got "${v}"`);
  return n;
}

/** One of the allowed words. */
export function choiceOption<T extends string>(name: string, v: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(v))
    throw new UsageError(`${name} must be one of ${allowed.join(', ')}, got "${v}"`);
  return v as T;
}
