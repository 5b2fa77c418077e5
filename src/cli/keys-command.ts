// `chronicle keys …`: API key management straight against the event store's database (DATABASE_URL, or the
// embedded data directory while no server holds it), or through a running ledger's API: with --url, or at
// once when a `chronicle start` holds the data directory (src/cli/running-ledger.ts).
// Answers are JSON on stdout; anything for people goes to stderr.
import { userInfo } from 'node:os';
import { SqlApiKeyStore } from '../adapters/api-keys/sql-api-key-store.js';
import { openEventStore, type StoreTarget } from '../adapters/event-store/open-store.js';
import { ApiKeys, generateApiKey } from '../application/api-keys.js';
import { KEY_NAME_LENGTH_MAX } from '../domain/limits.js';
import { isKeyRole, KEY_ROLES } from '../ports/api-key-store.js';
import type { Config } from '../config.js';
import { acquireDataDirLock, DataDirLockedError, hasEmbeddedStore, noEmbeddedStoreMessage } from './data-dir-lock.js';
import { callLedger, throughRunningLedger, type ApiFlags, type RunningLedger } from './running-ledger.js';

export const KEYS_USAGE = `  keys create --role <${KEY_ROLES.join('|')}> --name <name>
                   make an API key; prints it once (only its hash is stored)
  keys list        every API key (never a key or its hash)
  keys revoke <id> revoke a key (running servers refuse it within 2 s)
  keys generate    print a new random key without storing it (for CHRONICLE_BOOTSTRAP_KEY)
                   create, list and revoke work on the database, or through a running ledger's API with
                   --url <API> --api-key <admin key> (at once while chronicle start holds the data directory)`;

/** --flag value pairs; a flag without a value, or a stray word, is an error. */
function flags(args: string[]): Record<string, string> | null {
  const out: Record<string, string> = {};
  for (let i = 0; i < args.length; i += 2) {
    const [flag, value] = [args[i]!, args[i + 1]];
    if (!flag.startsWith('--') || value === undefined) return null;
    out[flag.slice(2)] = value;
  }
  return out;
}

function usage(message: string): number {
  console.error(`chronicle: ${message}\n\n${KEYS_USAGE}`);
  return 2;
}

type Job =
  | { sub: 'create'; role: (typeof KEY_ROLES)[number]; name: string }
  | { sub: 'list' }
  | { sub: 'revoke'; id: string };

export async function keysCommand(config: Config, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'generate') {
    console.log(generateApiKey().key);
    return 0;
  }
  // revoke's id comes first; then --flag value pairs.
  const id = sub === 'revoke' && rest[0] !== undefined && !rest[0].startsWith('--') ? rest.shift() : undefined;
  const given = flags(rest);
  if (!given) return usage('keys create | list | revoke <id> | generate, with --flag value pairs');
  const api: ApiFlags = { ...(given['url'] === undefined ? {} : { url: given['url'] }), ...(given['api-key'] === undefined ? {} : { apiKey: given['api-key'] }) };
  const extra = (allowed: string[]) => Object.keys(given).find((f) => !allowed.includes(f) && f !== 'url' && f !== 'api-key');
  let job: Job;
  if (sub === 'create') {
    if (extra(['role', 'name'])) return usage('keys create --role <role> --name <name> [--url <API> --api-key <admin key>]');
    const { role, name } = given;
    if (!isKeyRole(role)) return usage(`--role must be one of ${KEY_ROLES.join(', ')}`);
    if (name === undefined || name.length === 0 || name.length > KEY_NAME_LENGTH_MAX || /[\x00-\x1f\x7f]/.test(name)) {
      return usage(`--name is required: 1 to ${KEY_NAME_LENGTH_MAX} printable characters`);
    }
    job = { sub, role, name };
  } else if (sub === 'revoke') {
    if (id === undefined || !/^[0-9a-f]{16}$/.test(id) || extra([])) return usage('keys revoke <id> (16 hex digits, from keys list)');
    job = { sub, id };
  } else if (sub === 'list' && !extra([])) {
    job = { sub };
  } else {
    return usage('keys create | list | revoke <id> | generate');
  }
  if (api.url !== undefined) {
    if (api.apiKey === undefined) return usage('--url needs --api-key <admin key>');
    return throughApi({ url: api.url, apiKey: api.apiKey }, job);
  }

  const target: StoreTarget = config.databaseUrl === undefined
    ? { kind: 'pglite', dataDir: config.dataDir }
    : { kind: 'postgres', url: config.databaseUrl, poolMax: 2 };
  // PGlite is one process's database: while a server runs on it, the job goes through that server's API.
  let release: () => void = () => {};
  if (target.kind === 'pglite') {
    // A forgotten CHRONICLE_DATA_DIR must not make an empty store here, with a key no running ledger knows.
    if (!hasEmbeddedStore(config.dataDir)) {
      console.error(`chronicle: ${noEmbeddedStoreMessage(config.dataDir)}`);
      return 2;
    }
    try {
      release = acquireDataDirLock(config.dataDir);
    } catch (error) {
      if (!(error instanceof DataDirLockedError)) throw error;
      return throughRunningLedger(error, api, (running) => throughApi(running, job));
    }
  }
  try {
    const store = await openEventStore(target); // migrates: the table exists even before a first start
    try {
      const keys = new ApiKeys(new SqlApiKeyStore(store.sql));
      if (job.sub === 'create') {
        const { info, key } = await keys.create({ role: job.role, name: job.name, createdBy: `cli:${userInfo().username}` });
        console.error('The key is shown this once; only its hash is stored. Send it as: Authorization: Bearer <key>');
        console.log(JSON.stringify({ ...info, key }, null, 2));
        return 0;
      }
      if (job.sub === 'list') {
        console.log(JSON.stringify({ keys: await keys.list() }, null, 2));
        return 0;
      }
      const revoked = await keys.revoke(job.id);
      if (!revoked) {
        console.error(`chronicle: no API key ${job.id}`);
        return 1;
      }
      console.log(JSON.stringify(revoked, null, 2));
      return 0;
    } finally {
      await store.close();
    }
  } finally {
    release();
  }
}

/** The same jobs through POST /keys, GET /keys and POST /keys/{id}/revoke; the answers print alike. */
async function throughApi(ledger: RunningLedger, job: Job): Promise<number> {
  if (job.sub === 'create') {
    const { json } = await callLedger(ledger, 'POST', '/keys', { role: job.role, name: job.name });
    console.error('The key is shown this once; only its hash is stored. Send it as: Authorization: Bearer <key>');
    console.log(JSON.stringify(json, null, 2));
    return 0;
  }
  const { json } = job.sub === 'list'
    ? await callLedger(ledger, 'GET', '/keys')
    : await callLedger(ledger, 'POST', `/keys/${job.id}/revoke`);
  console.log(JSON.stringify(json, null, 2));
  return 0;
}
