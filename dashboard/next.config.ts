import type { NextConfig } from 'next';
import { fileURLToPath } from 'node:url';

// A static export (out/): every page is a client of the ledger's HTTP API, so nothing needs a Node server at
// run time; `chronicle start` serves these files on DASHBOARD_PORT next to the API.
const config: NextConfig = {
  output: 'export',
  // Each page is <route>/index.html, which any static server finds for /<route>/ (and /<route> redirects).
  trailingSlash: true,
  images: { unoptimized: true },
  // The verifier's code is the ledger's own (src/domain/audit, src/application/verify-log.ts), one level up,
  // written as NodeNext ESM: its imports name `./hash.js` for hash.ts. Webpack maps that (extensionAlias);
  // Turbopack, Next 16's default, cannot yet (vercel/next.js#82945), hence `next build --webpack`.
  outputFileTracingRoot: fileURLToPath(new URL('..', import.meta.url)),
  webpack: (webpackConfig: { resolve: { extensionAlias?: Record<string, string[]> } }) => {
    webpackConfig.resolve.extensionAlias = { ...webpackConfig.resolve.extensionAlias, '.js': ['.ts', '.tsx', '.js'] };
    return webpackConfig;
  },
  poweredByHeader: false,
  reactStrictMode: true,
  devIndicators: false,
};

export default config;
