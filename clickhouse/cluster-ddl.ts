/**
 * Cluster mode of the migrations (CLICKHOUSE_CLUSTER): the DDL for a sharded, replicated
 * ClickHouse cluster, generated from the same migration files as the single-node schema.
 *
 * - Tables with a `branch_id` column become `<table>_local` with the Replicated variant of
 *   their engine (same engine parameters after the Keeper path and replica name), plus a
 *   `Distributed` table under the original name sharded by `cityHash64(branch_id)`. All of a
 *   branch's rows live on one shard, so what the app does per branch (FINAL reads,
 *   recomputing hours from raw events, joins on branch_id) stays correct per shard.
 * - Tables in REPLICATED_EVERYWHERE are small and read across branches: one Replicated table
 *   under the original name, one replica on every node of the cluster (Keeper path without
 *   `{shard}`), no Distributed table, so every node answers them locally and in full.
 * - Views get `ON CLUSTER` and read the Distributed tables (the same names as today).
 * - `ALTER TABLE` gets `ON CLUSTER`; on a sharded table the column changes go to the local
 *   table and to its Distributed table (whose column list must match), nothing else is allowed.
 *
 * What the cluster's users' profile must set for the app to keep working (README "Deployment"):
 * - distributed_foreground_insert=1: an INSERT into a Distributed table returns once every shard
 *   has stored its rows, not when a background send is queued (ingest reads its writes back to
 *   recompute hours);
 * - insert_quorum=2 (the replicas per shard): ...and both replicas of the shard have them, so
 *   a read served by either replica sees the write
 *   (https://clickhouse.com/docs/reference/settings/session-settings/distributed,
 *   https://clickhouse.com/docs/reference/settings/session-settings/insert-quorum);
 * - distributed_product_mode='local': the views' JOIN/IN subqueries over Distributed tables run
 *   against the shard's local tables (default 'deny' refuses them). Correct here because the
 *   joined tables are all sharded by branch and the joins are per branch (or per run id, whose
 *   rows are on their branch's shard).
 *
 * Engine references: https://clickhouse.com/docs/engines/table-engines/mergetree-family/replication
 * (ReplicatedMergeTree parameters, `{shard}`/`{replica}`/`{database}`/`{table}` macros) and
 * https://clickhouse.com/docs/engines/table-engines/special/distributed (Distributed engine,
 * sharding key). Only parsed here (clickhouse/cluster-ddl.test.ts, the real engine's parser):
 * no ClickHouse cluster ever ran on these machines.
 */

export class ClusterDdlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClusterDdlError';
  }
}

/** The Distributed tables' sharding key: every row of a branch on the same shard. */
export const SHARDING_KEY = 'cityHash64(branch_id)';

/** Suffix of the per-shard replicated table behind each Distributed table. */
export const LOCAL_SUFFIX = '_local';

/**
 * Tables replicated to every node instead of sharded, and why:
 * - schema_migrations: every node must answer "is the schema up to date" on its own.
 * - models, model_promotions: the model registry; a handful of rows read as a whole (the
 *   current model is the latest promotion across all of them), no branch_id.
 * - ingest_rejections: deduplicated by (topic, partition, offset, code), not by branch, and
 *   branch_id is empty when the message had none; small (90-day TTL) and summarised across
 *   branches by v_dlq_summary, which stays a local FINAL read this way.
 */
export const REPLICATED_EVERYWHERE: ReadonlySet<string> = new Set([
  'schema_migrations',
  'models',
  'model_promotions',
  'ingest_rejections',
  // api_keys, api_key_usage: a handful of rows, no branch_id; every API node reads all of them.
  'api_keys',
  'api_key_usage',
]);

/** Keeper path of a sharded table's replicas (ClickHouse expands the macros on each node). */
const SHARDED_PATH = "'/clickhouse/tables/{shard}/{database}/{table}'";
/** Keeper path of a table with one replica on every node: no `{shard}`, one replica set. */
const EVERYWHERE_PATH = "'/clickhouse/tables/all/{database}/{table}'";
const REPLICA = "'{replica}'";

const CREATE_TABLE = /^CREATE TABLE IF NOT EXISTS ([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)\s*\(/;
const CREATE_VIEW = /^(CREATE OR REPLACE VIEW) ([A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*)(\s)/;
const ALTER_TABLE = /^ALTER TABLE ([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)(\s)/;
/** ALTER clauses a Distributed table takes too (its columns mirror the local table's). */
const COLUMN_CLAUSE = /^(ADD|DROP|MODIFY|COMMENT|RENAME) COLUMN\b/;
const ENGINE = /^\s*ENGINE\s*=\s*([A-Za-z]*MergeTree)(?:\(([^()]*)\))?/;

function quoteString(s: string): string {
  return `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

/** Splits at commas outside parentheses and string literals. */
function topLevelParts(sql: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i];
    if (c === "'") {
      i++;
      while (i < sql.length && sql[i] !== "'") i += sql[i] === '\\' ? 2 : 1;
    } else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(sql.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(sql.slice(start));
  return parts.map((p) => p.trim());
}

/** Index just past the parenthesis that closes the one at `open` (string literals skipped). */
function closingParen(sql: string, open: number): number {
  let depth = 0;
  for (let i = open; i < sql.length; i++) {
    const c = sql[i];
    if (c === "'") {
      i++;
      while (i < sql.length && sql[i] !== "'") i += sql[i] === '\\' ? 2 : 1;
    } else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i + 1;
  }
  throw new ClusterDdlError('unbalanced parentheses in a CREATE TABLE statement');
}

function clusterTable(statement: string, cluster: string, match: RegExpExecArray): string[] {
  const [head, database, table] = match as unknown as [string, string, string];
  const columnsEnd = closingParen(statement, head.length - 1);
  const columns = statement.slice(head.length - 1, columnsEnd);
  const rest = statement.slice(columnsEnd);
  const engine = ENGINE.exec(rest);
  if (!engine) {
    throw new ClusterDdlError(`${database}.${table}: only *MergeTree tables have a cluster form`);
  }
  const [engineClause, engineName, engineArgs] = engine as unknown as [string, string, string | undefined];
  const clauses = rest.slice(engineClause.length);
  const onCluster = `ON CLUSTER ${cluster}`;
  const replicated = (path: string) =>
    `ENGINE = Replicated${engineName}(${[path, REPLICA, ...(engineArgs?.trim() ? [engineArgs.trim()] : [])].join(', ')})`;

  if (REPLICATED_EVERYWHERE.has(table)) {
    return [
      `CREATE TABLE IF NOT EXISTS ${database}.${table} ${onCluster}\n${columns}\n${replicated(EVERYWHERE_PATH)}${clauses}`,
    ];
  }
  if (!/[(,\n]\s*branch_id\s/.test(columns)) {
    throw new ClusterDdlError(
      `${database}.${table} has no branch_id to shard by: add it to REPLICATED_EVERYWHERE (clickhouse/cluster-ddl.ts) or give it a sharding key`,
    );
  }
  const local = `${table}${LOCAL_SUFFIX}`;
  return [
    `CREATE TABLE IF NOT EXISTS ${database}.${local} ${onCluster}\n${columns}\n${replicated(SHARDED_PATH)}${clauses}`,
    `CREATE TABLE IF NOT EXISTS ${database}.${table} ${onCluster} AS ${database}.${local}\n` +
      `ENGINE = Distributed(${[cluster, database, local].map(quoteString).join(', ')}, ${SHARDING_KEY})`,
  ];
}

function clusterAlter(statement: string, cluster: string, match: RegExpExecArray): string[] {
  const [head, database, table, space] = match as unknown as [string, string, string, string];
  const body = statement.slice(head.length);
  const onCluster = (name: string) => `ALTER TABLE ${database}.${name} ON CLUSTER ${cluster}${space}${body}`;
  if (REPLICATED_EVERYWHERE.has(table)) return [onCluster(table)];
  const other = topLevelParts(body).find((clause) => !COLUMN_CLAUSE.test(clause));
  if (other !== undefined) {
    throw new ClusterDdlError(
      `${database}.${table}: only column changes have a cluster form for a sharded table, not: ${other.slice(0, 60)}`,
    );
  }
  return [onCluster(`${table}${LOCAL_SUFFIX}`), onCluster(table)];
}

/** The cluster form of one single-node migration statement (one or two statements). */
export function clusterStatement(statement: string, cluster: string): string[] {
  const table = CREATE_TABLE.exec(statement);
  if (table) return clusterTable(statement, cluster, table);
  const alter = ALTER_TABLE.exec(statement);
  if (alter) return clusterAlter(statement, cluster, alter);
  const view = CREATE_VIEW.exec(statement);
  if (view) {
    const [head, create, name, space] = view as unknown as [string, string, string, string];
    return [`${create} ${name} ON CLUSTER ${cluster}${space}${statement.slice(head.length)}`];
  }
  throw new ClusterDdlError(
    `no cluster form for this migration statement (only CREATE TABLE IF NOT EXISTS, ALTER TABLE and CREATE OR REPLACE VIEW): ${statement.slice(0, 80)}`,
  );
}

/** The cluster DDL of a list of single-node statements, in order. */
/** A cluster or database name goes into DDL as text: only a plain identifier is accepted. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

function identifier(what: string, name: string): string {
  if (!IDENTIFIER.test(name))
    throw new ClusterDdlError(`${what} must be a plain identifier (got ${JSON.stringify(name)})`);
  return name;
}

export function clusterStatements(statements: readonly string[], cluster: string): string[] {
  identifier('the cluster name', cluster);
  return statements.flatMap((s) => clusterStatement(s, cluster));
}

export function createDatabaseStatement(database: string, cluster?: string): string {
  identifier('the database name', database);
  if (cluster !== undefined) identifier('the cluster name', cluster);
  return cluster
    ? `CREATE DATABASE IF NOT EXISTS ${database} ON CLUSTER ${cluster}`
    : `CREATE DATABASE IF NOT EXISTS ${database}`;
}
