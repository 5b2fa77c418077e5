// The quorum gate's pure parts (src/adapters/event-store/sql/quorum-gate.ts) and the recognition of the
// server's "canceling wait for synchronous replication" WARNING (src/adapters/event-store/postgres/
// postgres-client.ts), table-driven. The gate itself, on a real primary and standby: quorum-durable.e2e.test.ts.
import { describe, expect, it } from 'vitest';
import { isSyncRepCancelled } from '../src/adapters/event-store/postgres/postgres-client.js';
import { lsnValue, parseSyncStandbyNames, quorumFlushed } from '../src/adapters/event-store/sql/quorum-gate.js';

describe('synchronous_standby_names', () => {
  it.each([
    ['', null],
    ['   ', null],
    ['pg2', { method: 'first', k: 1 }],
    ['pg2, pg3', { method: 'first', k: 1 }],
    ['*', { method: 'first', k: 1 }],
    ['"pg-2"', { method: 'first', k: 1 }],
    ['FIRST 1 (pg2)', { method: 'first', k: 1 }],
    ['first 2 (pg2, pg3, pg4)', { method: 'first', k: 2 }],
    ['ANY 2 (pg2, pg3, pg4)', { method: 'any', k: 2 }],
    ['any 1("pg-2","pg-3")', { method: 'any', k: 1 }],
    ['2 (pg2, pg3)', { method: 'first', k: 2 }],
  ])('%j → %j', (setting, rule) => {
    expect(parseSyncStandbyNames(setting)).toEqual(rule);
  });
});

describe('LSNs and the quorum', () => {
  it('orders LSNs as PostgreSQL does (hex high/low words)', () => {
    expect(lsnValue('0/16EF9D0')).toBe(0x16ef9d0n);
    expect(lsnValue('1/0')).toBe(1n << 32n);
    expect(lsnValue('1/0') > lsnValue('0/FFFFFFFF')).toBe(true);
    expect(lsnValue('16/B374D848')).toBe((0x16n << 32n) + 0xb374d848n);
    expect(() => lsnValue('nonsense')).toThrow();
  });

  it('the quorum has flushed the k-th highest position of the synchronous standbys; fewer than k: nothing', () => {
    const flushed = ['0/300', '0/200', '0/100']; // highest first, as the query returns them
    expect(quorumFlushed({ method: 'first', k: 1 }, flushed)).toBe(0x300n);
    expect(quorumFlushed({ method: 'any', k: 2 }, flushed)).toBe(0x200n);
    expect(quorumFlushed({ method: 'any', k: 3 }, flushed)).toBe(0x100n);
    expect(quorumFlushed({ method: 'any', k: 4 }, flushed)).toBeNull();
    expect(quorumFlushed({ method: 'first', k: 1 }, [])).toBeNull();
  });
});

describe('a COMMIT whose wait for synchronous replication was cancelled', () => {
  const detail = 'The transaction has already committed locally, but might not have been replicated to the standby.';
  it.each([
    ['pg_cancel_backend (PostgreSQL 15 text)', { severity: 'WARNING', routine: 'SyncRepWaitForLSN', message: 'canceling wait for synchronous replication due to user request', detail }, true],
    ['pg_terminate_backend', { severity: 'WARNING', routine: 'SyncRepWaitForLSN', message: 'canceling the wait for synchronous replication and terminating connection due to administrator command', detail }, true],
    ['translated text, known by its routine', { severity: 'WARNUNG', routine: 'SyncRepWaitForLSN', message: 'Warten auf synchrone Replikation abgebrochen', detail: '…' }, true],
    ['no routine (a pooler that drops fields): by its text', { severity: 'WARNING', message: 'canceling wait for synchronous replication due to user request', detail }, true],
    ['another warning', { severity: 'WARNING', routine: 'UserAbortTransactionBlock', message: 'there is no transaction in progress' }, false],
    ['a notice from PL/pgSQL', { severity: 'NOTICE', routine: 'exec_stmt_raise', message: 'synchronous replication is mentioned here' }, false],
  ])('%s: %s', (_name, notice, expected) => {
    expect(isSyncRepCancelled(notice)).toBe(expected);
  });
});
