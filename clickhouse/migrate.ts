/**
 * Versioned, idempotent migrations: clickhouse/migrations/NNNN_name.sql applied
 * in order, each recorded (with a checksum) in `schema_migrations`. Applied
 * files are immutable: a changed checksum is an error, not a silent re-run.
 * With a cluster name (CLICKHOUSE_CLUSTER) the same files are applied in their cluster
 * form (clickhouse/cluster-ddl.ts); without one the statements are the files' own.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ClickHouse } from './client';
import { storageError } from './error-classification';
import type { Logger } from '../lib/logger';
import { PROJECT_ROOT } from '../lib/config';
import { clusterStatements, createDatabaseStatement } from './cluster-ddl';

export const MIGRATIONS_DIR = path.join(PROJECT_ROOT, 'clickhouse', 'migrations');

export interface Migration {
  version: number;
  name: string;
  checksum: string;
  statements: string[];
}

/** Reads and parses the migration files (statements split on `;` at end of line). */
export function readMigrations(dir: string = MIGRATIONS_DIR, database: string): Migration[] {
  return fs
    .readdirSync(dir)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((file) => {
      const text = fs.readFileSync(path.join(dir, file), 'utf8');
      const statements = text
        .split(/;\s*$/m)
        .map((s) =>
          s
            .split('\n')
            .filter((l) => !l.trim().startsWith('--'))
            .join('\n')
            .trim(),
        )
        .filter((s) => s.length > 0)
        .map((s) => s.replaceAll('{{database}}', database));
      return {
        version: Number(file.slice(0, 4)),
        name: file.replace(/\.sql$/, ''),
        checksum: crypto.createHash('sha256').update(text).digest('hex').slice(0, 16),
        statements,
      };
    });
}

/** The statements a migration runs: its own, or their cluster form when a cluster is named. */
export function migrationStatements(m: Migration, cluster?: string): string[] {
  return cluster ? clusterStatements(m.statements, cluster) : m.statements;
}

/** The migrations table (replicated to every node in cluster mode, see cluster-ddl.ts). */
export function schemaMigrationsStatement(ch: Pick<ClickHouse, 'table'>, cluster?: string): string {
  const statement = `CREATE TABLE IF NOT EXISTS ${ch.table('schema_migrations')}
        (version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3))
        ENGINE = ReplacingMergeTree ORDER BY version`;
  return cluster ? clusterStatements([statement], cluster).join('') : statement;
}

export class ClusterMigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClusterMigrationError';
  }
}

export interface MigrateResult {
  applied: string[];
  skipped: string[];
}

type AppliedMigration = { version: number; name: string; checksum: string };

/** Applied migrations by version, or undefined when `schema_migrations` cannot be read (not there yet). */
async function appliedMigrations(ch: ClickHouse): Promise<Map<number, AppliedMigration> | undefined> {
  try {
    const rs = await ch.client.query({
      query: `SELECT version, name, checksum FROM ${ch.table('schema_migrations')} FINAL ORDER BY version`,
      format: 'JSONEachRow',
    });
    return new Map((await rs.json<AppliedMigration>()).map((r) => [Number(r.version), r]));
  } catch {
    return undefined;
  }
}

function checkUnchanged(m: Migration, prior: AppliedMigration): void {
  if (prior.checksum !== m.checksum) {
    throw new Error(
      `migration ${m.name} was changed after it was applied (checksum ${prior.checksum} -> ${m.checksum}); add a new migration instead`,
    );
  }
}

/**
 * Brings the schema up to date. When every migration is applied already it only reads
 * `schema_migrations`, so the roles' least-privilege ClickHouse users (clickhouse/server/users.xml),
 * which may not create anything, start; pending migrations need a user that may (`tillcast init`).
 * `cluster` (CLICKHOUSE_CLUSTER) applies the cluster form, `ON CLUSTER` on a ClickHouse server.
 */
export async function migrate(
  ch: ClickHouse,
  logger: Logger,
  dir: string = MIGRATIONS_DIR,
  cluster?: string,
): Promise<MigrateResult> {
  const log = logger.child({ module: 'migrate' });
  const db = ch.database;
  if (cluster && ch.mode !== 'server') {
    throw new ClusterMigrationError(
      `CLICKHOUSE_CLUSTER=${cluster} needs a ClickHouse server cluster (CLICKHOUSE_URL); the embedded engine has no cluster`,
    );
  }
  const current = await appliedMigrations(ch);
  if (current) {
    const all = readMigrations(dir, db);
    if (all.every((m) => current.has(m.version))) {
      for (const m of all) checkUnchanged(m, current.get(m.version)!);
      return { applied: [], skipped: all.map((m) => m.name) };
    }
  }
  try {
    await ch.client.command({ query: createDatabaseStatement(db, cluster) });
    await ch.client.command({ query: schemaMigrationsStatement(ch, cluster) });
  } catch (err) {
    throw storageError('cannot create the migrations table', err);
  }
  const rs = await ch.client.query({
    query: `SELECT version, name, checksum FROM ${ch.table('schema_migrations')} FINAL ORDER BY version`,
    format: 'JSONEachRow',
  });
  const done = new Map(
    (await rs.json<{ version: number; name: string; checksum: string }>()).map((r) => [Number(r.version), r]),
  );

  const result: MigrateResult = { applied: [], skipped: [] };
  for (const m of readMigrations(dir, db)) {
    const prior = done.get(m.version);
    if (prior) {
      checkUnchanged(m, prior);
      result.skipped.push(m.name);
      continue;
    }
    for (const statement of migrationStatements(m, cluster)) {
      try {
        await ch.client.command({ query: statement });
      } catch (err) {
        throw storageError(`migration ${m.name} failed`, err);
      }
    }
    await ch.client.insert({
      table: ch.table('schema_migrations'),
      values: [{ version: m.version, name: m.name, checksum: m.checksum }],
      format: 'JSONEachRow',
    });
    log.info({ migration: m.name }, 'migration applied');
    result.applied.push(m.name);
  }
  return result;
}
