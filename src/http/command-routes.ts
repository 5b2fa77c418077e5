// The write API: POST /commands/*. Bodies go through the strict JSON parser (amounts keep their source
// form), then schema validation, then amount and currency parsing, then the command handler.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CommandContext, CommandHandler, CommandOutcome } from '../application/command-handler.js';
import { LockQueueFullError } from '../application/keyed-lock.js';
import type { LedgerCommandRequest } from '../domain/account/commands.js';
import { isCurrencyCode, type CurrencyCode } from '../domain/currency.js';
import { COMMAND_BODY_BYTES_MAX, OWNER_LENGTH_MAX } from '../domain/limits.js';
import { parseAmount, type AmountMinor } from '../domain/money.js';
import { isRejection, reject } from '../domain/rejections.js';
import { mayUse } from './access-control.js';
import { ApiError, ERROR_SCHEMA, rejectionError } from './errors.js';
import { ACCOUNT_ID, AMOUNT, COMMAND_HEADERS, RECEIPT } from './schemas.js';
import { parseStrictJson } from './strict-json.js';

export interface CommandRoutesDeps {
  commands: CommandHandler;
}

const body = (properties: Record<string, unknown>) => ({
  type: 'object', additionalProperties: false, required: Object.keys(properties), properties,
});

const routeSchema = (operationId: string, summary: string, properties: Record<string, unknown>) => ({
  operationId,
  summary,
  tags: ['commands'],
  headers: COMMAND_HEADERS,
  body: body(properties),
  response: { 201: RECEIPT, '4xx': ERROR_SCHEMA, '5xx': ERROR_SCHEMA },
});

function amountOf(input: unknown): AmountMinor {
  const amount = parseAmount(input);
  if (isRejection(amount)) throw rejectionError(amount);
  return amount;
}

function currencyOf(input: string): CurrencyCode {
  if (!isCurrencyCode(input)) throw rejectionError(reject('currency_invalid', `${input} is not an ISO 4217 currency code`, { currency: input }));
  return input;
}

export function contextOf(request: FastifyRequest): CommandContext {
  const key = request.headers['idempotency-key'];
  return {
    correlationId: request.correlationId,
    clientAddress: request.ip,
    // The verified key's principal (key:<id>), never anything the body says; 'anonymous' with authentication off.
    actor: request.principal?.id ?? 'anonymous',
    ...(typeof key === 'string' ? { idempotencyKey: key } : {}),
  };
}

export async function commandRoutes(app: FastifyInstance, deps: CommandRoutesDeps) {
  // Encapsulated: only the command routes use the strict parser.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: COMMAND_BODY_BYTES_MAX },
    (_request, text, done) => {
      try {
        done(null, parseStrictJson(text as string));
      } catch (error) {
        done(error as Error, undefined);
      }
    });

  const run = async (request: FastifyRequest, reply: FastifyReply, command: LedgerCommandRequest) => {
    let outcome: CommandOutcome;
    try {
      outcome = await deps.commands.execute(command, contextOf(request));
    } catch (error) {
      if (error instanceof LockQueueFullError) throw new ApiError('overloaded', error.message, { retryable: true });
      throw error;
    }
    switch (outcome.kind) {
      case 'accepted': {
        if (outcome.replayed) reply.header('idempotent-replayed', 'true');
        // Balances are for roles that may read them (reader and up): a writer learns that its command
        // applied, not what the accounts now hold.
        const principal = request.principal;
        if (principal !== null && !mayUse(principal.role, 'reader')) {
          const { balances: _withheld, ...receipt } = outcome.receipt;
          return reply.status(201).send(receipt);
        }
        return reply.status(201).send(outcome.receipt);
      }
      case 'rejected':
        throw rejectionError(outcome.rejection);
      case 'idempotency_key_reused':
        throw new ApiError('idempotency_key_reused', 'this Idempotency-Key was used with a different request', { key: outcome.key });
      case 'conflict':
        throw new ApiError('concurrency_conflict', `${outcome.streamId} kept changing under ${outcome.attempts} attempts; retry`, {
          streamId: outcome.streamId, retryable: true,
        });
    }
  };

  app.post<{ Body: { accountId: string; owner: string; currency: string } }>('/commands/create-account', {
    config: { access: 'writer' },
    schema: routeSchema('createAccount', 'Open an account', {
      accountId: ACCOUNT_ID,
      owner: { type: 'string', minLength: 1, maxLength: OWNER_LENGTH_MAX, pattern: '^[^\\x00-\\x1f\\x7f]+$' },
      currency: { type: 'string', description: 'ISO 4217 code, e.g. EUR' },
    }),
  }, (request, reply) => {
    const { accountId, owner, currency } = request.body;
    return run(request, reply, { type: 'CreateAccount', accountId, owner: owner.normalize('NFC'), currency: currencyOf(currency) });
  });

  app.post<{ Body: { accountId: string; amount: unknown } }>('/commands/deposit', {
    config: { access: 'writer' },
    schema: routeSchema('deposit', 'Deposit money into an account', { accountId: ACCOUNT_ID, amount: AMOUNT }),
  }, (request, reply) => run(request, reply, { type: 'Deposit', accountId: request.body.accountId, amount: amountOf(request.body.amount) }));

  app.post<{ Body: { accountId: string; amount: unknown } }>('/commands/withdraw', {
    config: { access: 'writer' },
    schema: routeSchema('withdraw', 'Withdraw money from an account; never below zero', { accountId: ACCOUNT_ID, amount: AMOUNT }),
  }, (request, reply) => run(request, reply, { type: 'Withdraw', accountId: request.body.accountId, amount: amountOf(request.body.amount) }));

  app.post<{ Body: { fromAccountId: string; toAccountId: string; amount: unknown } }>('/commands/transfer', {
    config: { access: 'writer' },
    schema: routeSchema('transfer', 'Move money between two accounts of one currency: both sides or neither', {
      fromAccountId: ACCOUNT_ID, toAccountId: ACCOUNT_ID, amount: AMOUNT,
    }),
  }, (request, reply) => run(request, reply, {
    // No transferId: the command handler mints it once the Idempotency-Key is checked.
    type: 'Transfer',
    fromAccountId: request.body.fromAccountId,
    toAccountId: request.body.toAccountId,
    amount: amountOf(request.body.amount),
  }));
}
