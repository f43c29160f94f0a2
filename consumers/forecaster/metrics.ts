/** Forecaster metrics (prom-client default registry). */
import { Counter, Gauge, Histogram } from 'prom-client';

export const refreshSeconds = new Histogram({
  name: 'tillcast_forecast_refresh_seconds',
  help: 'Time from receiving hour-close events to their refreshed forecasts being written (one batch)',
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
});
export const refreshedBranches = new Counter({
  name: 'tillcast_forecast_refreshes_total',
  help: 'Forecast runs written',
});
export const coalescedEvents = new Counter({
  name: 'tillcast_forecast_hour_closed_coalesced_total',
  help: 'HourClosed events folded into a newer refresh of the same branch',
});
export const modelInfo = new Gauge({
  name: 'tillcast_model_info',
  help: 'Current model (value 1), labelled by version and backend',
  labelNames: ['version', 'backend'] as const,
});
export const modelWape = new Gauge({
  name: 'tillcast_model_backtest_wape',
  help: 'Backtest/holdout WAPE of the current model',
  labelNames: ['target', 'grain'] as const,
});
export const trainingsTotal = new Counter({
  name: 'tillcast_model_trainings_total',
  help: 'Model trainings by kind and outcome',
  labelNames: ['kind', 'outcome'] as const,
});
export const trainingsAbandonedTotal = new Counter({
  name: 'tillcast_model_trainings_abandoned_total',
  help: 'Trainings stopped because this member lost the training partition (its new owner carries the decision out)',
});
export const corrections = new Counter({
  name: 'tillcast_forecast_corrections_total',
  help: 'Corrected hours (HourClosed revision above 1) by what they caused: refreshed (the latest run read the hour), newer_run (the batch refreshes from a newer origin anyway), not_read (older than the history the model reads), already_read (a duplicate)',
  labelNames: ['outcome'] as const,
});
export const calendarChanges = new Counter({
  name: 'tillcast_forecast_calendar_changes_total',
  help: 'CalendarChanged messages received (several of one branch in a batch cost one refresh)',
});
