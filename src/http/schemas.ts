// JSON schemas shared by routes (validated by Fastify's Ajv, published in the OpenAPI document).
import {
  ACCOUNT_ID_LENGTH_MAX, CORRELATION_ID_LENGTH_MAX, IDEMPOTENCY_KEY_LENGTH_MAX, READ_PAGE_MAX, STREAM_ID_LENGTH_MAX,
} from '../domain/limits.js';

export const ACCOUNT_ID = {
  type: 'string', minLength: 1, maxLength: ACCOUNT_ID_LENGTH_MAX, pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$',
  description: 'Client-chosen account id: letters, digits, and . _ : - (not first).',
} as const;

export const AMOUNT = {
  description: 'Minor units (cents): a string of digits, or a JSON integer up to 2^53-1. 1 to 2^63-1.',
  examples: ['1050', 1050],
} as const;

export const MONEY_STRING = { type: 'string', pattern: '^-?[0-9]+$', description: 'Minor units, decimal string.' } as const;

export const STREAM_ID = {
  type: 'string', minLength: 1, maxLength: STREAM_ID_LENGTH_MAX, pattern: '^[A-Za-z0-9][A-Za-z0-9._:@-]*$',
} as const;

/** Query-string integers arrive as text; Ajv type coercion is off API-wide, so they are matched as digits. */
export const DIGITS = { type: 'string', pattern: '^[0-9]{1,15}$' } as const;
export const PAGE_LIMIT = { type: 'string', pattern: '^[0-9]{1,4}$', description: `1 to ${READ_PAGE_MAX}` } as const;

export const COMMAND_HEADERS = {
  type: 'object',
  properties: {
    'idempotency-key': {
      type: 'string', minLength: 1, maxLength: IDEMPOTENCY_KEY_LENGTH_MAX, pattern: '^[\\x21-\\x7e]+$',
      description: 'Repeat a command safely: the same key and body answer with the first response and append nothing.',
    },
    'x-correlation-id': { type: 'string', maxLength: CORRELATION_ID_LENGTH_MAX },
  },
} as const;

export const RECEIPT = {
  type: 'object',
  properties: {
    commandId: { type: 'string' },
    commandType: { type: 'string' },
    eventIds: { type: 'array', items: { type: 'string' } },
    streams: { type: 'array', items: { type: 'object', properties: { streamId: { type: 'string' }, version: { type: 'integer' } } } },
    globalPosition: { type: 'integer' },
    transactionId: { type: 'string' },
    recordedAt: { type: 'string' },
    balances: { type: 'object', additionalProperties: MONEY_STRING },
  },
} as const;

export const RECORDED_EVENT = {
  type: 'object',
  properties: {
    eventId: { type: 'string' }, streamId: { type: 'string' }, streamVersion: { type: 'integer' },
    globalPosition: { type: 'integer' }, transactionId: { type: 'string' }, aggregateType: { type: 'string' },
    type: { type: 'string' }, data: { type: 'object', additionalProperties: true }, schemaVersion: { type: 'integer' },
    recordedAt: { type: 'string' }, createdBy: { type: 'string' }, metadata: { type: 'object', additionalProperties: true },
    prevHash: { type: ['string', 'null'], description: 'Hash chain: the previous event of the stream (64 zeros for the first). See /audit.' },
    eventHash: { type: ['string', 'null'], description: 'SHA-256(prevHash || SHA-256(chronicle-content-v1 of this event)), hex.' },
  },
} as const;

const BALANCE_PROPERTIES = {
  accountId: { type: 'string' }, owner: { type: 'string' }, currency: { type: 'string' }, balance: MONEY_STRING,
  version: { type: 'integer', description: 'The stream version this balance includes.' },
  globalPosition: { type: 'integer', description: 'Global position of the last event included.' },
  openedAt: { type: 'string' }, lastEventAt: { type: 'string' },
} as const;

export const BALANCE = { type: 'object', properties: BALANCE_PROPERTIES } as const;

export const FRESHNESS = {
  type: 'object',
  description: 'Where the read model stands. status: eventual (no minPosition asked), reached (the event at minPosition is included), stale (it is not: the wait ran out).',
  properties: {
    status: { type: 'string', enum: ['eventual', 'reached', 'stale'] },
    position: { type: 'integer', description: 'Global position of the last event the read model applied (commit order).' },
    updatedAt: { type: ['string', 'null'] },
    lag: {
      type: ['object', 'null'],
      properties: { events: { type: 'integer' }, capped: { type: 'boolean' }, ms: { type: 'integer' }, measuredAt: { type: 'string' } },
    },
    minPosition: { type: 'integer' },
    waitedMs: { type: 'integer' },
  },
} as const;

/** A balance: from the read model with its freshness, or (with at) from the event store. */
export const BALANCE_ANSWER = { type: 'object', properties: { ...BALANCE_PROPERTIES, at: { type: 'string' }, freshness: FRESHNESS } } as const;
