/**
 * `tillcast models list|promote|rollback` and `tillcast forecast show BRANCH`:
 * the model registry and the latest forecast, from ClickHouse.
 */
import type { Command } from 'commander';
import { createClickHouse, type ClickHouse } from '../clickhouse/client';
import { ForecastRuns } from '../clickhouse/store/forecast-runs';
import { ModelRegistry } from '../clickhouse/store/model-registry';
import { loadConfig } from '../lib/config';
import { createLogger } from '../lib/logger';
import { localWallClock } from '../lib/time/wall-clock';
import { loadBranchDirectory } from '../app/app';

async function withClickHouse<T>(fn: (ch: ClickHouse) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const ch = createClickHouse(config, createLogger(config.LOG_LEVEL));
  try {
    return await fn(ch);
  } finally {
    await ch.close();
  }
}

const withRegistry = <T>(fn: (registry: ModelRegistry) => Promise<T>): Promise<T> =>
  withClickHouse((ch) => fn(new ModelRegistry(ch)));

const iso = (ms: number | null) =>
  ms === null || !Number.isFinite(ms) ? '-' : new Date(ms).toISOString().slice(0, 16).replace('T', ' ');

export function registerModelCommands(program: Command): void {
  const models = program.command('models').description('the model registry: list, promote, roll back');
  models
    .command('list')
    .description('every trained model with its data range, backend, metrics and promotion state')
    .option('--json', 'JSON lines')
    .addHelpText('after', '\nExample:\n  tillcast models list')
    .action(async (opts: { json?: boolean }) => {
      await withRegistry(async (store) => {
        const list = await store.listModels();
        if (opts.json) {
          for (const m of list) console.log(JSON.stringify(m));
          return;
        }
        if (list.length === 0)
          console.log(
            'no models yet (the forecaster trains one when enough history has closed, or run `tillcast train`)',
          );
        for (const m of list) {
          const metrics = m.metrics as { sales?: { hourly?: number } } | null;
          console.log(
            `${m.current ? '*' : ' '} ${m.version}  ${m.kind.padEnd(8)} data ${iso(m.train_from)} .. ${iso(m.train_through)}  backend ${m.backend}  sales WAPE(h) ${metrics?.sales?.hourly?.toFixed(3) ?? '-'}`,
          );
        }
      });
    });
  models
    .command('promote')
    .description(
      'make VERSION the current model: it outranks every model trained on the data closed so far; every forecaster picks it up within FORECASTER_MODEL_POLL_MS',
    )
    .argument('<version>', 'a version from `tillcast models list`')
    .addHelpText('after', '\nExample:\n  tillcast models promote 20210201-000000-full-1a2b')
    .action(async (version: string) => {
      await withRegistry(async (store) => {
        const list = await store.listModels();
        if (!list.some((m) => m.version === version))
          throw new Error(`no model ${version}; see tillcast models list`);
        await store.promote(version, 'promote', 'manual', { manual: true });
        console.log(`promoted ${version}`);
      });
    });
  models
    .command('rollback')
    .description(
      'make the previously promoted model current again (an operator decision: it outranks trainers on the data closed so far)',
    )
    .addHelpText('after', '\nExample:\n  tillcast models rollback')
    .action(async () => {
      await withRegistry(async (store) => {
        const done = await store.rollback();
        if (!done) throw new Error('nothing to roll back to: fewer than two models were ever promoted');
        console.log(`rolled back from ${done.from} to ${done.to}`);
      });
    });

  const forecast = program.command('forecast').description('forecasts');
  forecast
    .command('show')
    .description('print the latest forecast run of a branch, day by day (hourly with --hourly)')
    .argument('<branch>', 'branch id')
    .option('--hourly', 'one line per hour')
    .addHelpText('after', '\nExample:\n  tillcast forecast show 352h67i328fh')
    .action(async (branchId: string, opts: { hourly?: boolean }) => {
      const config = loadConfig();
      const branch = loadBranchDirectory(config).get(branchId);
      if (!branch) throw new Error(`unknown branch ${branchId}`);
      await withClickHouse(async (ch) => {
        const run = await new ForecastRuns(ch).latestRunOf(branchId);
        if (!run) {
          console.log(`no forecast yet for ${branch.name} (${branchId})`);
          process.exitCode = 3;
          return;
        }
        console.log(
          `${branch.name} (${branchId}) run ${run.runId} model ${run.modelVersion} origin ${iso(run.origin)} UTC`,
        );
        const money = (x: number) => x.toFixed(2).padStart(10);
        if (opts.hourly) {
          for (const p of run.points)
            console.log(
              `${localWallClock(branch.timezone, p.hourStart).text.slice(0, 16)}  sales ${money(p.salesP50)} [${money(p.salesP10)} .. ${money(p.salesP90)}]  orders ${p.ordersP50.toFixed(1)}`,
            );
          return;
        }
        const days = new Map<string, { s10: number; s50: number; s90: number; o50: number }>();
        for (const p of run.points) {
          const d = localWallClock(branch.timezone, p.hourStart).date;
          const acc = days.get(d) ?? { s10: 0, s50: 0, s90: 0, o50: 0 };
          acc.s10 += p.salesP10;
          acc.s50 += p.salesP50;
          acc.s90 += p.salesP90;
          acc.o50 += p.ordersP50;
          days.set(d, acc);
        }
        for (const [d, v] of days)
          console.log(
            `${d}  sales ${money(v.s50)} ${branch.currency} [p10 ${money(v.s10)}, p90 ${money(v.s90)}]  orders ${v.o50.toFixed(1)}`,
          );
      });
    });
}
