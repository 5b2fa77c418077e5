// `chronicle keys …`: API key management straight against the event store's database (DATABASE_URL, or the
// embedded data directory: then only while no server holds it; a running server takes POST /keys instead).
// Answers are JSON on stdout; anything for people goes to stderr.
import { userInfo } from 'node:os';
import { SqlApiKeyStore } from '../adapters/api-keys/sql-api-key-store.js';
import { openEventStore, type StoreTarget } from '../adapters/event-store/open-store.js';
import { ApiKeys, generateApiKey } from '../application/api-keys.js';
import { KEY_NAME_LENGTH_MAX } from '../domain/limits.js';
import { isKeyRole, KEY_ROLES } from '../ports/api-key-store.js';
import type { Config } from '../config.js';
import { acquireDataDirLock } from './data-dir-lock.js';

export const KEYS_USAGE = `  keys create --role <${KEY_ROLES.join('|')}> --name <name>
                   make an API key; prints it once (only its hash is stored)
  keys list        every API key (never a key or its hash)
  keys revoke <id> revoke a key (running servers refuse it within 2 s)
  keys generate    print a new random key without storing it (for CHRONICLE_BOOTSTRAP_KEY)`;

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

export async function keysCommand(config: Config, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'generate') {
    console.log(generateApiKey().key);
    return 0;
  }
  let create: { role: (typeof KEY_ROLES)[number]; name: string } | undefined;
  if (sub === 'create') {
    const given = flags(rest);
    if (!given || Object.keys(given).some((f) => f !== 'role' && f !== 'name')) return usage('keys create --role <role> --name <name>');
    const { role, name } = given;
    if (!isKeyRole(role)) return usage(`--role must be one of ${KEY_ROLES.join(', ')}`);
    if (name === undefined || name.length === 0 || name.length > KEY_NAME_LENGTH_MAX || /[\x00-\x1f\x7f]/.test(name)) {
      return usage(`--name is required: 1 to ${KEY_NAME_LENGTH_MAX} printable characters`);
    }
    create = { role, name };
  } else if (sub === 'revoke') {
    if (rest.length !== 1 || !/^[0-9a-f]{16}$/.test(rest[0]!)) return usage('keys revoke <id> (16 hex digits, from keys list)');
  } else if (sub !== 'list' || rest.length > 0) {
    return usage('keys create | list | revoke <id> | generate');
  }

  const target: StoreTarget = config.databaseUrl === undefined
    ? { kind: 'pglite', dataDir: config.dataDir }
    : { kind: 'postgres', url: config.databaseUrl, poolMax: 2 };
  // PGlite is one process's database: refused (with the holder's pid) while a server runs on it.
  const release = target.kind === 'pglite' ? acquireDataDirLock(config.dataDir) : () => {};
  try {
    const store = await openEventStore(target); // migrates: the table exists even before a first start
    try {
      const keys = new ApiKeys(new SqlApiKeyStore(store.sql));
      if (create) {
        const { info, key } = await keys.create({ ...create, createdBy: `cli:${userInfo().username}` });
        console.error('The key is shown this once; only its hash is stored. Send it as: Authorization: Bearer <key>');
        console.log(JSON.stringify({ ...info, key }, null, 2));
        return 0;
      }
      if (sub === 'list') {
        console.log(JSON.stringify({ keys: await keys.list() }, null, 2));
        return 0;
      }
      const revoked = await keys.revoke(rest[0]!);
      if (!revoked) {
        console.error(`chronicle: no API key ${rest[0]}`);
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
