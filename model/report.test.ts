import { dateToDayNumber } from '../lib/time/civil-date';
import { localMidnightUtc } from '../lib/time/local-days';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeDataExploration } from './report';
import { syntheticSeries } from './testing/synthetic';

test('exploration charts and statistics', async () => {
  const start = localMidnightUtc('Europe/Dublin', dateToDayNumber('2020-09-07'));
  const a = syntheticSeries({ branchId: 'a', start, hours: 24 * 42, closedMondays: true, seed: 1 });
  const b = syntheticSeries({ branchId: 'b', start, hours: 24 * 42, level: 300, seed: 2 });
  const dir = await mkdtemp(join(tmpdir(), 'tillcast-eda-'));
  try {
    const stats = await writeDataExploration([a, b], dir);
    expect((await readdir(dir)).sort()).toEqual([
      'closed-days.svg',
      'profile-hour-of-week.svg',
      'weekly-totals.svg',
    ]);
    expect(stats.map((s) => s.branchId)).toEqual(['a', 'b']);
    // 6 Mondays, the first one before the first sale (not counted as closed).
    expect(stats[0]!.closedDays).toBe(5);
    expect(stats[0]!.closedByWeekday[0]).toBe(5);
    expect(stats[1]!.closedDays).toBe(0);
    const svg = await readFile(join(dir, 'weekly-totals.svg'), 'utf8');
    expect(svg).toMatch(/^<svg[^>]+xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg).toContain('Level 5');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
