/**
 * The Node HTTP server around the API's Koa app, made only on listen(): socket time limits,
 * a JSON answer to requests the HTTP parser refuses, and a graceful close that lets in-flight
 * requests finish within a deadline.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type Koa from 'koa';
import type { Logger } from '../lib/logger';
import { errorBody } from './error-middleware';

export interface HttpListenerOptions {
  /** The API's time limit of one request's ClickHouse work; the socket's request timeout is twice that (at least 10 s). */
  requestTimeoutMs: number;
  /** Longest wait for in-flight requests on close; then the remaining connections are closed. */
  closeTimeoutMs: number;
}

export interface HttpListener {
  /** The listening server, once listen() resolved. */
  readonly server: http.Server | undefined;
  listen(port: number, host: string): Promise<http.Server>;
  /** Base URL of the listening server, e.g. http://127.0.0.1:39123. */
  url(): string;
  /** Stops accepting and resolves once in-flight requests have finished (or the deadline closed them). */
  close(): Promise<void>;
}

export function httpListener(app: Koa, opts: HttpListenerOptions, log: Logger): HttpListener {
  let server: http.Server | undefined;
  const sockets = new Set<Socket>();

  const listen = (port: number, host: string): Promise<http.Server> => {
    if (server) return Promise.reject(new Error('already listening'));
    const handler = app.callback();
    const s = http.createServer((req, res) => void handler(req, res));
    server = s;
    s.keepAliveTimeout = 5_000;
    s.headersTimeout = 10_000;
    s.requestTimeout = Math.max(10_000, opts.requestTimeoutMs * 2);
    s.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    s.on('clientError', refuseMalformed);
    return new Promise((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, host, () => {
        s.off('error', reject);
        const a = s.address() as AddressInfo;
        log.info({ host: a.address, port: a.port }, 'api listening');
        resolve(s);
      });
    });
  };

  const close = async (): Promise<void> => {
    const s = server;
    if (!s) return;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeIdleConnections();
    const deadline = new Promise<'timeout'>((resolve) =>
      setTimeout(() => resolve('timeout'), opts.closeTimeoutMs).unref(),
    );
    // Keep-alive sockets that become idle after their in-flight request are closed by
    // `Connection: close` on that response; poll for stragglers meanwhile.
    const sweeper = setInterval(() => s.closeIdleConnections(), 100);
    if ((await Promise.race([closed, deadline])) === 'timeout') {
      log.warn({ open: sockets.size }, 'in-flight requests did not finish in time; closing connections');
      s.closeAllConnections();
      await closed;
    }
    clearInterval(sweeper);
  };

  return {
    get server() {
      return server;
    },
    listen,
    url() {
      const a = server?.address();
      if (!a || typeof a === 'string') throw new Error('not listening');
      const host =
        a.family === 'IPv6'
          ? `[${a.address === '::' ? '::1' : a.address}]`
          : a.address === '0.0.0.0'
            ? '127.0.0.1'
            : a.address;
      return `http://${host}:${a.port}`;
    },
    close,
  };
}

/**
 * Malformed requests the HTTP parser refuses (bad bytes in the URL, header overflow, header
 * timeout) get a JSON error too instead of Node's bare answer.
 */
function refuseMalformed(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const status =
    err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const code = status === 431 ? 'headers_too_large' : status === 408 ? 'request_timeout' : 'bad_request';
  const message =
    status === 431
      ? 'request headers (or URL) too large'
      : status === 408
        ? 'request timed out'
        : 'malformed HTTP request';
  const body = JSON.stringify(errorBody({ code, message, details: {} }));
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nX-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
  );
}
