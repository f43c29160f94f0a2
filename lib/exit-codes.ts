/** Process exit codes of `tillcast` (README): one table for the CLI and the long-running roles. */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  down: 3,
  partial: 4,
  /**
   * A long-running process stopped without finishing its ordered shutdown: SHUTDOWN_TIMEOUT_MS ran
   * out, Kafka was unreachable so a consumer could not commit and leave its group, or a second
   * SIGTERM/SIGINT cut the shutdown short. The log names what was still pending; uncommitted
   * input is redelivered to the next member, as after a crash.
   */
  shutdownIncomplete: 5,
} as const;
