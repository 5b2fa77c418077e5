// One-shot commands (`keys`, `projections`) against a running ledger's API instead of its store: asked for
// with --url, or chosen when a `chronicle start` holds the embedded data directory (its lock names the API
// it serves; the key is --api-key, else the admin key that start generated into <data dir>/admin-key).
import { existsSync, readFileSync } from 'node:fs';
import { adminKeyFile } from './first-key.js';
import type { DataDirLockedError } from './data-dir-lock.js';
import { LedgerApiError } from './failures.js';

export interface RunningLedger {
  url: string;
  /** The admin key to send; null: none (a ledger with CHRONICLE_AUTH_DISABLED_INSECURE needs none). */
  apiKey: string | null;
}

/** --url and --api-key, where a command takes them. */
export interface ApiFlags { url?: string; apiKey?: string }

/**
 * The running ledger to use for a command refused the data directory, or a one-line message saying how to
 * reach it (exit 1) when its URL or an admin key is not known.
 */
export function runningLedgerFor(locked: DataDirLockedError, flags: ApiFlags): RunningLedger | string {
  const file = adminKeyFile(locked.dataDir);
  const apiKey = flags.apiKey ?? (existsSync(file) ? readFileSync(file, 'utf8').trim() : null);
  if (locked.url !== null && apiKey !== null) return { url: locked.url, apiKey };
  const url = locked.url ?? 'http://127.0.0.1:<PORT>';
  return `the ledger is running (pid ${locked.pid} on this data directory ${locked.dataDir}): add --url ${url} --api-key <admin key>, ` +
    `or use its API (POST /keys, /projections); with no admin key left, stop it (kill ${locked.pid}), run this again, then start it`;
}

/**
 * A one-shot command refused the data directory by a running ledger: does `job` through that ledger's API,
 * or prints the one line saying how to reach it (exit 1).
 */
export async function throughRunningLedger(locked: DataDirLockedError, flags: ApiFlags, job: (ledger: RunningLedger) => Promise<number>): Promise<number> {
  const running = runningLedgerFor(locked, flags);
  if (typeof running === 'string') {
    console.error(`chronicle: ${running}`);
    return 1;
  }
  console.error(`the ledger is running (pid ${locked.pid} on this data directory): through its API at ${running.url}`);
  return job(running);
}

/** A call to the API; a status outside 2xx, or no answer, is a LedgerApiError naming the route and why. */
export async function callLedger(ledger: RunningLedger, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const headers: Record<string, string> = ledger.apiKey === null ? {} : { authorization: `Bearer ${ledger.apiKey}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(new URL(path, ledger.url), { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
    throw new LedgerApiError(`cannot reach the ledger API at ${ledger.url} (${cause}): is it running there?`);
  }
  const text = await response.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch { /* not JSON: shown as text */ }
  if (response.status >= 200 && response.status < 300) return { status: response.status, json };
  const error = (json as { error?: { code?: string; message?: string } } | null)?.error;
  const said = error ? `${error.code}: ${error.message}` : text.slice(0, 200);
  const hint = response.status === 401 ? ' (the API key is missing, unknown or revoked: pass an admin key with --api-key)'
    : response.status === 403 ? ' (this needs an admin key)' : '';
  throw new LedgerApiError(`${method} ${path} on ${ledger.url} answered ${response.status} ${said}${hint}`);
}
