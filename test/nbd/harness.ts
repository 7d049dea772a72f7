/** Starts an NbdServer on a free loopback port for a test. */
import { ExportTable, NbdServer, type NbdEvent, type NbdLimits, type NbdTlsCredentials } from '../../src/nbd/index.js';
import { MemoryDevice } from './memory-device.js';

export interface Harness {
  server: NbdServer;
  exports: ExportTable;
  port: number;
  uri: (name: string) => string;
  events: NbdEvent[];
  /** Resolves with the first event (already logged or future) that matches. */
  waitForEvent: (matches: (event: NbdEvent) => boolean) => Promise<NbdEvent>;
  close: () => Promise<void>;
}

export async function startServer(options: { limits?: Partial<NbdLimits>; keepEvents?: boolean; tls?: NbdTlsCredentials } = {}): Promise<Harness> {
  const exports = new ExportTable();
  const events: NbdEvent[] = [];
  const waiters: { matches: (event: NbdEvent) => boolean; resolve: (event: NbdEvent) => void }[] = [];
  const server = new NbdServer({
    exports,
    limits: options.limits,
    tls: options.tls,
    logger: (event) => {
      if (options.keepEvents !== false) events.push(event);
      for (const waiter of [...waiters]) {
        if (!waiter.matches(event)) continue;
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(event);
      }
    },
  });
  const { port } = await server.listen('127.0.0.1', 0);
  return {
    server,
    exports,
    port,
    uri: (name) => `${options.tls === undefined ? 'nbd' : 'nbds'}://127.0.0.1:${port}/${name}`,
    events,
    waitForEvent: (matches) => {
      const logged = events.find(matches);
      if (logged !== undefined) return Promise.resolve(logged);
      return new Promise((resolve) => waiters.push({ matches, resolve }));
    },
    close: () => server.close(),
  };
}

/** A memory device exported under a generated name. */
export function addMemoryExport(
  harness: Harness,
  options: { sizeBytes: number; readOnly?: boolean; recordCalls?: boolean },
): { device: MemoryDevice; name: string } {
  const device = new MemoryDevice(options);
  const { name } = harness.exports.add(device);
  return { device, name };
}
