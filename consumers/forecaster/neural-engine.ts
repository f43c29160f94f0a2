/**
 * The neural ForecastEngine: the registry's artifact folder loaded with
 * model/'s loadModel, histories forecast in one batched pass by model/'s
 * forecast. This is the only place the forecaster touches model/ for inference.
 */
import { loadModel } from '../../model/artifacts';
import { backendName } from '../../model/backend';
import { forecastWithColdStart } from '../../model/cold-start';
import { calendarHistoryStart, HISTORY_DAYS } from '../../model/forecast';
import { MAX_HORIZON_DAYS } from '../../model/features';
import type { EngineForecast, ForecastEngine, ForecastRequest } from './engine';
import type { ModelRecord } from '../../clickhouse/store/forecast-store';
import { DAY_MS, HOUR_MS } from '../../lib/time/units';

/** Full local days after the origin's day that `[origin, end)` needs (the model's `days`). */
function daysFor(r: Pick<ForecastRequest, 'origin' | 'end'>): number {
  // end is a local midnight at most MAX_HORIZON_DAYS + 1 days after the origin's day start.
  const days = Math.ceil((r.end - r.origin) / DAY_MS);
  return Math.min(MAX_HORIZON_DAYS, Math.max(0, days));
}

export async function loadNeuralEngine(record: ModelRecord): Promise<ForecastEngine> {
  const model = await loadModel(record.artifact_path);
  return {
    version: record.version,
    backend: backendName() ?? record.backend,
    // What the model reads (16 weeks, for Holt-Winters' day totals) plus two days of slack for
    // DST and the origin's partial day.
    historyHours: (HISTORY_DAYS + 2) * 24,
    grainFactors: model.meta.calibration?.grains,
    historyStart: (series, origin, end) => calendarHistoryStart(series, origin, daysFor({ origin, end })),
    async forecast(requests) {
      // Requests with the same `days` go through one batched forward pass.
      const byDays = new Map<number, number[]>();
      requests.forEach((r, i) => {
        const d = daysFor(r);
        const list = byDays.get(d) ?? [];
        list.push(i);
        byDays.set(d, list);
      });
      const out: EngineForecast[] = requests.map(() => ({ points: [], coldStart: false }));
      for (const [days, idx] of byDays) {
        const series = idx.map((i) => {
          const h = requests[i]!.history;
          // A branch with no closed history yet starts at its origin (an empty series).
          return { ...h, start: h.sales.length === 0 ? requests[i]!.origin : h.start };
        });
        // A young branch is forecast from its group's prior (model/cold-start.ts), the others as usual.
        const result = await forecastWithColdStart(
          model,
          series,
          idx.map((i) => requests[i]!.origin),
          idx.map((i) => requests[i]!.coldStart),
          // Every run carries where its numbers come from (/predict?explain=true).
          { days, explain: true },
        );
        result.forEach((f, k) => {
          const r = requests[idx[k]!]!;
          out[idx[k]!] = {
            points: f.hours.filter(
              (h) => h.hourStart >= r.origin && h.hourStart < r.end && h.hourStart % HOUR_MS === 0,
            ),
            coldStart: f.coldStart === true,
          };
        });
      }
      return out;
    },
    dispose: () => model.net.dispose(),
  };
}
