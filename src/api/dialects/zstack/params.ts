/**
 * Request bodies and API parameters as ZStack reads them.
 *
 * The body is JSON of any content type (RestServer reads the raw body). A create API reads
 * `params` from it, an action API the key named after its message (`revertVolumeFromSnapshot`);
 * an absent key is an empty message, so its mandatory fields fail. String parameters are
 * trimmed and checked as ApiMessageProcessorImpl checks `@APIParam`s, with its messages
 * (SYS.1007); the lengths are Strata's where they are shorter than ZStack's (descriptions).
 * Unknown parameters are ignored, as Gson ignores them.
 */
import { limits } from '../../../lib/limits.js';
import { ZStackApiError, ZStackRestError } from './errors.js';

export type Json = Record<string, unknown>;

/** A request body as a JSON object ({} when empty); anything else is refused at the REST layer. */
export function jsonBody(raw: unknown): Json {
  if (raw === undefined || raw === null) return {};
  if (typeof raw === 'object' && !Array.isArray(raw)) return raw as Json;
  const text = String(raw);
  if (text.trim().length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ZStackRestError(400, `the body is not valid JSON: ${(error as Error).message}`);
  }
  if (value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new ZStackRestError(400, 'the body must be a JSON object');
  return value as Json;
}

/** The action key of an action API's body, among those the URL takes; 400 when there is none. */
export function actionOf<A extends string>(body: Json, actions: readonly A[], path: string): A {
  const action = actions.find((a) => Object.hasOwn(body, a));
  if (action === undefined) throw new ZStackRestError(400, `the body doesn't contain action mapping to the URL[${path}]`);
  return action;
}

const argerr = (details: string) => new ZStackApiError('SYS.1007', details);

/** The parameters of one API message, validated with ZStack's rules and messages. */
export class Params {
  readonly values: Json;

  /** `message` is the Java class ZStack names in its messages, e.g. org.zstack.header.volume.APICreateVolumeSnapshotMsg. */
  constructor(
    section: unknown,
    readonly message: string,
  ) {
    if (section !== undefined && section !== null && (typeof section !== 'object' || Array.isArray(section))) {
      throw argerr(`the parameters of message[${message}] must be a JSON object`);
    }
    this.values = (section ?? {}) as Json;
  }

  private present(name: string): unknown {
    const value = this.values[name];
    return value === null ? undefined : value;
  }

  /** A string parameter, trimmed. */
  string(name: string, rules: { required?: boolean; maxLength?: number; nonEmpty?: boolean } = {}): string | undefined {
    const raw = this.present(name);
    if (raw === undefined) {
      if (rules.required === true) throw argerr(`field[${name}] of message[${this.message}] is mandatory, can not be null`);
      return undefined;
    }
    if (typeof raw !== 'string') throw argerr(`field[${name}] of message[${this.message}] must be a string, but ${JSON.stringify(raw)} found`);
    const value = raw.trim();
    if (rules.maxLength !== undefined && value.length > rules.maxLength) {
      throw argerr(`field[${name}] of message[${this.message}] exceeds max length of string. expected was <= ${rules.maxLength}, actual was ${value.length}`);
    }
    if (rules.nonEmpty === true && value.length === 0) throw argerr(`field[${name}] cannot be an empty string`);
    return value;
  }

  /** A name: mandatory on create, 1 to 255 characters (Strata refuses empty names). */
  name(required: boolean): string | undefined {
    return this.string('name', { required, maxLength: limits.control.nameLengthMax, nonEmpty: true });
  }

  /** A description: Strata keeps at most 1024 characters (ZStack allows 2048). */
  description(): string | undefined {
    return this.string('description', { maxLength: limits.control.descriptionLengthMax });
  }

  boolean(name: string): boolean | undefined {
    const raw = this.present(name);
    if (raw === undefined) return undefined;
    if (typeof raw !== 'boolean') throw argerr(`field[${name}] of message[${this.message}] must be a boolean, but ${JSON.stringify(raw)} found`);
    return raw;
  }

  /** A list of non-empty strings (`nonempty`, `emptyString = false` in @APIParam). */
  stringList(name: string, rules: { required?: boolean; nonEmpty?: boolean } = {}): string[] | undefined {
    const raw = this.present(name);
    if (raw === undefined) {
      if (rules.required === true) throw argerr(`field[${name}] of message[${this.message}] is mandatory, can not be null`);
      return undefined;
    }
    if (!Array.isArray(raw)) throw argerr(`field[${name}] of message[${this.message}] must be a list, but ${JSON.stringify(raw)} found`);
    if (rules.nonEmpty === true && raw.length === 0) throw argerr(`field[${name}] must be a nonempty list`);
    if (raw.some((item) => item === null)) throw argerr(`field[${name}] cannot contain a NULL element`);
    if (raw.some((item) => typeof item !== 'string')) throw argerr(`field[${name}] of message[${this.message}] must be a list of strings`);
    const values = (raw as string[]).map((item) => item.trim());
    if (values.some((item) => item.length === 0)) throw argerr(`field[${name}] cannot contain any empty string`);
    return values;
  }

  /** A value from a fixed set, compared without case (ZStack's validValues). */
  oneOf<V extends string>(name: string, valid: readonly V[], defaultValue: V): V {
    const raw = this.string(name);
    if (raw === undefined) return defaultValue;
    const found = valid.find((v) => v.toLowerCase() === raw.toLowerCase());
    if (found === undefined) throw argerr(`valid value for field[${name}] of message[${this.message}] are [${valid.map((v) => v.toLowerCase()).join(', ')}], but ${raw} found`);
    return found;
  }

  /**
   * `resourceUuid` and `tagUuids` of create APIs: a caller-chosen uuid must be well formed, and
   * is then refused because core chooses every id; tags do not exist in Strata, so any tag uuid
   * is not found.
   */
  creationExtras(): void {
    const resourceUuid = this.string('resourceUuid');
    if (resourceUuid !== undefined) {
      if (!/^[0-9a-f]{32}$/.test(resourceUuid)) {
        throw argerr(`resourceUuid[${resourceUuid}] is not a valid uuid. A valid uuid is a UUID(v4 recommended) with '-' stripped`);
      }
      throw new ZStackApiError('SYS.1014', `resourceUuid[${resourceUuid}] cannot be honoured: Strata chooses the uuid of every resource it creates`);
    }
    const tagUuids = this.stringList('tagUuids');
    if (tagUuids !== undefined && tagUuids.length > 0) {
      throw new ZStackApiError('SYS.1003', `invalid field[tagUuids], resource[uuids:[${tagUuids.join(', ')}], type:TagPatternVO] not found`);
    }
  }
}

/** Query-string values of a DELETE or GET API (`name=a&name=b` or `name.0=a&name.1=b`). */
export function queryList(url: string, name: string): string[] {
  const parameters = new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');
  const values: string[] = [];
  for (const [key, value] of parameters) if (key === name || isIndexedKey(key, name)) values.push(value);
  return values;
}

/** `name.N` with N decimal digits. */
function isIndexedKey(key: string, name: string): boolean {
  if (key.length <= name.length + 1 || !key.startsWith(name) || key[name.length] !== '.') return false;
  for (let i = name.length + 1; i < key.length; i++) if (key[i] < '0' || key[i] > '9') return false;
  return true;
}

export function queryValue(url: string, name: string): string | undefined {
  return queryList(url, name)[0];
}

/** The query string of a URL as ordered entries (repeated keys kept). */
export function queryEntries(url: string): Array<[string, string]> {
  return [...new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '')];
}
