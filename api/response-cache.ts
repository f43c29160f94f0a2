/**
 * Serialized /predict bodies per (branch, range, granularity), on lru-cache. An
 * entry records what it was built from (run id, actuals epoch, validity end);
 * the caller checks those against the current state, so a new run or changed
 * actuals make the entry a miss without any invalidation.
 */
import crypto from 'node:crypto';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { LRUCache } from 'lru-cache';

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

/** Builds a key's entry from the entry it replaces (undefined: none is held). */
export type BuildResponse = (previous: CachedResponse | undefined) => Promise<CachedResponse>;

/**
 * Entries by key in an LRU bounded by entries and body bytes (a body above a quarter of the
 * bytes is served but not kept). An entry with a finite validUntil is dropped `staleMs` after it
 * (the stale-while-revalidate window: until then the caller may serve it while it is rebuilt).
 * Builds go through `fetch`: one build per key at a time, joined by every caller that needs it;
 * while it runs, `get` still returns the entry it replaces.
 */
export class ResponseCache {
  private readonly lru: LRUCache<string, CachedResponse, BuildResponse>;

  constructor(
    maxEntries: number,
    maxBytes: number,
    private readonly staleMs = 0,
  ) {
    this.lru = new LRUCache<string, CachedResponse, BuildResponse>({
      max: Math.max(1, maxEntries),
      maxSize: Math.max(1, maxBytes),
      maxEntrySize: Math.max(1, Math.floor(maxBytes / 4)),
      sizeCalculation: (entry) => Math.max(1, entry.body.length),
      // The TTL only frees memory (the caller checks validUntil itself): a 1 s clock is plenty.
      // lru-cache's default (1 ms) reads the clock and arms a 1 ms timer about every millisecond
      // from the hit path, i.e. some 1000 timers a second under load.
      ttlResolution: 1_000,
      fetchMethod: async (_key, previous, { options, context: build }) => {
        const entry = await build(previous);
        options.ttl = this.ttlOf(entry);
        return entry;
      },
      // A build evicted or replaced while it runs still answers the requests waiting for it.
      ignoreFetchAbort: true,
      // A failed rebuild leaves the entry it was to replace (served while within its window).
      noDeleteOnFetchRejection: true,
    });
  }

  /** The entry under `key` (while a rebuild runs: the entry it replaces), if still within its window. */
  get(key: string): CachedResponse | undefined {
    return this.lru.get(key);
  }

  set(key: string, entry: CachedResponse): void {
    this.lru.set(key, entry, { ttl: this.ttlOf(entry) });
  }

  /**
   * Builds the key's entry and keeps it; `joined`: a build of the key was already running, and
   * `flight` is that one's (it may have been started for other inputs).
   */
  fetch(key: string, build: BuildResponse): { flight: Promise<CachedResponse>; joined: boolean } {
    const status: LRUCache.Status<string, CachedResponse, BuildResponse> = {};
    const flight = this.lru.fetch(key, { forceRefresh: true, context: build, status }).then((entry) => {
      if (entry === undefined) throw new Error(`response build for ${key} gave nothing`);
      return entry;
    });
    return { flight, joined: status.fetch === 'inflight' };
  }

  get size(): number {
    return this.lru.size;
  }

  /** Bytes held (uncompressed bodies; gzip variants add roughly a tenth). */
  get totalBytes(): number {
    return this.lru.calculatedSize;
  }

  /** Time to keep an entry (ms; 0 = until evicted): its validity plus the stale window. */
  private ttlOf(entry: CachedResponse): number {
    if (entry.validUntil === Infinity) return 0;
    return Math.max(1, Math.ceil(entry.validUntil + this.staleMs - Date.now()));
  }
}
