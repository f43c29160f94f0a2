/**
 * The bounded body of a request (capture, calendar, overrides, login): refused with 413 from its
 * Content-Length before a byte is read, or as soon as the bytes read pass the limit (chunked
 * bodies), so one request never holds more than the limit in memory. On 413 the connection is
 * closed after the answer, so the rest of the body is never read.
 */
import type Koa from 'koa';

/** The body's bytes; 413 `the body is larger than <maxBytes> bytes[ <hint>]` beyond `maxBytes`. */
export async function readBoundedBody(ctx: Koa.Context, maxBytes: number, hint?: string): Promise<Buffer> {
  const tooLarge = `the body is larger than ${maxBytes} bytes${hint === undefined ? '' : ` ${hint}`}`;
  const declared = Number(ctx.get('Content-Length') || '0');
  if (declared > maxBytes) {
    // Do not read the rest: close the connection after answering.
    ctx.set('Connection', 'close');
    ctx.throw(413, tooLarge);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      ctx.set('Connection', 'close');
      ctx.throw(413, tooLarge);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}
