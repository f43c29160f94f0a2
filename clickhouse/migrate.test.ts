import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createClickHouse, type ClickHouse } from './client';
import { createLogger } from '../lib/logger';
import { PROJECT_ROOT } from '../lib/config';
import { testConfig } from '../test/test-config';
import { migrate, readMigrations } from './migrate';

const logger = createLogger('warn');

describe('migrations on the embedded engine', () => {
  let ch: ClickHouse;
  beforeAll(() => {
    ch = createClickHouse(testConfig(), logger);
  });
  afterAll(async () => {
    await ch.client.command({ query: `DROP DATABASE IF EXISTS ${ch.database}` });
    await ch.close();
  });

  it('applies every migration once, then nothing the second time', async () => {
    const all = readMigrations(undefined, ch.database).map((m) => m.name);
    expect(all.length).toBeGreaterThan(0);
    const first = await migrate(ch, logger);
    expect(first.applied).toEqual(all);
    const second = await migrate(ch, logger);
    expect(second.applied).toEqual([]);
    expect(second.skipped).toEqual(all);

    const rs = await ch.client.query({
      query: 'SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name',
      query_params: { db: ch.database },
      format: 'JSONEachRow',
    });
    const tables = (await rs.json<{ name: string }>()).map((r) => r.name);
    expect(tables).toEqual(
      expect.arrayContaining(['schema_migrations', 'sales_events', 'sales_hourly', 'branch_watermarks']),
    );
  });

  it('refuses a migration that was edited after it was applied', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillcast-mig-'));
    fs.writeFileSync(
      path.join(dir, '9001_a.sql'),
      'CREATE TABLE IF NOT EXISTS {{database}}.a (x UInt8) ENGINE = Memory;\n',
    );
    await migrate(ch, logger, dir);
    fs.writeFileSync(
      path.join(dir, '9001_a.sql'),
      'CREATE TABLE IF NOT EXISTS {{database}}.a (x UInt16) ENGINE = Memory;\n',
    );
    await expect(migrate(ch, logger, dir)).rejects.toThrow(/9001_a was changed after it was applied/);
  });
});

describe('embedded data directory', () => {
  it('keeps data across a process restart (same data dir, separate processes)', () => {
    const cli = path.join(PROJECT_ROOT, 'dist', 'cli', 'tillcast.js');
    expect(fs.existsSync(cli)).toBe(true); // scripts/test.sh builds before jest
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillcast-ch-'));
    const env = {
      ...process.env,
      CLICKHOUSE_DATA_DIR: dataDir,
      CLICKHOUSE_DATABASE: 'restart_test',
      LOG_LEVEL: 'warn',
    };
    const run = (...args: string[]) => execFileSync('node', [cli, ...args], { env, encoding: 'utf8' });

    run('migrate');
    run(
      'sql',
      "INSERT INTO restart_test.branch_watermarks (branch_id, watermark, closed_through, version) VALUES ({b:String}, '2021-01-31 23:00:00', '2021-01-31 22:00:00', 1)",
      '--param',
      'b=branch-x',
    );
    // A new process opens the same directory and finds the row.
    const out = run(
      'sql',
      'SELECT branch_id, toString(closed_through) AS c FROM restart_test.branch_watermarks FINAL',
    );
    expect(
      out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown),
    ).toEqual([{ branch_id: 'branch-x', c: '2021-01-31 22:00:00' }]);
    // Migrations applied twice across processes are fine too.
    expect(run('migrate')).toMatch(/0 applied/);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
});
