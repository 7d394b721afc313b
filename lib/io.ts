/**
 * File-system failures as one coded error: ERR_IO naming the operation, the path, the
 * system's code (ENOSPC, EACCES, EROFS, EISDIR, ENOENT, ...) and what to do about it, instead
 * of a raw Node stack. And the clean-up of temporary files that a killed atomic write left.
 */
import * as fs from 'fs';
import * as path from 'path';
import { BagOfTricksError } from './errors';

const HINTS: Record<string, string> = {
  ENOSPC: 'the disk is full: free some space, or write elsewhere (--out)',
  EDQUOT: 'the disk quota is exhausted: free some space, or write elsewhere (--out)',
  EACCES: 'permission denied: check the permissions of the file and its folder, or write elsewhere (--out)',
  EPERM: 'the operation is not permitted: check the permissions of the file and its folder',
  EROFS: 'the file system is read-only: write elsewhere (--out)',
  EISDIR: 'a folder is in the way: remove it or choose another path',
  ENOTDIR: 'a part of the path is a file, not a folder',
  ENOENT: 'the file or its folder does not exist (was it moved or removed?)',
  EEXIST: 'something already exists at that path',
  EMFILE: 'too many open files: raise the limit (ulimit -n)',
  EIO: 'the device reported an I/O error: check the disk',
};

/** An ERR_IO error: the operation, the path and the system's error code. */
export class IoError extends BagOfTricksError {
  /**
   * @param operation - What was being done ("write", "read", "create the folder", ...).
   * @param path - The file or folder concerned.
   * @param errno - The system's code (ENOSPC, EACCES, ...).
   * @param detail - The system's message.
   */
  constructor(
    /** What was being done: "write", "read", "create the folder", ... */
    readonly operation: string,
    /** The file or folder concerned. */
    readonly path: string,
    /** The system's error code (ENOSPC, EACCES, EROFS, EISDIR, ENOENT, ...). */
    readonly errno: string,
    detail: string,
  ) {
    super('ERR_IO', `cannot ${operation} ${path}: ${errno}${detail ? ` (${detail})` : ''}; ${HINTS[errno] ?? 'check the path and the disk'}`);
  }
}

/** True for an error of the file system (it has a string `code` such as 'ENOSPC' and a `syscall`). */
export function isSystemError(e: unknown): e is NodeJS.ErrnoException {
  const x = e as NodeJS.ErrnoException | null;
  return x instanceof Error && typeof x.code === 'string' && /^E[A-Z0-9]+$/.test(x.code) && !(x instanceof BagOfTricksError);
}

/** A file-system error as ERR_IO naming `operation` and `file`; any other error unchanged. */
export function ioError(operation: string, file: string, e: unknown): unknown {
  if (!isSystemError(e)) return e;
  const detail = String(e.message ?? '').replace(/^E[A-Z0-9]+: /, '').replace(/, \w+ '.*'$/, '');
  return new IoError(operation, file, e.code as string, detail);
}

/** Runs a synchronous file-system call, turning its failure into ERR_IO. */
export function io<T>(operation: string, file: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw ioError(operation, file, e);
  }
}

/** Awaits an asynchronous file-system call, turning its failure into ERR_IO. */
export async function ioAsync<T>(operation: string, file: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw ioError(operation, file, e);
  }
}

/** Temporary files of writeFileAtomic: `.<name>.tmp-<pid>-<counter>-<random>`. */
const TEMP = /^\..+\.tmp-(\d+)-\d+-[0-9a-z]+$/;

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

/**
 * Removes the temporary files that writes of ours (writeFileAtomic) left in `dir` when their
 * process was killed: names `.<file>.tmp-<pid>-…` whose process is no longer running. Other
 * files are never touched. Returns the paths removed.
 */
export function removeStaleTemp(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = TEMP.exec(name);
    if (!m || alive(Number(m[1]))) continue;
    const file = path.join(dir, name);
    try {
      if (!fs.lstatSync(file).isFile()) continue;
      fs.unlinkSync(file);
      removed.push(file);
    } catch (e) {
      throw ioError('remove the stale temporary file', file, e);
    }
  }
  return removed;
}
