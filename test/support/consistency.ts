// What a clean `chronicle verify-consistency` run prints: every one of its nine checks passed, and the verdict.
import { expect } from 'vitest';

const CHECKS = ['acknowledged_once', 'unknown_resolved', 'refused_no_events', 'money_conserved', 'no_negative_balance',
  'balances_fold_history', 'read_model', 'jetstream', 'chronicle_verify'];

export function expectEveryCheckPassed(stdout: string): void {
  for (const name of CHECKS) expect(stdout).toMatch(new RegExp(`^PASS ${name}: `, 'm'));
  expect(stdout).toMatch(/^VERDICT: OK/m);
}
