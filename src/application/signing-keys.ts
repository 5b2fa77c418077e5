// Which key signs a ledger's checkpoints, as its store records it (migration 8, signing_keys): the first key
// that signs is recorded; a different key is refused unless the rotation is explicit. Both the CLI (when it
// picks the key at start-up: src/cli/signing-key-choice.ts) and the sealer (before it signs: sealer.ts) ask
// here, so a process holding another key never signs quietly, whatever directory it was started from.
import type { CheckpointSigner, RecordedSigningKey, SigningKeyRegistry } from '../ports/merkle-log.js';

/** The ledger's current key: the latest recorded one, or the key its latest checkpoint names (a store from before keys were recorded: `recorded` null). */
export interface LedgerKey {
  keyId: string;
  recorded: RecordedSigningKey | null;
}

/** Another key than the ledger's, or a retired one, offered to sign. */
export class SigningKeyMismatchError extends Error {
  override readonly name = 'SigningKeyMismatchError';
  constructor(readonly offered: string, readonly ledgerKey: LedgerKey, readonly retired: boolean) {
    super(retired
      ? `key ${offered} was this ledger's signing key before key ${ledgerKey.keyId} replaced it: a retired key does not sign again`
      : `key ${offered} is not this ledger's signing key: its checkpoints are signed with key ${ledgerKey.keyId}` +
        `${ledgerKey.recorded ? ` (recorded ${ledgerKey.recorded.recordedAt})` : ' (named by its latest checkpoint)'}`);
  }
}

/** Every recorded key, and the ledger's current one (null: the ledger never signed). */
export async function ledgerSigningKey(registry: SigningKeyRegistry): Promise<{ keys: RecordedSigningKey[]; current: LedgerKey | null }> {
  const keys = await registry.signingKeys();
  const last = keys.at(-1);
  if (last) return { keys, current: { keyId: last.keyId, recorded: last } };
  const checkpoint = await registry.latestCheckpoint();
  return { keys, current: checkpoint ? { keyId: checkpoint.keyId, recorded: null } : null };
}

/**
 * Makes `signer` the key that signs, or refuses: 'current' when it is already; 'recorded' when it is the
 * ledger's first key (or the key a store from before keys were recorded signed with); 'rotated' when `rotate`
 * made it the next key. Throws SigningKeyMismatchError for any other key. Safe against processes racing.
 */
export async function adoptSigningKey(
  registry: SigningKeyRegistry, signer: Pick<CheckpointSigner, 'keyId' | 'publicKey'>, options: { rotate?: boolean } = {},
): Promise<'current' | 'recorded' | 'rotated'> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const { keys, current } = await ledgerSigningKey(registry);
    if (current?.keyId === signer.keyId && current.recorded) return 'current';
    if (current === null || current.keyId === signer.keyId) {
      if (await registry.recordSigningKey(1, signer)) return 'recorded';
      continue; // another process recorded a first key meanwhile: see which
    }
    const retired = keys.some((k) => k.keyId === signer.keyId);
    if (!options.rotate || retired) throw new SigningKeyMismatchError(signer.keyId, current, retired);
    if (await registry.recordSigningKey((keys.at(-1)?.seq ?? 0) + 1, signer)) return 'rotated';
  }
  throw new Error('the recorded signing keys kept changing while this process tried to record its own');
}
