import { createLogger } from './logger';
import { Poller, type PollTask } from './poller';

const logger = createLogger('silent');

describe('Poller', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('runs each task every period, counting ticks, and never overlaps a run with itself', async () => {
    const poller = new Poller(logger, { jitter: 0 });
    const ticks: number[] = [];
    let release: () => void = () => undefined;
    poller.add({
      name: 'slow',
      everyMs: 100,
      run: (tick) => {
        ticks.push(tick);
        return new Promise<void>((resolve) => (release = resolve));
      },
    });
    poller.start();
    await jest.advanceTimersByTimeAsync(99);
    expect(ticks).toEqual([]);
    await jest.advanceTimersByTimeAsync(1);
    expect(ticks).toEqual([1]);
    await jest.advanceTimersByTimeAsync(500); // the first run has not settled: no second one
    expect(ticks).toEqual([1]);
    release();
    await jest.advanceTimersByTimeAsync(100);
    expect(ticks).toEqual([1, 2]);
    release();
    await poller.stop();
  });

  it('doubles the delay per consecutive failure up to the cap, and resets after a success', async () => {
    const poller = new Poller(logger, { jitter: 0 });
    const at: number[] = [];
    let fail = true;
    const start = Date.now();
    poller.add({
      name: 'flaky',
      everyMs: 100,
      maxDelayMs: 400,
      run: () => {
        at.push(Date.now() - start);
        return fail ? Promise.reject(new Error('down')) : Promise.resolve();
      },
    });
    poller.start();
    await jest.advanceTimersByTimeAsync(100 + 200 + 400 + 400);
    expect(at).toEqual([100, 300, 700, 1100]);
    fail = false;
    await jest.advanceTimersByTimeAsync(400 + 100 + 100);
    expect(at).toEqual([100, 300, 700, 1100, 1500, 1600, 1700]);
    await poller.stop();
  });

  it('jitters each delay within the bound', () => {
    const poller = new Poller(logger, { jitter: 0.1 });
    const task: PollTask = { name: 't', everyMs: 1_000, run: () => Promise.resolve() };
    const delays = Array.from({ length: 200 }, () => poller.delayOf({ task, failures: 0 }));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(900);
    expect(Math.max(...delays)).toBeLessThanOrEqual(1_100);
    expect(new Set(delays).size).toBeGreaterThan(1);
    // Default cap: 8 periods, at most 15 s.
    expect(new Poller(logger, { jitter: 0 }).delayOf({ task, failures: 10 })).toBe(8_000);
    const slow = { ...task, everyMs: 10_000 };
    expect(new Poller(logger, { jitter: 0 }).delayOf({ task: slow, failures: 10 })).toBe(15_000);
  });

  it('stop() waits for the run in progress and schedules nothing after it', async () => {
    const poller = new Poller(logger, { jitter: 0 });
    let runs = 0;
    let release: () => void = () => undefined;
    poller.add({
      name: 'once',
      everyMs: 50,
      run: () => {
        runs++;
        return new Promise<void>((resolve) => (release = resolve));
      },
    });
    poller.start();
    await jest.advanceTimersByTimeAsync(50);
    expect(runs).toBe(1);
    let stopped = false;
    const stopping = poller.stop().then(() => (stopped = true));
    await jest.advanceTimersByTimeAsync(10);
    expect(stopped).toBe(false);
    release();
    await stopping;
    await jest.advanceTimersByTimeAsync(1_000);
    expect(runs).toBe(1);
  });
});
