/**
 * `tillcast models list|promote|rollback` and `tillcast forecast show BRANCH`:
 * the model registry and the latest forecast, from ClickHouse.
 */
import type { Command } from 'commander';
import { createClickHouse, type ClickHouse } from '../clickhouse/client';
import { loadConfig } from '../lib/config';
import { createLogger } from '../lib/logger';
import { localWallClock } from '../lib/local-time';
import { loadBranchDirectory } from '../app/app';
import { ForecastStore } from '../consumers/forecaster/forecast-store';

async function withStore<T>(fn: (store: ForecastStore, ch: ClickHouse) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const ch = createClickHouse(config, createLogger(config.LOG_LEVEL));
  try {
    return await fn(new ForecastStore(ch), ch);
  } finally {
    await ch.close();
  }
}

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
      await withStore(async (store) => {
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
      await withStore(async (store) => {
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
      await withStore(async (store) => {
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
      await withStore(async (_store, ch) => {
        const rs = await ch.client.query({
          query: `SELECT r.run_id AS run_id, r.model_version AS model_version, toUnixTimestamp(r.origin) * 1000 AS origin,
                    toUnixTimestamp(f.hour_start) * 1000 AS h, f.sales_p10 AS s10, f.sales_p50 AS s50, f.sales_p90 AS s90, f.orders_p50 AS o50
                  FROM ${ch.table('forecasts')} AS f
                  INNER JOIN (SELECT argMax(run_id, generated_at) AS run_id, argMax(model_version, generated_at) AS model_version,
                                     argMax(origin, generated_at) AS origin
                              FROM ${ch.table('forecast_runs')} WHERE branch_id = {b:String}) AS r ON f.run_id = r.run_id
                  WHERE f.branch_id = {b:String}
                  ORDER BY f.hour_start`,
          query_params: { b: branchId },
          format: 'JSONEachRow',
        });
        const rows = await rs.json<{
          run_id: string;
          model_version: string;
          origin: number;
          h: number;
          s10: number;
          s50: number;
          s90: number;
          o50: number;
        }>();
        if (rows.length === 0) {
          console.log(`no forecast yet for ${branch.name} (${branchId})`);
          process.exitCode = 3;
          return;
        }
        console.log(
          `${branch.name} (${branchId}) run ${rows[0]!.run_id} model ${rows[0]!.model_version} origin ${iso(Number(rows[0]!.origin))} UTC`,
        );
        const money = (x: number) => x.toFixed(2).padStart(10);
        if (opts.hourly) {
          for (const r of rows)
            console.log(
              `${localWallClock(branch.timezone, Number(r.h)).text.slice(0, 16)}  sales ${money(r.s50)} [${money(r.s10)} .. ${money(r.s90)}]  orders ${r.o50.toFixed(1)}`,
            );
          return;
        }
        const days = new Map<string, { s10: number; s50: number; s90: number; o50: number }>();
        for (const r of rows) {
          const d = localWallClock(branch.timezone, Number(r.h)).date;
          const acc = days.get(d) ?? { s10: 0, s50: 0, s90: 0, o50: 0 };
          acc.s10 += r.s10;
          acc.s50 += r.s50;
          acc.s90 += r.s90;
          acc.o50 += r.o50;
          days.set(d, acc);
        }
        for (const [d, v] of days)
          console.log(
            `${d}  sales ${money(v.s50)} ${branch.currency} [p10 ${money(v.s10)}, p90 ${money(v.s90)}]  orders ${v.o50.toFixed(1)}`,
          );
      });
    });
}
