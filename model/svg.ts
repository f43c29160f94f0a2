/** Minimal hand-written SVG charts (no dependency): lines, bands, bars, shaded periods. */

export interface LineSeries {
  name: string;
  color: string;
  /** y per x index; NaN leaves a gap. */
  values: ArrayLike<number>;
  dashed?: boolean;
  width?: number;
}

export interface Band {
  name: string;
  color: string;
  lo: ArrayLike<number>;
  hi: ArrayLike<number>;
}

export interface Shade {
  from: number;
  to: number;
  label: string;
  color?: string;
}

export interface ChartSpec {
  title: string;
  width?: number;
  height?: number;
  /** Number of x positions. */
  n: number;
  /** Tick labels: x index -> text. */
  xTicks: Array<{ at: number; label: string }>;
  yLabel: string;
  lines?: LineSeries[];
  bands?: Band[];
  bars?: LineSeries;
  shades?: Shade[];
  /** Markers (e.g. forecast origins): vertical lines. */
  markers?: Array<{ at: number; label?: string }>;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const f1 = (x: number): string => (Math.round(x * 10) / 10).toString();

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export function chartSvg(spec: ChartSpec): string {
  const W = spec.width ?? 960;
  const H = spec.height ?? 320;
  const L = 64;
  const R = 16;
  const T = 36;
  const B = 56;
  const pw = W - L - R;
  const ph = H - T - B;
  let max = 0;
  const scan = (a: ArrayLike<number>): void => {
    for (let i = 0; i < a.length; i++) if (Number.isFinite(a[i]!)) max = Math.max(max, a[i]!);
  };
  spec.lines?.forEach((l) => scan(l.values));
  spec.bands?.forEach((b) => scan(b.hi));
  if (spec.bars) scan(spec.bars.values);
  const yMax = niceMax(max);
  const x = (i: number): number => L + (spec.n <= 1 ? 0 : (i / (spec.n - 1)) * pw);
  const y = (v: number): number => T + ph - (Math.max(0, v) / yMax) * ph;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${L}" y="20" font-size="14" font-weight="bold">${esc(spec.title)}</text>`,
  );
  for (const s of spec.shades ?? []) {
    out.push(
      `<rect x="${f1(x(s.from))}" y="${T}" width="${f1(Math.max(1, x(s.to) - x(s.from)))}" height="${ph}" fill="${s.color ?? '#f3d9d9'}" opacity="0.6"/>`,
      `<text x="${f1(x(s.from) + 3)}" y="${T + 12}" fill="#933" font-size="10">${esc(s.label)}</text>`,
    );
  }
  for (let k = 0; k <= 4; k++) {
    const v = (yMax * k) / 4;
    out.push(
      `<line x1="${L}" x2="${L + pw}" y1="${f1(y(v))}" y2="${f1(y(v))}" stroke="#e5e5e5"/>`,
      `<text x="${L - 6}" y="${f1(y(v) + 4)}" text-anchor="end" fill="#555">${v >= 1000 ? `${f1(v / 1000)}k` : f1(v)}</text>`,
    );
  }
  out.push(
    `<text x="14" y="${T + ph / 2}" transform="rotate(-90 14 ${T + ph / 2})" text-anchor="middle" fill="#555">${esc(spec.yLabel)}</text>`,
  );
  for (const t of spec.xTicks) {
    out.push(
      `<line x1="${f1(x(t.at))}" x2="${f1(x(t.at))}" y1="${T + ph}" y2="${T + ph + 4}" stroke="#999"/>`,
      `<text x="${f1(x(t.at))}" y="${T + ph + 16}" text-anchor="middle" fill="#555">${esc(t.label)}</text>`,
    );
  }
  if (spec.bars) {
    const bw = Math.max(1, pw / Math.max(1, spec.n) - 1);
    for (let i = 0; i < spec.bars.values.length; i++) {
      const v = spec.bars.values[i]!;
      if (!Number.isFinite(v)) continue;
      out.push(
        `<rect x="${f1(x(i) - bw / 2)}" y="${f1(y(v))}" width="${f1(bw)}" height="${f1(T + ph - y(v))}" fill="${spec.bars.color}"/>`,
      );
    }
  }
  for (const b of spec.bands ?? []) {
    const up: string[] = [];
    const down: string[] = [];
    for (let i = 0; i < b.hi.length; i++) {
      if (!Number.isFinite(b.hi[i]!) || !Number.isFinite(b.lo[i]!)) continue;
      up.push(`${f1(x(i))},${f1(y(b.hi[i]!))}`);
      down.unshift(`${f1(x(i))},${f1(y(b.lo[i]!))}`);
    }
    if (up.length)
      out.push(
        `<polygon points="${[...up, ...down].join(' ')}" fill="${b.color}" opacity="0.35" stroke="none"/>`,
      );
  }
  for (const l of spec.lines ?? []) {
    let d = '';
    let pen = false;
    for (let i = 0; i < l.values.length; i++) {
      const v = l.values[i]!;
      if (!Number.isFinite(v)) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${f1(x(i))},${f1(y(v))}`;
      pen = true;
    }
    out.push(
      `<path d="${d}" fill="none" stroke="${l.color}" stroke-width="${l.width ?? 1.5}"${l.dashed ? ' stroke-dasharray="4 3"' : ''}/>`,
    );
  }
  for (const m of spec.markers ?? []) {
    out.push(
      `<line x1="${f1(x(m.at))}" x2="${f1(x(m.at))}" y1="${T}" y2="${T + ph}" stroke="#888" stroke-dasharray="2 3"/>`,
    );
    if (m.label)
      out.push(
        `<text x="${f1(x(m.at) + 2)}" y="${T + ph - 4}" fill="#666" font-size="9">${esc(m.label)}</text>`,
      );
  }
  // Legend.
  const items = [
    ...(spec.bars ? [{ name: spec.bars.name, color: spec.bars.color, band: true }] : []),
    ...(spec.bands ?? []).map((b) => ({ name: b.name, color: b.color, band: true })),
    ...(spec.lines ?? []).map((l) => ({ name: l.name, color: l.color, band: false })),
  ];
  let lx = L;
  for (const it of items) {
    out.push(
      it.band
        ? `<rect x="${lx}" y="${H - 18}" width="14" height="9" fill="${it.color}" opacity="0.6"/>`
        : `<line x1="${lx}" x2="${lx + 14}" y1="${H - 13}" y2="${H - 13}" stroke="${it.color}" stroke-width="2"/>`,
      `<text x="${lx + 18}" y="${H - 9}" fill="#333">${esc(it.name)}</text>`,
    );
    lx += 34 + it.name.length * 6.5;
  }
  out.push('</svg>');
  return out.join('\n');
}
