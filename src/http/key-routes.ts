// API key management (admin only): make a key (its plaintext is in the 201 and nowhere else, ever), list
// keys (never a hash or a key), revoke one. The CLI does the same against the database: `chronicle keys`.
import type { FastifyInstance } from 'fastify';
import type { ApiKeys } from '../application/api-keys.js';
import { KEY_NAME_LENGTH_MAX } from '../domain/limits.js';
import { KEY_ROLES, type KeyRole } from '../ports/api-key-store.js';
import { ApiError, ERROR_SCHEMA } from './errors.js';

const errors = { '4xx': ERROR_SCHEMA, '5xx': ERROR_SCHEMA };
const KEY_ID = { type: 'string', pattern: '^[0-9a-f]{16}$' } as const;
const KEY_INFO = {
  type: 'object',
  properties: {
    id: KEY_ID,
    name: { type: 'string' },
    role: { type: 'string', enum: KEY_ROLES },
    createdAt: { type: 'string' },
    createdBy: { type: 'string' },
    revokedAt: { type: ['string', 'null'] },
  },
} as const;

export async function keyRoutes(app: FastifyInstance, deps: { keys: ApiKeys }) {
  app.post<{ Body: { name: string; role: KeyRole } }>('/keys', {
    config: { access: 'admin' },
    schema: {
      operationId: 'createKey', summary: 'Make an API key. The answer holds the key itself, shown this once: only its SHA-256 is stored.',
      tags: ['access control'],
      body: {
        type: 'object', additionalProperties: false, required: ['name', 'role'],
        properties: {
          name: { type: 'string', minLength: 1, maxLength: KEY_NAME_LENGTH_MAX, pattern: '^[^\\x00-\\x1f\\x7f]+$', description: 'Who holds it, what for' },
          role: { type: 'string', enum: KEY_ROLES },
        },
      },
      response: {
        201: { ...KEY_INFO, properties: { ...KEY_INFO.properties, key: { type: 'string', description: 'Send as Authorization: Bearer <key>' } } },
        ...errors,
      },
    },
  }, async (request, reply) => {
    const { info, key } = await deps.keys.create({ name: request.body.name, role: request.body.role, createdBy: request.principal?.id ?? 'anonymous' });
    request.log.info({ keyId: info.id, role: info.role }, 'API key created');
    // The one answer that carries a secret: no cache may keep it.
    reply.header('cache-control', 'no-store');
    return reply.status(201).send({ ...info, key });
  });

  app.get('/keys', {
    config: { access: 'admin' },
    schema: {
      operationId: 'listKeys', summary: 'Every API key, oldest first, revoked ones included (never a key or its hash)',
      tags: ['access control'],
      response: { 200: { type: 'object', properties: { keys: { type: 'array', items: KEY_INFO } } }, ...errors },
    },
  }, async () => ({ keys: await deps.keys.list() }));

  app.post<{ Params: { id: string } }>('/keys/:id/revoke', {
    config: { access: 'admin' },
    schema: {
      operationId: 'revokeKey', summary: 'Revoke an API key: refused at once by this process, by others within their key cache time (2 s). Revoking twice keeps the first time.',
      tags: ['access control'],
      params: { type: 'object', properties: { id: KEY_ID }, required: ['id'] },
      response: { 200: KEY_INFO, ...errors },
    },
  }, async (request) => {
    const info = await deps.keys.revoke(request.params.id);
    if (!info) throw new ApiError('key_not_found', `no API key ${request.params.id}`, { id: request.params.id });
    request.log.info({ keyId: info.id }, 'API key revoked');
    return info;
  });
}
