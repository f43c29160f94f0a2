/**
 * refusedByGroup: which failed offset commits mean "the group moved on without this member"
 * (rejoin: the partition's owner redoes the batch) rather than a failure to report. kafkajs's
 * commit retrier wraps a non-retriable protocol error in KafkaJSNonRetriableError, whose own
 * `type` is gone; thrown as is, it would stop the consumer for good (restart: false).
 */
import { KafkaJSNonRetriableError, KafkaJSProtocolError } from 'kafkajs';
import { refusedByGroup } from './steps/commit';

// kafkajs's typings declare fewer constructor arguments than its code takes (src/errors.js).
const protocolError = (type: string, code: number) =>
  new KafkaJSProtocolError(Object.assign(new Error(`broker says ${type}`), { type, code, retriable: false }));
/** What kafkajs's retrier (src/retry/index.js) rejects with for a non-retriable error. */
const retrierWrapped = (cause: Error) =>
  new (KafkaJSNonRetriableError as unknown as new (e: Error, opts: { cause: Error }) => Error)(cause, {
    cause,
  });

describe('refusedByGroup', () => {
  it.each([
    ['UNKNOWN_MEMBER_ID', 25],
    ['ILLEGAL_GENERATION', 22],
    ['REBALANCE_IN_PROGRESS', 27],
  ])('finds %s behind the retrier’s wrapper, so kafkajs rejoins on it', (type, code) => {
    const cause = protocolError(type, code);
    const wrapped = retrierWrapped(cause);
    expect((wrapped as { type?: unknown }).type).toBeUndefined();
    expect(refusedByGroup(wrapped)).toBe(cause);
    expect(refusedByGroup(cause)).toBe(cause);
  });

  it('leaves every other error alone', () => {
    const notAuthorized = protocolError('GROUP_AUTHORIZATION_FAILED', 30);
    expect(refusedByGroup(retrierWrapped(notAuthorized))).toBeUndefined();
    expect(refusedByGroup(new Error('UNKNOWN_MEMBER_ID'))).toBeUndefined();
    expect(refusedByGroup(Object.assign(new Error('x'), { type: 'UNKNOWN_MEMBER_ID' }))).toBeUndefined();
    expect(refusedByGroup(undefined)).toBeUndefined();
  });
});
