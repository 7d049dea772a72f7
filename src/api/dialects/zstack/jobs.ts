/**
 * ZStack's async API convention over core services and core jobs.
 *
 * An async API answers 202 with `{"location": ".../zstack/v1/api-jobs/{jobUuid}", "apiTimeout": ms}`
 * (the `Location` header says the same) once the REST layer has accepted it; everything the API
 * layer decides — session, arguments, resources, the work itself — is the job's result, read by
 * polling `GET /v1/api-jobs/{jobUuid}`: 202 `{}` while it runs, 200 with the result
 * (`{"inventory": …}`, `{"results": […]}` or `{}`), 503 `{"error": …}` when it failed, 404
 * `the job has been expired` for a job this instance does not know (never made, expired, or
 * another project's). The job uuid is the client's `X-Job-UUID` (32 characters; the Java SDK
 * always sends one) or a new one.
 *
 * Work that core finishes within the call (create, update) is done before the 202, so a
 * refused request has created nothing by the time the client hears of it; long work (delete,
 * revert) runs as core jobs, which the poll follows. Job records live in this process: at most
 * `apiJobsMax`, each kept `apiJobRetentionMs` after it finished.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Caller } from '../../../core/context.js';
import type { Job } from '../../../core/jobs.js';
import type { ControlPlane } from '../../../core/plane.js';
import type { Sessions } from './auth.js';
import { type ErrorObject, errorObjectOf, ZStackRestError } from './errors.js';
import { schemaOf } from './render.js';

export const apiJobsMax = 10_000;
export const apiJobRetentionMs = 24 * 60 * 60 * 1000;

export type Body = Record<string, unknown>;

/** How an API's job ends: a result now, or after core jobs finish. */
export type Plan = { result: Body } | { follow: string[]; finish: (jobs: Job[], caller: Caller) => Promise<Body> };

type Outcome = { status: 200; body: Body } | { status: 503; body: { error: ErrorObject } };

interface ApiJob {
  uuid: string;
  /** The submitter's project; null when the session was not valid (the result is that error). */
  projectId: string | null;
  outcome: Outcome | null;
  follow: Extract<Plan, { follow: string[] }> | null;
  finishedAtMs: number | null;
}

const plainText = 'text/plain; charset=utf-8';
const failed = (error: unknown): Outcome => ({ status: 503, body: { error: errorObjectOf(error) } });

/** The reply body with the `schema` map when the client asked for it (X-JSON-Schema) or always (`force`). */
export function withSchema(request: FastifyRequest, body: Body, force = false): Body {
  if (!force && request.headers['x-json-schema'] === undefined) return body;
  return { ...body, schema: schemaOf(body) };
}

export class ApiJobs {
  private readonly jobs = new Map<string, ApiJob>();

  constructor(
    private readonly plane: ControlPlane,
    private readonly sessions: Sessions,
    /** The dialect's mount prefix (`/zstack`), for the location URL. */
    private readonly prefix: string,
    /** The base URL of the location (never the request's Host header). */
    private readonly publicUrl: () => string,
  ) {}

  /**
   * Answers an async API: 202 and the job's location. Call after the REST-layer checks, with the
   * request's session id; `work` runs as the session's caller and decides the job's result.
   */
  async submit(request: FastifyRequest, reply: FastifyReply, options: { sessionId: string; apiTimeoutMs: number }, work: (caller: Caller) => Promise<Plan>): Promise<FastifyReply> {
    const uuid = this.newJobUuid(request);
    const job: ApiJob = { uuid, projectId: null, outcome: null, follow: null, finishedAtMs: null };
    this.jobs.set(uuid, job);
    try {
      const caller = await this.sessions.callerOf(options.sessionId);
      job.projectId = caller.projectId;
      const plan = await work(caller);
      if ('result' in plan) this.finish(job, { status: 200, body: plan.result });
      else if (plan.follow.length === 0) this.finish(job, { status: 200, body: await plan.finish([], caller) });
      else job.follow = plan;
    } catch (error) {
      this.finish(job, failed(error));
    }
    const location = `${this.publicUrl()}${this.prefix}/v1/api-jobs/${uuid}`;
    return reply.status(202).header('location', location).send({ location, apiTimeout: timeoutOf(request, options.apiTimeoutMs) });
  }

  /** `GET /v1/api-jobs/{uuid}`. */
  async poll(request: FastifyRequest, reply: FastifyReply, uuid: string): Promise<FastifyReply> {
    this.prune();
    const expired = () => reply.status(404).type(plainText).send('the job has been expired');
    const job = this.jobs.get(uuid);
    if (job === undefined) return expired();
    let caller: Caller | null = null;
    if (job.projectId !== null) {
      caller = await this.sessions.callerOfRequest(request);
      // Another project's job is answered as one that does not exist.
      if (caller === null || caller.projectId !== job.projectId) return expired();
    }
    if (job.outcome === null && job.follow !== null && caller !== null) {
      const follow = job.follow;
      let jobs: Job[];
      try {
        jobs = await Promise.all(follow.follow.map((id) => this.plane.jobs.get(caller, id)));
      } catch (error) {
        jobs = [];
        this.finish(job, failed(error));
      }
      if (job.outcome === null) {
        if (jobs.some((j) => j.status === 'queued' || j.status === 'running')) return reply.status(202).send({});
        try {
          this.finish(job, { status: 200, body: await follow.finish(jobs, caller) });
        } catch (error) {
          this.finish(job, failed(error));
        }
      }
    }
    // Still being submitted (a poll raced the 202).
    if (job.outcome === null) return reply.status(202).send({});
    const outcome = job.outcome;
    return reply.status(outcome.status).send(outcome.status === 200 ? withSchema(request, outcome.body) : outcome.body);
  }

  private finish(job: ApiJob, outcome: Outcome): void {
    job.outcome = outcome;
    job.follow = null;
    job.finishedAtMs = Date.now();
  }

  /** The client's X-Job-UUID or a new uuid. */
  private newJobUuid(request: FastifyRequest): string {
    this.prune();
    const uuid = jobUuidHeaderOf(request);
    if (uuid === null) return randomBytes(16).toString('hex');
    if (this.jobs.has(uuid)) throw new ZStackRestError(400, `Invalid header[X-Job-UUID], a job[uuid:${uuid}] already exists`);
    return uuid;
  }

  /** Forgets jobs finished more than the retention ago, and the oldest beyond the bound. */
  private prune(): void {
    const horizon = Date.now() - apiJobRetentionMs;
    for (const [uuid, job] of this.jobs) {
      const stale = job.finishedAtMs !== null && job.finishedAtMs < horizon;
      if (!stale && this.jobs.size < apiJobsMax) break;
      this.jobs.delete(uuid);
    }
  }
}

/** The X-Job-UUID header, checked as RestServer checks it for every non-query API (a uuid without dashes). */
export function jobUuidHeaderOf(request: FastifyRequest): string | null {
  const header = request.headers['x-job-uuid'];
  if (header === undefined) return null;
  const uuid = (Array.isArray(header) ? header[0] : header).trim();
  if (!/^[0-9a-f]{32}$/i.test(uuid)) throw new ZStackRestError(400, "Invalid header[X-Job-UUID], it must be a UUID with '-' stripped");
  return uuid.toLowerCase();
}

/** The X-API-Timeout header (seconds) in milliseconds, else the API's default timeout. */
function timeoutOf(request: FastifyRequest, defaultMs: number): number {
  const header = request.headers['x-api-timeout'];
  const seconds = typeof header === 'string' && /^\d+$/.test(header.trim()) ? Number(header.trim()) : NaN;
  return Number.isSafeInteger(seconds) && seconds > 0 ? seconds * 1000 : defaultMs;
}
