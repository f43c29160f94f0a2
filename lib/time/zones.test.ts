import { formatOffset, hourlyOffsets, ianaZone, utcOffsetMinutes } from './zones';

describe('zones', () => {
  test('offsets across the 2020-10-25 fall-back (IST -> GMT at 01:00 UTC)', () => {
    const start = Date.UTC(2020, 9, 24, 0);
    const off = hourlyOffsets('Europe/Dublin', start, 72);
    expect(off[0]).toBe(60);
    expect(off[24]).toBe(60); // 2020-10-25 00:00Z = 01:00 IST
    expect(off[25]).toBe(0); // 01:00Z = 01:00 GMT
    expect(off[71]).toBe(0);
  });

  test('hourly offsets agree with the per-instant offset, also inside an hour with a transition', () => {
    // Australia/Lord_Howe shifts by 30 minutes: 2021-10-03 02:00 local (+10:30 -> +11:00) is
    // 2021-10-02 15:30 UTC, inside an hour.
    const zone = 'Australia/Lord_Howe';
    const start = Date.UTC(2021, 9, 1, 0);
    const off = hourlyOffsets(zone, start, 96);
    for (let i = 0; i < 96; i++) expect(utcOffsetMinutes(zone, start + i * 3_600_000)).toBe(off[i]);
    expect(utcOffsetMinutes(zone, Date.UTC(2021, 9, 2, 15))).toBe(630);
    expect(utcOffsetMinutes(zone, Date.UTC(2021, 9, 2, 15, 29, 59, 999))).toBe(630);
    expect(utcOffsetMinutes(zone, Date.UTC(2021, 9, 2, 15, 30))).toBe(660);
    const transition = Date.UTC(2021, 9, 2, 15, 30);
    expect(utcOffsetMinutes('Asia/Kolkata', transition)).toBe(330);
  });

  test('an unknown zone fails loudly', () => {
    expect(() => ianaZone('Mars/Olympus')).toThrow('unknown IANA time zone "Mars/Olympus"');
    expect(() => utcOffsetMinutes('Mars/Olympus', 0)).toThrow(RangeError);
    expect(() => hourlyOffsets('Mars/Olympus', 0, 1)).toThrow(/unknown IANA time zone/);
  });

  test('offset text', () => {
    expect(formatOffset(60)).toBe('+01:00');
    expect(formatOffset(-210)).toBe('-03:30');
    expect(formatOffset(0)).toBe('+00:00');
  });
});
