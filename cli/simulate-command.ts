/**
 * `tillcast simulate`: synthetic POS traffic for the demo and load tests.
 * History (DAYS of it, up to now) is published as fast as possible, then the
 * simulation continues at SPEED (real time by default) until stopped.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';
import type { Branch } from '../lib/branches';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/logger';
import { DAY_MS, floorToHour } from '../lib/time/units';
import { topicNames } from '../lib/topics';
import { parseSpeed } from '../producers/pacing';
import { Publisher } from '../producers/publisher';
import { simulate } from '../producers/simulator';
import type { AvroCodec } from '../schemas/avro-codec';

export interface SimulateOptions {
  branches: Branch[];
  seed: number;
  daysOfHistory: number;
  /** Speed after the history has caught up with now. */
  speed: string;
  /** Stop after this many live (post-history) event-time milliseconds; default: until signal. */
  liveForMs?: number;
}

export interface SimulationHandle {
  /** Resolves when the history part is published (the pipeline can start forecasting). */
  historyDone: Promise<{ events: number }>;
  /** Resolves when the simulation ends (stop() or liveForMs elapsed). */
  done: Promise<{ events: number; heartbeats: number }>;
  stop(): Promise<void>;
}

export function startSimulation(
  opts: SimulateOptions,
  deps: { config: Config; kafka: Kafka; codec: AvroCodec; logger: Logger },
): SimulationHandle {
  const log = deps.logger.child({ module: 'simulator' });
  const topic = topicNames(deps.config).sales;
  const speed = parseSpeed(opts.speed);
  const publisher = new Publisher(deps.kafka, log);
  const start = Date.now();
  const from = floorToHour(start - opts.daysOfHistory * DAY_MS);
  const to =
    opts.liveForMs !== undefined
      ? start + opts.liveForMs * (speed === 'max' ? 1 : speed)
      : start + 365 * DAY_MS;
  let stopped = false;
  let resolveHistory!: (v: { events: number }) => void;
  const historyDone = new Promise<{ events: number }>((r) => (resolveHistory = r));

  const done = (async () => {
    await publisher.connect();
    let events = 0;
    let heartbeats = 0;
    let live = false;
    try {
      for (const msg of simulate({ branches: opts.branches, from, to, seed: opts.seed })) {
        if (stopped) break;
        const t = msg.kind === 'sale' ? msg.value.occurred_at : msg.value.at;
        if (!live && t >= start) {
          live = true;
          await publisher.flush();
          log.info({ events }, 'simulated history published; continuing live');
          resolveHistory({ events });
        }
        if (live && speed !== 'max') {
          // Live part: event time runs `speed` times faster than wall time since `start`.
          const due = start + (t - start) / speed;
          while (!stopped && Date.now() < due) await sleep(Math.min(1000, due - Date.now()));
          if (stopped) break;
        }
        if (msg.kind === 'sale') {
          await publisher.send(topic, {
            key: msg.value.branch_id,
            value: deps.codec.encode('sale', msg.value),
          });
          events++;
        } else {
          await publisher.send(topic, {
            key: msg.value.branch_id,
            value: deps.codec.encode('heartbeat', msg.value),
          });
          heartbeats++;
        }
      }
    } finally {
      if (!live) resolveHistory({ events });
      await publisher.close();
    }
    return { events, heartbeats };
  })();
  done.catch((err: unknown) => log.error({ err }, 'simulation failed'));

  return {
    historyDone,
    done,
    async stop() {
      stopped = true;
      await done.catch(() => undefined);
    },
  };
}
