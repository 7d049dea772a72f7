/**
 * The server-wide bound on request payload bytes in memory (`serverInFlightBytesMax`).
 *
 * Each connection already bounds its own requests; this bounds their sum, so a thousand
 * connections cannot each fill their own cap at once. A request reserves its payload size
 * before the payload is read (WRITE) or the data is read from the device (READ), and gives it
 * back once its reply has been handed to the kernel or the connection is gone. Reservations
 * are granted in arrival order: a large request is never overtaken for ever by small ones.
 * A connection waiting here reads nothing more, so the kernel's flow control slows its client.
 */
import { assert } from '../lib/assert.js';

/** Gives a reservation back; calling it again does nothing. */
export type Release = () => void;

interface Waiter {
  readonly bytes: number;
  readonly grant: (release: Release) => void;
}

export class InFlightBudget {
  readonly #capacityBytes: number;
  #usedBytes = 0;
  readonly #waiters: Waiter[] = [];

  constructor(capacityBytes: number) {
    assert(Number.isSafeInteger(capacityBytes) && capacityBytes > 0, `budget capacity ${capacityBytes} is positive`);
    this.#capacityBytes = capacityBytes;
  }

  /** Bytes reserved now. */
  get usedBytes(): number {
    return this.#usedBytes;
  }

  /** Requests waiting for a reservation now. */
  get waitingCount(): number {
    return this.#waiters.length;
  }

  /** True when a reservation of `bytes` would be granted at once. */
  fits(bytes: number): boolean {
    return this.#waiters.length === 0 && this.#usedBytes + Math.min(bytes, this.#capacityBytes) <= this.#capacityBytes;
  }

  /**
   * Reserves `bytes`, waiting behind earlier requests if needed; a request larger than the whole
   * budget reserves all of it. An abort of `signal` withdraws a waiting request: the promise
   * rejects with the signal's reason.
   */
  reserve(requestedBytes: number, signal: AbortSignal): Promise<Release> {
    assert(Number.isSafeInteger(requestedBytes) && requestedBytes > 0, `reservation of ${requestedBytes} bytes`);
    const bytes = Math.min(requestedBytes, this.#capacityBytes);
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.fits(bytes)) return Promise.resolve(this.#take(bytes));
    return new Promise<Release>((resolve, reject) => {
      const onAbort = () => {
        const index = this.#waiters.indexOf(waiter);
        if (index >= 0) this.#waiters.splice(index, 1);
        reject(signal.reason);
        // The head may have been blocking smaller requests behind it.
        this.#grantWaiting();
      };
      const waiter: Waiter = {
        bytes,
        grant: (release) => {
          signal.removeEventListener('abort', onAbort);
          resolve(release);
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  #take(bytes: number): Release {
    this.#usedBytes += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#usedBytes -= bytes;
      this.#grantWaiting();
    };
  }

  #grantWaiting(): void {
    for (;;) {
      const head = this.#waiters[0];
      if (head === undefined || this.#usedBytes + head.bytes > this.#capacityBytes) return;
      this.#waiters.shift();
      head.grant(this.#take(head.bytes));
    }
  }
}
