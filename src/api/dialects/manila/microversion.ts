/**
 * Manila's microversion and experimental-API rules, in one place (manila/api/openstack/wsgi.py
 * and api_version_request.py of the 2.30 era, plus share groups from 2.31).
 *
 * - `X-OpenStack-Manila-API-Version: MAJOR.MINOR` selects the version; without it a /v2
 *   request is 2.0. A string that is not `^[1-9]\d*\.([1-9]\d*|0)$` is 400; a version outside
 *   [minimum, maximum] is 406.
 * - `X-OpenStack-Manila-API-Experimental` is read like oslo's `bool_from_string`.
 * - Each route declares the windows it answers in; a request in none of them is Manila's
 *   VersionNotFoundForAPIMethod, a 404 `itemNotFound`. An experimental window matches only a
 *   request that asked for experimental APIs; a request that asked matches every window.
 * - Every /v2 answer (faults too) echoes the version, the experimental flag when it was asked
 *   for, and `Vary`.
 *
 * The maximum is 2.55 rather than the CG era's 2.30 so that current clients (which take the
 * lower of their maximum and the server's) reach the share-group APIs; consistency groups
 * still answer only in 2.4–2.30, exactly where Manila had them.
 */
import { StrataError } from '../../../lib/errors.js';
import { ManilaFault } from './errors.js';

export interface ApiVersion {
  major: number;
  minor: number;
}

/** What a request asked for (null version: a request outside /v2, e.g. discovery). */
export interface RequestedVersion {
  version: ApiVersion;
  experimental: boolean;
}

export interface VersionWindow {
  min: string;
  /** Inclusive; absent: no upper bound (below the global maximum). */
  max?: string;
  experimental?: boolean;
}

export const versionHeader = 'X-OpenStack-Manila-API-Version';
export const experimentalHeader = 'X-OpenStack-Manila-API-Experimental';

export const minVersionText = '2.0';
export const maxVersionText = '2.55';
const defaultVersionText = minVersionText;

/** The windows of each API family. */
export const windows = {
  /** Shares are not experimental; the CG fields of a share exist in 2.4–2.30. */
  shares: [{ min: '2.0' }],
  consistencyGroups: [{ min: '2.4', max: '2.30', experimental: true }],
  /** `os-reset_status` / `os-force_delete`: the action names of 2.4–2.6. */
  consistencyGroupLegacyActions: [{ min: '2.4', max: '2.6', experimental: true }],
  consistencyGroupActions: [{ min: '2.7', max: '2.30', experimental: true }],
  /** Share groups: experimental until 2.55, when they graduated. */
  shareGroups: [{ min: '2.31', max: '2.54', experimental: true }, { min: '2.55' }],
} as const satisfies Record<string, readonly VersionWindow[]>;

const versionPattern = /^([1-9]\d*)\.([1-9]\d*|0)$/;

export function parseVersion(text: string): ApiVersion | null {
  const match = versionPattern.exec(text);
  if (match === null) return null;
  return { major: Number(match[1]), minor: Number(match[2]) };
}

function must(text: string): ApiVersion {
  const version = parseVersion(text);
  if (version === null) throw new Error(`bad version constant ${text}`);
  return version;
}

export function compare(a: ApiVersion, b: ApiVersion): number {
  return a.major !== b.major ? a.major - b.major : a.minor - b.minor;
}

export function versionText(version: ApiVersion): string {
  return `${version.major}.${version.minor}`;
}

const minVersion = must(minVersionText);
const maxVersion = must(maxVersionText);

/** oslo `strutils.bool_from_string` (non-strict): anything else is false. */
export function boolFromString(value: string): boolean {
  return ['1', 't', 'true', 'on', 'y', 'yes'].includes(value.trim().toLowerCase());
}

function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[value.length - 1] : value;
}

/** The version a /v2 request asked for; 400 when malformed, 406 outside the supported range. */
export function requestedVersion(headers: Record<string, string | string[] | undefined>): RequestedVersion {
  const text = headerValue(headers, versionHeader);
  let version = must(defaultVersionText);
  if (text !== undefined) {
    const parsed = parseVersion(text.trim());
    if (parsed === null) {
      throw new StrataError('INVALID_ARGUMENT', `API Version String ${text} is of invalid format. Must be of format MajorNum.MinorNum.`);
    }
    if (compare(parsed, minVersion) < 0 || compare(parsed, maxVersion) > 0) {
      throw new ManilaFault(406, `Version ${versionText(parsed)} is not supported by the API. Minimum is ${minVersionText} and maximum is ${maxVersionText}.`);
    }
    version = parsed;
  }
  const experimental = headerValue(headers, experimentalHeader);
  return { version, experimental: experimental !== undefined && boolFromString(experimental) };
}

export function matches(requested: RequestedVersion, window: VersionWindow): boolean {
  if (window.experimental === true && !requested.experimental) return false;
  if (compare(requested.version, must(window.min)) < 0) return false;
  return window.max === undefined || compare(requested.version, must(window.max)) <= 0;
}

/** Manila's VersionNotFoundForAPIMethod: the route has no method for this version. */
export function requireWindow(requested: RequestedVersion, allowed: readonly VersionWindow[]): void {
  if (!allowed.some((window) => matches(requested, window))) throw new StrataError('NOT_FOUND', 'The resource could not be found.');
}

/** True when the request's version is at least `text` (for versioned fields of a view). */
export function atLeast(requested: RequestedVersion, text: string): boolean {
  return compare(requested.version, must(text)) >= 0;
}

export function between(requested: RequestedVersion, min: string, max: string): boolean {
  return atLeast(requested, min) && compare(requested.version, must(max)) <= 0;
}

/** The headers every /v2 response carries (Manila echoes the flag as Python prints True). */
export function echoHeaders(requested: RequestedVersion): Record<string, string> {
  const headers: Record<string, string> = { [versionHeader]: versionText(requested.version), Vary: versionHeader };
  if (requested.experimental) headers[experimentalHeader] = 'True';
  return headers;
}
