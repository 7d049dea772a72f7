/**
 * Cinder microversions, handled here and nowhere else: the `OpenStack-API-Version: volume 3.x`
 * header is parsed once per request (absent → 3.0, `latest` → the maximum, outside the range →
 * 406, malformed or without a `volume` entry → 400), the answer echoes the version and
 * `Vary: OpenStack-API-Version`, and handlers ask `atLeast(request, n)` for version-gated fields
 * and routes. The minor numbers used by the dialect are named in `features`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { StrataError } from '../../../lib/errors.js';

export const minVersion = { major: 3, minor: 0 } as const;
/** Cinder 2023.2's maximum; python3-cinderclient 9.1 asks min(this, 3.70). */
export const maxVersion = { major: 3, minor: 71 } as const;
export const versionsUpdated = '2023-08-31T00:00:00Z';

/** Minor versions (of 3.x) where the behaviour this dialect implements changes. */
export const features = {
  groups: 13,
  groupSnapshots: 14,
  groupSnapshotReset: 19,
  snapshotMetadataFilter: 22,
  groupListVolumes: 25,
  groupReplication: 38,
  revertToSnapshot: 40,
  invalidFiltersRefused: 31,
  snapshotUserId: 41,
  extendInUse: 42,
  listCount: 45,
  groupProjectId: 58,
  volumeTypeId: 63,
  consumesQuota: 65,
  snapshotForceIgnored: 66,
} as const;

export interface ApiVersion {
  major: number;
  minor: number;
}

/** A version outside [min, max]: Cinder answers 406 (a computeFault body). */
export class VersionNotAcceptable extends Error {}

const versions = new WeakMap<FastifyRequest, ApiVersion>();

export const versionString = (v: ApiVersion) => `${v.major}.${v.minor}`;

function compare(a: ApiVersion, b: ApiVersion): number {
  return a.major !== b.major ? a.major - b.major : a.minor - b.minor;
}

/** The version a header value asks for; throws the platform's refusals. */
export function parseVersionHeader(header: string | string[] | undefined): ApiVersion {
  if (header === undefined) return minVersion;
  const value = Array.isArray(header) ? header.join(',') : header;
  // The header may carry several services: "volume 3.40, compute 2.1".
  let requested: string | null = null;
  for (const entry of value.split(',')) {
    const [service, version, ...rest] = entry.trim().split(/\s+/);
    if (service?.toLowerCase() === 'volume' && rest.length === 0) requested = version ?? '';
  }
  if (requested === null) throw new StrataError('INVALID_ARGUMENT', `OpenStack-API-Version has no "volume" entry: ${JSON.stringify(value)}`);
  if (requested.toLowerCase() === 'latest') return maxVersion;
  const match = /^([1-9]\d*|0)\.([1-9]\d*|0)$/.exec(requested);
  if (match === null) throw new StrataError('INVALID_ARGUMENT', `API Version String ${requested} is of invalid format. Must be of format MajorNum.MinorNum.`);
  const version = { major: Number(match[1]), minor: Number(match[2]) };
  if (compare(version, minVersion) < 0 || compare(version, maxVersion) > 0) {
    throw new VersionNotAcceptable(
      `Version ${versionString(version)} is not supported by the API. Minimum is ${versionString(minVersion)} and maximum is ${versionString(maxVersion)}.`,
    );
  }
  return version;
}

/** Parses the request's header and remembers the result for the handlers and the reply. */
export function negotiate(request: FastifyRequest): void {
  versions.set(request, parseVersionHeader(request.headers['openstack-api-version']));
}

/** Pins a request to a version (the EVS dialect's Cinder-compatible paths speak 3.0). */
export function pin(request: FastifyRequest, version: ApiVersion): void {
  versions.set(request, version);
}

export function versionOf(request: FastifyRequest): ApiVersion {
  return versions.get(request) ?? minVersion;
}

/** Whether the request asked for 3.`minor` or later. */
export function atLeast(request: FastifyRequest, minor: number): boolean {
  const v = versionOf(request);
  return v.major > 3 || (v.major === 3 && v.minor >= minor);
}

/** A route that exists only from 3.`minor`: before that Cinder answers 404. */
export function requireVersion(request: FastifyRequest, minor: number): void {
  if (!atLeast(request, minor)) throw new StrataError('NOT_FOUND', 'The resource could not be found.');
}

/** Echoes the negotiated version (when there is one) and marks the answer as varying with it. */
export function echoVersion(request: FastifyRequest, reply: FastifyReply): void {
  void reply.header('vary', 'OpenStack-API-Version');
  const version = versions.get(request);
  if (version !== undefined) void reply.header('openstack-api-version', `volume ${versionString(version)}`);
}
