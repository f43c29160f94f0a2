/**
 * /metrics (Prometheus) and /health for processes without the API — the ingest
 * and forecaster containers of docker compose. Off unless METRICS_PORT is set;
 * the API serves the same registry at its own /metrics.
 */
import http from 'node:http';
import { collectDefaultMetrics, register } from 'prom-client';
import type { Logger } from './logger';

let defaultsCollected = false;

/** Process metrics (CPU, RSS, event loop lag, GC), registered once per process. */
export function collectProcessMetrics(): void {
  if (defaultsCollected) return;
  defaultsCollected = true;
  collectDefaultMetrics({ prefix: 'tillcast_' });
}

export interface MetricsServer {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createMetricsServer(port: number, host: string, logger: Logger): MetricsServer {
  const log = logger.child({ module: 'metrics-server' });
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || (path !== '/metrics' && path !== '/health')) {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end('{"error":{"code":"not_found","message":"GET /metrics or /health"}}');
      return;
    }
    if (path === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    register.metrics().then(
      (text) => res.writeHead(200, { 'content-type': register.contentType }).end(text),
      (err: unknown) => {
        log.error({ err }, 'cannot render metrics');
        res
          .writeHead(503, { 'content-type': 'application/json' })
          .end('{"error":{"code":"unavailable","message":"metrics unavailable"}}');
      },
    );
  });
  return {
    start: () =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          log.info({ port, host }, 'metrics listening');
          resolve();
        });
      }),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
