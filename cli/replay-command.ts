/**
 * `tillcast replay FILE`: publishes a POS export (like ../shared/data/*.csv.gz)
 * to the sales topic in event-time order, with heartbeats that close its last day.
 */
import type { Kafka } from 'kafkajs';
import type { BranchDirectory } from '../lib/branches';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/logger';
import { dateToDayNumber } from '../lib/time/civil-date';
import { localSlotOf, startOfLocalDay } from '../lib/time/wall-clock';
import { topicNames } from '../lib/topics';
import { loadPosExport } from '../producers/pos-export';
import { parseSpeed } from '../producers/pacing';
import { Publisher } from '../producers/publisher';
import { replay } from '../producers/replay';
import type { AvroCodec } from '../schemas/avro-codec';
import { createProgress } from './progress';
import { dateOption } from './usage-error';

export interface ReplayCommandOptions {
  speed: string;
  from?: string;
  through?: string;
  heartbeats: boolean;
}

export interface ReplayOutcome {
  published: number;
  rejectedRows: number;
  closeAt: number | null;
}

export async function runReplay(
  file: string,
  opts: ReplayCommandOptions,
  deps: { config: Config; kafka: Kafka; codec: AvroCodec; branches: BranchDirectory; logger: Logger },
): Promise<ReplayOutcome> {
  dateOption('--from', opts.from);
  dateOption('--through', opts.through);
  const speed = parseSpeed(opts.speed);
  const log = deps.logger.child({ module: 'replay' });
  const loaded = await loadPosExport(file, {
    branches: deps.branches,
    from: opts.from,
    through: opts.through,
  });
  for (const e of loaded.errors.slice(0, 20)) process.stderr.write(`${file}:${e.line}: ${e.error}\n`);
  if (loaded.errors.length > 20)
    process.stderr.write(`… and ${loaded.errors.length - 20} more rejected rows\n`);
  const events = loaded.events;
  const branchIds = [...new Set(events.map((e) => e.branch_id))];

  // Close the replay's last local day: a heartbeat at the following local midnight (+ lateness).
  let closeAt: number | null = null;
  const last = events.at(-1);
  if (opts.heartbeats && last) {
    const zone = deps.branches.get(last.branch_id)?.timezone ?? 'UTC';
    const lastDay = opts.through ? dateToDayNumber(opts.through) : localSlotOf(zone, last.occurred_at).day;
    const nextMidnight = startOfLocalDay(zone, lastDay + 1);
    closeAt = nextMidnight + deps.config.INGEST_ALLOWED_LATENESS_S * 1000;
  }
  const publisher = new Publisher(deps.kafka, log);
  await publisher.connect();
  const progress = createProgress('replay', events.length);
  try {
    await replay({
      events,
      branchIds,
      publisher,
      codec: deps.codec,
      topic: topicNames(deps.config).sales,
      speed,
      heartbeats: opts.heartbeats,
      closeAt: closeAt ?? undefined,
      onProgress: (n) => progress.update(n),
    });
  } finally {
    progress.stop();
    await publisher.close();
  }
  log.info(
    { published: events.length, rejectedRows: loaded.errors.length, branches: branchIds.length },
    'replay finished',
  );
  return { published: events.length, rejectedRows: loaded.errors.length, closeAt };
}
