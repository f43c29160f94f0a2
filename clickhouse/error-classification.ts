/**
 * Which ClickHouse failures are worth retrying. Decided by the error's name, `ClickHouseError.type`
 * (what @clickhouse/client parses from the server's text, `... (MEMORY_LIMIT_EXCEEDED)`; chdb's
 * connection maps the embedded engine's errors through the same parser), never by bare numbers.
 * The names are those of ClickHouse's src/Common/ErrorCodes.cpp.
 *
 * Permanent: the statement, the schema or the user's rights are wrong, and the same statement
 * fails the same way however often it is sent (a consumer that retried it would stall its
 * partition for good; it stops instead, loudly). Everything else is retriable: the network, a
 * server that is busy, short of memory or over a timeout, and any name not listed here.
 */
import { ClickHouseError } from '@clickhouse/client';
import { StorageError } from '../lib/errors';

/** Statement and schema bugs: wrong SQL, unknown names, types that do not fit. */
const STATEMENT_ERRORS = [
  'SYNTAX_ERROR',
  'UNKNOWN_IDENTIFIER',
  'UNKNOWN_TABLE',
  'UNKNOWN_DATABASE',
  'UNKNOWN_FUNCTION',
  'UNKNOWN_AGGREGATE_FUNCTION',
  'UNKNOWN_TYPE',
  'UNKNOWN_FORMAT',
  'UNKNOWN_SETTING',
  'UNKNOWN_QUERY_PARAMETER',
  'BAD_QUERY_PARAMETER',
  'TYPE_MISMATCH',
  'ILLEGAL_TYPE_OF_ARGUMENT',
  'ILLEGAL_COLUMN',
  'ILLEGAL_AGGREGATION',
  'NOT_AN_AGGREGATE',
  'NO_SUCH_COLUMN_IN_TABLE',
  'THERE_IS_NO_COLUMN',
  'NOT_FOUND_COLUMN_IN_BLOCK',
  'AMBIGUOUS_IDENTIFIER',
  'AMBIGUOUS_COLUMN_NAME',
  'NUMBER_OF_ARGUMENTS_DOESNT_MATCH',
  'NUMBER_OF_COLUMNS_DOESNT_MATCH',
  'INCORRECT_NUMBER_OF_COLUMNS',
  'BAD_ARGUMENTS',
  'CANNOT_CONVERT_TYPE',
  'CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN',
  'INCORRECT_DATA',
  'INCORRECT_QUERY',
];

/** The user may not do this: its rights, its profile's constraints or its credentials. */
const ACCESS_ERRORS = [
  'ACCESS_DENIED',
  'DATABASE_ACCESS_DENIED',
  'READONLY',
  'READONLY_SETTING',
  'SETTING_CONSTRAINT_VIOLATION',
  'AUTHENTICATION_FAILED',
  'UNKNOWN_USER',
  'WRONG_PASSWORD',
  'REQUIRED_PASSWORD',
  'IP_ADDRESS_NOT_ALLOWED',
  'UNKNOWN_ROLE',
];

const PERMANENT_TYPES: ReadonlySet<string> = new Set([...STATEMENT_ERRORS, ...ACCESS_ERRORS]);

/** CANNOT_PARSE_TEXT, CANNOT_PARSE_DATETIME, CANNOT_PARSE_INPUT_ASSERTION_FAILED, …: bad values. */
const PERMANENT_PREFIX = 'CANNOT_PARSE_';

/**
 * A ClickHouseError of either copy of the class: @clickhouse/client bundles its own (dist/common),
 * while chdb's connection (embedded mode) throws @clickhouse/client-common's, which `instanceof`
 * the client's class does not recognise (the embedded engine's syntax errors were retriable).
 */
function isClickHouseError(err: unknown): err is ClickHouseError {
  return (
    err instanceof ClickHouseError || (err instanceof Error && err.constructor.name === 'ClickHouseError')
  );
}

/** The ClickHouse error name of a failure (`MEMORY_LIMIT_EXCEEDED`), undefined when it is not one. */
export function clickHouseErrorType(err: unknown): string | undefined {
  return isClickHouseError(err) && err.type ? err.type : undefined;
}

/** False when ClickHouse said the statement itself (or the user's right to run it) is wrong. */
export function isRetriableClickHouseError(err: unknown): boolean {
  const type = clickHouseErrorType(err);
  if (type === undefined) return true; // the network, a refused connection, a timeout of the client
  return !PERMANENT_TYPES.has(type) && !type.startsWith(PERMANENT_PREFIX);
}

/** Wraps a ClickHouse failure into a StorageError that says whether retrying may help. */
export function storageError(what: string, err: unknown): StorageError {
  const msg = err instanceof Error ? err.message : String(err);
  return new StorageError(`${what}: ${msg}`, isRetriableClickHouseError(err), { cause: err });
}
