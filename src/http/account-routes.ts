// The query API for accounts: balance (now or at an instant), history, list. Reads the event store.
import type { FastifyInstance } from 'fastify';
import type { AccountQueries } from '../application/account-queries.js';
import { READ_PAGE_DEFAULT, READ_PAGE_MAX } from '../domain/limits.js';
import { ApiError } from './errors.js';
import { ACCOUNT_ID, BALANCE, DIGITS, MONEY_STRING, PAGE_LIMIT } from './schemas.js';
import { ERROR_SCHEMA } from './errors.js';

// An instant, not a local time: a zone is required. At most 6 fractional digits (the store keeps microseconds).
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$/;

/** A page size from the query string; `name` is the parameter, for the error. */
export function pageLimit(text: string | undefined, name = 'limit'): number {
  if (text === undefined) return READ_PAGE_DEFAULT;
  const limit = Number(text);
  if (limit < 1 || limit > READ_PAGE_MAX) {
    throw new ApiError('validation_failed', `${name} must be between 1 and ${READ_PAGE_MAX}`, [{ path: `/${name}`, message: 'out of range' }]);
  }
  return limit;
}

const notFound = (accountId: string) => new ApiError('account_not_found', `account ${accountId} does not exist`, { accountId });
const errors = { '4xx': ERROR_SCHEMA, '5xx': ERROR_SCHEMA };

export async function accountRoutes(app: FastifyInstance, deps: { queries: AccountQueries }) {
  app.get<{ Params: { id: string }; Querystring: { at?: string } }>('/accounts/:id/balance', {
    schema: {
      summary: 'Balance of an account, now or (with ?at=) as it stood at any past instant',
      tags: ['queries'],
      params: { type: 'object', properties: { id: ACCOUNT_ID }, required: ['id'] },
      querystring: { type: 'object', additionalProperties: false, properties: { at: { type: 'string', description: 'ISO-8601 instant with zone, up to microseconds' } } },
      response: { 200: BALANCE, ...errors },
    },
  }, async (request) => {
    const { id } = request.params;
    const { at } = request.query;
    if (at === undefined) {
      const balance = await deps.queries.balance(id);
      if (!balance) throw notFound(id);
      return balance;
    }
    if (!INSTANT.test(at) || Number.isNaN(Date.parse(at.replace(/\.\d+/, '')))) {
      throw new ApiError('instant_invalid', 'at must be an ISO-8601 instant with a zone, e.g. 2026-01-31T12:00:00.123456Z', { at });
    }
    const balance = await deps.queries.balanceAt(id, at);
    if (balance === 'not_found') throw notFound(id);
    if (balance === 'not_open') {
      throw new ApiError('account_not_found', `account ${id} was not yet open at ${at}`, { accountId: id, at });
    }
    return { ...balance, at };
  });

  app.get<{ Params: { id: string }; Querystring: { fromVersion?: string; limit?: string } }>('/accounts/:id/history', {
    schema: {
      summary: 'Every event of an account, oldest first, paginated by version',
      tags: ['queries'],
      params: { type: 'object', properties: { id: ACCOUNT_ID }, required: ['id'] },
      querystring: { type: 'object', additionalProperties: false, properties: { fromVersion: DIGITS, limit: PAGE_LIMIT } },
      response: {
        200: {
          type: 'object',
          properties: {
            accountId: { type: 'string' },
            version: { type: 'integer' },
            entries: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  eventId: { type: 'string' }, version: { type: 'integer' }, globalPosition: { type: 'integer' },
                  type: { type: 'string' }, amount: MONEY_STRING, balanceAfter: MONEY_STRING, transferId: { type: 'string' },
                  counterpartyAccountId: { type: 'string' }, recordedAt: { type: 'string' }, createdBy: { type: 'string' },
                  correlationId: { type: 'string' },
                },
              },
            },
            nextFromVersion: { type: ['integer', 'null'] },
          },
        },
        ...errors,
      },
    },
  }, async (request) => {
    const { id } = request.params;
    const limit = pageLimit(request.query.limit);
    const fromVersion = Math.max(1, Number(request.query.fromVersion ?? '1'));
    const history = await deps.queries.history(id, fromVersion, limit);
    if (!history) throw notFound(id);
    const last = history.entries.at(-1)?.version ?? fromVersion - 1;
    return { accountId: id, version: history.version, entries: history.entries, nextFromVersion: last < history.version ? last + 1 : null };
  });

  app.get<{ Querystring: { after?: string; limit?: string } }>('/accounts', {
    schema: {
      summary: 'Accounts in id order, paginated: pass the last id as ?after=',
      tags: ['queries'],
      querystring: { type: 'object', additionalProperties: false, properties: { after: ACCOUNT_ID, limit: PAGE_LIMIT } },
      response: {
        200: { type: 'object', properties: { accounts: { type: 'array', items: BALANCE }, nextAfter: { type: ['string', 'null'] } } },
        ...errors,
      },
    },
  }, async (request) => {
    const limit = pageLimit(request.query.limit);
    const accounts = await deps.queries.list(request.query.after, limit);
    return { accounts, nextAfter: accounts.length === limit ? accounts.at(-1)!.accountId : null };
  });
}
