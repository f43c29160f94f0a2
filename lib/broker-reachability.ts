/**
 * Whether any Kafka broker of KAFKA_BROKERS accepts a TCP connection. The shutdown uses it to
 * tell "a consumer is slow to finish its batch" (wait) from "no broker is there to commit to or
 * leave the group with" (kafkajs would retry for about a minute; waiting cannot help).
 */
import net from 'node:net';

function accepts(address: string, timeoutMs: number): Promise<boolean> {
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** True when one broker accepts a connection; false when every one refuses or times out. */
export async function anyBrokerAccepts(brokers: readonly string[], timeoutMs: number): Promise<boolean> {
  return (await Promise.all(brokers.map((b) => accepts(b, timeoutMs)))).some(Boolean);
}
