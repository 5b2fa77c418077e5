// chronicle verify: recompute every chain, every leaf and every signed root from the events, with nothing but
// the public key trusted; with a checkpoint saved earlier, prove the log only grew since. Names every event
// that breaks. Exit 0: verified; 1: findings; 2: usage.
//
//   chronicle verify [--url <ledger API>] [--api-key <key>] [--public-key <file or base64>]
//                    [--since <saved checkpoint.json>] [--save <checkpoint.json>] [--json]
//
// Without --url it reads the database (DATABASE_URL, or the embedded data directory while no ledger runs on
// it): a live store or a restored dump. A verifier creates nothing: no store where there is none (it refuses
// a missing or empty ledger), and no key: it trusts --public-key, else the public keys the store records
// (signing_keys), else the API's /audit/public-key, and says which. It never reads a private key.
// Runtime failures are one line saying what to do (exit 2), never a stack trace.
import { readFile, writeFile } from 'node:fs/promises';
import { HttpStatusError, httpVerifySource } from '../adapters/audit/http-verify-source.js';
import { readSigningKeys } from '../adapters/audit/sql-merkle-log.js';
import { sqlVerifySource } from '../adapters/audit/verify-sources.js';
import { isEd25519PublicKey, keyIdOfPublicKey, signatureVerifier } from '../adapters/audit/signing-key.js';
import { openSqlClient } from '../adapters/event-store/open-store.js';
import type { SqlClient } from '../adapters/event-store/sql/sql-client.js';
import { migrate } from '../adapters/event-store/sql/migrate.js';
import { sha256 } from '../adapters/event-store/sql/sql-event-store.js';
import { verifyLog } from '../application/verify-log.js';
import { checkpointSignatureValid, type SignatureVerifier, type SignedCheckpoint } from '../domain/audit/checkpoint.js';
import { fromHex } from '../domain/audit/hash.js';
import { verifyConsistency } from '../domain/audit/merkle.js';
import type { Finding, VerifyReport } from '../domain/audit/verify.js';
import type { Config } from '../config.js';
import { describeFailure } from './failures.js';
import { acquireDataDirLock, DataDirLockedError, hasEmbeddedStore, noEmbeddedStoreMessage } from './data-dir-lock.js';

const FLAGS = ['--url', '--api-key', '--public-key', '--since', '--save'] as const;
type Flag = (typeof FLAGS)[number];

export const VERIFY_USAGE = `chronicle verify [--url <ledger API>] [--api-key <key>] [--public-key <file or base64>]
                 [--since <saved checkpoint.json>] [--save <checkpoint.json>] [--json]`;

function parse(args: string[]): { flags: Partial<Record<Flag, string>>; json: boolean } | null {
  const flags: Partial<Record<Flag, string>> = {};
  let json = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--json') json = true;
    else if ((FLAGS as readonly string[]).includes(arg) && args[i + 1] !== undefined) flags[arg as Flag] = args[++i]!;
    else return null;
  }
  return { flags, json };
}

/** A refusal said in one line (exit 2): what is wrong and what to do. */
class VerifyRefusal extends Error {
  override readonly name = 'VerifyRefusal';
}

const parseCheckpoint = (text: string, from: string): SignedCheckpoint => {
  let raw: Record<string, unknown> = {};
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch { /* refused below */ }
  const { treeSize, rootHash, issuedAt, keyId, signature } = raw ?? {};
  if (typeof treeSize !== 'number' || typeof rootHash !== 'string' || typeof issuedAt !== 'string' || typeof keyId !== 'string' || typeof signature !== 'string') {
    throw new VerifyRefusal(`--since ${from} is not a saved checkpoint (JSON with treeSize, rootHash, issuedAt, keyId, signature, as --save writes)`);
  }
  return { treeSize, rootHash, issuedAt, keyId, signature };
};

/** A file a flag names; a missing one is refused by name. */
async function flagFile(flag: Flag, path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'EACCES') {
      throw new VerifyRefusal(`${flag} ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a directory, not a file' : 'not readable'} (${what})`);
    }
    throw error;
  }
}

/** The keys verify trusts, where they came from, and a verifier that accepts a signature by any of them. */
interface Trusted {
  keyIds: string[];
  verify: SignatureVerifier;
}

function trust(publicKeys: string[]): Trusted {
  const verifiers = publicKeys.map((k) => signatureVerifier(k));
  return { keyIds: publicKeys.map((k) => keyIdOfPublicKey(k)), verify: (message, signature) => verifiers.some((v) => v(message, signature)) };
}

/** A database URL without its password, for messages. */
function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'DATABASE_URL';
  }
}

/** The one line a runtime failure becomes. */
function explain(error: unknown, config: Config, flags: Partial<Record<Flag, string>>): string {
  if (error instanceof VerifyRefusal) return error.message;
  if (error instanceof DataDirLockedError) {
    return `the ledger is running on ${error.dataDir} (process ${error.pid}): verify it through its API: ` +
      `chronicle verify --url ${error.url ?? `http://localhost:${config.port}`} --api-key <auditor key> (its PORT; an admin makes an auditor key with POST /keys)`;
  }
  const auditorKey = 'pass --api-key with an auditor key: chronicle keys create --role auditor --name <name> (or POST /keys with an admin key)';
  if (error instanceof HttpStatusError) {
    if (error.status === 401) return `the ledger API at ${flags['--url']} wants an API key (401 on GET ${error.path}${flags['--api-key'] ? ': the key given is unknown or revoked' : ''}): ${auditorKey}`;
    if (error.status === 403) return `the API key may not read the audit log (403 on GET ${error.path}): ${auditorKey}`;
    return `the ledger API at ${flags['--url']} answered ${error.status} to GET ${error.path}: is --url the ledger API (not the dashboard)?`;
  }
  const e = error as { message?: string; code?: string; cause?: { code?: string; message?: string }; errors?: { code?: string }[] };
  const code = e.cause?.code ?? e.code ?? e.errors?.[0]?.code;
  if (flags['--url'] && error instanceof TypeError && e.message === 'fetch failed') {
    return `cannot reach the ledger API at ${flags['--url']} (${code ?? e.cause?.message ?? 'no answer'}): is it running, and is --url its address?`;
  }
  // The database's own failures (refused, missing, login) are worded as for every other command.
  return describeFailure(error, config);
}

/** Opens the ledger's database without creating one; a VerifyRefusal when there is no ledger there. */
async function openLedgerDatabase(config: Config): Promise<{ db: SqlClient; where: string; release: () => void }> {
  let release = () => {};
  let where: string;
  let db: SqlClient;
  if (config.databaseUrl === undefined) {
    where = config.dataDir;
    // PGlite keeps a PostgreSQL data directory: no PG_VERSION, no store (and none is made here).
    if (!hasEmbeddedStore(config.dataDir)) throw new VerifyRefusal(`${noEmbeddedStoreMessage(config.dataDir)}; or verify over HTTP with --url <ledger API>`);
    release = acquireDataDirLock(config.dataDir);
    try {
      db = await openSqlClient({ kind: 'pglite', dataDir: config.dataDir });
    } catch (error) {
      release();
      throw error;
    }
  } else {
    where = shownUrl(config.databaseUrl);
    db = await openSqlClient({ kind: 'postgres', url: config.databaseUrl, poolMax: 2 }, 'chronicle-verify');
  }
  try {
    const [found] = await db.query<{ present: boolean }>(`SELECT to_regclass('events') IS NOT NULL AS present`);
    if (!found?.present) {
      throw new VerifyRefusal(`no ledger in ${where}: it has no events table. Set ${config.databaseUrl === undefined ? 'CHRONICLE_DATA_DIR' : 'DATABASE_URL'} ` +
        'to the ledger\'s, or --url <ledger API>');
    }
    await migrate(db); // a dump from an older version has no Merkle tables or recorded keys yet
  } catch (error) {
    await db.close();
    release();
    throw error;
  }
  return { db, where, release };
}

export async function verifyCommand(
  config: Config, args: string[], out: (line: string) => void, err: (line: string) => void = (line) => console.error(line),
): Promise<number> {
  const parsed = parse(args);
  if (!parsed) {
    err(`usage: ${VERIFY_USAGE}`);
    return 2;
  }
  try {
    return await run(config, parsed.flags, parsed.json, out, err);
  } catch (error) {
    err(`chronicle verify: ${explain(error, config, parsed.flags)}`);
    if (config.logLevel === 'debug' || config.logLevel === 'trace') err(String((error as Error)?.stack ?? error));
    return 2;
  }
}

async function run(config: Config, flags: Partial<Record<Flag, string>>, json: boolean, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  const headers: Record<string, string> = flags['--api-key'] ? { authorization: `Bearer ${flags['--api-key']}` } : {};

  // A sceptic brings their own copy of the key; it is checked before anything is read.
  let given: string | undefined;
  if (flags['--public-key']) {
    const flag = flags['--public-key'];
    given = /^[A-Za-z0-9+/]{43}=$/.test(flag) ? flag : (await flagFile('--public-key', flag, 'the ledger\'s public key: base64 or PEM, as GET /audit/public-key gives')).trim();
    // A key that is neither 32 raw bytes in base64 nor an Ed25519 PEM would make every signature "invalid":
    // say what is wrong with the key instead (an empty file from a failed download, a private key, ...).
    if (!isEd25519PublicKey(given)) {
      err(`chronicle verify: the public key in ${flag} is not an Ed25519 public key ` +
        '(32 bytes in base64, as GET /audit/public-key gives in publicKey, or its PEM)');
      return 2;
    }
  }
  const saved = flags['--since']
    ? parseCheckpoint(await flagFile('--since', flags['--since'], 'the checkpoint.json a previous chronicle verify --save wrote'), flags['--since'])
    : undefined;

  let report: VerifyReport;
  let trusted: Trusted;
  let where: string;
  const extra: Finding[] = [];
  if (flags['--url']) {
    where = flags['--url'];
    if (given === undefined) {
      const response = await fetch(new URL('/audit/public-key', flags['--url']), { headers });
      if (!response.ok) throw new HttpStatusError('/audit/public-key', response.status, await response.text());
      const publicKey = ((await response.json()) as { publicKey: string }).publicKey;
      trusted = trust([publicKey]);
      out(`note: trusting key ${trusted.keyIds[0]}, fetched from the ledger being verified (GET /audit/public-key); pass --public-key with your own copy to trust nothing it says`);
    } else {
      trusted = trust([given]);
      out(`note: trusting key ${trusted.keyIds[0]}, from --public-key`);
    }
    report = await verifyLog(httpVerifySource(flags['--url'], headers), sha256, trusted.verify, saved);
    if (saved && report.latest && saved.treeSize <= report.latest.treeSize) {
      // The standard light-client check besides the full recomputation: the ledger's own consistency proof.
      const response = await fetch(new URL(`/audit/consistency?from=${saved.treeSize}&to=${report.latest.treeSize}`, flags['--url']), { headers });
      const body = (await response.json()) as { proof?: string[] };
      const ok = response.ok && Array.isArray(body.proof) && verifyConsistency(sha256, saved.treeSize, report.latest.treeSize,
        fromHex(saved.rootHash), fromHex(report.latest.rootHash), body.proof.map((h) => fromHex(h)));
      if (!ok) extra.push({ kind: 'saved_checkpoint_mismatch', treeSize: saved.treeSize, message: `the ledger's consistency proof from your saved size ${saved.treeSize} to ${report.latest.treeSize} does not verify` });
    }
  } else {
    const opened = await openLedgerDatabase(config);
    where = opened.where;
    try {
      if (given === undefined) {
        // The public halves the ledger recorded when it first signed with each key: never a private key.
        const keys = await readSigningKeys(opened.db);
        if (keys.length === 0) {
          const [signed] = await opened.db.query<{ n: string }>('SELECT count(*)::text AS n FROM merkle_checkpoints');
          if (Number(signed?.n ?? 0) > 0) {
            throw new VerifyRefusal(`${where} records no signing key (a ledger from before keys were recorded, not started since): ` +
              'pass --public-key with the ledger\'s public key (GET /audit/public-key)');
          }
          out('note: no checkpoint is signed yet and no signing key recorded: checking chains and leaves only');
        } else {
          out(`note: trusting key${keys.length > 1 ? 's' : ''} ${keys.map((k) => `${k.keyId} (recorded ${k.recordedAt})`).join(', ')} ` +
            `from the store's record of its signing keys; pass --public-key with your own copy to trust nothing the store holds`);
        }
        trusted = trust(keys.map((k) => k.publicKey));
      } else {
        trusted = trust([given]);
        out(`note: trusting key ${trusted.keyIds[0]}, from --public-key`);
      }
      report = await verifyLog(sqlVerifySource(opened.db), sha256, trusted.verify, saved);
    } finally {
      await opened.db.close();
      opened.release();
    }
  }
  // Nothing to verify is not a verified ledger: most likely the wrong directory, database or URL.
  if (report.events === 0 && report.leaves === 0 && report.checkpoints === 0) {
    throw new VerifyRefusal(`the ledger at ${where} holds no events: nothing to verify. Is that the ledger's ` +
      `${flags['--url'] ? 'API' : config.databaseUrl === undefined ? 'data directory (CHRONICLE_DATA_DIR)' : 'database (DATABASE_URL)'}?`);
  }
  for (const cp of [...(report.latest ? [report.latest] : []), ...(saved ? [saved] : [])]) {
    if (!trusted.keyIds.includes(cp.keyId)) {
      extra.push({ kind: 'checkpoint_signature_invalid', treeSize: cp.treeSize, message: `checkpoint of size ${cp.treeSize} names key ${cp.keyId}, not ${trusted.keyIds.join(' or ') || 'a recorded key'}` });
    }
  }
  if (saved && !checkpointSignatureValid(saved, trusted.verify)) out('warning: your saved checkpoint is not signed by this key');
  const findings = [...report.findings, ...extra];
  const ok = report.ok && extra.length === 0;
  const keyId = trusted.keyIds.at(-1) ?? null;

  if (json) {
    out(JSON.stringify({ ...report, ok, findings, keyId, keyIds: trusted.keyIds }, null, 2));
  } else {
    out(`events ${report.events} in ${report.streams} streams; leaves ${report.leaves}; unsealed ${report.unsealed}; checkpoints ${report.checkpoints}; key ${trusted.keyIds.join(', ') || 'none'}`);
    if (report.latest) out(`latest checkpoint: size ${report.latest.treeSize}, root ${report.latest.rootHash}, issued ${report.latest.issuedAt}`);
    if (saved) out(`saved checkpoint: size ${saved.treeSize}, root ${saved.rootHash} (${saved.issuedAt})`);
    for (const f of findings) out(`${f.kind === 'unchained' ? 'NOTE' : 'FAIL'} ${f.kind}: ${f.message}`);
    out(ok
      ? `OK: every chain, leaf and signed root checks out${saved ? `; the log only grew since your checkpoint of size ${saved.treeSize}` : ''}`
      : `FAILED: ${findings.filter((f) => f.kind !== 'unchained').length} findings`);
  }
  if (ok && flags['--save'] && report.latest) {
    await writeFile(flags['--save'], `${JSON.stringify(report.latest, null, 2)}\n`);
    out(`saved the latest checkpoint to ${flags['--save']}: keep it (and the public key) somewhere the ledger's operators cannot write`);
  }
  return ok ? 0 : 1;
}
