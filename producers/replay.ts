/**
 * Publishes a time-ordered stream of POS events to the sales topic, keyed by
 * branch (so each branch's events stay in order on one partition), with
 * heartbeats: one per branch at every hour boundary of event time (quiet and
 * closed hours still close) and a final one that closes the last day.
 */
import { floorToHour, HOUR_MS } from '../lib/time/units';
import type { AvroCodec } from '../schemas/avro-codec';
import type { Heartbeat, SaleEvent } from '../schemas/events';
import { Pacer, type Speed } from './pacing';
import type { Publisher } from './publisher';

export interface ReplayOptions {
  events: Iterable<SaleEvent>;
  branchIds: string[];
  publisher: Publisher;
  codec: AvroCodec;
  topic: string;
  speed: Speed;
  /** Send hourly heartbeats (default true). */
  heartbeats?: boolean;
  /** After the last event, a heartbeat at this instant closes every hour before it (minus the ingest lateness). */
  closeAt?: number;
  source?: string;
  onProgress?: (published: number) => void;
}

export interface ReplayResult {
  events: number;
  heartbeats: number;
  firstEventAt: number | null;
  lastEventAt: number | null;
}

export async function replay(opts: ReplayOptions): Promise<ReplayResult> {
  const pacer = new Pacer(opts.speed);
  const source = opts.source ?? 'replay';
  const withHeartbeats = opts.heartbeats ?? true;
  const r: ReplayResult = { events: 0, heartbeats: 0, firstEventAt: null, lastEventAt: null };
  let nextBoundary: number | null = null;

  const heartbeat = async (at: number) => {
    for (const branch_id of opts.branchIds) {
      const h: Heartbeat = { branch_id, at, source };
      await opts.publisher.send(opts.topic, { key: branch_id, value: opts.codec.encode('heartbeat', h) });
      r.heartbeats++;
    }
  };

  for (const e of opts.events) {
    if (withHeartbeats) {
      if (nextBoundary === null) nextBoundary = floorToHour(e.occurred_at) + HOUR_MS;
      while (e.occurred_at >= nextBoundary) {
        await heartbeat(nextBoundary);
        nextBoundary += HOUR_MS;
      }
    }
    await pacer.wait(e.occurred_at);
    await opts.publisher.send(opts.topic, { key: e.branch_id, value: opts.codec.encode('sale', e) });
    r.events++;
    r.firstEventAt ??= e.occurred_at;
    r.lastEventAt = e.occurred_at;
    if (opts.onProgress && r.events % 1000 === 0) opts.onProgress(r.events);
  }
  if (withHeartbeats && opts.closeAt !== undefined) await heartbeat(opts.closeAt);
  await opts.publisher.flush();
  opts.onProgress?.(r.events);
  return r;
}
