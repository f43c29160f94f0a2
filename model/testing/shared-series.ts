/**
 * Test/dev helper: the shared POS export (../shared/data, never copied into the repo) as model
 * input series, through the independent test reference (test/reference-totals.ts).
 */
import { NORY_BRANCHES, type Branch } from '../../lib/branches';
import { computeReferenceHourly } from '../../test/reference-totals';
import { EXPORT_CLOSE_AT, requireSharedExport } from '../../test/shared-data';
import { seriesFromHourlyBuckets, type HourlyBucket, type HourlySeries } from '../series';

/**
 * Series from a reference map (branch id -> UTC hour start -> cents/orders): one per branch of
 * `branches` that has data, from its first sale to `end` (exclusive).
 */
export function loadSeriesFromReference(
  reference: ReadonlyMap<string, ReadonlyMap<number, HourlyBucket>>,
  branches: readonly Pick<Branch, 'id' | 'timezone' | 'country' | 'group' | 'pos_company_id'>[],
  end?: number,
): HourlySeries[] {
  const out: HourlySeries[] = [];
  for (const b of branches) {
    const hours = reference.get(b.id);
    if (!hours || hours.size === 0) continue;
    out.push(seriesFromHourlyBuckets(hours, b, end === undefined ? {} : { end }));
  }
  return out;
}

/** The three Nory branches of the shared export, through 2021-01-31 (local) inclusive. */
export function loadSharedExportSeries(): HourlySeries[] {
  return loadSeriesFromReference(
    computeReferenceHourly(requireSharedExport()),
    NORY_BRANCHES,
    EXPORT_CLOSE_AT,
  );
}
