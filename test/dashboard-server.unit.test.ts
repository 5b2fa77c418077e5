// The dashboard's file server, without a browser: pages by folder, /config.json naming the API for the page's
// own host name (and nothing a forged Host header could smuggle into it or into the CSP), the 404 page, and
// a clear refusal when the dashboard was never built.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { apiUrlFor, buildDashboardServer, DashboardNotBuiltError } from '../src/http/dashboard-server.js';

const logger = pino({ level: 'silent' });
let dir: string;
let app: FastifyInstance;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chronicle-dashboard-out-'));
  writeFileSync(join(dir, 'index.html'), '<html>timeline</html>');
  writeFileSync(join(dir, '404.html'), '<html>not found</html>');
  mkdirSync(join(dir, 'accounts'));
  writeFileSync(join(dir, 'accounts', 'index.html'), '<html>accounts</html>');
  app = await buildDashboardServer({ dir, apiPort: 4123, logger });
});
afterAll(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('dashboard file server', () => {
  it('serves each page from its folder, redirects a path without its slash, and 404s with the 404 page', async () => {
    expect((await app.inject({ url: '/' })).body).toContain('timeline');
    expect((await app.inject({ url: '/accounts/' })).body).toContain('accounts');
    const bare = await app.inject({ url: '/accounts' });
    expect(bare.statusCode).toBe(301);
    expect(bare.headers.location).toBe('/accounts/');
    const missing = await app.inject({ url: '/nope/' });
    expect(missing.statusCode).toBe(404);
    expect(missing.body).toContain('not found');
    expect((await app.inject({ url: '/../../etc/passwd' })).statusCode).toBe(404);
  });

  it('names the API on the page\'s own host name, with the API port, in /config.json and the CSP', async () => {
    for (const host of ['localhost:3000', '127.0.0.1:3000', '[::1]:3000', 'ledger.internal']) {
      const answer = await app.inject({ url: '/config.json', headers: { host } });
      const expected = `http://${host.replace(/:\d+$/, '')}:4123`;
      expect(answer.json()).toEqual({ apiUrl: expected });
      expect(answer.headers['cache-control']).toBe('no-store');
      expect(answer.headers['content-security-policy']).toContain(`connect-src 'self' ${expected};`);
      expect(answer.headers['x-frame-options']).toBe('DENY');
    }
  });

  it('a forged Host header cannot widen the CSP or the config: anything but a host name becomes localhost', async () => {
    for (const host of ["evil.com; script-src *", 'a b', 'x"y', 'host/path', `${'a'.repeat(300)}`]) {
      expect(apiUrlFor(host, { apiPort: 4123 })).toBe('http://localhost:4123');
    }
    const answer = await app.inject({ url: '/', headers: { host: 'evil.com;script-src *' } });
    expect(answer.headers['content-security-policy']).toContain("connect-src 'self' http://localhost:4123;");
    expect(answer.headers['content-security-policy']).not.toContain('script-src *');
  });

  it('DASHBOARD_API_URL wins over the host name', () => {
    expect(apiUrlFor('localhost:3000', { apiPort: 4123, apiUrl: 'https://api.example.com' })).toBe('https://api.example.com');
  });

  it('refuses to start without a built export, saying how to build it', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'chronicle-dashboard-empty-'));
    try {
      await expect(buildDashboardServer({ dir: empty, apiPort: 4123, logger })).rejects.toThrow(DashboardNotBuiltError);
      await expect(buildDashboardServer({ dir: empty, apiPort: 4123, logger })).rejects.toThrow('run npm run build');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
