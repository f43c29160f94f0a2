/**
 * Jest global setup: the test broker (see test/kafka-broker.ts), started once for the whole
 * run and shared by the workers, which inherit KAFKA_BROKERS and the Kafka credentials
 * (testKafkaClientEnv: SASL/SCRAM as the admin) from here.
 *
 * A broker that is already running is reused. It is stopped at the end (global-teardown.ts)
 * only if a jest run started it: a marker file in its stack dir says so, which also covers a
 * run interrupted before its teardown. A broker started by hand (`STACK_DIR=.stack/test
 * KAFKA_PORT=19092 bash scripts/kafka.sh up`) stays up, and TEST_KEEP_STACK=1 keeps it up
 * in any case (warm starts for the next run).
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  brokerStatus,
  startBroker,
  testBrokerAddress,
  testKafkaClientEnv,
  TEST_STACK_DIR,
} from './kafka-broker';

export const STARTED_BY_JEST_MARKER = path.join(TEST_STACK_DIR, 'kafka', 'started-by-jest');

export default async function globalSetup(): Promise<void> {
  const status = await brokerStatus();
  if (status.running) {
    const owner = fs.existsSync(STARTED_BY_JEST_MARKER)
      ? 'left by an earlier jest run'
      : 'started by hand: it stays up';
    process.stderr.write(
      `\n[global-setup] reusing the test Kafka broker on ${status.brokers} (pid ${status.pid}, ${owner})\n`,
    );
    // A no-op unless it runs with other SCRAM users (a broker from before issue 14): then it restarts.
    await startBroker({ echo: true });
  } else {
    process.stderr.write(
      `\n[global-setup] starting the test Kafka broker on ${testBrokerAddress()} (${TEST_STACK_DIR})\n`,
    );
    const t0 = Date.now();
    await startBroker({ echo: true });
    fs.mkdirSync(path.dirname(STARTED_BY_JEST_MARKER), { recursive: true });
    fs.writeFileSync(STARTED_BY_JEST_MARKER, `${new Date().toISOString()} pid ${process.pid}\n`);
    process.stderr.write(`[global-setup] test broker ready in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  }
  // Jest starts its workers after this: they inherit the variable.
  process.env.KAFKA_BROKERS = testBrokerAddress();
  // ... and the test principal (the admin), and no role credentials of a developer's shell.
  Object.assign(process.env, testKafkaClientEnv());
  for (const role of ['POS', 'INGEST', 'FORECASTER']) delete process.env[`KAFKA_${role}_PASSWORD`];
}
