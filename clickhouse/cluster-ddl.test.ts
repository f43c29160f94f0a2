/**
 * The migrations' cluster form (clickhouse/cluster-ddl.ts), generated from the real migration
 * files and parsed by the real ClickHouse engine (chdb's parser, through `formatQuery`).
 * What this cannot prove: there is no ClickHouse server binary, no Keeper and no cluster on
 * these machines, so the DDL is parsed and checked statement by statement, never executed
 * with ON CLUSTER on a real 2-shard x 2-replica cluster (README "Deployment").
 */
import fs from 'node:fs';
import path from 'node:path';
import { createClickHouse, type ClickHouse } from './client';
import { createLogger } from '../lib/logger';
import { testConfig } from '../test/test-config';
import {
  clusterStatement,
  ClusterDdlError,
  LOCAL_SUFFIX,
  REPLICATED_EVERYWHERE,
  SHARDING_KEY,
} from './cluster-ddl';
import {
  ClusterMigrationError,
  migrate,
  migrationStatements,
  readMigrations,
  schemaMigrationsStatement,
} from './migrate';

const logger = createLogger('warn');
const CLUSTER = 'tillcast';
const DB = 'tillcast';
/** Table names as the migrator qualifies them (ClickHouse.table). */
const tables = { table: (name: string) => `${DB}.${name}` };

let ch: ClickHouse;
beforeAll(() => {
  ch = createClickHouse(testConfig(), logger);
});
afterAll(async () => {
  await ch.close();
});

/** The engine's own parser: throws on a syntax error, returns the canonical text. */
async function format(sql: string): Promise<string> {
  const rs = await ch.client.query({
    query: 'SELECT formatQuery({sql:String}) AS f',
    query_params: { sql },
    format: 'JSONEachRow',
  });
  const rows = await rs.json<{ f: string }>();
  expect(rows).toHaveLength(1);
  return rows[0]!.f;
}

interface ParsedTable {
  name: string;
  columns: string;
  engine: string;
  engineArgs: string;
  tail: string;
  onCluster: boolean;
}

/** Splits a formatted CREATE TABLE into name, column block, engine and the clauses after it. */
function parseTable(formatted: string): ParsedTable {
  const m =
    /^CREATE TABLE IF NOT EXISTS (\S+)( ON CLUSTER \S+)?(?: AS \S+)?\n(\([\s\S]*?\n\))?\n?ENGINE = (\w+)(?:\((.*)\))?\n?([\s\S]*)$/.exec(
      formatted,
    );
  if (!m) throw new Error(`unexpected CREATE TABLE text:\n${formatted}`);
  return {
    name: m[1]!,
    onCluster: m[2] === ` ON CLUSTER ${CLUSTER}`,
    columns: m[3] ?? '',
    engine: m[4]!,
    engineArgs: m[5] ?? '',
    tail: m[6]!,
  };
}

describe('cluster DDL generated from clickhouse/migrations/*.sql', () => {
  const migrations = readMigrations(undefined, DB);
  const source = migrations.flatMap((m) => m.statements);
  const sourceTables = source.filter((s) => s.startsWith('CREATE TABLE'));
  const sourceViews = source.filter((s) => s.startsWith('CREATE OR REPLACE VIEW'));
  const sourceAlters = source.filter((s) => s.startsWith('ALTER TABLE'));

  it('covers every statement of the migration files (tables, views, table alterations)', () => {
    expect(sourceTables.length).toBe(12); // 0001–0002: 8; 0007: api_keys, api_key_usage; 0011: branch_calendar; 0012: forecast_overrides
    expect(sourceViews.length).toBeGreaterThanOrEqual(8);
    expect(sourceTables.length + sourceViews.length + sourceAlters.length).toBe(source.length);
  });

  it('single-node mode runs the files exactly as they are', () => {
    for (const m of migrations) expect(migrationStatements(m)).toBe(m.statements);
    expect(schemaMigrationsStatement(tables)).toBe(`CREATE TABLE IF NOT EXISTS ${DB}.schema_migrations
        (version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3))
        ENGINE = ReplacingMergeTree ORDER BY version`);
  });

  it('every table becomes Replicated*MergeTree ON CLUSTER, sharded by branch behind a Distributed table, parsed by the engine', async () => {
    const sharded: string[] = [];
    const everywhere: string[] = [];
    for (const statement of [...sourceTables, schemaMigrationsStatement(tables)]) {
      const original = parseTable(await format(statement));
      const table = original.name.slice(DB.length + 1);
      const generated = clusterStatement(statement, CLUSTER);
      const parsed = await Promise.all(generated.map(async (s) => parseTable(await format(s))));
      for (const p of parsed) expect(p.onCluster).toBe(true);
      // Same engine parameters after the Keeper path and the replica name.
      const params = (path: string) =>
        [`'${path}'`, "'{replica}'", ...(original.engineArgs ? [original.engineArgs] : [])].join(', ');

      if (REPLICATED_EVERYWHERE.has(table)) {
        everywhere.push(table);
        expect(parsed).toHaveLength(1);
        const [t] = parsed as [ParsedTable];
        expect(t.name).toBe(original.name);
        expect(t.engine).toBe(`Replicated${original.engine}`);
        expect(t.engineArgs).toBe(params('/clickhouse/tables/all/{database}/{table}'));
        expect(t.columns).toBe(original.columns);
        expect(t.tail).toBe(original.tail);
      } else {
        sharded.push(table);
        expect(parsed).toHaveLength(2);
        const [local, dist] = parsed as [ParsedTable, ParsedTable];
        expect(local.name).toBe(`${original.name}${LOCAL_SUFFIX}`);
        expect(local.engine).toBe(`Replicated${original.engine}`);
        expect(local.engineArgs).toBe(params('/clickhouse/tables/{shard}/{database}/{table}'));
        expect(local.columns).toBe(original.columns);
        expect(local.tail).toBe(original.tail);
        expect(local.columns).toMatch(/\n {4}`branch_id` /);
        expect(dist.name).toBe(original.name);
        expect(dist.engine).toBe('Distributed');
        expect(dist.engineArgs).toBe(`'${CLUSTER}', '${DB}', '${table}${LOCAL_SUFFIX}', ${SHARDING_KEY}`);
        expect(SHARDING_KEY).toBe('cityHash64(branch_id)');
      }
    }
    expect(sharded.sort()).toEqual([
      'branch_calendar',
      'branch_watermarks',
      'forecast_overrides',
      'forecast_runs',
      'forecasts',
      'sales_events',
      'sales_hourly',
    ]);
    expect(everywhere.sort()).toEqual([...REPLICATED_EVERYWHERE].sort());
  }, 120_000);

  it('no plain MergeTree is left and every statement is ON CLUSTER', async () => {
    const all = [
      ...migrations.flatMap((m) => migrationStatements(m, CLUSTER)),
      schemaMigrationsStatement(tables, CLUSTER),
    ];
    const shardedAlters = sourceAlters.filter(
      (a) => !REPLICATED_EVERYWHERE.has(/^ALTER TABLE \w+\.(\w+)/.exec(a)![1]!),
    );
    // 7 sharded tables get a Distributed table too, and an ALTER of one alters both.
    expect(all.length).toBe(source.length + 7 + shardedAlters.length + 1);
    for (const s of all) {
      const f = await format(s);
      expect(f).toMatch(
        new RegExp(
          `^(CREATE (TABLE IF NOT EXISTS|OR REPLACE VIEW)|ALTER TABLE) ${DB}\\.\\w+ ON CLUSTER ${CLUSTER}\\b`,
        ),
      );
      expect(f).not.toMatch(/ENGINE = (?!Replicated)\w*MergeTree/);
    }
  }, 120_000);

  it('views keep their text and read the Distributed tables under the original names', async () => {
    for (const statement of sourceViews) {
      const [generated] = clusterStatement(statement, CLUSTER) as [string];
      const original = await format(statement);
      const cluster = await format(generated);
      expect(cluster).toContain(` ON CLUSTER ${CLUSTER}\n`);
      expect(cluster.replace(` ON CLUSTER ${CLUSTER}`, '')).toBe(original);
      expect(cluster).not.toMatch(new RegExp(`${DB}\\.\\w+${LOCAL_SUFFIX}\\b`));
    }
  }, 120_000);

  it('alterations get ON CLUSTER; on a sharded table they alter the local and the Distributed table', async () => {
    const sharded = `ALTER TABLE ${DB}.sales_events\n    ADD COLUMN IF NOT EXISTS x String DEFAULT 'a,b' COMMENT 'c, d',\n    COMMENT COLUMN x 'e'`;
    for (const statement of [...sourceAlters, sharded]) {
      const table = /^ALTER TABLE \w+\.(\w+)/.exec(statement)![1]!;
      const original = await format(statement);
      const generated = await Promise.all(clusterStatement(statement, CLUSTER).map(format));
      const names = REPLICATED_EVERYWHERE.has(table) ? [table] : [`${table}${LOCAL_SUFFIX}`, table];
      expect(generated).toEqual(
        names.map((n) =>
          original.replace(`ALTER TABLE ${DB}.${table}`, `ALTER TABLE ${DB}.${n} ON CLUSTER ${CLUSTER}`),
        ),
      );
    }
    expect(clusterStatement(sharded, CLUSTER)).toHaveLength(2);
  });

  it('refuses what it has no cluster form for, naming the way out', () => {
    expect(() => clusterStatement(`ALTER TABLE ${DB}.sales_events DELETE WHERE 1`, CLUSTER)).toThrow(
      /only column changes have a cluster form for a sharded table, not: DELETE WHERE 1/,
    );
    expect(() => clusterStatement(`DROP TABLE ${DB}.sales_events`, CLUSTER)).toThrow(ClusterDdlError);
    expect(() =>
      clusterStatement(`CREATE TABLE IF NOT EXISTS ${DB}.t (x UInt8) ENGINE = MergeTree ORDER BY x`, CLUSTER),
    ).toThrow(/no branch_id to shard by: add it to REPLICATED_EVERYWHERE/);
    expect(() =>
      clusterStatement(`CREATE TABLE IF NOT EXISTS ${DB}.t (branch_id String) ENGINE = Memory`, CLUSTER),
    ).toThrow(/only \*MergeTree tables have a cluster form/);
  });

  it('cluster mode refuses the embedded engine before touching anything', async () => {
    await expect(migrate(ch, logger, undefined, CLUSTER)).rejects.toThrow(ClusterMigrationError);
    const rs = await ch.client.query({
      query: 'SELECT count() AS n FROM system.databases WHERE name = {db:String}',
      query_params: { db: ch.database },
      format: 'JSONEachRow',
    });
    expect(await rs.json<{ n: number }>()).toEqual([{ n: 0 }]);
  });
});

describe('users.xml in cluster mode', () => {
  /**
   * A Distributed table reads and writes the server's own shard as the querying user (ClickHouse
   * issue #9101): every grant a user has on a sharded table it must also have on the shard table.
   */
  test('every grant on a sharded table is also given on its _local shard table', () => {
    const xml = fs.readFileSync(path.join(__dirname, 'server', 'users.xml'), 'utf8');
    const sharded = new Set<string>();
    for (const m of readMigrations(undefined, DB))
      for (const s of migrationStatements(m, CLUSTER)) {
        const local = new RegExp(`CREATE TABLE IF NOT EXISTS ${DB}\\.(\\w+)${LOCAL_SUFFIX} `).exec(s);
        if (local) sharded.add(local[1]!);
      }
    expect([...sharded].sort()).toEqual(
      [
        'branch_calendar',
        'branch_watermarks',
        'forecast_overrides',
        'forecast_runs',
        'forecasts',
        'sales_events',
        'sales_hourly',
      ].sort(),
    );
    const missing: string[] = [];
    let checked = 0;
    for (const user of xml.matchAll(/<(\w+)>\s*<password[\s\S]*?<\/\1>/g)) {
      const grants = [...user[0].matchAll(/GRANT ([A-Z, ]+) ON (\w+)\.(\w+)</g)].map((g) => ({
        rights: g[1]!.trim(),
        table: g[3]!,
      }));
      for (const g of grants.filter((x) => sharded.has(x.table))) {
        checked++;
        if (!grants.some((x) => x.table === `${g.table}${LOCAL_SUFFIX}` && x.rights === g.rights))
          missing.push(`${user[1]}: GRANT ${g.rights} ON ${DB}.${g.table}${LOCAL_SUFFIX}`);
      }
    }
    expect(missing).toEqual([]);
    expect(checked).toBeGreaterThanOrEqual(5); // ingest's three tables, the forecaster's two
  });
});
