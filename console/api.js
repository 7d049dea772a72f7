// The native API as the console calls it: same origin, the token from this tab's session
// storage, errors as { code, message } exactly as the API sent them.

const tokenKey = 'strata.token';

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

export const session = {
  get token() {
    return sessionStorage.getItem(tokenKey);
  },
  set token(value) {
    if (value === null) sessionStorage.removeItem(tokenKey);
    else sessionStorage.setItem(tokenKey, value);
  },
};

/** One call; resolves with the parsed body (null for 204), rejects with an ApiError. */
export async function call(method, path, body) {
  const headers = { accept: 'application/json' };
  if (session.token !== null) headers.authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'omit', cache: 'no-store' });
  } catch (error) {
    throw new ApiError(0, 'UNREACHABLE', `the server did not answer (${error.message})`);
  }
  const text = await response.text();
  let parsed = null;
  if (text !== '') {
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ApiError(response.status, 'BAD_RESPONSE', `the server answered ${response.status} with a body that is not JSON`);
    }
  }
  if (!response.ok) {
    const error = parsed?.error ?? {};
    throw new ApiError(response.status, error.code ?? `HTTP_${response.status}`, error.message ?? response.statusText, error.field);
  }
  return parsed;
}

export const get = (path) => call('GET', path);
export const post = (path, body) => call('POST', path, body ?? {});
export const patch = (path, body) => call('PATCH', path, body);
export const del = (path) => call('DELETE', path);

/** Builds a query string from the defined entries. */
export function query(params) {
  const entries = Object.entries(params).filter(([, value]) => value !== undefined && value !== null && value !== '');
  return entries.length === 0 ? '' : `?${new URLSearchParams(entries).toString()}`;
}

const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 → "1.5 KiB"; null → "—". */
export function bytes(value) {
  if (value === null || value === undefined) return '—';
  let unit = 0;
  let scaled = value;
  while (scaled >= 1024 && unit < units.length - 1) {
    scaled /= 1024;
    unit++;
  }
  return `${unit === 0 ? scaled : scaled.toFixed(scaled < 10 ? 2 : 1).replace(/\.?0+$/, '')} ${units[unit]}`;
}

/** "2 GiB", "512 MiB", "4096" → bytes, or null when it cannot be read. */
export function parseSize(text) {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB)?\s*$/i.exec(text);
  if (match === null) return null;
  const unit = (match[2] ?? 'B').toLowerCase();
  const factor = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4 }[unit];
  return Math.round(Number(match[1]) * factor);
}

export function when(iso) {
  if (iso === null || iso === undefined) return '—';
  const date = new Date(iso);
  return `${date.toISOString().slice(0, 10)} ${date.toISOString().slice(11, 19)} UTC`;
}
