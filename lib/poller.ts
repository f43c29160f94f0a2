/**
 * Named periodic refreshes (e.g. the API's forecast_runs and branch_watermarks polls) on one
 * timer each:
 * - a task's runs never overlap: the next one is scheduled when the current one has settled;
 * - every delay is jittered (±`jitter` of it), so that processes started together (replicas
 *   behind a load balancer) do not poll the same server in step;
 * - after a failure the delay doubles per consecutive failure, up to the task's `maxDelayMs`,
 *   and is back to `everyMs` after the first success;
 * - `stop()` cancels what is scheduled and waits for the runs in progress.
 */
import type { Logger } from './logger';

export interface PollTask {
  /** Names the task in logs. */
  readonly name: string;
  /** Delay between the end of one run and the start of the next while runs succeed. */
  readonly everyMs: number;
  /** Longest delay after failures (default: 8 x everyMs, at most 15 s, never below everyMs). */
  readonly maxDelayMs?: number;
  /** One refresh; `tick` counts this task's scheduled runs from 1. A throw is logged and backs off. */
  run(tick: number): Promise<void>;
}

export interface PollerOptions {
  /** Fraction of each delay added or taken at random (0 = exact periods). */
  jitter: number;
}

interface Slot {
  readonly task: PollTask;
  ticks: number;
  failures: number;
  timer: NodeJS.Timeout | undefined;
  running: Promise<void> | undefined;
}

export class Poller {
  private readonly slots: Slot[] = [];
  private readonly log: Logger;
  private readonly opts: PollerOptions;
  private started = false;

  constructor(logger: Logger, opts: Partial<PollerOptions> = {}) {
    this.log = logger.child({ module: 'poller' });
    this.opts = { jitter: 0.1, ...opts };
  }

  /** Adds a task; it is first run one delay after start() (or now, if already started). */
  add(task: PollTask): void {
    const slot: Slot = { task, ticks: 0, failures: 0, timer: undefined, running: undefined };
    this.slots.push(slot);
    if (this.started) this.schedule(slot);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    for (const slot of this.slots) this.schedule(slot);
  }

  /** Cancels the scheduled runs and resolves once the runs in progress have settled. */
  async stop(): Promise<void> {
    this.started = false;
    for (const slot of this.slots) {
      clearTimeout(slot.timer);
      slot.timer = undefined;
    }
    await Promise.allSettled(this.slots.map((s) => s.running ?? Promise.resolve()));
  }

  /** The delay before the slot's next run: backed off after failures, then jittered. */
  delayOf(slot: Pick<Slot, 'task' | 'failures'>): number {
    const { everyMs } = slot.task;
    const cap = Math.max(everyMs, slot.task.maxDelayMs ?? Math.min(8 * everyMs, 15_000));
    const base = Math.min(cap, everyMs * 2 ** Math.min(slot.failures, 30));
    return Math.max(0, Math.round(base * (1 + this.opts.jitter * (2 * Math.random() - 1))));
  }

  private schedule(slot: Slot): void {
    if (!this.started) return;
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      const tick = ++slot.ticks;
      slot.running = new Promise<void>((resolve) => resolve(slot.task.run(tick))).then(
        () => {
          slot.failures = 0;
        },
        (err: unknown) => {
          slot.failures++;
          this.log.warn({ err, task: slot.task.name, failures: slot.failures }, 'poll failed');
        },
      );
      void slot.running.finally(() => {
        slot.running = undefined;
        this.schedule(slot);
      });
    }, this.delayOf(slot));
    // Polling alone never keeps the process alive.
    slot.timer.unref();
  }
}
