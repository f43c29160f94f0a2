/**
 * Static assets for the dashboard (to be built by someone else) from
 * `api/static/`: `/` serves `index.html` when it exists (else redirects to
 * /docs), `/static/<path>` serves files below the folder. Only plain names
 * (letters, digits, `._-`, sub-folders) are served; nothing outside the folder.
 * HTML pages get the HTML CSP (scripts/styles/API calls from this origin).
 */
import fs from 'node:fs';
import path from 'node:path';
import type Koa from 'koa';
import { PROJECT_ROOT } from '../lib/config';
import { htmlCsp } from './http-middleware';

export const DEFAULT_STATIC_DIR = path.join(PROJECT_ROOT, 'api', 'static');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

const SAFE_PATH = /^(?:[A-Za-z0-9_-][A-Za-z0-9._-]{0,100}\/){0,4}[A-Za-z0-9_-][A-Za-z0-9._-]{0,100}$/;

async function sendFile(ctx: Koa.Context, file: string): Promise<boolean> {
  const type = TYPES[path.extname(file).toLowerCase()];
  if (!type) return false;
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(file);
  } catch {
    return false;
  }
  if (!stat.isFile()) return false;
  ctx.status = 200;
  ctx.type = type;
  ctx.length = stat.size;
  ctx.lastModified = stat.mtime;
  ctx.set('Cache-Control', type.startsWith('text/html') ? 'no-cache' : 'public, max-age=300');
  if (type.startsWith('text/html')) {
    ctx.set('Content-Security-Policy', htmlCsp());
    ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
  }
  if (ctx.fresh) {
    ctx.status = 304;
    return true;
  }
  ctx.body = fs.createReadStream(file);
  return true;
}

export function staticFiles(dir: string = DEFAULT_STATIC_DIR): Koa.Middleware {
  const root = path.resolve(dir);
  return async (ctx, next) => {
    if (ctx.path === '/') {
      if (await sendFile(ctx, path.join(root, 'index.html'))) return;
      ctx.redirect('/docs');
      return;
    }
    if (ctx.path.startsWith('/static/')) {
      const rel = ctx.path.slice('/static/'.length);
      if (SAFE_PATH.test(rel) && !rel.split('/').some((seg) => seg.startsWith('.'))) {
        const file = path.join(root, rel);
        if (file.startsWith(root + path.sep) && (await sendFile(ctx, file))) return;
      }
    }
    await next();
  };
}
