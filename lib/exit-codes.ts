/** Process exit codes of `tillcast` (README): one table for the CLI and the long-running roles. */
export const EXIT = { ok: 0, failure: 1, usage: 2, down: 3, partial: 4 } as const;
