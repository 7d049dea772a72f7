/**
 * Export names are unguessable capabilities; the table resolves, restores and revokes them; and
 * internal failures map to the NBD error values the spec asks for.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AssertionError } from '../../src/lib/assert.js';
import { StrataError, errorCodes, type ErrorCode } from '../../src/lib/errors.js';
import { ExportTable, nbdErrnoFor, protocol } from '../../src/nbd/index.js';
import { MemoryDevice } from './memory-device.js';

const device = (): MemoryDevice => new MemoryDevice({ sizeBytes: 4096 });

describe('ExportTable', () => {
  it('generates distinct names carrying at least 128 random bits', () => {
    const table = new ExportTable();
    const names = new Set<string>();
    for (let index = 0; index < 1000; index++) names.add(table.add(device()).name);
    assert.equal(names.size, 1000);
    for (const name of names) {
      assert.match(name, /^[A-Za-z0-9_-]+$/);
      assert.ok(Buffer.from(name, 'base64url').length >= 16, `${name} holds at least 16 random bytes`);
    }
  });

  it('resolves added exports and forgets removed ones', () => {
    const table = new ExportTable();
    const first = device();
    const { name } = table.add(first);
    assert.equal(table.resolve(name), first);
    assert.equal(table.resolve(name.slice(1)), undefined);
    assert.equal(table.remove(name), true);
    assert.equal(table.resolve(name), undefined);
    assert.equal(table.remove(name), false);
  });

  it('restores an export under a caller-given name and refuses duplicates and invalid names', () => {
    const table = new ExportTable();
    const restored = device();
    assert.deepEqual(table.add(restored, { name: 'att-7f3a9c' }), { name: 'att-7f3a9c' });
    assert.equal(table.resolve('att-7f3a9c'), restored);
    assert.throws(() => table.add(device(), { name: 'att-7f3a9c' }), (error) => error instanceof StrataError && error.code === 'CONFLICT');
    for (const bad of ['', 'a\0b', 'x'.repeat(4097), '\ud800']) {
      assert.throws(() => table.add(device(), { name: bad }), (error) => error instanceof StrataError && error.code === 'INVALID_ARGUMENT');
    }
  });

  it('refuses exports beyond its count limit', () => {
    const table = new ExportTable({ limits: { exportCountMax: 2 } });
    table.add(device());
    table.add(device());
    assert.throws(() => table.add(device()), (error) => error instanceof StrataError && error.code === 'LIMIT_EXCEEDED');
  });

  it('removal revokes every attachment of that export only', () => {
    const table = new ExportTable();
    const a = table.add(device()).name;
    const b = table.add(device()).name;
    const revoked: string[] = [];
    table.attach(a, () => revoked.push('a1'));
    table.attach(a, () => revoked.push('a2'));
    const other = table.attach(b, () => revoked.push('b'));
    assert.equal(table.connectionCount(a), 2);
    assert.equal(table.attach('nope', () => {}), undefined);
    table.remove(a);
    assert.deepEqual(revoked.sort(), ['a1', 'a2']);
    other?.detach();
    assert.equal(table.connectionCount(b), 0);
    table.remove(b);
    assert.deepEqual(revoked.sort(), ['a1', 'a2']);
  });
});

describe('nbdErrnoFor', () => {
  const expected: Record<ErrorCode, number> = {
    READ_ONLY: protocol.NBD_EPERM,
    OUT_OF_RANGE: protocol.NBD_EINVAL,
    INVALID_ARGUMENT: protocol.NBD_EINVAL,
    LIMIT_EXCEEDED: protocol.NBD_EINVAL,
    NO_SPACE: protocol.NBD_ENOSPC,
    NOT_FOUND: protocol.NBD_ESHUTDOWN,
    CLOSED: protocol.NBD_ESHUTDOWN,
    CHECKSUM_MISMATCH: protocol.NBD_EIO,
    IO_ERROR: protocol.NBD_EIO,
    CORRUPT_METADATA: protocol.NBD_EIO,
    BUSY: protocol.NBD_EIO,
    CONFLICT: protocol.NBD_EIO,
    POOL_EXISTS: protocol.NBD_EIO,
    UNAUTHENTICATED: protocol.NBD_EPERM,
    FORBIDDEN: protocol.NBD_EPERM,
    TOO_MANY_ATTEMPTS: protocol.NBD_EPERM,
    MISSING_FIELD: protocol.NBD_EINVAL,
    UNKNOWN_FIELD: protocol.NBD_EINVAL,
    INVALID_JSON: protocol.NBD_EINVAL,
    UNSUPPORTED_MEDIA_TYPE: protocol.NBD_EINVAL,
    QUOTA_EXCEEDED: protocol.NBD_ENOSPC,
    ALREADY_EXISTS: protocol.NBD_EIO,
    INVALID_STATE: protocol.NBD_EIO,
    VOLUME_IN_USE: protocol.NBD_EIO,
    HAS_DEPENDENTS: protocol.NBD_EIO,
    WRONG_INSTANCE: protocol.NBD_EIO,
    INTERNAL: protocol.NBD_EIO,
  };

  it('maps every StrataError code', () => {
    for (const code of Object.keys(errorCodes) as ErrorCode[]) {
      assert.equal(nbdErrnoFor(new StrataError(code)), expected[code], code);
    }
  });

  it('maps system errors and unknown failures', () => {
    const systemError = (code: string): Error => Object.assign(new Error(code), { code });
    assert.equal(nbdErrnoFor(systemError('ENOSPC')), protocol.NBD_ENOSPC);
    assert.equal(nbdErrnoFor(systemError('EDQUOT')), protocol.NBD_ENOSPC);
    assert.equal(nbdErrnoFor(systemError('EROFS')), protocol.NBD_EPERM);
    assert.equal(nbdErrnoFor(systemError('EBADF')), protocol.NBD_EIO);
    assert.equal(nbdErrnoFor(new Error('boom')), protocol.NBD_EIO);
    assert.equal(nbdErrnoFor('a string'), protocol.NBD_EIO);
  });

  it('rethrows assertion failures: bugs are not request outcomes', () => {
    assert.throws(() => nbdErrnoFor(new AssertionError('broken invariant')), AssertionError);
  });
});
