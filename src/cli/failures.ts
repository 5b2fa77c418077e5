// What the CLI prints when a command fails: one line on stderr that says what went wrong and what to do next,
// never a stack trace (issue 13). Failures a user can fix (a database or NATS that is not there, a taken
// port, a data directory in use, a bad setting) are recognised by their shape (errno codes, SQLSTATEs, our
// own error classes); anything else is a bug, printed as its message with a pointer to the stack.
import { ConfigError, type Config } from '../config.js';
import { DashboardNotBuiltError } from '../http/dashboard-server.js';
import { LedgerConfigError } from '../ledger.js';
import { DataDirLockedError } from './data-dir-lock.js';

/** A port this process must listen on cannot be had: `variable` is the setting that chose it. */
export class PortUnavailableError extends Error {
  override readonly name = 'PortUnavailableError';
  constructor(readonly variable: 'PORT' | 'DASHBOARD_PORT', readonly port: number, readonly host: string, readonly code: string) {
    super(code === 'EADDRINUSE'
      ? `port ${port} (${variable}) is already in use on ${host}: stop what holds it, or start with another ${variable} (e.g. ${variable}=${port + 10})`
      : `cannot listen on ${host}:${port} (${variable}): ${code}${port < 1024 ? ' (ports below 1024 need privileges)' : ''}; choose another ${variable}`);
  }
}

/** A listen() failure as a PortUnavailableError; any other error as it is. */
export function listenFailure(error: unknown, variable: 'PORT' | 'DASHBOARD_PORT', port: number, host: string): unknown {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL' ? new PortUnavailableError(variable, port, host, code) : error;
}

/** A one-shot command's call to a running ledger's API that failed: the message says which and why. */
export class LedgerApiError extends Error {
  override readonly name = 'LedgerApiError';
}

const SOCKET_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused', ENOTFOUND: 'no such host', EAI_AGAIN: 'host name not resolved (yet)',
  ETIMEDOUT: 'timed out', EHOSTUNREACH: 'host unreachable', ENETUNREACH: 'network unreachable', ECONNRESET: 'connection reset',
};

/** The error and its causes, outermost first (bounded: a cause chain could loop). */
function chain(error: unknown): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (let e = error; e !== null && typeof e === 'object' && out.length < 8; e = (e as { cause?: unknown }).cause) out.push(e as Record<string, unknown>);
  return out;
}

interface Endpoint { variable: string; what: 'PostgreSQL' | 'NATS'; host: string; port: number; database?: string }

function endpoints(config: Config): Endpoint[] {
  const out: Endpoint[] = [];
  const add = (variable: string, what: Endpoint['what'], url: string | undefined, defaultPort: number) => {
    if (url === undefined) return;
    try {
      const u = new URL(url);
      out.push({
        variable, what, host: u.hostname || 'localhost', port: u.port === '' ? defaultPort : Number(u.port),
        ...(what === 'PostgreSQL' ? { database: decodeURIComponent(u.pathname.slice(1)) || u.username || 'postgres' } : {}),
      });
    } catch { /* config validated it; nothing to name */ }
  };
  add('DATABASE_URL', 'PostgreSQL', config.databaseUrl, 5432);
  add('READ_DATABASE_URL', 'PostgreSQL', config.readDatabaseUrl, 5432);
  add('READ_REPLICA_URL', 'PostgreSQL', config.readReplicaUrl, 5432);
  for (const server of config.natsServers) add('NATS_URL', 'NATS', server, 4222);
  return out;
}

const NEXT_STEP: Record<Endpoint['what'], (e: Endpoint) => string> = {
  PostgreSQL: (e) => `is PostgreSQL running there? Start it, or fix ${e.variable}${e.variable === 'DATABASE_URL' ? ' (unset, chronicle start uses its embedded store)' : ''}`,
  NATS: () => 'is nats-server (with -js) running there? Start it, or fix NATS_URL (unset, chronicle start uses its in-process bus)',
};

/** One line for `error`, without the "chronicle: " prefix. */
export function describeFailure(error: unknown, config: Config | null): string {
  if (error instanceof ConfigError || error instanceof LedgerConfigError || error instanceof DashboardNotBuiltError
    || error instanceof PortUnavailableError || error instanceof LedgerApiError) return error.message;
  if (error instanceof DataDirLockedError) {
    return `${error.dataDir} is in use by process ${error.pid} (a running chronicle start${error.url ? ` serving ${error.url}` : ''}; PGlite allows one process per data directory): ` +
      `use that one, stop it first (kill ${error.pid}), or give this one another CHRONICLE_DATA_DIR`;
  }
  const errors = chain(error);
  const known = config ? endpoints(config) : [];
  // A SQLSTATE from the server: it was reached, and said no.
  const sqlstate = errors.map((e) => e['code']).find((c): c is string => typeof c === 'string' && /^[0-9A-Z]{5}$/.test(c));
  if (sqlstate === '3D000') {
    const name = /database "([^"]*)"/.exec(String(errors[0]?.['message']))?.[1];
    const e = known.find((k) => k.what === 'PostgreSQL' && k.database === name) ?? known.find((k) => k.what === 'PostgreSQL');
    const where = e ? ` on ${e.host}:${e.port} (${e.variable})` : '';
    return `database "${name ?? '?'}" does not exist${where}: create it (createdb${e ? ` -h ${e.host} -p ${e.port}` : ''} ${name ?? '<name>'}) or point ${e?.variable ?? 'DATABASE_URL'} at one that does`;
  }
  if (sqlstate === '28P01' || sqlstate === '28000') {
    return `PostgreSQL refused the login: ${String(errors[0]?.['message'])}; check the user and password in ${known.find((k) => k.what === 'PostgreSQL')?.variable ?? 'DATABASE_URL'}`;
  }
  // A socket that could not be opened: name the service by the address it tried.
  const socket = errors.find((e) => typeof e['code'] === 'string' && e['code'] in SOCKET_CODES);
  if (socket) {
    const code = socket['code'] as string;
    const port = typeof socket['port'] === 'number' ? socket['port'] : undefined;
    const natsError = errors.some((e) => e['name'] === 'ConnectionError' || /@nats-io/.test(String(e['stack'])));
    const candidates = known.filter((k) => (port === undefined || k.port === port) && (!natsError || k.what === 'NATS'));
    const e = candidates[0] ?? known.find((k) => k.what === (natsError ? 'NATS' : 'PostgreSQL'));
    const address = port !== undefined ? `${String(socket['address'] ?? e?.host)}:${port}` : e ? `${e.host}:${e.port}` : String(socket['hostname'] ?? '?');
    if (e) return `cannot reach ${e.what} at ${address} (${e.variable}): ${SOCKET_CODES[code]}; ${NEXT_STEP[e.what](e)}`;
    return `cannot connect to ${address}: ${SOCKET_CODES[code]}`;
  }
  const message = error instanceof Error ? error.message : String(error);
  return `${message.split('\n')[0]} (a fault we did not foresee: LOG_LEVEL=debug prints its stack trace; please report it)`;
}
