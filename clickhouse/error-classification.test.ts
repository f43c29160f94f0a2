import { ClickHouseError, parseError } from '@clickhouse/client';
import { StorageError } from '../lib/errors';
import { clickHouseErrorType, isRetriableClickHouseError, storageError } from './error-classification';

/** A server's exception text, parsed the way the client (and chdb's connection) parses it. */
const serverError = (code: number, type: string, message: string) =>
  parseError(`Code: ${code}. DB::Exception: ${message}. (${type}) (version 24.8.1.1)`);

describe('ClickHouse error classification', () => {
  test('241 MEMORY_LIMIT_EXCEEDED is retriable (it used to stop the ingest consumer for good)', () => {
    const err = serverError(
      241,
      'MEMORY_LIMIT_EXCEEDED',
      'Memory limit (total) exceeded: would use 3.52 GiB (attempt to allocate chunk of 4194304 bytes), maximum: 3.45 GiB',
    );
    expect(err).toBeInstanceOf(ClickHouseError);
    expect(clickHouseErrorType(err)).toBe('MEMORY_LIMIT_EXCEEDED');
    expect(isRetriableClickHouseError(err)).toBe(true);
    const wrapped = storageError('cannot aggregate hours', err);
    expect(wrapped).toBeInstanceOf(StorageError);
    expect(wrapped.retriable).toBe(true);
    expect(wrapped.cause).toBe(err);
    expect(wrapped.message).toBe(
      'cannot aggregate hours: Memory limit (total) exceeded: would use 3.52 GiB (attempt to allocate chunk of 4194304 bytes), maximum: 3.45 GiB. ',
    );
  });

  test.each([
    [159, 'TIMEOUT_EXCEEDED', 'Timeout exceeded: elapsed 30.1 seconds, maximum: 30'],
    [202, 'TOO_MANY_SIMULTANEOUS_QUERIES', 'Too many simultaneous queries. Maximum: 100'],
    [252, 'TOO_MANY_PARTS', 'Too many parts (300) in table'],
    [209, 'SOCKET_TIMEOUT', 'Timeout exceeded while reading from socket'],
    [1000, 'POCO_EXCEPTION', 'Field value too long'],
  ])('%i %s is retriable', (code, type, message) => {
    expect(isRetriableClickHouseError(serverError(code, type, message))).toBe(true);
    expect(storageError('x', serverError(code, type, message)).retriable).toBe(true);
  });

  test.each([
    [62, 'SYNTAX_ERROR', 'Syntax error: failed at position 1'],
    [47, 'UNKNOWN_IDENTIFIER', 'Missing columns: nope'],
    [60, 'UNKNOWN_TABLE', 'Table tillcast.nope does not exist'],
    [81, 'UNKNOWN_DATABASE', 'Database nope does not exist'],
    [53, 'TYPE_MISMATCH', 'Cannot convert'],
    [43, 'ILLEGAL_TYPE_OF_ARGUMENT', 'Illegal type String of argument'],
    [16, 'NO_SUCH_COLUMN_IN_TABLE', 'There is no column nope in table'],
    [27, 'CANNOT_PARSE_INPUT_ASSERTION_FAILED', 'Cannot parse input'],
    [41, 'CANNOT_PARSE_DATETIME', 'Cannot parse DateTime'],
    [497, 'ACCESS_DENIED', 'api: Not enough privileges'],
    [164, 'READONLY', 'Cannot modify setting in readonly mode'],
    [452, 'SETTING_CONSTRAINT_VIOLATION', 'Setting max_threads should not be changed'],
    [516, 'AUTHENTICATION_FAILED', 'ingest: Authentication failed'],
  ])('%i %s is permanent', (code, type, message) => {
    const err = serverError(code, type, message);
    expect(clickHouseErrorType(err)).toBe(type);
    expect(isRetriableClickHouseError(err)).toBe(false);
    expect(storageError('x', err).retriable).toBe(false);
  });

  test('failures that are not the server speaking are retriable: a refused connection, a reset socket', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' });
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    expect(clickHouseErrorType(refused)).toBeUndefined();
    expect(isRetriableClickHouseError(refused)).toBe(true);
    expect(isRetriableClickHouseError(reset)).toBe(true);
    expect(storageError('cannot read', 'plain text').message).toBe('cannot read: plain text');
    expect(storageError('cannot read', 'plain text').retriable).toBe(true);
  });
});
