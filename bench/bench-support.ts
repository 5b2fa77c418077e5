// Bench helpers outside bench/http-bench.ts (which runs on import): for bench/scale-bench.ts the same build
// into bench/results/dist, the same server start (`chronicle start`, auth on with a bootstrap key of the
// run's own, a rate limit far above the bench's rate, the dashboard off), a keep-alive HTTP client and the
// percentile rule; freePort for both benches.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const RESULTS = join(ROOT, 'bench', 'results');
export const BUILD_DIR = join(RESULTS, 'dist');
export const HOST = '127.0.0.1';
const HEALTH_WAIT_MS = 180_000;
const REQUEST_TIMEOUT_MS = 30_000;
/** Far above the bench's own rate from its one key: the limiter runs on every request, it never refuses one. */
const RATE_LIMIT_PER_MINUTE = 100_000_000;
/** Environment names the bench sets itself, never inherited. */
const OWN_ENV = ['DATABASE_URL', 'READ_DATABASE_URL', 'NATS_URL', 'NATS_STREAM', 'NATS_SUBJECT_PREFIX', 'CHRONICLE_DATA_DIR', 'PORT', 'HOST',
  'CHRONICLE_BOOTSTRAP_KEY', 'CHRONICLE_AUTH_DISABLED_INSECURE'];

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const round2 = (x: number) => Math.round(x * 100) / 100;
export const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export function intEnv(name: string, fallback: number, min: number, max: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${name} must be an integer from ${min} to ${max}`);
  return value;
}

/** A comma-separated list of integers, e.g. BENCH_SCALE_SIZES=0,1000000. */
export function intListEnv(name: string, fallback: readonly number[], min: number, max: number): number[] {
  const text = process.env[name];
  if (text === undefined || text.trim() === '') return [...fallback];
  return text.split(',').map((part) => {
    const value = Number(part.trim());
    if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${name}: each entry must be an integer from ${min} to ${max}`);
    return value;
  });
}

export function dbUrl(base: string, database: string): string {
  const url = new URL(base);
  url.pathname = `/${database}`;
  return url.toString();
}

export async function recreateDatabase(adminUrl: string, name: string): Promise<void> {
  await withAdmin(adminUrl, async (admin) => {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${name}`);
  });
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await withAdmin(adminUrl, (admin) => admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).then(() => undefined));
}

async function withAdmin(adminUrl: string, fn: (admin: pg.Client) => Promise<void>): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl, application_name: 'chronicle-scale-bench-admin' });
  await admin.connect();
  try {
    await fn(admin);
  } finally {
    await admin.end();
  }
}

/** tsc into bench/results/dist (not dist/: a concurrent `npm run build` is never clobbered), plus the .sql files. */
export function build(skip: boolean): void {
  if (skip) return;
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', BUILD_DIR], { cwd: ROOT, stdio: 'inherit' });
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'copy-sql.mjs'), BUILD_DIR], { cwd: ROOT, stdio: 'inherit' });
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** An admin key of the run's own: the server's CHRONICLE_BOOTSTRAP_KEY, sent with every request. */
export const API_KEY = `chr_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`;

export interface Reply { status: number; body: string }

export class Client {
  private readonly agent: http.Agent;
  constructor(readonly port: number, sockets: number) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets, scheduling: 'fifo' });
  }

  send(method: 'GET' | 'POST', path: string, payload?: unknown, timeoutMs = REQUEST_TIMEOUT_MS): Promise<Reply> {
    return new Promise((resolveReply) => {
      const data = payload === undefined ? undefined : JSON.stringify(payload);
      const headers: Record<string, string | number> = { authorization: `Bearer ${API_KEY}` };
      if (data !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
      const request = http.request({ host: HOST, port: this.port, method, path, agent: this.agent, headers }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolveReply({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', (error) => resolveReply({ status: 0, body: `response error: ${error.message}` }));
      });
      request.setTimeout(timeoutMs, () => request.destroy(new Error(`timeout after ${timeoutMs} ms`)));
      request.on('error', (error) => resolveReply({ status: 0, body: `request error: ${error.message}` }));
      request.end(data);
    });
  }

  /** send, timed: milliseconds from the request to the end of the response. */
  async timed(method: 'GET' | 'POST', path: string, payload?: unknown, timeoutMs?: number): Promise<Reply & { ms: number }> {
    const started = performance.now();
    const reply = await this.send(method, path, payload, timeoutMs);
    return { ...reply, ms: performance.now() - started };
  }

  close(): void {
    this.agent.destroy();
  }
}

export interface Latency { count: number; p50: number; p99: number; max: number }

/** Nearest-rank percentiles, as http-bench.ts's summarise. */
export function latency(values: readonly number[]): Latency {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  if (n === 0) return { count: 0, p50: 0, p99: 0, max: 0 };
  const at = (q: number) => round2(sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]!);
  return { count: n, p50: at(0.5), p99: at(0.99), max: round2(sorted[n - 1]!) };
}

export interface Server { port: number; child: ChildProcess; log: string[] }

/** `chronicle start` on the database, as http-bench.ts's single topology starts it (sealer and auth on). */
export async function startLedger(databaseUrl: string, poolMax: number): Promise<Server> {
  const inherited = { ...process.env };
  for (const name of OWN_ENV) delete inherited[name];
  const port = await freePort();
  const env = {
    ...inherited, DATABASE_URL: databaseUrl, PORT: String(port), HOST, LOG_LEVEL: 'warn', PG_POOL_MAX: String(poolMax),
    RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT_PER_MINUTE), DASHBOARD: 'off', CHRONICLE_BOOTSTRAP_KEY: API_KEY,
  };
  const child = spawn(process.execPath, [join(BUILD_DIR, 'cli', 'main.js'), 'start'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const server: Server = { port, child, log: [] };
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      console.log(`  [server] ${line.slice(0, 400)}`);
      server.log.push(line);
    }
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const client = new Client(port, 1);
  try {
    const deadline = performance.now() + HEALTH_WAIT_MS;
    while (performance.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`chronicle start exited (${child.exitCode ?? child.signalCode}) before it was healthy`);
      if ((await client.send('GET', '/health')).status === 200) return server;
      await sleep(200);
    }
  } finally {
    client.close();
  }
  await stopLedger(server);
  throw new Error(`chronicle start not healthy after ${HEALTH_WAIT_MS} ms`);
}

export async function stopLedger(server: Server): Promise<void> {
  const { child } = server;
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  if (await Promise.race([exited.then(() => false), sleep(15_000).then(() => true)])) {
    child.kill('SIGKILL');
    await exited;
  }
}

/** VmRSS and VmHWM (peak) of a process, MiB; null when it is gone. */
export function memoryMiB(pid: number): { rss: number; peak: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    return { rss: Math.round(kib('VmRSS') / 1024), peak: Math.round(kib('VmHWM') / 1024) };
  } catch {
    return null;
  }
}

/** `chronicle verify` against the database: its exit code, output and wall time. */
export function runVerify(databaseUrl: string): Promise<{ code: number | null; seconds: number; output: string }> {
  return new Promise((resolveRun) => {
    const started = performance.now();
    const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: databaseUrl };
    delete env['CHRONICLE_DATA_DIR'];
    const child = spawn(process.execPath, [join(BUILD_DIR, 'cli', 'main.js'), 'verify'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => { output += c.toString('utf8'); });
    child.stderr.on('data', (c: Buffer) => { output += c.toString('utf8'); });
    child.on('exit', (code) => resolveRun({ code, seconds: (performance.now() - started) / 1000, output }));
  });
}
