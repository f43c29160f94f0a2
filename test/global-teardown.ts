/** Jest global teardown: stops the test broker if a jest run started it (see global-setup.ts). */
import fs from 'node:fs';
import { STARTED_BY_JEST_MARKER } from './global-setup';
import { stopBroker } from './kafka-broker';

export default async function globalTeardown(): Promise<void> {
  if (!fs.existsSync(STARTED_BY_JEST_MARKER)) return;
  const keep = !['', '0', 'false', 'no'].includes((process.env.TEST_KEEP_STACK ?? '').toLowerCase());
  if (keep) {
    process.stderr.write('[global-teardown] TEST_KEEP_STACK is set: the test Kafka broker stays up\n');
    return;
  }
  await stopBroker();
  fs.rmSync(STARTED_BY_JEST_MARKER, { force: true });
}
