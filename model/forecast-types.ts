/** What every forecaster in model/ (the network and the baselines) returns. */

export interface HourlyForecast {
  /** UTC hour start (epoch ms). */
  hourStart: number;
  salesP10: number;
  salesP50: number;
  salesP90: number;
  ordersP10: number;
  ordersP50: number;
  ordersP90: number;
}

export interface BranchForecast {
  branchId: string;
  /** UTC hour start the forecast was made at (nothing at or after it was used). */
  origin: number;
  hours: HourlyForecast[];
}

/** Forecast horizon: the rest of the origin's local day and this many full local days. */
export const DEFAULT_HORIZON_DAYS = 14;
