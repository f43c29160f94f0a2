/**
 * One-time login codes of the dashboard (`npm start` prints a URL with one in its fragment): a
 * code stands for a key for a short time and is swapped for it once (POST /auth/login), so the
 * key itself never appears in a URL, a browser history or an access log. Codes live in the
 * memory of the API process that issued them; 128 random bits each.
 */
import crypto from 'node:crypto';

export interface LoginGrant {
  key: string;
  keyId: string;
  name: string;
}

export class LoginCodes {
  private readonly codes = new Map<string, LoginGrant & { expiresAt: number }>();

  constructor(private readonly ttlMs = 15 * 60_000) {}

  /** A fresh code for the key, valid once within the TTL. */
  issue(grant: LoginGrant): string {
    this.sweep();
    const code = crypto.randomBytes(16).toString('base64url');
    this.codes.set(code, { ...grant, expiresAt: Date.now() + this.ttlMs });
    return code;
  }

  /** The key the code stands for, once; undefined for an unknown, used or expired code. */
  redeem(code: string): LoginGrant | undefined {
    const g = this.codes.get(code);
    if (!g) return undefined;
    this.codes.delete(code);
    if (g.expiresAt <= Date.now()) return undefined;
    return { key: g.key, keyId: g.keyId, name: g.name };
  }

  private sweep(): void {
    const now = Date.now();
    for (const [c, g] of this.codes) if (g.expiresAt <= now) this.codes.delete(c);
  }
}
