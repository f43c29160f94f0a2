/**
 * `tillcast start` (the README's main command): everything in one process on
 * the embedded engine — local broker, migrations and topics, ingest, forecaster,
 * API — fed by the simulator or by a POS export replay.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { createApp, runUntilSignal } from '../app/app';
import { loadConfig, PROJECT_ROOT } from '../lib/config';
import { dateToDayNumber, formatCivilDate } from '../lib/time/civil-date';
import { localWallClock } from '../lib/time/wall-clock';
import { runReplay } from './replay-command';
import { startSimulation } from './simulate-command';

export async function runStart(opts: { replay?: string; stack: boolean }): Promise<number> {
  if (opts.stack) {
    const r = spawnSync('bash', [path.join(PROJECT_ROOT, 'scripts', 'kafka.sh'), 'up'], { stdio: 'inherit' });
    if (r.status !== 0) return 3;
  }
  const env = { ...process.env };
  if (!opts.replay && !env.DEMO_BRANCHES) env.DEMO_BRANCHES = '5';
  const config = loadConfig(env);
  const app = createApp(config);
  const log = app.ctx.logger.child({ module: 'start' });
  let stopSource: () => Promise<void> = async () => {};
  const base = `http://localhost:${config.PORT}`;

  // The source starts once the roles run; the shutdown stops it first, then the roles in order.
  const startSource = () => {
    let sampleBranch: string;
    let sampleStart: string;
    if (opts.replay) {
      const file = opts.replay;
      const outcome = runReplay(
        file,
        { speed: 'max', heartbeats: true },
        { ...app.ctx, kafka: app.ctx.kafkaFor('pos') },
      );
      sampleBranch = app.ctx.branches.list()[0]?.id ?? '';
      sampleStart = '2021-02-01';
      void outcome.then(
        (r) =>
          log.info(
            { published: r.published, rejectedRows: r.rejectedRows },
            'replay finished; still serving',
          ),
        (err: unknown) => log.error({ err }, 'replay failed'),
      );
      stopSource = async () => {
        await outcome.catch(() => undefined);
      };
    } else {
      const branches = app.ctx.branches.list().filter((b) => b.id.startsWith('sim-'));
      const sim = startSimulation(
        { branches, seed: 1, daysOfHistory: 56, speed: 'realtime' },
        { ...app.ctx, kafka: app.ctx.kafkaFor('pos') },
      );
      sampleBranch = branches[0]?.id ?? '';
      sampleStart = localWallClock(branches[0]?.timezone ?? 'UTC', Date.now()).date;
      stopSource = () => sim.stop();
    }
    const sampleEnd = formatCivilDate(dateToDayNumber(sampleStart) + 6);
    process.stdout.write(
      [
        '',
        'tillcast is running',
        `  dashboard   ${base}/`,
        `  forecast    ${base}/predict?branch_id=${sampleBranch}&start=${sampleStart}&end=${sampleEnd}`,
        `  branches    ${base}/branches`,
        `  API docs    ${base}/docs`,
        `  metrics     ${base}/metrics`,
        '  stop        Ctrl-C (then `npm run stack:down` to stop the Kafka broker)',
        '',
      ].join('\n') + '\n',
    );
  };
  return runUntilSignal(app, log, { afterStart: startSource, stopSource: () => stopSource() });
}
