// The admin key a first start generates (no key stored, no CHRONICLE_BOOTSTRAP_KEY): kept in a file only its
// owner may read, and shown once in a banner printed after the "listening" lines, so neither a crash nor a
// scrolling log can lose it. `chronicle cluster up` keeps its own the same way (D/admin-key).
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where a data directory's generated admin key is kept. */
export const adminKeyFile = (dataDir: string): string => join(dataDir, 'admin-key');

/**
 * Writes `key` to `<dataDir>/admin-key` (mode 0600). One already there (another store once used this data
 * directory, say PGlite before PostgreSQL) is never overwritten: the key goes to admin-key-<id> instead.
 */
export function keepGeneratedKey(dataDir: string, key: string, id: string): { file: string } | { error: string } {
  const candidates = [adminKeyFile(dataDir), `${adminKeyFile(dataDir)}-${id}`];
  for (const file of candidates) {
    if (existsSync(file)) continue;
    try {
      writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
      chmodSync(file, 0o600); // whatever the umask
      return { file };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue;
      return { error: (error as Error).message };
    }
  }
  return { error: `${candidates.join(' and ')} exist already` };
}

/** The banner: the key, where it is kept, how to make more, and the dashboard link that signs in with it. */
export function generatedKeyBanner(key: string, kept: { file: string } | { error: string }, dashboardUrl?: string): string {
  // The key rides in the URL's fragment, which browsers never send to a server; the page moves it into its
  // session storage and drops it from the address bar.
  const dashboard = dashboardUrl === undefined ? '' : `
Open the dashboard signed in with it:

    ${dashboardUrl}/#key=${key}
`;
  const where = 'file' in kept
    ? `It is kept in ${kept.file} (readable by you only);\nonly its hash is in the database.`
    : `It could not be written to a file (${kept.error}):\nkeep it now; only its hash is in the database.`;
  return `
================================================================================
No API key existed, so ChronicleLedger generated an admin key:

    ${key}

${where}
Send it as "Authorization: Bearer <key>". Make keys for each role (another
admin key too) with POST /keys, or \`chronicle keys create --role <role>
--name <name>\`, which goes through this API while the ledger runs.
${dashboard}================================================================================

`;
}
