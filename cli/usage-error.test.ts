import { dateOption, UsageError } from './usage-error';

describe('dateOption', () => {
  it('takes real calendar dates yyyy-mm-dd only', () => {
    expect(dateOption('--through', undefined)).toBeUndefined();
    expect(dateOption('--through', '2020-02-29')).toBe('2020-02-29');
    expect(() => dateOption('--through', '2021-02-29')).toThrow(
      new UsageError('--through must be a date yyyy-mm-dd, got "2021-02-29"'),
    );
    expect(() => dateOption('--from', '2021-2-3')).toThrow(UsageError);
    expect(() => dateOption('--from', '2021-02-03T00:00')).toThrow(UsageError);
  });
});
