import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The data directory is held by a live process (a running `chronicle start`). `url`: the API it serves, once
 * it listens (src/cli/main.ts advertises it), so a one-shot command can do its job through that API instead.
 */
export class DataDirLockedError extends Error {
  override readonly name = 'DataDirLockedError';
  constructor(readonly dataDir: string, readonly pid: number, readonly url: string | null) {
    super(`${dataDir} is in use by process ${pid}; PGlite allows one process per data directory`);
  }
}

const lockPath = (dataDir: string) => join(dataDir, 'chronicle.lock');

/** The lock file: the holder's pid on its first line, then (once it listens) its API's URL. */
function readLock(path: string): { pid: number; url: string | null } {
  const [pid, url] = readFileSync(path, 'utf8').split('\n');
  return { pid: Number(pid), url: url && /^https?:\/\//.test(url) ? url : null };
}

/**
 * A pid file in the data directory, taken exclusively. A lock left by a process that no longer exists is
 * taken over; one held by a live process is a DataDirLockedError naming it.
 */
export function acquireDataDirLock(dataDir: string): () => void {
  // Owner only: the store, the signing key and the admin key live here (an existing directory keeps its mode).
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = lockPath(dataDir);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const { pid, url } = readLock(path);
      if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) throw new DataDirLockedError(dataDir, pid, url);
      rmSync(path, { force: true });
    }
  }
  throw new Error(`could not lock ${dataDir}`);
}

/**
 * Adds the API's URL to the lock this process holds, so `chronicle keys` and `projections` run while it does
 * can go through the API. Written aside and renamed over the lock: a reader sees the old or the new file,
 * and the lock never stops existing.
 */
export function advertiseApi(dataDir: string, url: string): void {
  const path = lockPath(dataDir);
  const aside = `${path}.${process.pid}`;
  writeFileSync(aside, `${process.pid}\n${url}\n`);
  renameSync(aside, path);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when `dataDir` holds an embedded store (PGlite writes PG_VERSION when it creates one). */
export function hasEmbeddedStore(dataDir: string): boolean {
  return existsSync(join(dataDir, 'PG_VERSION'));
}

/**
 * The one line for a one-shot command pointed at an embedded data directory with no ledger in it (a wrong
 * current directory, a forgotten CHRONICLE_DATA_DIR): it must not make an empty store there.
 */
export function noEmbeddedStoreMessage(dataDir: string): string {
  return `no ledger at ${dataDir} (no embedded store there): run this where the ledger's data directory is, set ` +
    'CHRONICLE_DATA_DIR to it (or DATABASE_URL for a PostgreSQL ledger), or start the ledger first (npx chronicle start)';
}
