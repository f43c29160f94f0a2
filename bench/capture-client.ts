/**
 * What a POS integration does, for the capture tests and bench: a SaleEvent as capture JSON
 * (docs/capture.md), in varied but exact spellings (epoch ms or ISO with an offset; integer minor
 * units or decimal strings), and a keep-alive HTTP client that posts a batch to /v1/events.
 */
import http from 'node:http';
import { currencyDigits } from '../api/capture/json-events';
import type { SaleEvent } from '../schemas/events';

/** Minor units as a decimal string in major units ("-12.05"), exactly. */
export function minorToDecimal(minor: number, digits: number): string {
  if (digits === 0) return String(minor);
  const sign = minor < 0 ? '-' : '';
  const abs = String(Math.abs(minor)).padStart(digits + 1, '0');
  return `${sign}${abs.slice(0, -digits)}.${abs.slice(-digits)}`;
}

/** ISO-8601 of `ms` written with the given UTC offset in minutes (e.g. 120: "+02:00"). */
export function isoWithOffset(ms: number, offsetMin: number): string {
  const local = new Date(ms + offsetMin * 60_000).toISOString().slice(0, -1);
  const sign = offsetMin < 0 ? '-' : '+';
  const a = Math.abs(offsetMin);
  return `${local}${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

/** The event as capture JSON; `variant` picks the spelling of instants and money. */
export function toCaptureJson(e: SaleEvent, variant: number): Record<string, unknown> {
  const digits = currencyDigits(e.currency);
  const time = variant % 2 === 0 ? e.occurred_at : isoWithOffset(e.occurred_at, (variant % 5) * 60 - 120);
  const money =
    variant % 3 === 0
      ? {
          total: minorToDecimal(e.total_minor, digits),
          net: minorToDecimal(e.net_minor, digits),
          tax: minorToDecimal(e.tax_minor, digits),
          tip: minorToDecimal(e.tip_minor, digits),
        }
      : {
          total_minor: e.total_minor,
          net_minor: e.net_minor,
          tax_minor: e.tax_minor,
          tip_minor: e.tip_minor,
        };
  return {
    type: 'sale',
    event_id: e.event_id,
    branch_id: e.branch_id,
    occurred_at: time,
    status: e.status,
    channel: e.channel,
    currency: e.currency,
    ...money,
    covers: e.covers,
    pos: e.pos,
  };
}

export interface PostAnswer {
  status: number;
  retryAfter: string | undefined;
  body: unknown;
  ms: number;
}

/** POSTs one JSON body to `${base}/v1/events` with the key (keep-alive through `agent`). */
export function postEvents(
  base: string,
  key: string,
  events: readonly unknown[],
  agent: http.Agent,
  timeoutMs = 30_000,
): Promise<PostAnswer> {
  const url = new URL('/v1/events', base);
  const body = Buffer.from(JSON.stringify(events));
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent,
        headers: {
          Authorization: `Bearer ${key}`,
          'Content-Type': 'application/json',
          'Content-Length': body.length,
        },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            parsed = undefined;
          }
          resolve({
            status: res.statusCode ?? 0,
            retryAfter: res.headers['retry-after'],
            body: parsed,
            ms: Number(process.hrtime.bigint() - started) / 1e6,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`POST /v1/events timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

export interface CaptureAnswer {
  accepted: number;
  rejected: number;
  results: { index: number; status: string; code?: string; reason?: string; event_id?: string }[];
}
