// The dashboard's web server: the Next.js app's static export (dashboard/out, built by `npm run build`) and
// one dynamic file, /config.json, telling the browser where the API is. The dashboard talks to the API over
// HTTP only (CORS, with the API key in the Authorization header), never to the stores: it is a client like
// any other, and the API's access control applies to it unchanged.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';

export interface DashboardServerOptions {
  /** The static export: dashboard/out. */
  dir: string;
  /** The API's port, when the dashboard calls the API on the same host name as the page came from. */
  apiPort: number;
  /** A fixed API base URL (DASHBOARD_API_URL), e.g. behind a proxy; else http://<page's host name>:<apiPort>. */
  apiUrl?: string;
  logger: FastifyBaseLogger;
}

export class DashboardNotBuiltError extends Error {
  override readonly name = 'DashboardNotBuiltError';
}

/** The API's origin as the browser must call it: the page's own host name (localhost or 127.0.0.1 alike). */
export function apiUrlFor(hostHeader: string | undefined, options: Pick<DashboardServerOptions, 'apiPort' | 'apiUrl'>): string {
  if (options.apiUrl !== undefined) return options.apiUrl;
  const host = (hostHeader ?? 'localhost').replace(/:\d+$/, '');
  // Only a plain host name or an IPv6 literal: the value ends up in a header and a JSON answer.
  const safe = /^([A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])$/.test(host) ? host : 'localhost';
  return `http://${safe}:${options.apiPort}`;
}

export async function buildDashboardServer(options: DashboardServerOptions): Promise<FastifyInstance> {
  if (!existsSync(join(options.dir, 'index.html'))) {
    throw new DashboardNotBuiltError(`the dashboard is not built (${options.dir} has no index.html): run npm run build`);
  }
  // Static files: no log line per request (a page load is dozens of them); errors are still logged.
  const app = Fastify({ loggerInstance: options.logger.child({ component: 'dashboard' }), logController: new LogController({ disableRequestLogging: true }) });

  app.addHook('onRequest', async (request, reply) => {
    const api = apiUrlFor(request.headers.host, options);
    // Next's static export inlines its bootstrap scripts, hence 'unsafe-inline' for scripts; connections go
    // to this origin and the API's only.
    reply.headers({
      'content-security-policy': `default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; ` +
        `img-src 'self' data:; connect-src 'self' ${api}; frame-ancestors 'none'; base-uri 'self'; form-action 'self'`,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
    });
  });

  app.get('/config.json', async (request, reply) => {
    reply.header('cache-control', 'no-store');
    return { apiUrl: apiUrlFor(request.headers.host, options) };
  });

  // Pages are exported as <route>/index.html (trailingSlash on): /accounts redirects to /accounts/.
  await app.register(fastifyStatic, { root: options.dir, redirect: true, wildcard: true, index: ['index.html'] });
  app.setNotFoundHandler((_request, reply) => reply.status(404).type('text/html').sendFile('404.html'));
  await app.ready();
  return app;
}
