/**
 * Replay speed: publish events as fast as possible, N times faster than they
 * happened, or in real time. `Pacer.wait(eventTime)` sleeps just enough.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export type Speed = 'max' | number;

/** Parses `max`, `realtime`, `x60` or `60` (times faster than real time). */
export function parseSpeed(text: string): Speed {
  const t = text.trim().toLowerCase();
  if (t === 'max' || t === 'asap') return 'max';
  if (t === 'realtime' || t === 'real-time') return 1;
  const n = Number(t.startsWith('x') ? t.slice(1) : t);
  if (!Number.isFinite(n) || n <= 0)
    throw new Error(`speed must be "max", "realtime" or a positive factor like x60, got "${text}"`);
  return n;
}

export class Pacer {
  private origin: { event: number; wall: number } | undefined;

  constructor(
    private readonly speed: Speed,
    private readonly now: () => number = Date.now,
  ) {}

  async wait(eventTime: number): Promise<void> {
    if (this.speed === 'max') return;
    if (!this.origin) {
      this.origin = { event: eventTime, wall: this.now() };
      return;
    }
    const due = this.origin.wall + (eventTime - this.origin.event) / this.speed;
    const ahead = due - this.now();
    if (ahead > 5) await sleep(ahead);
  }
}
