import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { rateLimiter, requestGuard } from './http-middleware';
import { isOperatorWritePath } from './router';

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

describe('requestGuard', () => {
  /** The status the guard gives (200: passed to the route) for a method and path. */
  async function status(method: string, path: string): Promise<number> {
    const app = new Koa();
    app.use(requestGuard(2048, new Set(['/v1/events']), isOperatorWritePath));
    app.use((ctx) => {
      ctx.body = 'ok';
    });
    const handler = app.callback();
    const server = http.createServer((req, res) => void handler(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const { port } = server.address() as AddressInfo;
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { method });
      return res.status;
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  }

  it("lets PUT and DELETE through only on the operators' calendar and override paths", async () => {
    expect(await status('PUT', '/v1/branches/352h67i328fh/calendar/2021-02-01')).toBe(200);
    expect(await status('DELETE', '/v1/branches/352h67i328fh/overrides/2021-02-01')).toBe(200);
    expect(await status('PUT', '/v1/branches/352h67i328fh/calendar')).toBe(405);
    expect(await status('PUT', '/predict')).toBe(405);
    expect(await status('DELETE', '/v1/branches/352h67i328fh/forecast/2021-02-01')).toBe(405);
    expect(await status('POST', '/v1/branches/352h67i328fh/calendar/2021-02-01')).toBe(405);
    expect(await status('POST', '/v1/events')).toBe(200);
    expect(await status('PATCH', '/v1/branches/352h67i328fh/overrides/2021-02-01')).toBe(405);
  });
});
