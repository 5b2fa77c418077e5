// Which Ed25519 key a ledger API process signs checkpoints with (README "Audit", "Which key signs"). The
// store records the public half of every key that signs (signing_keys); the private key comes from, first
// match wins:
//   CHRONICLE_SIGNING_KEY / CHRONICLE_SIGNING_KEY_FILE   explicit; must be the recorded key, or the ledger's
//                         first, or CHRONICLE_SIGNING_KEY_ROTATE=on makes it the next one;
//   embedded store        <data dir>/signing-key.pem, next to the data it signs; generated only when the
//                         store never signed;
//   DATABASE_URL          <data dir>/signing-keys/<keyId>.pem, named for the key that database records, so a
//                         PostgreSQL ledger never picks up the embedded store's key nor another database's;
//                         generated only when the database never signed (one signed before keys were
//                         recorded: <data dir>/signing-key.pem if its checkpoints name that key). Several processes started together
//                         on one machine converge on the first key recorded; on other machines, give them
//                         the file (CHRONICLE_SIGNING_KEY_FILE).
// Anything else is refused at start with what to do, before the process serves or seals.
import { join } from 'node:path';
import { unlink } from 'node:fs/promises';
import { readSignerFile, signerFromPem, writeNewSignerFile, writeNewSignerFileIn } from '../adapters/audit/signing-key.js';
import { adoptSigningKey, ledgerSigningKey, SigningKeyMismatchError } from '../application/signing-keys.js';
import { ConfigError, type Config } from '../config.js';
import type { CheckpointSigner, SigningKeyRegistry } from '../ports/merkle-log.js';

export interface SigningKeyChoice {
  signer: CheckpointSigner;
  /** Where the private key came from, for the start-up log. */
  source: string;
  /** What happened to it in the store: already the ledger's, recorded as its first, or rotated to. */
  outcome: 'current' | 'recorded' | 'rotated';
}

type KeyConfig = Pick<Config, 'signingKeyPem' | 'signingKeyFile' | 'signingKeyRotate' | 'dataDir' | 'databaseUrl'>;

const ADVICE = 'give this process the ledger\'s key (CHRONICLE_SIGNING_KEY_FILE), or set CHRONICLE_SIGNING_KEY_ROTATE=on ' +
  'with CHRONICLE_SIGNING_KEY_FILE to make a new key the signing key from now on';

/** Picks, records and returns the key (the rule above); throws ConfigError with what to do when it may not sign. */
export async function chooseSigningKey(config: KeyConfig, registry: SigningKeyRegistry): Promise<SigningKeyChoice> {
  const explicit = await explicitKey(config);
  if (explicit) return adopt(registry, explicit.signer, explicit.source, config.signingKeyRotate);
  const { current } = await ledgerSigningKey(registry);
  if (config.databaseUrl === undefined) {
    const path = join(config.dataDir, 'signing-key.pem');
    const found = await readSignerFile(path);
    if (found) return adopt(registry, found, path, false);
    if (current) throw new ConfigError(`${path} is missing, and this ledger's checkpoints are signed with key ${current.keyId}: restore the file from your backup, or ${ADVICE}`);
    const made = (await writeNewSignerFile(path)) ?? (await readSignerFile(path))!;
    return adopt(registry, made, `${path} (generated)`, false);
  }
  const dir = join(config.dataDir, 'signing-keys');
  for (let attempt = 0; attempt < 2; attempt++) {
    const { current: now } = attempt === 0 ? { current } : await ledgerSigningKey(registry);
    if (now) {
      const path = join(dir, `${now.keyId}.pem`);
      const found = await readSignerFile(path);
      if (found) return adopt(registry, found, path, false);
      // A database signed before keys were recorded was signed with the data directory's one key: its
      // checkpoints prove which, so that file is taken only when it holds exactly that key.
      const legacyPath = join(config.dataDir, 'signing-key.pem');
      const legacy = now.recorded === null ? await readSignerFile(legacyPath) : null;
      if (legacy?.keyId === now.keyId) return adopt(registry, legacy, `${legacyPath} (the key this database's checkpoints name)`, false);
      throw new ConfigError(`this database's checkpoints are signed with key ${now.keyId}, whose private key is not at ${path}: ` +
        'set CHRONICLE_SIGNING_KEY_FILE to it (or CHRONICLE_DATA_DIR to the directory that holds signing-keys/)');
    }
    // A database that never signed: a new key, in a file named for it, recorded as this ledger's first. A
    // process that loses the race to record drops its file and takes the winner's (next round).
    const made = await writeNewSignerFileIn(dir);
    try {
      return await adopt(registry, made.signer, `${made.path} (generated)`, false);
    } catch (error) {
      await unlink(made.path).catch(() => {});
      if (!(error instanceof ConfigError)) throw error;
    }
  }
  throw new ConfigError('another process recorded a different signing key at the same time, and its file is not here: start again');
}

async function explicitKey(config: KeyConfig): Promise<{ signer: CheckpointSigner; source: string } | null> {
  try {
    if (config.signingKeyPem) return { signer: signerFromPem(config.signingKeyPem), source: 'CHRONICLE_SIGNING_KEY' };
    if (config.signingKeyFile) {
      const signer = await readSignerFile(config.signingKeyFile);
      if (!signer) throw new ConfigError(`CHRONICLE_SIGNING_KEY_FILE: ${config.signingKeyFile} does not exist`);
      return { signer, source: config.signingKeyFile };
    }
    return null;
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const name = config.signingKeyPem ? 'CHRONICLE_SIGNING_KEY' : `CHRONICLE_SIGNING_KEY_FILE (${config.signingKeyFile})`;
    throw new ConfigError(`${name} is not an Ed25519 private key in PKCS#8 PEM: ${(error as Error).message}`);
  }
}

async function adopt(registry: SigningKeyRegistry, signer: CheckpointSigner, source: string, rotate: boolean): Promise<SigningKeyChoice> {
  try {
    return { signer, source, outcome: await adoptSigningKey(registry, signer, { rotate }) };
  } catch (error) {
    if (!(error instanceof SigningKeyMismatchError)) throw error;
    throw new ConfigError(`the signing key from ${source}: ${error.message}: ${error.retired ? 'give this process the current key (CHRONICLE_SIGNING_KEY_FILE)' : ADVICE}`);
  }
}
