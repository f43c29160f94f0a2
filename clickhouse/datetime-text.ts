/** ClickHouse DateTime text forms (UTC columns) from epoch milliseconds. */
export const toDateTime64 = (ms: number): string => new Date(ms).toISOString().slice(0, 23).replace('T', ' ');
export const toDateTime = (ms: number): string => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
