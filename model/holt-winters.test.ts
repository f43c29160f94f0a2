import { fitHoltWinters, holtWinters } from './holt-winters';

const WEEK = [120, 80, 90, 100, 150, 260, 200]; // sums to 1000: mean 1000/7

test('a weekly pattern on a straight line is continued exactly', () => {
  // y_t = 500 + 3t + season (season centred on zero); 10 weeks of history, 14 days ahead.
  const mean = 1000 / 7;
  const y = (t: number): number => 500 + 3 * t + WEEK[t % 7]! - mean;
  const history = Array.from({ length: 70 }, (_, t) => y(t));
  const fit = fitHoltWinters(history)!;
  expect(fit.sse).toBeCloseTo(0, 9);
  expect(fit.params.phi).toBe(1);
  const f = fit.forecast(14);
  f.forEach((v, k) => expect(v).toBeCloseTo(y(70 + k), 6));
});

test('a flat level with unknown days in the middle: the weekly pattern, unknown days skipped', () => {
  const history = Array.from({ length: 42 }, (_, t) => (t >= 20 && t < 23 ? NaN : WEEK[t % 7]!));
  const fit = fitHoltWinters(history)!;
  expect(fit.forecast(7).map((v) => Math.round(v * 1e6) / 1e6)).toEqual([120, 80, 90, 100, 150, 260, 200]);
});

test('forecasts are floored at 0 and fewer than 14 leading known days give no fit', () => {
  const falling = Array.from({ length: 28 }, (_, t) => 280 - 10 * t);
  const f = holtWinters(falling, { alpha: 0.5, beta: 0.1, gamma: 0.1, phi: 1 })!.forecast(30);
  expect(Math.min(...f)).toBe(0);
  expect(fitHoltWinters([NaN, ...WEEK, ...WEEK.slice(0, 6)])).toBeNull();
});
