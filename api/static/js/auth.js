// @ts-check
/**
 * The dashboard's API key: asked for once and kept in this tab's session storage (gone when the
 * tab closes), sent as `Authorization: Bearer <key>`, never put in a URL or logged. A login link
 * from `tillcast start` carries a one-time code in its fragment (`#login=<code>`, which browsers
 * never send to a server); the page removes it from the address bar at once and swaps it for the
 * key with POST auth/login.
 */

const STORAGE_KEY = 'tillcast.apiKey';

/** @returns {string | null} */
export function storedKey() {
  try {
    return sessionStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

/** @param {string} key */
export function storeKey(key) {
  try {
    sessionStorage.setItem(STORAGE_KEY, key);
  } catch {
    /* storage disabled: the key lives until the page is left */
  }
  memoryKey = key;
}

export function forgetKey() {
  try {
    sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    /* nothing stored */
  }
  memoryKey = null;
}

/** @type {string | null} */
let memoryKey = null;

/** The key to send, if any. */
export function currentKey() {
  return storedKey() || memoryKey;
}

/**
 * Swaps the one-time code of a login link for its key. The fragment is removed from the address
 * bar first, so the code is neither kept in the history nor reused by a reload.
 * @returns {Promise<'none' | 'ok' | 'refused'>}
 */
export async function redeemLoginLink() {
  const m = /^#login=([A-Za-z0-9_-]{1,64})$/.exec(location.hash);
  if (!m || !m[1]) return 'none';
  const code = m[1];
  try {
    history.replaceState(null, '', location.pathname + location.search);
  } catch {
    location.hash = '';
  }
  try {
    const res = await fetch('auth/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ code }),
    });
    if (!res.ok) return 'refused';
    /** @type {unknown} */
    const parsed = await res.json();
    const body = /** @type {{ key?: unknown }} */ (parsed);
    if (typeof body.key !== 'string') return 'refused';
    storeKey(body.key);
    return 'ok';
  } catch {
    return 'refused';
  }
}
