/**
 * The training child's protocol: the command line the forecaster builds is the one the child
 * parses, bad ones are refused naming the flag, histories survive the series file exactly, and the
 * outcome line round-trips.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  outcomeLine,
  parseOutcomeLine,
  parseTrainingChildArgv,
  readSeriesFile,
  trainingChildArgv,
  writeSeriesFile,
} from './training-child-protocol';
import type { TrainOutcome } from './training-job';

describe('training child protocol', () => {
  it('parses the command line the forecaster builds, series file first', () => {
    const args = {
      seriesFile: '/tmp/tillcast-train-x/series.json',
      modelsDir: '/models',
      kind: 'finetune' as const,
      seed: 42,
      warmStart: '/models/m1',
      parentVersion: 'm1',
      champion: '/models/m1',
    };
    const argv = trainingChildArgv(args);
    expect(argv).toEqual([
      '--series-file',
      '/tmp/tillcast-train-x/series.json',
      '--models-dir',
      '/models',
      '--kind',
      'finetune',
      '--seed',
      '42',
      '--warm-start',
      '/models/m1',
      '--parent-version',
      'm1',
      '--champion',
      '/models/m1',
    ]);
    expect(parseTrainingChildArgv(argv)).toEqual(args);
    expect(parseTrainingChildArgv(['--series-file', 's.json', '--kind', 'full'])).toEqual({
      seriesFile: 's.json',
      kind: 'full',
    });
  });

  it('refuses unknown flags, a missing series file and bad values, naming the flag', () => {
    expect(() => parseTrainingChildArgv(['--series-file', 's.json', '--kind', 'full', '--json'])).toThrow(
      "Unknown option '--json'",
    );
    expect(() => parseTrainingChildArgv(['--kind', 'full'])).toThrow('--series-file: Required');
    expect(() => parseTrainingChildArgv(['--series-file', 's.json', '--kind', 'weekly'])).toThrow(
      "--kind: Invalid enum value. Expected 'full' | 'finetune', received 'weekly'",
    );
    expect(() =>
      parseTrainingChildArgv(['--series-file', 's.json', '--kind', 'full', '--seed', 'x']),
    ).toThrow('--seed: Expected number, received nan');
  });

  it('keeps histories exact through the series file, and refuses a file of another version', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillcast-protocol-'));
    try {
      const file = path.join(dir, 'series.json');
      const series = [
        {
          branchId: 'b1',
          timezone: 'Europe/Dublin',
          country: 'IE',
          start: Date.UTC(2024, 0, 1),
          sales: Float64Array.from([0, 12.5, 99.99]),
          orders: Float64Array.from([0, 1, 7]),
        },
        {
          branchId: 'b2',
          timezone: 'Europe/Dublin',
          country: 'IE',
          start: Date.UTC(2024, 0, 1),
          sales: Float64Array.from([3]),
          orders: Float64Array.from([1]),
          // The operators' calendar reaches the child: past closures must not be learned from.
          calendar: [
            { date: '2024-01-02', kind: 'closed' as const, name: 'Refit' },
            { date: '2024-01-06', kind: 'event' as const, name: 'Match day', expectedEffect: 0.3 },
          ],
        },
      ];
      writeSeriesFile(series, file);
      expect(readSeriesFile(file)).toEqual(series);
      fs.writeFileSync(file, JSON.stringify({ version: 2, series: [] }));
      expect(() => readSeriesFile(file)).toThrow('Invalid literal value, expected 1');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('round-trips the outcome line and refuses one without a record', () => {
    const outcome: TrainOutcome = {
      record: {
        version: '20240101-000000-full-abcd',
        created_at: 1_704_067_200_000,
        kind: 'full',
        parent_version: '',
        train_from: 1_700_000_000_000,
        train_through: 1_704_067_200_000,
        features: { lookback: 28 },
        hyperparams: { epochs: 3 },
        metrics: {},
        backend: 'tensorflow',
        artifact_path: '/models/20240101-000000-full-abcd',
      },
      holdout: { challenger: 0.21, champion: null },
    };
    expect(parseOutcomeLine(outcomeLine(outcome))).toEqual(outcome);
    expect(() => parseOutcomeLine(JSON.stringify({ holdout: outcome.holdout }))).toThrow('Required');
  });
});
