// A typed client of the ledger's HTTP API: openapi-fetch over the types openapi-typescript generated from
// /openapi.json (client/schema.d.ts, `npm run client`). Every path, parameter, body and answer is checked by
// the TypeScript compiler; at run time it is fetch and nothing else.
//
//   const ledger = createLedgerClient('http://127.0.0.1:4000', { apiKey: process.env.CHRONICLE_KEY });
//   const { data, error } = await ledger.GET('/accounts/{id}/balance', { params: { path: { id: 'A1' } } });
import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { paths } from './schema.js';

export type { components, operations, paths } from './schema.js';

export interface LedgerClientOptions extends Omit<ClientOptions, 'baseUrl'> {
  /** An API key (chr_<id>_<secret>), sent as `Authorization: Bearer`: needed unless authentication is off. */
  apiKey?: string;
}

export type LedgerClient = Client<paths>;

/** A client of the ledger at `baseUrl` (e.g. http://127.0.0.1:4000). */
export function createLedgerClient(baseUrl: string, { apiKey, headers, ...options }: LedgerClientOptions = {}): LedgerClient {
  return createClient<paths>({
    ...options,
    baseUrl,
    headers: { ...(apiKey === undefined ? {} : { authorization: `Bearer ${apiKey}` }), ...(headers as Record<string, string> | undefined) },
  });
}
