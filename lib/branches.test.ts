import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BranchDirectory, branchSchema } from './branches';

const base = { id: 'new1', name: 'New', timezone: 'Europe/Dublin', currency: 'EUR', country: 'IE' };

describe('branch directory: new-branch fields', () => {
  it('accepts expected_weekly_sales and opened_on', () => {
    const b = branchSchema.parse({ ...base, expected_weekly_sales: 25000, opened_on: '2020-11-02' });
    expect(b.expected_weekly_sales).toBe(25000);
    expect(b.opened_on).toBe('2020-11-02');
  });

  it('refuses a non-positive expected_weekly_sales and an impossible opened_on', () => {
    expect(branchSchema.safeParse({ ...base, expected_weekly_sales: 0 }).success).toBe(false);
    expect(branchSchema.safeParse({ ...base, opened_on: '2020-02-30' }).success).toBe(false);
    expect(branchSchema.safeParse({ ...base, opened_on: '2020-11-2' }).success).toBe(false);
  });

  it('loads them from BRANCHES_FILE', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'branches-')), 'b.json');
    fs.writeFileSync(
      file,
      JSON.stringify([{ ...base, expected_weekly_sales: 1000.5, opened_on: '2021-01-04' }]),
    );
    const dir = BranchDirectory.load(file);
    expect(dir.get('new1')).toEqual({ ...base, expected_weekly_sales: 1000.5, opened_on: '2021-01-04' });
  });
});
