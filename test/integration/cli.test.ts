/**
 * The `tillcast` command as a user runs it (the built dist/cli/tillcast.js):
 * every subcommand answers --help with an example and exit 0, bad usage exits
 * 2, and on a five-week slice of the shared export `replay` → `run ingest
 * forecaster` → `forecast show` and `models list` print a neural forecast.
 */
import { isolatedKafkaEnv } from '../../lib/topics';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { killAllChildren, requireBuiltCli, runCli, spawnCli } from '../child-process';
import { testBrokerAddress, uniqueName } from '../kafka-broker';
import { requireSharedExport } from '../shared-data';

jest.setTimeout(600_000);

const COMMANDS = [
  [],
  ['stack'],
  ['stack', 'up'],
  ['stack', 'down'],
  ['stack', 'status'],
  ['migrate'],
  ['init'],
  ['ingest'],
  ['forecaster'],
  ['api'],
  ['run'],
  ['replay'],
  ['simulate'],
  ['start'],
  ['train'],
  ['backtest'],
  ['explore'],
  ['models'],
  ['models', 'list'],
  ['models', 'promote'],
  ['models', 'rollback'],
  ['forecast'],
  ['forecast', 'show'],
  ['sql'],
];

let dataDir: string;
let env: Record<string, string>;

beforeAll(() => {
  requireBuiltCli();
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillcast-cli-'));
  const name = uniqueName('cli');
  env = {
    ...(process.env as Record<string, string>),
    LOG_LEVEL: 'info',
    KAFKA_BROKERS: testBrokerAddress(),
    ...isolatedKafkaEnv(name),
    CLICKHOUSE_DATA_DIR: path.join(dataDir, 'clickhouse'),
    MODELS_DIR: path.join(dataDir, 'models'),
  };
});

afterAll(async () => {
  await killAllChildren();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('tillcast --help', () => {
  test.each(COMMANDS.map((c) => [c.join(' ') || '(top level)', c]))(
    '%s --help exits 0 and describes itself',
    async (_label, args) => {
      const { stdout } = await runCli([...args, '--help'], env);
      const text = stdout.join('\n');
      expect(text).toMatch(/^Usage: tillcast/m);
      // Leaf commands show an example; groups list their subcommands.
      expect(text).toMatch(/Example|Commands:/);
    },
  );

  test('bad usage exits 2 with a message', async () => {
    const c = spawnCli('bad', ['replay'], env);
    expect((await c.waitForExit(30_000)).code).toBe(2);
    expect(c.stderr).toMatch(/missing required argument 'file'/);
    const bad = spawnCli('bad-date', ['replay', requireSharedExport(), '--from', '2021-13-01'], env);
    expect((await bad.waitForExit(60_000)).code).toBe(2);
    expect(bad.stderr).toMatch(/--from must be a date yyyy-mm-dd, got "2021-13-01"/);
  });
});

describe('replay a slice, run ingest + forecaster, show the forecast', () => {
  test('Nory Sushi gets a neural forecast from 2021-01-25 00:00 for 14 days', async () => {
    const file = requireSharedExport();
    const replay = await runCli(
      ['replay', file, '--from', '2020-12-21', '--through', '2021-01-24'],
      env,
      120_000,
    );
    expect(replay.stdout.join('\n')).toMatch(
      /replay: \d+ events published, 0 rows rejected, closed through 2021-01-25T00:05:00.000Z/,
    );

    const roles = spawnCli('run', ['run', 'ingest', 'forecaster'], env);
    await roles.waitForLog('model in use', { description: 'the first model', timeoutMs: 300_000 });
    await roles.waitForLog('caught up with closed hours', {
      description: 'refreshes with the model',
      timeoutMs: 120_000,
      orSeen: true,
    });
    expect((await roles.kill('SIGTERM', 60_000)).code).toBe(0);

    const show = await runCli(['forecast', 'show', '352h67i328fh'], { ...env, LOG_LEVEL: 'warn' });
    const lines = show.stdout.filter((l) => !l.startsWith('{'));
    expect(lines[0]).toMatch(
      /^Nory Sushi \(352h67i328fh\) run \S+ model \S+-full-\S+ origin 2021-01-25 00:00 UTC$/,
    );
    const days = lines.slice(1).map((l) => l.slice(0, 10));
    expect(days).toEqual(
      Array.from({ length: 14 }, (_, i) => new Date(Date.UTC(2021, 0, 25 + i)).toISOString().slice(0, 10)),
    );
    for (const l of lines.slice(1))
      expect(l).toMatch(/sales +\d+\.\d\d EUR \[p10 +\d+\.\d\d, p90 +\d+\.\d\d\] +orders \d+\.\d/);

    const models = await runCli(['models', 'list', '--json'], { ...env, LOG_LEVEL: 'warn' });
    const list = models.stdout
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { version: string; current: boolean; backend: string });
    expect(list.filter((m) => m.current)).toHaveLength(1);
    expect(list.every((m) => m.backend === 'tensorflow')).toBe(true);
  });
});
