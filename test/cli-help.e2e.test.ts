// `chronicle <command> --help` prints that command's usage and does nothing else (issue 13 item 3): no
// configuration read, no data directory, signing key or API key created, no server started. Run as the real
// CLI (node --import tsx src/cli/main.ts) with a data directory that must still not exist afterwards.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI_MAIN } from './support/cli-main.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'chronicle-help-'));
const dataDir = join(scratch, 'data');

function chronicle(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI_MAIN, ...args], {
      cwd: REPO_ROOT, timeout: 30_000,
      // A database that does not exist and a taken-looking port: --help must touch neither.
      env: { ...process.env, CHRONICLE_DATA_DIR: dataDir, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', PORT: '1', ...env },
    }, (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }));
  });
}

describe('chronicle <command> --help', () => {
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  const commands = ['start', 'ledger-api', 'query-api', 'relay', 'read-processor', 'dashboard', 'migrate', 'verify', 'keys', 'projections'];
  it.each(commands)('%s --help: its usage, exit 0, nothing created or started', async (command) => {
    const run = await chronicle([command, '--help']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^usage: chronicle ${command}\\b`));
    expect(run.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    expect(run.stdout).not.toMatch(/listening|generated an admin key/);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('-h works after a subcommand too, and an unknown command with --help is exit 2', async () => {
    const keys = await chronicle(['keys', 'create', '-h']);
    expect(keys.code).toBe(0);
    expect(keys.stdout).toContain('keys create --role');
    const unknown = await chronicle(['no-such-command', '--help']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command no-such-command');
    expect(existsSync(dataDir)).toBe(false);
  });

  it.each(['start', 'ledger-api', 'migrate', 'dashboard'])('%s with a stray argument: refused in one line, exit 2, nothing created or started', async (command) => {
    const run = await chronicle([command, '--bogus']);
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split('\n')).toStrictEqual([`chronicle: ${command} takes no arguments (given: --bogus); its settings are environment variables: chronicle ${command} --help`]);
    expect(run.stdout).toBe('');
    expect(existsSync(dataDir)).toBe(false);
  });

  it('keys and projections on an embedded data directory with no ledger: "no ledger at", exit 2, no store made', async () => {
    for (const args of [['keys', 'list'], ['keys', 'create', '--role', 'admin', '--name', 'x'], ['projections', 'list']]) {
      const run = await chronicle(args, { DATABASE_URL: '' });
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(run.stderr).toContain(`chronicle: no ledger at ${dataDir} (no embedded store there)`);
      expect(existsSync(dataDir)).toBe(false);
    }
  });

  it('migrate makes the embedded data directory readable by its owner only', async () => {
    const own = join(scratch, 'owned');
    const run = await chronicle(['migrate'], { DATABASE_URL: '', CHRONICLE_DATA_DIR: own });
    expect(run.code, run.stderr).toBe(0);
    expect(statSync(own).mode & 0o777).toBe(0o700);
    expect(existsSync(join(own, 'PG_VERSION'))).toBe(true);
  });
});
