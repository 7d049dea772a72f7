/**
 * Prometheus metrics of the whole process, in one registry: HTTP requests (recorded by the
 * API layer), NBD bytes and operations, volume and snapshot counts, job durations, and the
 * time group snapshots held writes at their fence, and snapshot policy runs and failures.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface NbdStatsSource {
  stats(): { connections: number; bytesRead: number; bytesWritten: number; ops: number };
}

export interface PoolStatsSource {
  info(): Promise<{ volumes: number; snapshots: number; chunksAllocated: number; chunkSizeBytes: number }>;
}

export class CoreMetrics {
  readonly registry = new Registry();
  readonly httpRequests: Counter<'method' | 'route' | 'status_code'>;
  readonly httpDuration: Histogram<'method' | 'route'>;
  readonly jobDuration: Histogram<'kind' | 'status'>;
  readonly fenceHeld: Histogram;
  readonly snapshotsCreated: Counter<'kind'>;
  readonly policyRuns: Counter<'status'>;
  readonly policyFailures: Counter<'code'>;

  constructor(sources: { nbd?: NbdStatsSource; pool?: PoolStatsSource } = {}) {
    const registers = [this.registry];
    this.httpRequests = new Counter({
      name: 'strata_http_requests_total',
      help: 'HTTP requests answered, by method, route and status code',
      labelNames: ['method', 'route', 'status_code'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'strata_http_request_duration_seconds',
      help: 'HTTP request latency',
      labelNames: ['method', 'route'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.jobDuration = new Histogram({
      name: 'strata_job_duration_seconds',
      help: 'Duration of finished jobs, by kind and final status',
      labelNames: ['kind', 'status'],
      buckets: [0.001, 0.01, 0.1, 0.5, 1, 5, 30, 120, 600],
      registers,
    });
    this.fenceHeld = new Histogram({
      name: 'strata_group_snapshot_fence_seconds',
      help: 'How long a group snapshot held new writes to its members',
      buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
      registers,
    });
    this.snapshotsCreated = new Counter({
      name: 'strata_snapshots_created_total',
      help: 'Snapshots created, single or as members of a group snapshot',
      labelNames: ['kind'],
      registers,
    });
    this.policyRuns = new Counter({
      name: 'strata_policy_runs_total',
      help: 'Snapshot policy runs finished, by status (failed: at least one target failed)',
      labelNames: ['status'],
      registers,
    });
    this.policyFailures = new Counter({
      name: 'strata_policy_failures_total',
      help: 'Snapshot policy failures (a snapshot refused, e.g. by quota, or a prune that failed), by error code',
      labelNames: ['code'],
      registers,
    });
    const { nbd, pool } = sources;
    if (nbd !== undefined) {
      new Gauge({ name: 'strata_nbd_connections', help: 'Open NBD connections', registers, collect() { this.set(nbd.stats().connections); } });
      monotonic(this.registry, 'strata_nbd_read_bytes_total', 'Bytes returned by NBD reads', () => nbd.stats().bytesRead);
      monotonic(this.registry, 'strata_nbd_written_bytes_total', 'Bytes accepted by NBD writes', () => nbd.stats().bytesWritten);
      monotonic(this.registry, 'strata_nbd_ops_total', 'NBD requests answered', () => nbd.stats().ops);
    }
    if (pool !== undefined) {
      new Gauge({ name: 'strata_pool_volumes', help: 'Volumes in this instance pool', registers, async collect() { this.set((await pool.info()).volumes); } });
      new Gauge({ name: 'strata_pool_snapshots', help: 'Snapshots in this instance pool', registers, async collect() { this.set((await pool.info()).snapshots); } });
      new Gauge({
        name: 'strata_pool_allocated_bytes',
        help: 'Bytes of the data file in use',
        registers,
        async collect() {
          const info = await pool.info();
          this.set(info.chunksAllocated * info.chunkSizeBytes);
        },
      });
    }
    collectDefaultMetrics({ register: this.registry, prefix: 'strata_process_' });
  }
}

/** A counter whose value is read from a source that only grows. */
function monotonic(registry: Registry, name: string, help: string, read: () => number): void {
  let last = 0;
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const value = read();
      if (value > last) this.inc(value - last);
      last = value;
    },
  });
}
