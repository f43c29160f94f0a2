import { Writable } from 'node:stream';
import pino from 'pino';
import { createLogger } from './logger';

/** The lines a logger built like createLogger's writes, for a logged object. */
function written(log: (l: pino.Logger) => void): string {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const logger = createLogger('info', sink);
  log(logger);
  return lines.join('');
}

test('credentials in a logged object are redacted, other fields kept', () => {
  const out = written((l) =>
    l.info(
      {
        sasl: { mechanism: 'scram-sha-512', username: 'u', password: 'kafka-secret-1' },
        config: { CLICKHOUSE_PASSWORD: 'ch-secret-2', KAFKA_SASL_PASSWORD: 'kafka-secret-3', PORT: 3000 },
        req: { headers: { authorization: 'Bearer tc_abc_secret4', host: 'x' } },
        password: 'secret-5',
      },
      'hello',
    ),
  );
  for (const secret of ['kafka-secret-1', 'ch-secret-2', 'kafka-secret-3', 'tc_abc_secret4', 'secret-5'])
    expect(out).not.toContain(secret);
  expect(JSON.parse(out)).toMatchObject({
    msg: 'hello',
    config: { PORT: 3000 },
    req: { headers: { host: 'x' } },
  });
});
