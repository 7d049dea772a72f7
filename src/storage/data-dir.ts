/**
 * The data directory as a whole: private to the service's user, and held by one process.
 *
 * Private: the directory (and `pool/` below it) is 0700 and every file in them 0600, whatever
 * the umask; looser modes left by an older version or by hand are tightened on every start.
 *
 * One process: `DATA_DIR/lock` carries an exclusive flock(2) for as long as the process runs.
 * It is a kernel lock on the open file, so the kernel drops it when the process ends in any way
 * (kill -9 included): there is no stale lock to clean up and no pid to trust. Node has no
 * flock, so it is called through koffi (libc's `flock`, one integer call). flock rather than
 * fcntl record locks: an fcntl lock belongs to the process and is dropped when ANY descriptor
 * of the file is closed, and a second open in the same process would not conflict; an flock
 * belongs to the open file, so a second holder in the same process is refused too. The
 * holder's pid, for the message, comes from /proc/locks (the kernel's own record of who holds
 * the lock on this inode), else from the pid the holder wrote into the file.
 */
import { chmodSync, closeSync, fstatSync, ftruncateSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import koffi from 'koffi';
import { StrataError } from '../lib/errors.js';

export const privateDirMode = 0o700;
export const privateFileMode = 0o600;
const lockFileName = 'lock';

const LOCK_EX = 2;
const LOCK_NB = 4;
const EWOULDBLOCK = 11;
const EINTR = 4;

let flockCall: ((fd: number, operation: number) => number) | null = null;

function flock(fd: number, operation: number): { result: number; errno: number } {
  flockCall ??= koffi.load('libc.so.6').func('int flock(int fd, int operation)') as (fd: number, operation: number) => number;
  const result = flockCall(fd, operation);
  return { result, errno: result === 0 ? 0 : koffi.errno() };
}

/**
 * Creates `dir` private (0700) or tightens an existing one, and makes Strata's own files in it
 * (`names`) 0600; other files are not Strata's to change. A shared directory (sticky and
 * writable by all, such as /tmp) is refused rather than closed to everyone else.
 */
export function makePrivate(dir: string, names: readonly string[]): void {
  try {
    mkdirSync(dir, { recursive: true, mode: privateDirMode });
    const mode = lstatSync(dir).mode;
    if ((mode & 0o1000) !== 0 && (mode & 0o002) !== 0) {
      throw new StrataError('INVALID_ARGUMENT', `${dir} is a shared directory (sticky, writable by all): give Strata a directory of its own`);
    }
    tighten(dir, privateDirMode);
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      // Symbolic links are left alone: chmod would follow them out of the directory.
      if (entry.isFile() && names.includes(entry.name)) tighten(join(dir, entry.name), privateFileMode);
    }
  } catch (error) {
    if (error instanceof StrataError) throw error;
    throw new StrataError('IO_ERROR', `cannot make ${dir} private: ${(error as Error).message}`, { cause: error });
  }
}

function tighten(path: string, mode: number): void {
  if ((lstatSync(path).mode & 0o7777) !== mode) chmodSync(path, mode);
}

export interface DataDirLock {
  readonly path: string;
  release(): void;
}

/**
 * Takes the data directory's lock for this process, or throws BUSY naming the holder's pid.
 * `purpose` ends up in the message a refused caller sees.
 */
export function lockDataDir(dataDir: string, purpose: string): DataDirLock {
  const path = join(dataDir, lockFileName);
  mkdirSync(dataDir, { recursive: true, mode: privateDirMode });
  const fd = openSync(path, 'a+', privateFileMode);
  let taken: { result: number; errno: number };
  do taken = flock(fd, LOCK_EX | LOCK_NB);
  while (taken.result !== 0 && taken.errno === EINTR);
  if (taken.result !== 0) {
    const holder = taken.errno === EWOULDBLOCK ? holderPid(fd, path) : null;
    closeSync(fd);
    if (taken.errno !== EWOULDBLOCK) throw new StrataError('IO_ERROR', `cannot lock ${path} (errno ${taken.errno})`);
    const who = holder === null ? 'another process' : `process ${holder}`;
    throw new StrataError('BUSY', `the data directory ${dataDir} is in use by ${who}; ${purpose}`, { pid: holder });
  }
  // For people and for holderPid's fallback; the lock, not this text, is what counts.
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid}\n`, 0);
  let released = false;
  return {
    path,
    release() {
      if (released) return;
      released = true;
      closeSync(fd); // closing the only descriptor of this open file drops the flock
    },
  };
}

/** The pid holding an flock on the file open as `fd`: from /proc/locks, else from the file. */
function holderPid(fd: number, path: string): number | null {
  const { dev, ino } = fstatSync(fd);
  // The kernel prints the device as major:minor in hex (new_encode_dev split), then the inode.
  const major = Math.floor(dev / 256) & 0xfff;
  const minor = (dev & 0xff) | (Math.floor(dev / 4096) & 0xfff00);
  const key = `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${ino}`;
  try {
    for (const line of readFileSync('/proc/locks', 'utf8').split('\n')) {
      const fields = line.trim().split(/\s+/);
      // "1: FLOCK  ADVISORY  WRITE 9861 fe:00:2147208 0 EOF"; waiters have "->" before FLOCK.
      if (fields[1] === 'FLOCK' && fields[3] === 'WRITE' && fields[5] === key) {
        const pid = Number(fields[4]);
        if (Number.isSafeInteger(pid) && pid > 0) return pid;
      }
    }
  } catch {
    // Not Linux, or /proc not mounted: fall back to the file.
  }
  const written = Number(readFileSync(path, 'utf8').trim());
  return Number.isSafeInteger(written) && written > 0 ? written : null;
}
