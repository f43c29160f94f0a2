/** Where the real POS export lives (never copied into the repo). Tests fail loudly without it. */
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../lib/config';

export const SHARED_EXPORT = path.resolve(
  process.env.TILLCAST_SHARED_EXPORT ??
    path.join(PROJECT_ROOT, '..', 'shared', 'data', 'nory-receipts-2020-06-23_2021-01-31.csv.gz'),
);

export function requireSharedExport(): string {
  if (!fs.existsSync(SHARED_EXPORT)) {
    throw new Error(
      `The shared POS export is missing at ${SHARED_EXPORT} (set TILLCAST_SHARED_EXPORT). These tests need it.`,
    );
  }
  return SHARED_EXPORT;
}

/** 2021-02-01 00:00 Europe/Dublin (GMT in winter): the replay's last day closes here. */
export const EXPORT_CLOSE_AT = Date.UTC(2021, 1, 1, 0, 0, 0);
