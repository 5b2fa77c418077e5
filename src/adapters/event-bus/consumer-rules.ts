// What both bus adapters share, so they behave the same: subscription options (validated once, at
// subscribe), NATS subject matching (the in-process bus filters as a JetStream filter subject does), and
// what to do with one delivery (handler, retry with backoff, dead-letter).
import type { Delivery, EventHandler, SubscribeOptions } from '../../ports/event-bus.js';
import { redeliveryDelayMs, RedeliveryLimitError } from '../../ports/event-bus.js';
import type { RecordedEvent } from '../../ports/event-store.js';

/** Bounds on subscription options ("put a limit on everything"): src/domain/limits.ts. */
import { BACKOFF_MS_MAX, BACKOFF_STEPS_MAX, MAX_ACK_PENDING_MAX, MAX_DELIVER_MAX } from '../../domain/limits.js';

class InvalidSubscribeOptionsError extends Error {
  override readonly name = 'InvalidSubscribeOptionsError';
}

/** Throws on a programmer error in the options; returns the filter subjects relative to the prefix. */
export function checkSubscribeOptions(durableName: string, options: SubscribeOptions): string[] {
  const fail = (message: string) => {
    throw new InvalidSubscribeOptionsError(`subscribe(${JSON.stringify(durableName)}): ${message}`);
  };
  // JetStream durable names: no white space, '.', '*', '>', path separators.
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(durableName)) fail('durable name must be 1 to 64 of A-Z a-z 0-9 _ -');
  if (!Number.isInteger(options.maxDeliver) || options.maxDeliver < 1 || options.maxDeliver > MAX_DELIVER_MAX) {
    fail(`maxDeliver must be an integer from 1 to ${MAX_DELIVER_MAX}`);
  }
  if (!Number.isInteger(options.maxAckPending) || options.maxAckPending < 1 || options.maxAckPending > MAX_ACK_PENDING_MAX) {
    fail(`maxAckPending must be an integer from 1 to ${MAX_ACK_PENDING_MAX}`);
  }
  const concurrency = options.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > options.maxAckPending) {
    fail('concurrency must be an integer from 1 to maxAckPending');
  }
  if (options.backoffMs.length > BACKOFF_STEPS_MAX) fail(`backoffMs takes at most ${BACKOFF_STEPS_MAX} steps`);
  for (const ms of options.backoffMs) {
    if (!Number.isInteger(ms) || ms < 0 || ms > BACKOFF_MS_MAX) fail(`backoffMs entries must be integers from 0 to ${BACKOFF_MS_MAX}`);
  }
  const filter = [...(options.filter ?? ['>'])];
  if (filter.length === 0) fail('filter must name at least one subject (or be left out)');
  for (const subject of filter) if (!validSubject(subject)) fail(`filter subject ${JSON.stringify(subject)} is not a NATS subject`);
  return filter;
}

function validSubject(subject: string): boolean {
  const tokens = subject.split('.');
  return tokens.every((t, i) => t !== '' && !/\s/.test(t) && (t === '*' || t === '>' || !/[*>]/.test(t)) && (t !== '>' || i === tokens.length - 1));
}

/** NATS matching: `*` is one token, a final `>` one or more. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i += 1) {
    const token = p[i];
    if (token === '>') return s.length > i;
    if (i >= s.length) return false;
    if (token !== '*' && token !== s[i]) return false;
  }
  return p.length === s.length;
}

type DeliveryOutcome =
  /** Handled, or dead-lettered: acknowledge. */
  | { kind: 'ack' }
  /** Given up with no dead-letter store: drop it (JetStream: term). */
  | { kind: 'drop' }
  /** Deliver again after `delayMs` (JetStream: nak with a delay). */
  | { kind: 'retry'; delayMs: number };

/**
 * One delivery, the same way in every adapter: run the handler (up to maxDeliver deliveries), and when the
 * last one fails, or the event comes back past maxDeliver (the consumer died while handling it, or the
 * dead-letter store failed), hand it to deadLetter instead of the handler.
 */
export async function handleDelivery(
  event: RecordedEvent,
  delivery: Delivery,
  handler: EventHandler,
  options: SubscribeOptions,
  previousError?: unknown,
): Promise<DeliveryOutcome & { error?: unknown }> {
  let error: unknown;
  if (delivery.attempt <= options.maxDeliver) {
    try {
      await handler(event, delivery);
      return { kind: 'ack' };
    } catch (failure) {
      error = failure;
    }
    if (delivery.attempt < options.maxDeliver) {
      return { kind: 'retry', delayMs: redeliveryDelayMs(options.backoffMs, delivery.attempt), error };
    }
  } else {
    error = previousError ?? new RedeliveryLimitError(
      `event ${event.eventId} was delivered ${delivery.attempt - 1} times without an acknowledgement`,
    );
  }
  if (!options.deadLetter) {
    options.onError?.(new RedeliveryLimitError(
      `event ${event.eventId} failed ${options.maxDeliver} deliveries and was dropped (no dead-letter store)`, { cause: error },
    ));
    return { kind: 'drop', error };
  }
  try {
    await options.deadLetter(event, error, delivery);
    return { kind: 'ack', error };
  } catch (deadLetterError) {
    options.onError?.(deadLetterError);
    return { kind: 'retry', delayMs: redeliveryDelayMs(options.backoffMs, delivery.attempt), error };
  }
}
