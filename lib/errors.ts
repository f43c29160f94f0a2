/**
 * Typed errors shared by every role. Like kafkajs, each carries `retriable`
 * (may succeed if tried again: consumers retry instead of dead-lettering) and
 * `cause`. The API maps them to HTTP statuses in one middleware.
 */
export abstract class TillcastError extends Error {
  abstract readonly code: string;
  abstract readonly retriable: boolean;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A request refused for what it asks, with a code of its own and details; trying again cannot help. */
abstract class RefusedError extends TillcastError {
  readonly code: string;
  readonly retriable = false;
  constructor(
    code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.code = code;
  }
}

/** The input itself is wrong; trying again cannot help. */
export class ValidationError extends RefusedError {}

/**
 * The request is well-formed but conflicts with the current state (API 409), e.g. an override of a
 * day that has already closed. Trying the same again cannot help.
 */
export class ConflictError extends RefusedError {}

export class NotFoundError extends TillcastError {
  readonly code = 'not_found';
  readonly retriable = false;
}

/** The request carries no valid credential (API: missing, unknown or revoked key). */
export class UnauthenticatedError extends TillcastError {
  readonly code = 'unauthenticated';
  readonly retriable = false;
  constructor(
    message: string,
    /** The HTTP challenge (WWW-Authenticate) that says how to authenticate. */
    readonly challenge = 'Bearer',
  ) {
    super(message);
  }
}

/** The credential is valid but may not do this (API: a branch outside the key's scopes). */
export class ForbiddenError extends TillcastError {
  readonly code = 'forbidden';
  readonly retriable = false;
  constructor(
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** A dependency (ClickHouse, Kafka, model) is not available right now. */
export class UnavailableError extends TillcastError {
  readonly code: string;
  readonly retriable = true;
  constructor(
    code: string,
    message: string,
    readonly retryAfterS: number = 5,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = code;
  }
}

/** Storage failed; retriable unless ClickHouse said the statement itself is wrong. */
export class StorageError extends TillcastError {
  readonly code = 'storage_error';
  constructor(
    message: string,
    readonly retriable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isRetriable(err: unknown): boolean {
  if (err instanceof TillcastError) return err.retriable;
  // kafkajs errors carry `retriable` too.
  if (typeof err === 'object' && err !== null && 'retriable' in err) return Boolean(err.retriable);
  return false;
}
