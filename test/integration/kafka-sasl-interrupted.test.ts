/**
 * A broker lost in the middle of the SASL handshake (killed, restarted, a network cut) is a
 * connection failure, not a refused login. kafkajs 2.2.4 reported it as a non-retriable SASL
 * authentication error ("SASL SCRAM SHA512 authentication failed: Not connected"), so an ingest
 * consumer whose broker died at that moment crashed for good (seen in the 3-broker cluster test;
 * kafkajs#1550). patches/kafkajs+2.2.4.patch rethrows it as the retriable connection error.
 *
 * The fault: a TCP relay in front of the real test broker forwards everything until the client's
 * first SaslAuthenticate request (API key 36), then cuts both connections. The relay counts what
 * it cut, so the test proves it hit that window.
 */
import net from 'node:net';
import { Kafka, logLevel } from 'kafkajs';
import { TEST_KAFKA_USERS, testBrokerAddress } from '../kafka-broker';

jest.setTimeout(60_000);

const SASL_AUTHENTICATE = 36;

interface Relay {
  address: string;
  /** Connections cut at their first SaslAuthenticate request. */
  cut: number;
  close(): Promise<void>;
}

async function relayCuttingSaslAuthenticate(target: string): Promise<Relay> {
  const [host, port] = target.split(':') as [string, string];
  const sockets = new Set<net.Socket>();
  const relay = { cut: 0 } as Relay;
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(port), host);
    sockets.add(client).add(upstream);
    let pending = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      // Kafka requests: a 4-byte size, then the API key (int16) first in the header.
      while (pending.length >= 6) {
        const size = pending.readInt32BE(0);
        if (pending.length < 4 + size) break;
        if (pending.readInt16BE(4) === SASL_AUTHENTICATE) {
          relay.cut++;
          client.destroy();
          upstream.destroy();
          return;
        }
        upstream.write(pending.subarray(0, 4 + size));
        pending = pending.subarray(4 + size);
      }
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    for (const s of [client, upstream]) s.on('error', () => undefined).on('close', () => sockets.delete(s));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  relay.address = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  relay.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return relay;
}

test('a connection cut during SASL authentication is retriable, not a refused login', async () => {
  const relay = await relayCuttingSaslAuthenticate(testBrokerAddress());
  const admin = new Kafka({
    clientId: 'sasl-interrupted',
    brokers: [relay.address],
    sasl: {
      mechanism: 'scram-sha-512',
      username: TEST_KAFKA_USERS.admin.user,
      password: TEST_KAFKA_USERS.admin.password,
    },
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  }).admin();
  let error: (Error & { retriable?: boolean }) | undefined;
  try {
    await admin.connect();
  } catch (err) {
    error = err as Error & { retriable?: boolean };
  } finally {
    await admin.disconnect();
    await relay.close();
  }
  expect(relay.cut).toBeGreaterThanOrEqual(1);
  expect(error).toBeDefined();
  // kafkajs restarts a crashed consumer after a retriable error or after its retries ran out on
  // one (KafkaJSNumberOfRetriesExceeded), never after a refused login.
  expect(error!.name).not.toBe('KafkaJSSASLAuthenticationError');
  expect([
    error!.name,
    error!.name === 'KafkaJSNumberOfRetriesExceeded' || error!.retriable === true,
  ]).toEqual([error!.name, true]);

  // A wrong password, straight to the broker, is still a refused login, not retriable.
  const wrong = new Kafka({
    clientId: 'sasl-wrong',
    brokers: [testBrokerAddress()],
    sasl: { mechanism: 'scram-sha-512', username: TEST_KAFKA_USERS.admin.user, password: 'not-the-password' },
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  }).admin();
  const refused = await wrong.connect().then(
    () => undefined,
    (err: Error & { retriable?: boolean }) => err,
  );
  await wrong.disconnect();
  expect({ name: refused?.name, retriable: refused?.retriable }).toEqual({
    name: 'KafkaJSSASLAuthenticationError',
    retriable: false,
  });
});
