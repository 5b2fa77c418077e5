// The query API for accounts. The balance now and the account list come from the read model (with its
// freshness, and read-your-writes through ?minPosition=); the balance at a past instant and the history
// come from the event store, which holds every event (see the README: which query reads which store).
import type { FastifyInstance } from 'fastify';
import type { BalanceRow } from '../ports/read-model.js';
import type { AccountQueries } from '../application/account-queries.js';
import { PositionUnknownError, type ReadModelQueries } from '../application/read-model-queries.js';
import { ACCOUNT_SEARCH_LENGTH_MAX, READ_PAGE_DEFAULT, READ_PAGE_MAX } from '../domain/limits.js';
import { ApiError } from './errors.js';
import { ACCOUNT_ID, BALANCE, BALANCE_ANSWER, DIGITS, FRESHNESS, MONEY_STRING, PAGE_LIMIT } from './schemas.js';
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

const notFound = (accountId: string, details?: Record<string, unknown>) =>
  new ApiError('account_not_found', `account ${accountId} does not exist`, { accountId, ...details });
const errors = { '4xx': ERROR_SCHEMA, '5xx': ERROR_SCHEMA };

/** An account search: printable text, as long as an owner's name may be. */
const SEARCH = { type: 'string', maxLength: ACCOUNT_SEARCH_LENGTH_MAX, pattern: '^[^\\x00-\\x1f\\x7f]*$' } as const;

const READ_YOUR_WRITES = {
  minPosition: { ...DIGITS, description: 'Wait until the read model includes the event at this global position (a command response\'s globalPosition).' },
  maxWaitMs: { ...DIGITS, description: 'How long to wait for minPosition, at most the server\'s READ_WAIT_MAX_MS (also the default).' },
} as const;

export interface AccountRouteDeps {
  /** The event store's view: time travel, history. */
  queries: AccountQueries;
  /** The read model's: balances, the account list. */
  readQueries: ReadModelQueries;
  /** Bound on a read-your-writes wait. */
  readWaitMaxMs: number;
}

/** The wait a query asked for, checked; undefined when it asked none. */
function waitOf(query: { minPosition?: string; maxWaitMs?: string }, readWaitMaxMs: number): { minPosition: number; maxWaitMs: number } | undefined {
  if (query.minPosition === undefined) {
    if (query.maxWaitMs !== undefined) throw new ApiError('validation_failed', 'maxWaitMs needs minPosition', [{ path: '/maxWaitMs', message: 'without minPosition' }]);
    return undefined;
  }
  const minPosition = Number(query.minPosition);
  if (minPosition < 1) throw new ApiError('validation_failed', 'minPosition must be at least 1', [{ path: '/minPosition', message: 'out of range' }]);
  const maxWaitMs = query.maxWaitMs === undefined ? readWaitMaxMs : Number(query.maxWaitMs);
  if (maxWaitMs > readWaitMaxMs) {
    throw new ApiError('validation_failed', `maxWaitMs must be at most ${readWaitMaxMs}`, [{ path: '/maxWaitMs', message: 'out of range' }]);
  }
  return { minPosition, maxWaitMs };
}

async function withKnownPosition<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof PositionUnknownError) {
      throw new ApiError('position_not_found', `minPosition ${error.position}: no event has that global position`, { minPosition: error.position });
    }
    throw error;
  }
}

const balanceOf = (row: BalanceRow) => ({
  accountId: row.accountId, owner: row.owner, currency: row.currency, balance: row.balance, version: row.version,
  globalPosition: row.lastGlobalPosition, openedAt: row.openedAt, lastEventAt: row.lastEventAt,
});

export async function accountRoutes(app: FastifyInstance, deps: AccountRouteDeps) {
  app.get<{ Params: { id: string }; Querystring: { at?: string; minPosition?: string; maxWaitMs?: string } }>('/accounts/:id/balance', {
    // The balance now is a reader's; as it stood at a past instant (time travel) an auditor's.
    config: { access: (request) => ((request.query as { at?: unknown }).at === undefined ? 'reader' : 'auditor') },
    schema: {
      operationId: 'getBalance', summary: 'Balance of an account: now from the read model (with freshness; ?minPosition= to read your writes), or with ?at= as it stood at any past instant, from the event store',
      tags: ['queries'],
      params: { type: 'object', properties: { id: ACCOUNT_ID }, required: ['id'] },
      querystring: {
        type: 'object', additionalProperties: false,
        properties: { at: { type: 'string', description: 'ISO-8601 instant with zone, up to microseconds' }, ...READ_YOUR_WRITES },
      },
      response: { 200: BALANCE_ANSWER, ...errors },
    },
  }, async (request, reply) => {
    const { id } = request.params;
    const { at } = request.query;
    if (at === undefined) {
      const wait = waitOf(request.query, deps.readWaitMaxMs);
      const { account, freshness } = await withKnownPosition(() => deps.readQueries.balance(id, wait));
      reply.header('chronicle-freshness', freshness.status);
      if (!account) throw notFound(id, { freshness });
      return { ...balanceOf(account), freshness };
    }
    if (request.query.minPosition !== undefined || request.query.maxWaitMs !== undefined) {
      throw new ApiError('validation_failed', 'minPosition is for the read model; ?at= reads the event store, which holds every committed event',
        [{ path: '/minPosition', message: 'not with at' }]);
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
    config: { access: 'auditor' },
    schema: {
      operationId: 'getAccountHistory', summary: 'Every event of an account, oldest first, paginated by version',
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

  app.get<{ Querystring: { after?: string; limit?: string; q?: string; minPosition?: string; maxWaitMs?: string } }>('/accounts', {
    config: { access: 'reader' },
    schema: {
      operationId: 'listAccounts', summary: 'Accounts with balances in id order, from the read model, paginated: pass the last id as ?after=; ?q= keeps those whose id or owner contains it (any case)',
      tags: ['queries'],
      querystring: {
        type: 'object', additionalProperties: false,
        properties: { after: ACCOUNT_ID, limit: PAGE_LIMIT, q: SEARCH, ...READ_YOUR_WRITES },
      },
      response: {
        200: {
          type: 'object',
          properties: {
            accounts: { type: 'array', items: BALANCE },
            nextAfter: { type: ['string', 'null'] },
            freshness: FRESHNESS,
          },
        },
        ...errors,
      },
    },
  }, async (request, reply) => {
    const limit = pageLimit(request.query.limit);
    const wait = waitOf(request.query, deps.readWaitMaxMs);
    const { accounts, freshness } = await withKnownPosition(() => deps.readQueries.list(request.query.after, limit, wait, request.query.q));
    reply.header('chronicle-freshness', freshness.status);
    return {
      accounts: accounts.map(balanceOf),
      nextAfter: accounts.length === limit ? accounts.at(-1)!.accountId : null,
      freshness,
    };
  });
}
