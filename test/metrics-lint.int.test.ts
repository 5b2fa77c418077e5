// /metrics follows Prometheus's naming conventions, checked two ways on a ledger with every role (commands
// sent first, so the histograms and labelled counters have series):
// - promtool check metrics (Debian's `prometheus` package; .ci/run installs it): no warning at all. Without
//   promtool this part skips, and fails under CHRONICLE_REQUIRE_SERVICES=1;
// - the same rules in process, always: a counter's name ends in _total and nothing else's does; durations
//   are in seconds (_seconds, never _ms), sizes in bytes; every family has HELP and TYPE.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedger, type Ledger } from '../src/ledger.js';
import { pgliteTarget } from './support/stores.js';

const REQUIRED = process.env['CHRONICLE_REQUIRE_SERVICES'] === '1';
const PROMTOOL = process.env['CHRONICLE_PROMTOOL'] ?? 'promtool';
const promtoolFound = spawnSync(PROMTOOL, ['--version'], { stdio: 'ignore' }).status === 0;
if (REQUIRED && !promtoolFound) throw new Error(`promtool is required (CHRONICLE_REQUIRE_SERVICES=1) but ${PROMTOOL} was not found: apt-get install prometheus (.ci/run does)`);

let ledger: Ledger;
let text = '';
beforeAll(async () => {
  ledger = await createLedger({ store: await pgliteTarget(), logger: false });
  const post = (url: string, body: unknown) => ledger.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) });
  expect((await post('/commands/create-account', { accountId: 'M1', owner: 'Ada', currency: 'EUR' })).statusCode).toBe(201);
  expect((await post('/commands/deposit', { accountId: 'M1', amount: '100' })).statusCode).toBe(201);
  expect((await post('/commands/withdraw', { accountId: 'M1', amount: '1000' })).statusCode).toBe(422);
  // The projection applies the events (its visibility histogram gets a sample), and the sealer seals them.
  // (expect.poll is for tests only: a bounded wait by hand here.)
  for (let tries = 0; (await ledger.app.inject('/accounts/M1/balance')).json().balance !== '100'; tries++) {
    if (tries > 200) throw new Error('the read model never showed the deposit');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await ledger.sealer!.waitForSize(2);
  const response = await ledger.app.inject('/metrics');
  expect(response.statusCode).toBe(200);
  text = response.body;
});
afterAll(async () => { await ledger.close(); });

/** name -> type, from the # TYPE lines. */
function families(exposition: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const match of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(match[1]!, match[2]!);
  return types;
}

describe('/metrics', () => {
  it.skipIf(!promtoolFound)('promtool check metrics: no warning', () => {
    const result = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(`${result.stdout}${result.stderr}`.trim()).toBe('');
    expect(result.status).toBe(0);
  });

  it('the conventions, in process: _total for counters only, seconds and bytes, HELP and TYPE for each', () => {
    const types = families(text);
    expect(types.size).toBeGreaterThan(30);
    const wrong: string[] = [];
    for (const [name, type] of types) {
      if (type === 'counter' && !name.endsWith('_total')) wrong.push(`${name}: a counter not ending in _total`);
      if (type !== 'counter' && name.endsWith('_total')) wrong.push(`${name}: a ${type} ending in _total`);
      if (/_(ms|millis|milliseconds|minutes|hours|kb|mb|kilobytes|megabytes)(_|$)/.test(name)) wrong.push(`${name}: not in base units (seconds, bytes)`);
      if (!new RegExp(`^# HELP ${name} \\S`, 'm').test(text)) wrong.push(`${name}: no HELP`);
    }
    expect(wrong).toEqual([]);
    // The ones issue 13 named: counters now, under the same names.
    expect(types.get('chronicle_sealer_sealed_total')).toBe('counter');
    expect(types.get('chronicle_sealer_checkpoints_total')).toBe('counter');
    expect(text).toMatch(/^chronicle_sealer_sealed_total [1-9]/m);
    // prom-client's gauges named like counters are gone; the per-type gauges they summed stay.
    for (const name of ['handles', 'requests', 'resources']) {
      expect(types.has(`chronicle_process_nodejs_active_${name}_total`)).toBe(false);
      expect(types.get(`chronicle_process_nodejs_active_${name}`)).toBe('gauge');
    }
  });
});

