/**
 * Assertions for programmer errors. They stay on in production: a broken invariant in a
 * storage engine must stop the process, not write more damage.
 */
export class AssertionError extends Error {
  constructor(message: string) {
    super(`assertion failed: ${message}`);
    this.name = 'AssertionError';
  }
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}
