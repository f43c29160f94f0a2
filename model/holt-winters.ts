/**
 * Holt-Winters (additive ETS with a damped trend and weekly seasonality) on daily totals: the
 * backtest's strong statistical baseline. Pure functions, no tensors.
 *
 * Recursion (m = 7, damping φ):
 *   ℓ_t = α (y_t − s_{t−m}) + (1 − α)(ℓ_{t−1} + φ b_{t−1})
 *   b_t = β (ℓ_t − ℓ_{t−1}) + (1 − β) φ b_{t−1}
 *   s_t = γ (y_t − ℓ_{t−1} − φ b_{t−1}) + (1 − γ) s_{t−m}
 *   ŷ_{n+h} = ℓ_n + (φ + … + φ^h) b_n + s_{n+h−m⌈h/m⌉}
 * Initial state from the first two weeks (level = first week's mean, trend = the weekly change
 * of the mean / 7, seasons = first week minus that line). Unknown days (NaN) do not update the
 * state. α, β, γ, φ are chosen on a fixed grid by the one-step-ahead squared error over the
 * series given (the history before the origin only: never on what is forecast). Additive, not
 * multiplicative: closed days are zeros.
 */

const M = 7;

export interface HoltWintersParams {
  alpha: number;
  beta: number;
  gamma: number;
  phi: number;
}

export interface HoltWintersFit {
  params: HoltWintersParams;
  /** Sum of squared one-step errors over the fitted days. */
  sse: number;
  /** ŷ for the next `h` days after the series (floored at 0). */
  forecast(h: number): number[];
}

const ALPHAS = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7];
const BETAS = [0, 0.05, 0.15];
const GAMMAS = [0.05, 0.1, 0.2, 0.3, 0.5];
const PHIS = [0.9, 0.98, 1];

interface State {
  level: number;
  trend: number;
  season: number[];
  sse: number;
}

function run(y: readonly number[], p: HoltWintersParams): State | null {
  // First 14 known-consecutive days start the state; before that, nothing.
  let start = 0;
  while (start < y.length && Number.isNaN(y[start]!)) start++;
  if (y.length - start < 2 * M) return null;
  const w1 = y.slice(start, start + M);
  const w2 = y.slice(start + M, start + 2 * M);
  if (w1.some(Number.isNaN) || w2.some(Number.isNaN)) return null;
  const m1 = w1.reduce((a, b) => a + b, 0) / M;
  const m2 = w2.reduce((a, b) => a + b, 0) / M;
  let trend = (m2 - m1) / M;
  // Level at the end of week 1; seasons around the line through week 1 (centred on its day 3).
  let level = m1 + 3 * trend;
  const season = w1.map((v, i) => v - (m1 + (i - 3) * trend));
  let sse = 0;
  for (let t = start + M; t < y.length; t++) {
    const s = season[(t - start) % M]!;
    const yt = y[t]!;
    const prevLevel = level;
    const damped = p.phi * trend;
    if (Number.isNaN(yt)) {
      level = prevLevel + damped;
      trend = damped;
      continue;
    }
    const err = yt - (prevLevel + damped + s);
    sse += err * err;
    level = p.alpha * (yt - s) + (1 - p.alpha) * (prevLevel + damped);
    trend = p.beta * (level - prevLevel) + (1 - p.beta) * damped;
    season[(t - start) % M] = p.gamma * (yt - prevLevel - damped) + (1 - p.gamma) * s;
  }
  // Rotate so that season[0] is the season of the day after the series.
  const next = (y.length - start) % M;
  return { level, trend, season: [...season.slice(next), ...season.slice(0, next)], sse };
}

function forecastFrom(st: State, phi: number, h: number): number[] {
  const out: number[] = [];
  let damp = 0;
  let pk = 1;
  for (let k = 1; k <= h; k++) {
    pk *= phi;
    damp += pk;
    out.push(Math.max(0, st.level + damp * st.trend + st.season[(k - 1) % M]!));
  }
  return out;
}

/** Fits with the given parameters (no search). Null when fewer than 14 leading known days. */
export function holtWinters(y: readonly number[], params: HoltWintersParams): HoltWintersFit | null {
  const st = run(y, params);
  if (!st) return null;
  return { params, sse: st.sse, forecast: (h) => forecastFrom(st, params.phi, h) };
}

/** Fits α, β, γ, φ on the grid by the one-step squared error. Null with fewer than 14 known days. */
export function fitHoltWinters(y: readonly number[]): HoltWintersFit | null {
  let best: HoltWintersFit | null = null;
  for (const alpha of ALPHAS)
    for (const beta of BETAS)
      for (const gamma of GAMMAS)
        for (const phi of PHIS) {
          const f = holtWinters(y, { alpha, beta, gamma, phi });
          if (!f) return null;
          if (!best || f.sse < best.sse) best = f;
        }
  return best;
}
