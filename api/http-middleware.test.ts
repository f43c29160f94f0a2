import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { rateLimiter } from './http-middleware';

/** A Koa app behind the limiter (3 a minute, /health exempt); answers 200 'ok' or the error's status. */
async function limitedApp(perMinute: number) {
  const limiter = rateLimiter(perMinute, new Set(['/health']));
  const app = new Koa();
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      const e = err as { status: number; headers?: Record<string, string>; message: string };
      ctx.status = e.status;
      ctx.set(e.headers ?? {});
      ctx.body = e.message;
    }
  });
  app.use(limiter.middleware);
  app.use((ctx) => {
    ctx.body = 'ok';
  });
  const handler = app.callback();
  const server = http.createServer((req, res) => void handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    get: (path: string) => fetch(`${url}${path}`),
    close: () => {
      limiter.close();
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('rateLimiter', () => {
  afterEach(() => jest.useRealTimers());

  it('allows perMinute requests per client and window, then 429 with Retry-After until the window ends', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'], now: 1_000_000 });
    const app = await limitedApp(3);
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await app.get('/x')).status);
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
      jest.setSystemTime(1_000_000 + 45_500);
      const limited = await app.get('/x');
      expect(limited.status).toBe(429);
      expect(limited.headers.get('retry-after')).toBe('15'); // 14.5 s left, rounded up
      expect(await limited.text()).toMatch(/at most 3 requests per minute/);
      expect((await app.get('/health')).status).toBe(200); // probes are exempt
      jest.setSystemTime(1_000_000 + 60_000);
      expect((await app.get('/x')).status).toBe(200); // a new window
    } finally {
      await app.close();
    }
  });

  it('0 turns it off', async () => {
    const app = await limitedApp(0);
    try {
      const statuses = await Promise.all(
        Array.from({ length: 10 }, async () => (await app.get('/x')).status),
      );
      expect(new Set(statuses)).toEqual(new Set([200]));
    } finally {
      await app.close();
    }
  });
});
