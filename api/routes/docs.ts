/** GET /openapi.json (the OpenAPI document generated from the zod schemas) and GET /docs (its HTML rendering). */
import type Koa from 'koa';
import { DOCS_STYLE_HASH, renderDocsPage } from '../docs-page';
import { htmlCsp } from '../http-middleware';
import { openApiDocument } from '../schemas';

export function openApiRoute(): Koa.Middleware {
  const json = JSON.stringify(openApiDocument());
  return (ctx) => {
    ctx.set('Cache-Control', 'public, max-age=60');
    ctx.type = 'application/json; charset=utf-8';
    ctx.body = json;
  };
}

export function docsRoute(): Koa.Middleware {
  const html = renderDocsPage(openApiDocument());
  const csp = htmlCsp([DOCS_STYLE_HASH]);
  return (ctx) => {
    ctx.set('Cache-Control', 'public, max-age=60');
    ctx.set('Content-Security-Policy', csp);
    ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = html;
  };
}
