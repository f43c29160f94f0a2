#!/usr/bin/env node
/**
 * The `tillcast` command. Each subcommand parses config once (lib/config.ts),
 * builds what it needs, and exits with a meaningful code:
 *   0 ok · 1 failure · 2 bad usage or configuration · 3 a component is down · 4 partial ·
 *   5 a long-running process's shutdown did not finish (lib/exit-codes.ts).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Command } from 'commander';
import { ConfigError, loadConfig, PROJECT_ROOT, type Config } from '../lib/config';
import { createLogger } from '../lib/logger';
import { createClickHouse } from '../clickhouse/client';
import { migrate } from '../clickhouse/migrate';
import { formatStackStatus, stackStatus } from './stack-status';
import { createApp, loadBranchDirectory, runUntilSignal } from '../app/app';
import { EXIT } from '../lib/exit-codes';
import { createKafka } from '../lib/kafka-client';
import { provisionKafka } from '../lib/kafka-provision';
import { defaultCodec } from '../schemas/avro-codec';
import { runReplay } from './replay-command';
import { startSimulation } from './simulate-command';
import { runStart } from './start-command';
import { registerModelCommands } from './models-command';
import { registerTrainCommand } from './train-command';
import { UsageError } from './usage-error';
import { registerBacktestCommands } from './backtest-command';
import { registerKeysCommands } from './keys-command';

function config(overrides: Record<string, string> = {}): Config {
  return loadConfig({ ...process.env, ...overrides });
}

/** Runs the given roles in this process until SIGTERM/SIGINT. */
async function runRoles(roles?: string): Promise<void> {
  const cfg = config(roles === undefined ? {} : { ROLES: roles });
  const app = createApp(cfg);
  const code = await runUntilSignal(app, app.ctx.logger.child({ module: 'cli' }));
  // Stopped, or out of time (5): exit even if a client left a timer or socket behind (kafkajs
  // retrying a broker that is gone would keep the process alive for minutes).
  process.exit(code);
}

function runKafkaScript(action: string): number {
  const r = spawnSync('bash', [path.join(PROJECT_ROOT, 'scripts', 'kafka.sh'), action], { stdio: 'inherit' });
  return r.status ?? EXIT.failure;
}

export function buildProgram(): Command {
  const program = new Command('tillcast')
    .description(
      'Streaming sales forecasts for restaurants: POS events -> Kafka -> ClickHouse -> neural forecast -> API',
    )
    .showHelpAfterError()
    .exitOverride();

  const stack = program
    .command('stack')
    .description('local Kafka broker (and embedded ClickHouse) for development');
  stack
    .command('up')
    .description('fetch the broker jars from Maven Central (first time) and start a single-node KRaft broker')
    .addHelpText('after', '\nExample:\n  KAFKA_PORT=9092 tillcast stack up')
    .action(() => {
      process.exitCode = runKafkaScript('up');
    });
  stack
    .command('down')
    .description('stop the local broker')
    .addHelpText('after', '\nExample:\n  tillcast stack down')
    .action(() => {
      process.exitCode = runKafkaScript('down');
    });
  stack
    .command('status')
    .description('broker and ClickHouse health')
    .option('--json', 'print one JSON object')
    .addHelpText(
      'after',
      '\nExamples:\n  tillcast stack status\n  tillcast stack status --json | jq .kafka.ok',
    )
    .action(async (opts: { json?: boolean }) => {
      const cfg = config();
      const s = await stackStatus(cfg, createLogger('silent'));
      console.log(opts.json ? JSON.stringify(s) : formatStackStatus(s));
      process.exitCode = s.ok ? EXIT.ok : EXIT.down;
    });

  program
    .command('migrate')
    .description('create the database and apply pending ClickHouse migrations (idempotent)')
    .addHelpText('after', '\nExample:\n  CLICKHOUSE_URL=http://localhost:8123 tillcast migrate')
    .action(async () => {
      const cfg = config();
      const logger = createLogger(cfg.LOG_LEVEL);
      const ch = createClickHouse(cfg, logger);
      try {
        const r = await migrate(ch, logger, undefined, cfg.CLICKHOUSE_CLUSTER);
        console.log(
          `migrations: ${r.applied.length} applied${r.applied.length ? ` (${r.applied.join(', ')})` : ''}, ${r.skipped.length} already applied`,
        );
      } finally {
        await ch.close();
      }
    });

  program
    .command('init')
    .description(
      'create the database, apply migrations and create the Kafka topics (idempotent; the docker compose init job)',
    )
    .addHelpText(
      'after',
      '\nExample:\n  CLICKHOUSE_URL=http://localhost:8123 KAFKA_BROKERS=localhost:9092 tillcast init',
    )
    .action(async () => {
      const cfg = config();
      const logger = createLogger(cfg.LOG_LEVEL);
      const ch = createClickHouse(cfg, logger);
      try {
        const r = await migrate(ch, logger, undefined, cfg.CLICKHOUSE_CLUSTER);
        console.log(`migrations: ${r.applied.length} applied, ${r.skipped.length} already applied`);
      } finally {
        await ch.close();
      }
      await provisionKafka(createKafka(cfg, logger), cfg, logger, ['pos', 'ingest', 'forecaster']);
      console.log('topics: ready');
    });

  for (const [role, text] of [
    ['ingest', 'consume POS events into ClickHouse, close hours, dead-letter bad input'],
    ['forecaster', 'refresh forecasts when hours close; fine-tune daily'],
    ['api', 'serve /predict, /branches, the dashboard and docs'],
  ] as const) {
    program
      .command(role)
      .description(`run the ${role} role in this process: ${text}`)
      .addHelpText(
        'after',
        `\nExample (against a ClickHouse server, as docker compose runs it):\n  CLICKHOUSE_URL=http://localhost:8123 KAFKA_BROKERS=localhost:9092 tillcast ${role}`,
      )
      .action(async () => runRoles(role));
  }

  program
    .command('run')
    .description(
      'run several roles in this process (default: ROLES); on the embedded engine its data directory is then theirs alone',
    )
    .argument('[roles...]', 'any of ingest, forecaster, api')
    .addHelpText('after', '\nExamples:\n  tillcast run ingest forecaster\n  ROLES=ingest,api tillcast run')
    .action(async (roles: string[]) => runRoles(roles.length > 0 ? roles.join(',') : undefined));

  program
    .command('replay')
    .description('publish a POS export (CSV, gzip or plain) to the sales topic in event-time order')
    .argument('<file>', 'POS export, e.g. ../shared/data/nory-receipts-2020-06-23_2021-01-31.csv.gz')
    .option('--speed <speed>', 'max, realtime, or a factor like x3600', 'max')
    .option('--from <date>', 'first local date to publish (yyyy-mm-dd)')
    .option('--through <date>', 'last local date to publish (yyyy-mm-dd)')
    .option('--no-heartbeats', 'do not send hourly heartbeats nor close the last day')
    .addHelpText(
      'after',
      '\nExit codes: 0 all rows published, 4 published but some rows were rejected (listed with line numbers), 1 failure.\n\nExamples:\n  tillcast replay ../shared/data/nory-receipts-2020-06-23_2021-01-31.csv.gz\n  tillcast replay export.csv --from 2021-01-01 --through 2021-01-07 --speed x3600',
    )
    .action(
      async (file: string, opts: { speed: string; from?: string; through?: string; heartbeats: boolean }) => {
        const cfg = config();
        const logger = createLogger(cfg.LOG_LEVEL);
        await provisionKafka(createKafka(cfg, logger), cfg, logger, ['pos']);
        const kafka = createKafka(cfg, logger, 'pos');
        const r = await runReplay(file, opts, {
          config: cfg,
          kafka,
          codec: defaultCodec(),
          branches: loadBranchDirectory(cfg),
          logger,
        });
        console.log(
          `replay: ${r.published} events published, ${r.rejectedRows} rows rejected${r.closeAt ? `, closed through ${new Date(r.closeAt).toISOString()}` : ''}`,
        );
        process.exitCode = r.rejectedRows > 0 ? EXIT.partial : EXIT.ok;
      },
    );

  program
    .command('simulate')
    .description('publish synthetic POS traffic for DEMO_BRANCHES (or --branches) simulated branches')
    .option('--branches <n>', 'number of simulated branches (default DEMO_BRANCHES or 5)')
    .option('--seed <n>', 'random seed', '1')
    .option('--days-of-history <n>', 'days of history published first, as fast as possible', '56')
    .option('--speed <speed>', 'speed after the history: realtime, a factor like x60, or max', 'realtime')
    .option('--live-minutes <n>', 'stop after this many minutes of live event time (default: until Ctrl-C)')
    .addHelpText('after', '\nExample:\n  DEMO_BRANCHES=20 tillcast simulate --days-of-history 28 --speed x60')
    .action(
      async (opts: {
        branches?: string;
        seed: string;
        daysOfHistory: string;
        speed: string;
        liveMinutes?: string;
      }) => {
        const n = Number(opts.branches ?? config().DEMO_BRANCHES) || 5;
        const cfg = config({ DEMO_BRANCHES: String(n) });
        const logger = createLogger(cfg.LOG_LEVEL);
        await provisionKafka(createKafka(cfg, logger), cfg, logger, ['pos']);
        const kafka = createKafka(cfg, logger, 'pos');
        const branches = loadBranchDirectory(cfg)
          .list()
          .filter((b) => b.id.startsWith('sim-'));
        const sim = startSimulation(
          {
            branches,
            seed: Number(opts.seed),
            daysOfHistory: Number(opts.daysOfHistory),
            speed: opts.speed,
            liveForMs: opts.liveMinutes !== undefined ? Number(opts.liveMinutes) * 60_000 : undefined,
          },
          { config: cfg, kafka, codec: defaultCodec(), logger },
        );
        const stop = () => void sim.stop();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        const r = await sim.done;
        console.log(`simulate: ${r.events} events and ${r.heartbeats} heartbeats published`);
      },
    );

  program
    .command('start')
    .description(
      'all-in-one: local broker, embedded ClickHouse, simulator (or --replay FILE), ingest, forecaster and API',
    )
    .option(
      '--replay <file>',
      'replay a POS export instead of simulating (to its end, closing its last day), then keep serving',
    )
    .option('--no-stack', 'do not start the local Kafka broker (KAFKA_BROKERS points at one)')
    .addHelpText(
      'after',
      '\nExamples:\n  npm start\n  PORT=8080 tillcast start --replay ../shared/data/nory-receipts-2020-06-23_2021-01-31.csv.gz',
    )
    .action(async (opts: { replay?: string; stack: boolean }) => {
      // As runRoles: the exit ends whatever a client still retries after a bounded shutdown.
      process.exit(await runStart(opts));
    });

  registerModelCommands(program);
  registerTrainCommand(program);
  registerBacktestCommands(program);
  registerKeysCommands(program);

  program
    .command('sql')
    .description('run one SQL statement against the configured ClickHouse and print the rows (JSON lines)')
    .argument('<query>', 'SQL; use {name:Type} placeholders with --param name=value')
    .option('--param <kv...>', 'query parameter(s) name=value')
    .addHelpText(
      'after',
      "\nExamples:\n  tillcast sql 'SELECT * FROM tillcast.v_sales_daily LIMIT 5'\n  tillcast sql 'SELECT count() FROM tillcast.sales_events WHERE branch_id = {b:String}' --param b=2hg8j32gw8g",
    )
    .action(async (query: string, opts: { param?: string[] }) => {
      const cfg = config();
      const ch = createClickHouse(cfg, createLogger(cfg.LOG_LEVEL));
      try {
        const params = Object.fromEntries(
          (opts.param ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
        );
        if (/^\s*(select|with|show|describe|desc|explain)\b/i.test(query)) {
          const rs = await ch.client.query({ query, query_params: params, format: 'JSONEachRow' });
          for (const row of await rs.json()) console.log(JSON.stringify(row));
        } else {
          await ch.client.command({ query, query_params: params });
        }
      } finally {
        await ch.close();
      }
    });

  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
      process.exitCode =
        e.code === 'commander.helpDisplayed' || e.code === 'commander.version' ? EXIT.ok : EXIT.usage;
      return;
    }
    if (err instanceof UsageError) {
      console.error(`tillcast: ${err.message}`);
      process.exitCode = EXIT.usage;
      return;
    }
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exitCode = EXIT.usage;
      return;
    }
    console.error(`tillcast: ${(err as Error).message}`);
    process.exitCode = EXIT.failure;
  }
}

if (require.main === module) {
  void main(process.argv);
}
