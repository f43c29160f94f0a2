/**
 * Serialized /predict bodies per (branch, range, granularity), LRU-bounded by
 * entries and bytes. An entry records what it was built from (run id, actuals
 * epoch, validity end); the caller checks those against the current state, so
 * a new run or changed actuals make the entry a miss without any invalidation.
 */
import crypto from 'node:crypto';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

const gzipAsync = promisify(zlib.gzip);

/** Bodies smaller than this are sent uncompressed. */
export const GZIP_MIN_BYTES = 1024;

export interface CachedResponse {
  readonly runId: string;
  readonly epoch: number;
  /** Wall-clock ms; Infinity = until the run or epoch changes. */
  readonly validUntil: number;
  /** ActualsRange.fingerprint the body was built from. */
  readonly fingerprint: string;
  readonly body: Buffer;
  readonly etag: string;
  /** The gzip variant, compressed once on first demand (off the event loop). */
  gzip?: Promise<{ body: Buffer; etag: string }>;
  /** The gzip variant once compressed (read without awaiting the promise). */
  gzipDone?: { body: Buffer; etag: string };
}

/** The entry's gzip variant (its own ETag: a different representation). */
export function gzipped(entry: CachedResponse): Promise<{ body: Buffer; etag: string }> {
  entry.gzip ??= gzipAsync(entry.body, { level: 6 }).then((body) => {
    entry.gzipDone = { body, etag: `${entry.etag.slice(0, -1)}-gz"` };
    return entry.gzipDone;
  });
  return entry.gzip;
}

export function makeEntry(
  runId: string,
  epoch: number,
  validUntil: number,
  fingerprint: string,
  json: string,
): CachedResponse {
  const body = Buffer.from(json);
  const etag = `"${crypto.createHash('sha1').update(body).digest('base64url')}"`;
  return { runId, epoch, validUntil, fingerprint, body, etag };
}

/** The same body (and gzip variant), valid for a new epoch / until a new time. */
export function revalidated(entry: CachedResponse, epoch: number, validUntil: number): CachedResponse {
  const copy: CachedResponse = { ...entry, epoch, validUntil };
  if (entry.gzip && !entry.gzipDone) {
    copy.gzip = entry.gzip.then((gz) => (copy.gzipDone = gz));
  }
  return copy;
}

/**
 * Bounded map of entries, evicted in insertion order with a second chance
 * (CLOCK): a hit only sets a flag, where a strict LRU would move the entry on
 * every hit (a delete and an insert per request); an entry used since it was
 * (re)inserted goes back to the end once instead of being evicted.
 */
export class ResponseCache {
  private readonly entries = new Map<string, { entry: CachedResponse; used: boolean }>();
  private bytes = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes: number,
  ) {}

  /** The entry under `key` (marked as used: it survives the next eviction round). */
  get(key: string): CachedResponse | undefined {
    const slot = this.entries.get(key);
    if (slot === undefined) return undefined;
    slot.used = true;
    return slot.entry;
  }

  set(key: string, entry: CachedResponse): void {
    if (this.maxEntries <= 0 || entry.body.length > this.maxBytes / 4) return;
    const prev = this.entries.get(key);
    if (prev) {
      this.entries.delete(key);
      this.bytes -= prev.entry.body.length;
    }
    this.entries.set(key, { entry, used: false });
    this.bytes += entry.body.length;
    while (this.entries.size > this.maxEntries || this.bytes > this.maxBytes) {
      const oldest = this.entries.entries().next();
      if (oldest.done) break;
      const [oldKey, slot] = oldest.value;
      this.entries.delete(oldKey);
      if (slot.used && oldKey !== key) {
        slot.used = false;
        this.entries.set(oldKey, slot); // second chance
      } else {
        this.bytes -= slot.entry.body.length;
      }
    }
  }

  get size(): number {
    return this.entries.size;
  }

  /** Bytes held (uncompressed bodies; gzip variants add roughly a tenth). */
  get totalBytes(): number {
    return this.bytes;
  }
}
