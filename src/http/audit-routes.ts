// The audit API: what a sceptic needs to check the ledger without trusting it (docs/audit.md). The signed
// checkpoint (size, root, time), an RFC 9162 inclusion proof for any event against any signed size (with the
// event's canonical encoding, so the leaf hash can be recomputed from it), a consistency proof between two
// sizes (the log only grew), the checkpoints in order, and the public key they verify with.
import type { FastifyInstance } from 'fastify';
import type { Sealer } from '../application/sealer.js';
import { logEntry } from '../domain/audit/canonical.js';
import { CHECKPOINT_FORMAT, checkpointMessage, type SignedCheckpoint } from '../domain/audit/checkpoint.js';
import { AUDIT_CHECKPOINTS_PAGE_DEFAULT, AUDIT_CHECKPOINTS_PAGE_MAX } from '../domain/limits.js';
import type { EventStore } from '../ports/event-store.js';
import type { CheckpointSigner, MerkleLog } from '../ports/merkle-log.js';
import { ApiError, ERROR_SCHEMA } from './errors.js';

export interface AuditRouteDeps {
  store: EventStore;
  log: MerkleLog;
  signer: Pick<CheckpointSigner, 'keyId' | 'publicKey' | 'publicKeyPem'>;
  /** This process's sealer, when it runs one (for status); proofs are answered from storage either way. */
  sealer?: Sealer | null;
}

const errors = { '4xx': ERROR_SCHEMA, '5xx': ERROR_SCHEMA };
const HEX64 = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const;
const SIZE = { type: 'string', pattern: '^[0-9]{1,15}$' } as const;

const CHECKPOINT = {
  type: 'object',
  properties: {
    format: { type: 'string' }, treeSize: { type: 'integer' }, rootHash: { type: 'string' }, issuedAt: { type: 'string' },
    keyId: { type: 'string' }, signature: { type: 'string', description: 'Ed25519 over signedMessage, base64' },
    signedMessage: { type: 'string', description: 'The exact signed text: format, size, root, time, one per line' },
  },
} as const;

const present = (cp: SignedCheckpoint) => ({
  format: CHECKPOINT_FORMAT, ...cp, signedMessage: new TextDecoder().decode(checkpointMessage(cp)),
});

function parseSize(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new ApiError('validation_failed', `${name} must be an integer`, [{ path: `/${name}`, message: 'not a safe integer' }]);
  return value;
}

export async function auditRoutes(app: FastifyInstance, deps: AuditRouteDeps): Promise<void> {
  const latest = async (): Promise<SignedCheckpoint> => {
    const checkpoint = await deps.log.latestCheckpoint();
    if (!checkpoint) throw new ApiError('checkpoint_not_found', 'no checkpoint has been signed yet: the sealer signs one within a second of the first event');
    return checkpoint;
  };
  /** The checkpoint a proof is for: the given size's, or the latest. Proofs are only served for signed sizes. */
  const signedAt = async (treeSize: number | undefined): Promise<SignedCheckpoint> => {
    if (treeSize === undefined) return latest();
    const checkpoint = await deps.log.checkpointAt(treeSize);
    if (!checkpoint) throw new ApiError('checkpoint_not_found', `no checkpoint was signed at tree size ${treeSize} (GET /audit/checkpoints lists them)`);
    return checkpoint;
  };

  // The public key is public: a sceptic must be able to fetch it (and compare it with their own copy) with
  // no key at all. Everything else is the auditor's.
  app.get('/audit/public-key', {
    config: { access: 'public' },
    schema: {
      operationId: 'getPublicKey', summary: 'The Ed25519 public key every checkpoint verifies with. Keep a copy beside your saved checkpoints.', tags: ['audit'],
      response: { 200: { type: 'object', properties: { algorithm: { type: 'string' }, keyId: { type: 'string' }, publicKey: { type: 'string' }, publicKeyPem: { type: 'string' } } }, 400: ERROR_SCHEMA },
    },
  }, async () => ({ algorithm: 'Ed25519', keyId: deps.signer.keyId, publicKey: deps.signer.publicKey, publicKeyPem: deps.signer.publicKeyPem }));

  app.get('/audit/checkpoint', {
    config: { access: 'auditor' },
    schema: { operationId: 'getLatestCheckpoint', summary: 'The latest signed checkpoint of the Merkle log: tree size, root hash, time, signature.', tags: ['audit'], response: { 200: CHECKPOINT, ...errors } },
  }, async (_request, reply) => {
    reply.header('cache-control', 'no-store');
    return present(await latest());
  });

  app.get<{ Querystring: { after?: string; limit?: string } }>('/audit/checkpoints', {
    config: { access: 'auditor' },
    schema: {
      operationId: 'listCheckpoints', summary: 'Signed checkpoints in tree-size order, after a size.', tags: ['audit'],
      querystring: { type: 'object', additionalProperties: false, properties: { after: SIZE, limit: { type: 'string', pattern: '^[0-9]{1,4}$' } } },
      response: { 200: { type: 'object', properties: { checkpoints: { type: 'array', items: CHECKPOINT }, next: { type: ['integer', 'null'] } } }, ...errors },
    },
  }, async (request) => {
    const limit = Math.min(Math.max(parseSize(request.query.limit, 'limit') ?? AUDIT_CHECKPOINTS_PAGE_DEFAULT, 1), AUDIT_CHECKPOINTS_PAGE_MAX);
    const list = await deps.log.checkpoints(parseSize(request.query.after, 'after') ?? 0, limit);
    return { checkpoints: list.map(present), next: list.length === limit ? list.at(-1)!.treeSize : null };
  });

  app.get<{ Params: { eventId: string }; Querystring: { treeSize?: string } }>('/audit/events/:eventId/proof', {
    config: { access: 'auditor' },
    schema: {
      operationId: 'getInclusionProof', summary: 'RFC 9162 inclusion proof of an event in a signed tree size (default: the latest checkpoint), with the event\'s canonical encoding.',
      tags: ['audit'],
      params: { type: 'object', properties: { eventId: { type: 'string', pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' } }, required: ['eventId'] },
      querystring: { type: 'object', additionalProperties: false, properties: { treeSize: SIZE } },
      response: {
        200: {
          type: 'object',
          properties: {
            eventId: { type: 'string' }, globalPosition: { type: 'integer' }, leafIndex: { type: 'integer' }, treeSize: { type: 'integer' },
            entry: { type: 'string', description: 'The event\'s chronicle-event-v1 encoding (UTF-8 JSON); leafHash = SHA-256(0x00 || entry)' },
            leafHash: HEX64, proof: { type: 'array', items: HEX64 }, checkpoint: CHECKPOINT,
          },
        },
        ...errors,
      },
    },
  }, async (request) => {
    const eventId = request.params.eventId.toLowerCase();
    const leaf = await deps.log.leafOf(eventId);
    if (!leaf) throw new ApiError('event_not_sealed', `event ${eventId} is not in the Merkle log yet (or is not an event of this ledger): sealing follows commits within about a second`);
    const checkpoint = await signedAt(parseSize(request.query.treeSize, 'treeSize'));
    if (leaf.leafIndex >= checkpoint.treeSize) {
      throw new ApiError('event_not_sealed', `event ${eventId} is leaf ${leaf.leafIndex}, after the checkpoint of size ${checkpoint.treeSize}: ask again after the next checkpoint`,
        { leafIndex: leaf.leafIndex, treeSize: checkpoint.treeSize });
    }
    const event = await deps.store.readEventAt(leaf.globalPosition);
    if (!event || event.eventId !== eventId) throw new Error(`leaf ${leaf.leafIndex} names event ${eventId} at position ${leaf.globalPosition}, which the store does not hold: run chronicle verify`);
    return {
      eventId, globalPosition: leaf.globalPosition, leafIndex: leaf.leafIndex, treeSize: checkpoint.treeSize,
      entry: new TextDecoder().decode(logEntry(event)), leafHash: leaf.leafHash,
      proof: await deps.log.inclusionProof(leaf.leafIndex, checkpoint.treeSize), checkpoint: present(checkpoint),
    };
  });

  app.get<{ Querystring: { from: string; to?: string } }>('/audit/consistency', {
    config: { access: 'auditor' },
    schema: {
      operationId: 'getConsistencyProof', summary: 'RFC 9162 consistency proof that the signed tree of size `from` is a prefix of the signed tree of size `to` (default: the latest).',
      tags: ['audit'],
      querystring: { type: 'object', additionalProperties: false, required: ['from'], properties: { from: SIZE, to: SIZE } },
      response: {
        200: { type: 'object', properties: { from: CHECKPOINT, to: CHECKPOINT, proof: { type: 'array', items: HEX64 } } },
        ...errors,
      },
    },
  }, async (request) => {
    const to = await signedAt(parseSize(request.query.to, 'to'));
    const from = await signedAt(parseSize(request.query.from, 'from'));
    if (from.treeSize > to.treeSize) {
      throw new ApiError('validation_failed', `from (${from.treeSize}) is larger than to (${to.treeSize}): a log only grows`, [{ path: '/from', message: 'larger than to' }]);
    }
    return { from: present(from), to: present(to), proof: await deps.log.consistencyProof(from.treeSize, to.treeSize) };
  });
}
