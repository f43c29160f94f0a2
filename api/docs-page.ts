/**
 * /docs: human documentation rendered on the server from the OpenAPI document
 * (no scripts; one inline stylesheet allowed by its hash in the page's CSP).
 */
import crypto from 'node:crypto';
import type { OpenApiDocument } from './schemas';

type Json = Record<string, unknown>;

const esc = (s: unknown): string =>
  String(s).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );

/** `code` spans and **bold** in already-escaped text. */
const inline = (s: string): string =>
  esc(s)
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>');

/** Paragraphs, `- ` bullet lists and inline code, from plain text. */
function prose(text: string | undefined): string {
  if (!text) return '';
  const out: string[] = [];
  let list: string[] = [];
  const flush = () => {
    if (list.length > 0) out.push(`<ul>${list.map((li) => `<li>${inline(li)}</li>`).join('')}</ul>`);
    list = [];
  };
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t.startsWith('- ')) list.push(t.slice(2));
    else {
      flush();
      if (t) out.push(`<p>${inline(t)}</p>`);
    }
  }
  flush();
  return out.join('\n');
}

const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

const refName = (ref: string) => ref.split('/').pop() ?? ref;

function typeOf(schema: Json | undefined): string {
  if (!schema) return '';
  if (typeof schema.$ref === 'string') {
    const n = refName(schema.$ref);
    return `<a href="#schema-${esc(n)}">${esc(n)}</a>`;
  }
  for (const k of ['allOf', 'anyOf', 'oneOf'] as const) {
    const list = schema[k];
    if (Array.isArray(list))
      return (
        (list as Json[]).map(typeOf).join(k === 'allOf' ? ' &amp; ' : ' | ') +
        (schema.nullable ? ' | null' : '')
      );
  }
  let t = esc(schema.type ?? 'any');
  if (schema.type === 'array') t = `array of ${typeOf(schema.items as Json | undefined)}`;
  if (Array.isArray(schema.enum))
    t = (schema.enum as unknown[]).map((v) => `<code>${esc(JSON.stringify(v))}</code>`).join(' | ');
  if (typeof schema.format === 'string') t += ` (${esc(schema.format)})`;
  if (schema.nullable === true) t += ' | null';
  return t;
}

function constraints(schema: Json | undefined): string {
  if (!schema) return '';
  const c: string[] = [];
  if (typeof schema.pattern === 'string') c.push(`pattern <code>${esc(schema.pattern)}</code>`);
  if (typeof schema.minLength === 'number') c.push(`min length ${schema.minLength}`);
  if (typeof schema.maxLength === 'number') c.push(`max length ${schema.maxLength}`);
  if (typeof schema.minimum === 'number') c.push(`≥ ${schema.minimum}`);
  if (typeof schema.maximum === 'number') c.push(`≤ ${schema.maximum}`);
  return c.join(', ');
}

function parameters(params: Json[] | undefined): string {
  if (!params || params.length === 0) return '';
  const rows = params
    .map((p) => {
      const schema = p.schema as Json | undefined;
      const example = p.example ?? schema?.example;
      return `<tr><td><code>${esc(p.name)}</code></td><td>${esc(p.in)}</td><td>${p.required ? 'yes' : 'no'}</td><td>${typeOf(schema)}</td>
<td>${inline(str(p.description ?? schema?.description))}${constraints(schema) ? `<br><small>${constraints(schema)}</small>` : ''}</td>
<td>${example === undefined ? '' : `<code>${esc(example)}</code>`}</td></tr>`;
    })
    .join('\n');
  return `<h4>Parameters</h4><table><thead><tr><th>name</th><th>in</th><th>required</th><th>type</th><th>description</th><th>example</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function responses(resps: Json | undefined): string {
  if (!resps) return '';
  const rows = Object.entries(resps)
    .map(([status, r]) => {
      const resp = r as Json;
      const content = (resp.content ?? {}) as Record<string, Json>;
      const types = Object.entries(content)
        .map(([media, m]) => `${esc(media)}: ${typeOf(m.schema as Json | undefined)}`)
        .join('<br>');
      return `<tr><td><code>${esc(status)}</code></td><td>${inline(str(resp.description))}</td><td>${types}</td></tr>`;
    })
    .join('\n');
  return `<h4>Responses</h4><table><thead><tr><th>status</th><th>meaning</th><th>body</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function schemaTable(name: string, schema: Json): string {
  const props = (schema.properties ?? {}) as Record<string, Json>;
  const required = new Set((schema.required ?? []) as string[]);
  const rows = Object.entries(props)
    .map(
      ([p, s]) =>
        `<tr><td><code>${esc(p)}</code></td><td>${typeOf(s)}</td><td>${required.has(p) ? 'yes' : 'no'}</td><td>${inline(str(s.description))}${constraints(s) ? `<br><small>${constraints(s)}</small>` : ''}</td></tr>`,
    )
    .join('\n');
  const body =
    Object.keys(props).length > 0
      ? `<table><thead><tr><th>field</th><th>type</th><th>required</th><th>description</th></tr></thead><tbody>${rows}</tbody></table>`
      : `<p>${typeOf(schema)}</p>`;
  return `<section id="schema-${esc(name)}"><h3>${esc(name)}</h3>${prose(schema.description as string | undefined)}${body}</section>`;
}

const STYLE = `body{font:15px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d232a;background:#fafbfc}
main{max-width:1080px;margin:0 auto;padding:24px 32px 64px}
h1{margin-bottom:0}h2{margin-top:40px;border-bottom:1px solid #d0d7de;padding-bottom:4px}h3{margin-top:28px}
code{font:13px ui-monospace,SFMono-Regular,Menlo,monospace;background:#eef1f4;padding:1px 4px;border-radius:4px}
pre{background:#1d232a;color:#e6edf3;padding:12px 16px;border-radius:6px;overflow:auto}pre code{background:none;color:inherit}
table{border-collapse:collapse;width:100%;margin:8px 0 16px;font-size:14px}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}th{background:#eef1f4}
.op{border:1px solid #d0d7de;border-radius:8px;padding:8px 16px;margin:16px 0;background:#fff}
.method{display:inline-block;font-weight:700;color:#fff;background:#1f6feb;border-radius:4px;padding:0 8px;margin-right:8px}
small{color:#57606a}nav a{margin-right:16px}`;

export const DOCS_STYLE_HASH = `sha256-${crypto.createHash('sha256').update(STYLE).digest('base64')}`;

export function renderDocsPage(doc: OpenApiDocument): string {
  const d = doc as unknown as Json;
  const info = (d.info ?? {}) as Json;
  const paths = (d.paths ?? {}) as Record<string, Record<string, Json>>;
  const schemas = ((d.components as Json | undefined)?.schemas ?? {}) as Record<string, Json>;
  const schemes = ((d.components as Json | undefined)?.securitySchemes ?? {}) as Record<string, Json>;
  const auth = Object.entries(schemes)
    .map(
      ([name, sc]) =>
        `<p><code>${esc(name)}</code>: ${esc(str(sc.type))} ${esc(str(sc.scheme))}</p>\n${prose(sc.description as string | undefined)}`,
    )
    .join('\n');
  const ops = Object.entries(paths)
    .flatMap(([path, item]) =>
      Object.entries(item).map(
        ([method, op]) => `<div class="op" id="op-${esc(str(op.operationId) || path)}">
<h3><span class="method">${esc(method.toUpperCase())}</span><code>${esc(path)}</code></h3>
<p><strong>${inline(str(op.summary))}</strong></p>
${Array.isArray(op.security) && op.security.length > 0 ? `<p><small>Needs an API key${Array.isArray(op.tags) && op.tags.includes('capture') ? ' with the <code>capture</code> scope' : ''}: <code>Authorization: Bearer &lt;key&gt;</code> (see Authentication).</small></p>` : ''}
${prose(op.description as string | undefined)}
${parameters(op.parameters as Json[] | undefined)}
${responses(op.responses as Json | undefined)}
</div>`,
      ),
    )
    .join('\n');
  const example =
    '/v1/predict?branch_id=352h67i328fh&amp;start=2021-02-04&amp;end=2021-02-10&amp;granularity=daily,hourly';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(info.title ?? 'API')} — docs</title><style>${STYLE}</style></head>
<body><main>
<h1>${esc(info.title ?? 'API')}</h1><p><small>version ${esc(info.version ?? '')} · OpenAPI ${esc(d.openapi ?? '')} · machine-readable: <a href="/openapi.json">/openapi.json</a></small></p>
<nav><a href="#overview">Overview</a><a href="#authentication">Authentication</a><a href="#endpoints">Endpoints</a><a href="#schemas">Schemas</a></nav>
<h2 id="overview">Overview</h2>
${prose(info.description as string | undefined)}
<h3>Example</h3>
<pre><code>curl -s -H "Authorization: Bearer $TILLCAST_KEY" 'http://localhost:3000${example}'</code></pre>
<h2 id="authentication">Authentication</h2>
${auth}
<h2 id="endpoints">Endpoints</h2>
${ops}
<h2 id="schemas">Schemas</h2>
${Object.entries(schemas)
  .map(([n, s]) => schemaTable(n, s))
  .join('\n')}
</main></body></html>`;
}
