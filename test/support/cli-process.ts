// The real `chronicle` CLI as a child process (node --import tsx src/cli/main.ts <command>), for end-to-end
// tests that kill and restart roles. Each process serves /health on its own PORT; `healthy()` waits for it
// to answer 200. Only ever signals its own child (by pid, via ChildProcess.kill).
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { generateApiKey } from '../../src/application/api-keys.js';
import { CLI_MAIN } from './cli-main.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The admin key every spawned process is started with (CHRONICLE_BOOTSTRAP_KEY): the first to start on an
 * empty database stores it, so a test can call any route with `authorization: CLI_AUTHORIZATION`.
 */
export const CLI_ADMIN_KEY = generateApiKey().key;
export const CLI_AUTHORIZATION = `Bearer ${CLI_ADMIN_KEY}`;

export interface CliProcess {
  command: string;
  child: ChildProcess;
  port: number;
  /** http://127.0.0.1:<port> */
  base: string;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves when the process has exited (code or signal in `child`). */
  exited: Promise<void>;
  running(): boolean;
  /** Polls GET /health until 200; throws (with the output) when the process exits first or time runs out. */
  healthy(timeoutMs?: number): Promise<void>;
  /** Sends `signal` (if still running) and waits for the exit. */
  signal(signal: NodeJS.Signals): Promise<void>;
}

/**
 * Starts `chronicle <command>` with `env` over the current environment, HOST=127.0.0.1, PORT=`port` and
 * CHRONICLE_BOOTSTRAP_KEY=CLI_ADMIN_KEY and DASHBOARD=off (unless `env` says otherwise).
 */
export function spawnCli(command: string, port: number, env: Record<string, string>): CliProcess {
  const child = spawn(process.execPath, [CLI_MAIN, command], {
    cwd: REPO_ROOT,
    // No dashboard unless a test asks for one (test/dashboard.e2e.test.ts): its port is fixed (3000).
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), CHRONICLE_BOOTSTRAP_KEY: CLI_ADMIN_KEY, DASHBOARD: 'off', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const running = () => child.exitCode === null && child.signalCode === null;
  const base = `http://127.0.0.1:${port}`;
  return {
    command, child, port, base, exited, running,
    output: () => output,
    async healthy(timeoutMs = 30_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        if (!running()) throw new Error(`chronicle ${command} exited (${child.exitCode ?? child.signalCode}) before it was healthy:\n${output}`);
        try {
          const response = await fetch(`${base}/health`, { signal: AbortSignal.timeout(2_000) });
          if (response.status === 200) return;
        } catch { /* not listening yet */ }
        if (Date.now() > end) throw new Error(`chronicle ${command} on ${base} not healthy within ${timeoutMs} ms:\n${output}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async signal(signal) {
      if (running()) child.kill(signal);
      await exited;
    },
  };
}
