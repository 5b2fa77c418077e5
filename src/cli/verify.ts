// chronicle verify: recompute every chain, every leaf and every signed root from the events, with nothing but
// the public key trusted; with a checkpoint saved earlier, prove the log only grew since. Names every event
// that breaks. Exit 0: verified; 1: findings; 2: usage.
//
//   chronicle verify [--url <ledger API>] [--api-key <key>] [--public-key <file or base64>]
//                    [--since <saved checkpoint.json>] [--save <checkpoint.json>] [--json]
//
// Without --url it reads the database (DATABASE_URL, or the embedded data directory while no ledger runs on
// it): a live store or a restored dump.
import { readFile, writeFile } from 'node:fs/promises';
import { httpVerifySource } from '../adapters/audit/http-verify-source.js';
import { sqlVerifySource } from '../adapters/audit/verify-sources.js';
import { isEd25519PublicKey, keyIdOfPublicKey, loadSigner, signatureVerifier } from '../adapters/audit/signing-key.js';
import { openSqlClient } from '../adapters/event-store/open-store.js';
import { migrate } from '../adapters/event-store/sql/migrate.js';
import { sha256 } from '../adapters/event-store/sql/sql-event-store.js';
import { verifyLog } from '../application/verify-log.js';
import { checkpointSignatureValid, type SignedCheckpoint } from '../domain/audit/checkpoint.js';
import { fromHex } from '../domain/audit/hash.js';
import { verifyConsistency } from '../domain/audit/merkle.js';
import type { Finding, VerifyReport } from '../domain/audit/verify.js';
import type { Config } from '../config.js';
import { acquireDataDirLock } from './data-dir-lock.js';

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

const parseCheckpoint = (text: string, from: string): SignedCheckpoint => {
  const raw = JSON.parse(text) as Record<string, unknown>;
  const { treeSize, rootHash, issuedAt, keyId, signature } = raw;
  if (typeof treeSize !== 'number' || typeof rootHash !== 'string' || typeof issuedAt !== 'string' || typeof keyId !== 'string' || typeof signature !== 'string') {
    throw new Error(`${from} is not a checkpoint (treeSize, rootHash, issuedAt, keyId, signature)`);
  }
  return { treeSize, rootHash, issuedAt, keyId, signature };
};

export async function verifyCommand(config: Config, args: string[], out: (line: string) => void): Promise<number> {
  const parsed = parse(args);
  if (!parsed) {
    console.error(`usage: ${VERIFY_USAGE}`);
    return 2;
  }
  const { flags, json } = parsed;
  const headers: Record<string, string> = flags['--api-key'] ? { authorization: `Bearer ${flags['--api-key']}` } : {};

  // The key to trust. A sceptic brings their own copy; otherwise say plainly whose word is taken.
  let publicKey: string;
  if (flags['--public-key']) {
    const given = flags['--public-key'];
    publicKey = /^[A-Za-z0-9+/]{43}=$/.test(given) ? given : (await readFile(given, 'utf8')).trim();
  } else if (flags['--url']) {
    const response = await fetch(new URL('/audit/public-key', flags['--url']), { headers });
    if (!response.ok) throw new Error(`GET /audit/public-key: ${response.status}`);
    publicKey = ((await response.json()) as { publicKey: string }).publicKey;
    out('note: the public key was fetched from the ledger being verified; pass --public-key with your own copy to trust nothing it says');
  } else {
    const { signer, source } = await loadSigner({ pem: config.signingKeyPem, file: config.signingKeyFile, dataDir: config.dataDir });
    publicKey = signer.publicKey;
    out(`note: using the ledger's own signing key (${source}); pass --public-key with your own copy to trust nothing it holds`);
  }
  // A key that is neither 32 raw bytes in base64 nor an Ed25519 PEM would make every signature "invalid":
  // say what is wrong with the key instead (an empty file from a failed download, a private key, ...).
  if (!isEd25519PublicKey(publicKey)) {
    console.error(`chronicle verify: the public key${flags['--public-key'] ? ` in ${flags['--public-key']}` : ''} is not an Ed25519 public key ` +
      '(32 bytes in base64, as GET /audit/public-key gives in publicKey, or its PEM)');
    return 2;
  }
  const keyId = keyIdOfPublicKey(publicKey);
  const verify = signatureVerifier(publicKey);
  const saved = flags['--since'] ? parseCheckpoint(await readFile(flags['--since'], 'utf8'), flags['--since']) : undefined;

  let report: VerifyReport;
  const extra: Finding[] = [];
  if (flags['--url']) {
    report = await verifyLog(httpVerifySource(flags['--url'], headers), sha256, verify, saved);
    if (saved && report.latest && saved.treeSize <= report.latest.treeSize) {
      // The standard light-client check besides the full recomputation: the ledger's own consistency proof.
      const response = await fetch(new URL(`/audit/consistency?from=${saved.treeSize}&to=${report.latest.treeSize}`, flags['--url']), { headers });
      const body = (await response.json()) as { proof?: string[] };
      const ok = response.ok && Array.isArray(body.proof) && verifyConsistency(sha256, saved.treeSize, report.latest.treeSize,
        fromHex(saved.rootHash), fromHex(report.latest.rootHash), body.proof.map((h) => fromHex(h)));
      if (!ok) extra.push({ kind: 'saved_checkpoint_mismatch', treeSize: saved.treeSize, message: `the ledger's consistency proof from your saved size ${saved.treeSize} to ${report.latest.treeSize} does not verify` });
    }
  } else {
    const release = config.databaseUrl === undefined ? acquireDataDirLock(config.dataDir) : () => {};
    const db = await openSqlClient(config.databaseUrl === undefined ? { kind: 'pglite', dataDir: config.dataDir } : { kind: 'postgres', url: config.databaseUrl, poolMax: 2 });
    try {
      await migrate(db); // a dump from an older version has no Merkle tables yet
      report = await verifyLog(sqlVerifySource(db), sha256, verify, saved);
    } finally {
      await db.close();
      release();
    }
  }
  for (const cp of [...(report.latest ? [report.latest] : []), ...(saved ? [saved] : [])]) {
    if (cp.keyId !== keyId) extra.push({ kind: 'checkpoint_signature_invalid', treeSize: cp.treeSize, message: `checkpoint of size ${cp.treeSize} names key ${cp.keyId}, not ${keyId}` });
  }
  if (saved && !checkpointSignatureValid(saved, verify)) out('warning: your saved checkpoint is not signed by this key');
  const findings = [...report.findings, ...extra];
  const ok = report.ok && extra.length === 0;

  if (json) {
    out(JSON.stringify({ ...report, ok, findings, keyId }, null, 2));
  } else {
    out(`events ${report.events} in ${report.streams} streams; leaves ${report.leaves}; unsealed ${report.unsealed}; checkpoints ${report.checkpoints}; key ${keyId}`);
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
