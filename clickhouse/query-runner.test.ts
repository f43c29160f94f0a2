import { parseError, type ClickHouseClient } from '@clickhouse/client';
import { StorageError } from '../lib/errors';
import { createLogger } from '../lib/logger';
import type { ClickHouse } from './client';
import { clickhouseQueryDuration, QueryRunner } from './query-runner';

/** What the runner handed to the client, per call. */
interface Sent {
  method: 'query' | 'insert' | 'command';
  params: Record<string, unknown>;
}

/** A ClickHouse whose client answers each call with the next of `answers` (an error is thrown). */
function fakeClickHouse(answers: (unknown[] | Error)[], mode: ClickHouse['mode'] = 'server') {
  const sent: Sent[] = [];
  const answer = (method: Sent['method'], params: Record<string, unknown>) => {
    sent.push({ method, params });
    const next = answers.shift();
    if (next instanceof Error) return Promise.reject(next);
    return Promise.resolve({ json: () => Promise.resolve(next ?? []) });
  };
  const client = {
    query: (params: Record<string, unknown>) => answer('query', params),
    insert: (params: Record<string, unknown>) => answer('insert', params),
    command: (params: Record<string, unknown>) => answer('command', params),
  } as unknown as ClickHouseClient;
  const ch: ClickHouse = {
    client,
    database: 'db',
    mode,
    logger: createLogger('silent'),
    table: (name) => `db.${name}`,
    close: () => Promise.resolve(),
  };
  return { ch, sent };
}

const reset = () => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });

async function observations(op: string, outcome: string): Promise<number> {
  const metric = await clickhouseQueryDuration.get();
  const count = metric.values.find(
    (v) =>
      v.metricName === 'tillcast_clickhouse_query_duration_seconds_count' &&
      v.labels.op === op &&
      v.labels.outcome === outcome,
  );
  return count?.value ?? 0;
}

describe('QueryRunner', () => {
  test('a read: its values as parameters, a query id that starts with its op, one observation', async () => {
    const { ch, sent } = fakeClickHouse([[{ n: '1' }]]);
    const rows = await new QueryRunner(ch).rows<{ n: string }>(
      'test_table.count',
      'SELECT count() AS n FROM db.t WHERE b = {b:String}',
      { b: "x'; DROP TABLE t" },
    );
    expect(rows).toEqual([{ n: '1' }]);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.params).toMatchObject({
      query: 'SELECT count() AS n FROM db.t WHERE b = {b:String}',
      query_params: { b: "x'; DROP TABLE t" },
      format: 'JSONEachRow',
    });
    expect(sent[0]!.params.query_id).toMatch(/^test_table\.count:[0-9a-f-]{36}$/);
    expect(await observations('test_table.count', 'ok')).toBe(1);
  });

  test('a read whose connection was reset is sent again, with a fresh query id', async () => {
    const { ch, sent } = fakeClickHouse([reset(), reset(), [{ n: '2' }]]);
    expect(await new QueryRunner(ch).rows('test_table.reset', 'SELECT 2 AS n')).toEqual([{ n: '2' }]);
    expect(sent).toHaveLength(3);
    expect(new Set(sent.map((s) => s.params.query_id)).size).toBe(3);
    expect(await observations('test_table.reset', 'ok')).toBe(1);
  });

  test('three resets in a row fail as a retriable StorageError naming the op and query id', async () => {
    const { ch, sent } = fakeClickHouse([reset(), reset(), reset(), [{ n: '3' }]]);
    const err = await new QueryRunner(ch).rows('test_table.down', 'SELECT 3').catch((e: unknown) => e);
    expect(sent).toHaveLength(3);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).retriable).toBe(true);
    expect((err as StorageError).message).toBe(
      `test_table.down failed (query_id ${String(sent[2]!.params.query_id)}): socket hang up`,
    );
    expect(await observations('test_table.down', 'retriable')).toBe(1);
  });

  test('a write is sent again after a reset only when it is idempotent', async () => {
    const once = fakeClickHouse([reset(), []]);
    await expect(
      new QueryRunner(once.ch).insert('test_table.append', 'models', [{ a: 1 }]),
    ).rejects.toBeInstanceOf(StorageError);
    expect(once.sent).toHaveLength(1);

    const again = fakeClickHouse([reset(), []]);
    await new QueryRunner(again.ch).insert('test_table.replace', 'models', [[1, 'x']], {
      columns: ['a', 'b'],
      idempotent: true,
    });
    expect(again.sent).toHaveLength(2);
    expect(again.sent[1]!.params).toMatchObject({
      table: 'db.models',
      values: [[1, 'x']],
      columns: ['a', 'b'],
      format: 'JSONCompactEachRow',
    });
  });

  test('no rows, no insert; a statement error is permanent and not repeated', async () => {
    const { ch, sent } = fakeClickHouse([
      parseError(
        'Code: 62. DB::Exception: Syntax error: failed at position 1. (SYNTAX_ERROR) (version 24.8.1.1)',
      ),
    ]);
    const runner = new QueryRunner(ch);
    await runner.insert('test_table.nothing', 'models', []);
    expect(sent).toHaveLength(0);
    const err = await runner.command('test_table.bad', 'SELEC 1').catch((e: unknown) => e);
    expect(sent).toHaveLength(1);
    expect((err as StorageError).retriable).toBe(false);
    expect(await observations('test_table.bad', 'permanent')).toBe(1);
  });

  test('the URL bound of array parameters is a server’s: none in embedded mode', () => {
    expect(new QueryRunner(fakeClickHouse([], 'server').ch).maxParamChars).toBe(64 * 1024);
    expect(new QueryRunner(fakeClickHouse([], 'embedded').ch).maxParamChars).toBe(Number.POSITIVE_INFINITY);
  });
});
