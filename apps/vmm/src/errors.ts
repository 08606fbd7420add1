// One error type for every failure a client of the VMM or its service can be told about: it
// carries the HTTP status a request that failed with it answers with, so the service maps an
// error to a response by reading `status`, never by matching class names. The core throws these
// too (ConfigError is a 400); it knows a number, not HTTP.

const BRAND = Symbol.for("kvmscope.StatusError");

export class StatusError extends Error {
  readonly [BRAND] = true;
  constructor(readonly status: number, message: string, options?: ErrorOptions) {
    super(message, options);
  }

  /**
   * `err instanceof StatusError` holds for a StatusError from another copy of this module too
   * (tests load src/ while a child process or the CLI loads dist/); subclasses check as usual.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this !== StatusError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === "object" && value !== null && (value as { [BRAND]?: unknown })[BRAND] === true;
  }
}

/** The status `err` answers with: its own for a StatusError (400-599), 500 for anything else. */
export function statusOf(err: unknown): number {
  if (!(err instanceof StatusError)) return 500;
  return Number.isInteger(err.status) && err.status >= 400 && err.status < 600 ? err.status : 500;
}
