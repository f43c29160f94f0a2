/**
 * Array query parameters that a ClickHouse server accepts. Query parameters travel in the URL
 * of the HTTP request, and a server refuses a URL field longer than http_max_field_value_size
 * (128 KiB by default; src/Server/HTTP/HTMLForm.cpp readQuery: "Field value too long", code
 * 1000) and a URI longer than http_max_uri_size (1 MiB). Lookups by many ids or hours go in
 * chunks that stay well inside both (measured: a redelivered ingest batch of one branch,
 * 5,000 hours, was refused on every retry and stalled its partition).
 */

/** Upper bound on the URL-encoded text of one array parameter: half the server's field limit. */
export const MAX_PARAM_CHARS = 64 * 1024;

/** URL-encoded length of one element of an Array(String) parameter (`'text',`). */
const encodedElementLength = (v: string) =>
  encodeURIComponent(`'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}',`).length;

/**
 * Splits `items`, in order, into chunks whose parameter text (`key(item)` per element) stays
 * within `maxChars` once URL-encoded, and within `maxItems` elements.
 */
export function parameterChunks<T>(
  items: readonly T[],
  key: (item: T) => string,
  maxItems: number,
  maxChars = MAX_PARAM_CHARS,
): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let chars = 2; // the brackets
  // No character bound (the embedded engine takes parameters in-process): skip encoding every
  // element, which on ingest's hot path is a million ids per million events.
  const measured = Number.isFinite(maxChars);
  for (const item of items) {
    const n = measured ? encodedElementLength(key(item)) : 0;
    if (current.length > 0 && (current.length >= maxItems || chars + n > maxChars)) {
      chunks.push(current);
      current = [];
      chars = 2;
    }
    current.push(item);
    chars += n;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
