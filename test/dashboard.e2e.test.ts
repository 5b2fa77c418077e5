// The dashboard end to end, in a real browser: `chronicle start` as its own process (embedded PGlite, the
// in-process bus, the dashboard's static export on a port of its own), driven through headless Chromium
// (Debian's /usr/bin/chromium, by playwright-core: never a downloaded browser). Everything goes through the
// pages as a person would use them: forms, the live timeline (a second tab that is never reloaded), time
// travel, the concurrency demo, metrics and health, and the audit checks run in the browser. The API is
// also asked directly where a page's claim must be cross-checked (the demo's "zero overdrafts").
// Screenshots of every page land in test-results/screenshots/ (`npm run screenshots` refreshes docs/screenshots/,
// which the README shows).
//
// The audit checks are shown to be able to fail: the test makes the network lie (playwright's page.route
// alters one event of $all, and one hash of a proof) and the browser's verification must say so.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ADMIN_KEY, CLI_AUTHORIZATION, spawnCli, type CliProcess } from './support/cli-process.js';
import { deleteStreams, natsAdmin, natsAvailable, NATS_TEST_URL, uniqueBusNames } from './support/nats.js';
import { screenshotPath } from './support/screenshots.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const REQUIRED = process.env['CHRONICLE_REQUIRE_SERVICES'] === '1';
// As root in a container, Chromium needs --no-sandbox; the rest keeps it off the (closed) network.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

if (REQUIRED && !existsSync(CHROMIUM)) throw new Error(`Chromium is required (CHRONICLE_REQUIRE_SERVICES=1) but ${CHROMIUM} does not exist: apt-get install chromium`);

/** The static export, built unless it already matches the sources (scripts/build-dashboard.mjs). */
const buildDashboard = () => execFileSync(process.execPath, [join(REPO_ROOT, 'scripts', 'build-dashboard.mjs')], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit'] });

/**
 * The tabs of `context` start signed in with the admin key. It lives in each tab's sessionStorage, and a tab
 * opened from a signed-in one gets a copy (browsers copy sessionStorage to a tab opened from another).
 */
const signIn = (context: BrowserContext) => context.addInitScript((key) => window.sessionStorage.setItem('chronicle.apiKey', key), CLI_ADMIN_KEY);

/** The proof panel's text; while the event is not sealed yet (about a second), asks again. */
async function proofStatus(page: Page): Promise<string | null> {
  const text = await page.getByTestId('proof-status').textContent();
  if (text?.includes('not sealed yet')) await page.getByTestId('verify-proof').click();
  return text;
}

/** The health table as `component:status`, sorted. */
const healthRows = (page: Page) => page.locator('[data-testid=health-row]')
  .evaluateAll((rows) => rows.map((r) => `${r.getAttribute('data-component')}:${r.getAttribute('data-status')}`).sort());

/** The tick labels of a Recharts chart's `axis` ('x' or 'y') inside `chart`. */
const axisTicks = (chart: Locator, axis: 'x' | 'y') => chart.locator(`.recharts-${axis}Axis-tick-labels .recharts-cartesian-axis-tick-value`).allTextContents();
/** A Recharts axis's own label (its unit; Recharts 3 draws it right after the axis's tick labels), '' when it has none. */
const axisLabel = async (chart: Locator, axis: 'x' | 'y') => (await chart.locator(`.recharts-${axis}Axis-tick-labels ~ .recharts-label`).allTextContents()).join(' ').trim();

/**
 * Whether every instant a page shows is in the dashboard's one format (local "2026-11-25 14:03:04.123"):
 * none as ISO text with its T and Z, none in a browser's locale format (11/25/2026, 2:03:04 PM), and the zone
 * said exactly once. Returns what breaks the rule, [] when nothing does.
 */
async function timeFormatProblems(page: Page): Promise<string[]> {
  const text = (await page.locator('main').innerText()).replace(/\s+/g, ' ');
  const values = await page.locator('main input').evaluateAll((inputs) => inputs.map((i) => (i as HTMLInputElement).value));
  const all = [text, ...values].join(' | ');
  const problems: string[] = [];
  for (const iso of all.match(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}[^ |]*/g) ?? []) problems.push(`ISO text: ${iso}`);
  for (const locale of all.match(/\b\d{1,2}\/\d{1,2}\/\d{2,4}\b|\b\d{1,2}:\d{2}(?::\d{2})? ?[AP]M\b/g) ?? []) problems.push(`locale format: ${locale}`);
  const zoneNotes = text.match(/local time/g)?.length ?? 0;
  if (zoneNotes !== 1) problems.push(`"local time" said ${zoneNotes} times`);
  return problems;
}

/** Pairs of coordinates of an SVG path made of M and L commands; null when it has curves (C, Q, S, A). */
function polyline(d: string): [number, number][] | null {
  if (/[CcQqSsAa]/.test(d)) return null;
  const numbers = d.match(/-?\d+(?:\.\d+)?(?:e-?\d+)?/g)?.map(Number) ?? [];
  const points: [number, number][] = [];
  for (let i = 0; i + 1 < numbers.length; i += 2) points.push([numbers[i]!, numbers[i + 1]!]);
  return points;
}

const freePort = () => new Promise<number>((resolve, reject) => {
  const server = createServer().listen(0, '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    server.close(() => resolve(port));
  }).on('error', reject);
});

describe.skipIf(!existsSync(CHROMIUM))('dashboard in headless Chromium against `chronicle start`', () => {
  let ledger: CliProcess;
  let browser: Browser;
  let context: BrowserContext;
  let dataDir: string;
  let dashboard: string;
  const pageErrors: string[] = [];
  const suffix = Date.now().toString(36);
  const alice = `alice-${suffix}`;
  const bob = `bob-${suffix}`;
  let timeline: Page;

  const api = async (path: string, body?: unknown, key = CLI_AUTHORIZATION) => {
    const response = await fetch(`${ledger.base}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: await response.json() as any };
  };
  const shot = (page: Page, name: string) => page.screenshot({ path: screenshotPath(name), fullPage: false });
  const newPage = async (ctx = context) => {
    const page = await ctx.newPage();
    page.on('pageerror', (error) => pageErrors.push(`${page.url()}: ${error.message}`));
    return page;
  };

  beforeAll(async () => {
    buildDashboard();
    dataDir = mkdtempSync(join(tmpdir(), 'chronicle-dashboard-'));
    const [port, dashboardPort] = [await freePort(), await freePort()];
    ledger = spawnCli('start', port, {
      DATABASE_URL: '', NATS_URL: '', READ_DATABASE_URL: '', CHRONICLE_DATA_DIR: dataDir, LOG_LEVEL: 'warn',
      DASHBOARD: 'on', DASHBOARD_PORT: String(dashboardPort), CHRONICLE_CHECKPOINT_INTERVAL_MS: '200',
    });
    await ledger.healthy(90_000);
    dashboard = `http://127.0.0.1:${dashboardPort}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await ledger?.signal('SIGTERM');
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('asks for a key without one; the #key= link of the first start signs in and leaves the address bar', async () => {
    const page = await newPage();
    await page.goto(`${dashboard}/`);
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await page.fill('input[name=apiKey]', 'not a key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('An API key looks like').waitFor();
    await shot(page, 'sign-in');
    await page.goto(`${dashboard}/#key=${CLI_ADMIN_KEY}`);
    await expect.poll(() => page.getByTestId('whoami').textContent()).toContain('admin');
    expect(page.url()).toBe(`${dashboard}/`);
    expect(await page.evaluate(() => window.sessionStorage.getItem('chronicle.apiKey'))).toBe(CLI_ADMIN_KEY);
    await page.close();
    // The tests' other tabs start signed in.
    await signIn(context);
  });

  it('metrics before any command: every chart says "no traffic yet" instead of drawing empty axes', async () => {
    const page = await newPage();
    await page.goto(`${dashboard}/metrics/`);
    await page.getByTestId('no-traffic').first().waitFor({ timeout: 15_000 });
    for (const chart of ['chart-throughput', 'chart-latency', 'chart-lag', 'chart-dead-letters']) {
      const box = page.getByTestId(chart);
      expect(await box.getAttribute('data-empty'), chart).toBe('true');
      expect(await box.textContent(), chart).toContain('No traffic yet');
      expect(await box.locator('svg.recharts-surface').count(), chart).toBe(0);
    }
    // Still so after more scrapes (a rate of 0 would otherwise draw axes with a flat line).
    await page.waitForTimeout(4_500);
    expect(await page.getByTestId('no-traffic').count()).toBe(4);
    await page.close();
  });

  it('opens two accounts, deposits and transfers from the forms, with read-your-writes; the timeline shows each event live', async () => {
    // The timeline, in its own tab, opened first and never reloaded: what appears there was pushed.
    timeline = await newPage();
    await timeline.goto(`${dashboard}/`);
    await expect.poll(() => timeline.getByTestId('stream-state').textContent(), { timeout: 15_000 }).toBe('live');
    await timeline.evaluate(() => { (window as unknown as { loadedOnce: boolean }).loadedOnce = true; });

    const page = await newPage();
    await page.goto(`${dashboard}/commands/`);
    for (const [id, owner] of [[alice, 'Alice Example'], [bob, 'Bob Example']]) {
      await page.getByTestId('create-id').fill(id!);
      await page.getByTestId('create-owner').fill(owner!);
      await page.getByTestId('create-submit').click();
      await expect.poll(() => page.getByTestId('create-result').textContent()).toContain('read model caught up');
    }
    const deposit = page.getByTestId('deposit');
    await page.getByTestId('deposit-account').fill(alice);
    await expect.poll(() => deposit.getByText('Amount (EUR)').count()).toBe(1); // the account's currency was looked up
    await deposit.getByTestId('amount').fill('100.00');
    const depositKey = await deposit.getByTestId('idempotency-key').inputValue();
    expect(depositKey).toMatch(/^[0-9a-f-]{36}$/);
    await page.getByTestId('deposit-submit').click();
    await expect.poll(() => page.getByTestId('deposit-result').textContent()).toMatch(/€100\.00.*read model caught up/);
    // A new command gets a new key; the one just used is spent.
    expect(await deposit.getByTestId('idempotency-key').inputValue()).not.toBe(depositKey);

    const transfer = page.getByTestId('transfer');
    await page.getByTestId('transfer-from').fill(alice);
    await page.getByTestId('transfer-to').fill(bob);
    await expect.poll(() => transfer.getByText('Amount (EUR)').count()).toBe(1);
    await transfer.getByTestId('amount').fill('30');
    await page.getByTestId('transfer-submit').click();
    await expect.poll(() => page.getByTestId('transfer-result').textContent()).toMatch(/€70\.00.*€30\.00/);

    // Refusals in plain words, and nothing written.
    const withdraw = page.getByTestId('withdraw');
    await page.getByTestId('withdraw-account').fill(bob);
    await expect.poll(() => withdraw.getByText('Amount (EUR)').count()).toBe(1);
    await withdraw.getByTestId('amount').fill('500');
    await page.getByTestId('withdraw-submit').click();
    const refused = page.getByTestId('withdraw-error');
    await refused.waitFor();
    expect(await refused.getAttribute('data-code')).toBe('insufficient_funds');
    expect(await refused.textContent()).toContain('Not enough money in the account.');
    await withdraw.getByTestId('amount').fill('0.001');
    await page.getByTestId('withdraw-submit').click();
    await page.getByText('EUR has 2 decimal places at most').waitFor();
    // A transfer between currencies: refused in plain words.
    expect((await api('/commands/create-account', { accountId: `usd-${suffix}`, owner: 'Dollar', currency: 'USD' })).status).toBe(201);
    await page.getByTestId('transfer-to').fill(`usd-${suffix}`);
    await transfer.getByTestId('amount').fill('1');
    await page.getByTestId('transfer-submit').click();
    await expect.poll(() => page.getByTestId('transfer-error').getAttribute('data-code')).toBe('currency_mismatch');
    expect(await page.getByTestId('transfer-error').textContent()).toContain('The two accounts hold different currencies.');
    await shot(page, 'commands');
    expect((await api(`/accounts/${bob}/balance`)).body.balance).toBe('3000');
    expect((await api(`/accounts/${alice}/balance`)).body.balance).toBe('7000');

    // Every event appeared in the timeline tab, which was not reloaded.
    for (const type of ['AccountCreated', 'MoneyDeposited', 'TransferSent', 'TransferReceived']) {
      await expect.poll(() => timeline.locator(`[data-testid=timeline-row][data-type=${type}]`).count(), { timeout: 10_000 }).toBeGreaterThan(0);
    }
    expect(await timeline.evaluate(() => (window as unknown as { loadedOnce?: boolean }).loadedOnce)).toBe(true);
    const positions = await timeline.locator('[data-testid=timeline-row]').evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-position'))));
    expect(positions).toHaveLength(6); // 3 opened, 1 deposit, 2 transfer legs; the refused commands wrote nothing
    await page.close();
  });

  it('time travel: one microsecond before the transfer, the balances and histories are the old ones', async () => {
    const page = await newPage();
    await page.goto(`${dashboard}/account/?id=${alice}`);
    await expect.poll(() => page.getByTestId('balance-now').textContent()).toBe('€70.00');
    await expect.poll(() => page.getByTestId('history-row').count()).toBe(3);
    expect(await page.title()).toBe(`${alice} · ChronicleLedger`);
    await page.locator('[data-testid=history-row][data-type=TransferSent] [data-testid=before-event]').click();
    await expect.poll(() => page.getByTestId('balance-then').textContent()).toBe('€100.00');
    await expect.poll(() => page.getByTestId('history-row').count()).toBe(2);
    expect(await page.getByTestId('balance-chart').count()).toBe(1);
    // The instant travelled to reads in the page's format, to the microsecond; the page has one time format.
    expect(await page.getByTestId('time-travel-input').inputValue()).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$/);
    expect(await timeFormatProblems(page)).toEqual([]);
    await shot(page, 'account-time-travel');
    // And "now" again.
    await page.getByTestId('time-travel-now').click();
    await expect.poll(() => page.getByTestId('history-row').count()).toBe(3);

    await page.goto(`${dashboard}/account/?id=${bob}`);
    await expect.poll(() => page.getByTestId('balance-now').textContent()).toBe('€30.00');
    await page.locator('[data-testid=history-row][data-type=TransferReceived] [data-testid=before-event]').click();
    await expect.poll(() => page.getByTestId('balance-then').textContent()).toBe('€0.00');
    // An instant before the account existed: said so, not a zero.
    await page.getByTestId('time-travel-input').fill('2001-01-01T00:00:00');
    await expect.poll(() => page.getByTestId('time-travel-error').textContent()).toContain('No such account');
    await page.close();
  });

  it('accounts: searchable, paginated, balances formatted in their currency, freshness shown', async () => {
    for (let n = 0; n < 30; n++) expect((await api('/commands/create-account', { accountId: `many-${suffix}-${String(n).padStart(2, '0')}`, owner: `Many ${n}`, currency: 'JPY' })).status).toBe(201);
    const last = await api('/commands/deposit', { accountId: `many-${suffix}-07`, amount: '1500' });
    await api(`/accounts?minPosition=${last.body.globalPosition}`);
    const page = await newPage();
    await page.goto(`${dashboard}/accounts/`);
    await expect.poll(() => page.getByTestId('account-row').count()).toBe(25); // a page
    await page.getByRole('button', { name: 'Next' }).click();
    await expect.poll(() => page.getByTestId('account-row').count()).toBe(8); // 33 accounts in all
    await page.getByTestId('account-search').fill(`many-${suffix}-07`);
    await expect.poll(() => page.getByTestId('account-row').count()).toBe(1);
    expect(await page.getByTestId('account-balance').textContent()).toBe('¥1,500'); // JPY has no minor unit
    await page.getByTestId('account-search').fill('');
    await page.getByTestId('account-search').fill('alice example'); // owner, any case
    await expect.poll(() => page.locator('[data-testid=account-row]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-account')))).toEqual([alice]);
    await page.getByTestId('account-search').fill('');
    await expect.poll(() => page.getByTestId('account-row').count()).toBe(25);
    await page.getByText('up to date').first().waitFor();
    await shot(page, 'accounts');
    await page.close();
  });

  it('account chart: the value axis fits the balances and names the currency, time labels are not repeated', async () => {
    const id = `chart-${suffix}`;
    expect((await api('/commands/create-account', { accountId: id, owner: 'Chart Example', currency: 'EUR' })).status).toBe(201);
    for (const [command, amount] of [['deposit', '100000'], ['deposit', '1000'], ['withdraw', '500'], ['deposit', '250']] as const) {
      expect((await api(`/commands/${command}`, { accountId: id, amount })).status).toBe(201);
    }
    const page = await newPage();
    await page.goto(`${dashboard}/account/?id=${id}`);
    await expect.poll(() => page.getByTestId('balance-now').textContent()).toBe('€1,007.50');
    const chart = page.getByTestId('balance-chart');
    await expect.poll(() => axisTicks(chart, 'y').then((ticks) => ticks.length)).toBeGreaterThan(1);
    // Balances 1,000.00 → 1,010.00 → 1,005.00 → 1,007.50: an axis from 0 would draw them as one flat line.
    const yTicks = (await axisTicks(chart, 'y')).map((t) => Number(t.replace(/,/g, '')));
    expect(Math.min(...yTicks)).toBeGreaterThan(0);
    expect(Math.min(...yTicks)).toBeLessThanOrEqual(1000);
    expect(Math.max(...yTicks)).toBeGreaterThanOrEqual(1010);
    expect(Math.max(...yTicks) - Math.min(...yTicks)).toBeLessThanOrEqual(3 * 10); // the data spans €10
    // The currency and the unit: the axis says EUR and its numbers are euros (major units), not cents.
    expect(await axisLabel(chart, 'y')).toBe('EUR');
    expect(await page.getByRole('heading', { name: 'Balance over time, in EUR' }).count()).toBe(1);
    // Every x label once.
    const xTicks = await axisTicks(chart, 'x');
    expect(xTicks.length).toBeGreaterThan(1);
    expect(new Set(xTicks).size).toBe(xTicks.length);
    expect(await timeFormatProblems(page)).toEqual([]);
    await page.close();
  });

  it('an unknown account: a clear empty state, not placeholders that never fill', async () => {
    const page = await newPage();
    await page.goto(`${dashboard}/account/?id=no-such-${suffix}`);
    const empty = page.getByTestId('account-not-found');
    await empty.waitFor();
    expect(await empty.textContent()).toContain(`No account “no-such-${suffix}”`);
    await page.waitForTimeout(1_000);
    const main = await page.locator('main').innerText();
    expect(main).not.toContain('…');
    expect(await page.locator('main [aria-busy=true]').count()).toBe(0);
    expect(await page.getByTestId('balance-now').count()).toBe(0);
    await page.close();
  });

  it('concurrency demo: 100 parallel withdrawals, exactly the covered 50 succeed, the balance never goes below zero', async () => {
    const page = await newPage();
    await page.goto(`${dashboard}/demo/`);
    await page.getByTestId('demo-run').click();
    await page.getByTestId('demo-result').waitFor({ timeout: 60_000 });
    expect(await page.getByTestId('demo-succeeded').textContent()).toBe('50');
    expect(await page.getByTestId('demo-refused').textContent()).toBe('50');
    expect(await page.getByTestId('demo-final').textContent()).toBe('€0.00');
    expect(await page.getByTestId('demo-lowest').textContent()).toBe('€0.00');
    await page.getByText('zero overdrafts').waitFor();
    await shot(page, 'concurrency-demo');
    // The page's claim, checked against the event store: 50 withdrawals, no balance below zero, ever.
    const accountId = (await page.getByRole('link', { name: /^Open demo-/ }).textContent())!.replace('Open ', '');
    const history = (await api(`/accounts/${accountId}/history?limit=1000`)).body;
    expect(history.entries.filter((e: { type: string }) => e.type === 'MoneyWithdrawn')).toHaveLength(50);
    expect(history.entries.every((e: { balanceAfter?: string }) => e.balanceAfter === undefined || BigInt(e.balanceAfter) >= 0n)).toBe(true);
    await page.close();
  });

  it('metrics and health: every component up, live rates, latency quantiles and lag charted', async () => {
    const page = await newPage();
    await page.goto(`${dashboard}/metrics/`);
    await expect.poll(() => healthRows(page))
      .toEqual(['bus:up', 'eventStore:up', 'readProcessor:up', 'readStore:up', 'relay:up', 'sealer:up']);
    // Some load while the page scrapes, so the charts have something to show.
    const load = (async () => {
      for (let n = 0; n < 40; n++) {
        await api('/commands/deposit', { accountId: alice, amount: String(100 + n) });
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await expect.poll(async () => Number((await page.getByTestId('events-per-second').textContent())!.replace(/,/g, '')), { timeout: 15_000 }).toBeGreaterThan(0);
    await load;
    await expect.poll(() => page.getByText(/p50 \d/).count(), { timeout: 10_000 }).toBeGreaterThan(0);
    expect(await page.getByTestId('dead-letters').textContent()).toBe('0');
    // Traffic: every chart is drawn, with a unit on each axis (x: seconds before now; y: the chart's unit).
    for (const [chart, unit] of [['chart-throughput', 'per second'], ['chart-latency', 'ms'], ['chart-lag', 'events behind'], ['chart-dead-letters', 'events']] as const) {
      const box = page.getByTestId(chart);
      expect(await box.getAttribute('data-empty'), chart).toBe('false');
      expect(await axisLabel(box, 'y'), chart).toBe(unit);
      const xTicks = await axisTicks(box, 'x');
      expect(xTicks.length, chart).toBeGreaterThan(1);
      for (const tick of xTicks) expect(tick, chart).toMatch(/^(-\d+ s|now)$/);
    }
    // Lag is drawn as steps: its lines are made of horizontal and vertical segments only, no curves.
    const lagPaths = await page.getByTestId('chart-lag').locator('path.recharts-line-curve').evaluateAll((paths) => paths.map((p) => p.getAttribute('d') ?? ''));
    expect(lagPaths.length).toBeGreaterThan(0);
    for (const d of lagPaths) {
      const points = polyline(d);
      expect(points, d).not.toBeNull();
      for (let i = 1; i < points!.length; i++) {
        const [[x0, y0], [x1, y1]] = [points![i - 1]!, points![i]!];
        expect(Math.abs(x1 - x0) < 0.01 || Math.abs(y1 - y0) < 0.01, `segment ${i} of ${d}`).toBe(true);
      }
    }
    await page.getByTestId('chart-lag').scrollIntoViewIfNeeded();
    await page.screenshot({ path: screenshotPath('metrics'), fullPage: true });
    // A component down, as /health reports it (503 with the components): shown as down, by name.
    const isHealth = (url: URL) => url.pathname === '/health';
    await page.route(isHealth, (route) => route.fulfill({
      status: 503, contentType: 'application/json',
      json: { error: { code: 'store_unavailable', message: 'unavailable: bus', details: { status: 'down', store: 'pglite', components: {
        eventStore: { status: 'up', kind: 'pglite' }, bus: { status: 'down', error: 'connection refused' }, readStore: { status: 'up', kind: 'pglite' },
      } } } },
    }));
    await expect.poll(() => page.locator('[data-testid=health-row][data-component=bus]').getAttribute('data-status'), { timeout: 10_000 }).toBe('down');
    expect(await page.locator('[data-testid=health-row][data-component=bus]').textContent()).toContain('connection refused');
    await expect.poll(() => page.getByTestId('health-line').textContent(), { timeout: 10_000 }).toContain('down: bus');
    await page.unroute(isHealth);
    await page.close();
  });

  it('audit: the checkpoint signature, an inclusion proof and a full verification are checked in the browser, and fail when the network lies', async () => {
    const page = await newPage();
    await page.goto(`${dashboard}/audit/`);
    await expect.poll(() => page.getByTestId('checkpoint-signature').textContent(), { timeout: 10_000 }).toContain('valid Ed25519 signature');
    await page.getByRole('button', { name: 'Latest event' }).click();
    const proof = page.getByTestId('proof-status');
    await expect.poll(() => proofStatus(page), { timeout: 15_000 }).toContain('proof verified');
    await page.getByTestId('full-verify').click();
    await expect.poll(() => page.getByTestId('full-result').getAttribute('data-ok'), { timeout: 30_000 }).toBe('true');
    await shot(page, 'audit');
    // A second visit proves the log only grew since the checkpoint this browser remembered.
    await api('/commands/deposit', { accountId: alice, amount: '1' });
    await new Promise((r) => setTimeout(r, 1_500)); // the sealer signs a newer checkpoint
    await page.reload();
    await expect.poll(() => page.getByTestId('checkpoint-growth').textContent(), { timeout: 10_000 }).toContain('the log only grew');

    // Now the network lies. One event of $all with another amount: the full verification names it.
    const isAll = (url: URL) => url.pathname === '/streams/$all';
    await page.route(isAll, async (route) => {
      const response = await route.fetch();
      const body = await response.json();
      const victim = body.events.find((e: { type: string }) => e.type === 'MoneyDeposited');
      if (victim) victim.data.amount = '999999';
      await route.fulfill({ response, json: body });
    });
    await page.getByTestId('full-verify').click();
    await expect.poll(() => page.getByTestId('full-result').getAttribute('data-ok'), { timeout: 30_000 }).toBe('false');
    expect(await page.getByTestId('full-result').textContent()).toContain('content_altered');
    await page.unroute(isAll);
    // And an inclusion proof with one hash of its audit path changed: the browser says it fails.
    await page.route((url) => /^\/audit\/events\/[^/]+\/proof$/.test(url.pathname), async (route) => {
      const response = await route.fetch();
      const body = await response.json();
      body.proof[0] = body.proof[0].replace(/^./, (c: string) => (c === '0' ? '1' : '0'));
      await route.fulfill({ response, json: body });
    });
    await page.getByRole('button', { name: 'Latest event' }).click();
    await expect.poll(() => proofStatus(page), { timeout: 15_000 }).toContain('proof FAILED');
    expect(await proof.textContent()).toContain('✗ audit path');
    await page.close();
  });

  it('timeline: an event opens with its envelope and proof; pause holds new events until resume; filters by type and account', async () => {
    const row = timeline.locator('[data-testid=timeline-row][data-type=TransferSent]').first();
    await row.click();
    await expect.poll(() => timeline.getByTestId('event-json').textContent()).toContain('"transferId"');
    await expect.poll(() => proofStatus(timeline), { timeout: 15_000 }).toContain('proof verified');
    await timeline.evaluate(() => window.scrollTo(0, 0));
    await shot(timeline, 'timeline');

    await timeline.getByTestId('pause').click();
    const before = await timeline.getByTestId('timeline-row').count();
    await api('/commands/deposit', { accountId: bob, amount: '5' });
    await expect.poll(() => timeline.getByTestId('resume').textContent(), { timeout: 10_000 }).toBe('Resume (1 new)');
    expect(await timeline.getByTestId('timeline-row').count()).toBe(before);
    await timeline.getByTestId('resume').click();
    await expect.poll(() => timeline.getByTestId('timeline-row').count()).toBe(before + 1);

    await timeline.getByLabel('filter by type').selectOption('TransferReceived');
    await timeline.getByLabel('filter by account').fill(bob);
    await expect.poll(() => timeline.locator('[data-testid=timeline-row]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-type')))).toEqual(['TransferReceived']);
  });

  it('each role lands on a page of its own menu: a reader on Accounts, a writer on Commands, never a page it may not use', async () => {
    const keyOf = async (role: string) => {
      const made = await api('/keys', { name: `dashboard ${role}`, role });
      expect(made.status).toBe(201);
      return made.body.key as string;
    };
    // What each role's menu shows is what the API lets it read (src/http: balances and the account list are
    // reader, commands writer, $all, history and audit auditor, the cluster admin; metrics are public).
    const expected = {
      reader: { lands: '/accounts/', heading: 'Accounts', menu: ['Accounts', 'Metrics & health'] },
      writer: { lands: '/commands/', heading: 'Commands', menu: ['Commands', 'Concurrency demo', 'Metrics & health'] },
      auditor: { lands: '/', heading: 'Live event timeline', menu: ['Live timeline', 'Accounts', 'Metrics & health', 'Audit'] },
    } as const;
    for (const [role, want] of Object.entries(expected)) {
      const roleContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await newPage(roleContext);
      await page.goto(`${dashboard}/#key=${await keyOf(role)}`);
      await expect.poll(() => page.getByTestId('whoami').textContent()).toContain(role);
      await expect.poll(() => new URL(page.url()).pathname, { timeout: 10_000 }).toBe(want.lands);
      await page.getByRole('heading', { level: 1, name: want.heading }).waitFor();
      expect(await page.getByRole('navigation', { name: 'main' }).getByRole('link').allTextContents(), role).toEqual(want.menu);
      if (role === 'auditor') await expect.poll(() => page.getByTestId('stream-state').textContent(), { timeout: 15_000 }).toBe('live');
      await page.waitForTimeout(1_000);
      // No refusal, no badge stuck on "connecting", no advice to use a page this menu does not show.
      expect(await page.locator('main [role=alert]').allTextContents(), role).toEqual([]);
      const main = await page.locator('main').innerText();
      expect(main, role).not.toContain('connecting');
      for (const hidden of ['Live timeline', 'Commands', 'Concurrency demo', 'Audit', 'Cluster'].filter((p) => !want.menu.includes(p as never))) {
        expect(main, `${role}: ${hidden}`).not.toContain(`${hidden} page`);
      }
      if (role === 'reader') {
        // The start page again, and a page it may not use opened by its address: sent on, or told so.
        await page.goto(`${dashboard}/`);
        await expect.poll(() => new URL(page.url()).pathname, { timeout: 10_000 }).toBe('/accounts/');
        await page.goto(`${dashboard}/audit/`);
        const note = page.getByTestId('page-not-for-role');
        await note.waitFor();
        expect(await note.textContent()).toContain('Audit needs an auditor key');
        expect(await note.getByRole('link', { name: 'Accounts' }).count()).toBe(1);
        expect(await page.locator('main [role=alert]').count()).toBe(0);
        await page.goto(`${dashboard}/account/?id=${alice}`);
        await expect.poll(() => page.getByTestId('balance-now').textContent()).toMatch(/^€/);
        await page.getByText('History and time travel need an auditor key').waitFor();
      }
      await roleContext.close();
    }
  });

  it('fits a phone-width window: no page scrolls sideways', async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
    await signIn(phone);
    const page = await newPage(phone);
    await page.goto(`${dashboard}/`);
    await page.getByTestId('timeline').waitFor();
    for (const path of ['/', '/accounts/', `/account/?id=${alice}`, '/commands/', '/demo/', '/metrics/', '/audit/']) {
      await page.goto(`${dashboard}${path}`);
      await page.waitForTimeout(400);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, path).toBeLessThanOrEqual(0);
    }
    // The timeline's Amount column is on screen, not behind a sideways scroll of its table.
    await page.goto(`${dashboard}/`);
    await expect.poll(() => page.getByTestId('timeline-row').count(), { timeout: 10_000 }).toBeGreaterThan(5);
    const wrap = await page.locator('.table-wrap:has([data-testid=timeline])').evaluate((el) => el.scrollWidth - el.clientWidth);
    expect(wrap).toBeLessThanOrEqual(0);
    const amounts = page.locator('[data-testid=timeline-row][data-type=MoneyDeposited] [data-testid=timeline-amount]');
    expect(await amounts.count()).toBeGreaterThan(0);
    const box = await amounts.first().boundingBox();
    expect(box).not.toBeNull();
    expect(box!.width).toBeGreaterThan(0);
    expect(box!.x + box!.width).toBeLessThanOrEqual(390);
    expect(await amounts.first().textContent()).toMatch(/^\+€\d/);
    await shot(page, 'phone-timeline');
    await page.goto(`${dashboard}/account/?id=${alice}`);
    await expect.poll(() => page.getByTestId('balance-now').textContent()).toMatch(/^€/);
    await shot(page, 'phone-account');
    await phone.close();
  });

  it('`chronicle dashboard` serves the pages alone, for a split deployment, calling the API it is told of', async () => {
    const refused = spawnCli('dashboard', await freePort(), { DASHBOARD_API_URL: '', DASHBOARD: 'on' });
    await refused.exited;
    expect(refused.child.exitCode).toBe(1);
    expect(refused.output()).toContain('dashboard needs DASHBOARD_API_URL');

    const port = await freePort();
    const alone = spawnCli('dashboard', await freePort(), { DASHBOARD_API_URL: ledger.base, DASHBOARD_PORT: String(port) });
    try {
      let config: { apiUrl?: string } = {};
      await expect.poll(async () => {
        config = await fetch(`http://127.0.0.1:${port}/config.json`).then((r) => r.json(), () => ({}));
        return config.apiUrl;
      }, { timeout: 30_000 }).toBe(ledger.base);
      const index = await fetch(`http://127.0.0.1:${port}/accounts/`);
      expect(index.status).toBe(200);
      expect(index.headers.get('content-security-policy')).toContain(`connect-src 'self' ${ledger.base}`);
      expect(await index.text()).toContain('ChronicleLedger');
      expect((await fetch(`http://127.0.0.1:${port}/no-such-page/`)).status).toBe(404);
    } finally {
      await alone.signal('SIGTERM');
    }
  });

  it('raised no uncaught error in any page', () => {
    expect(pageErrors).toEqual([]);
  });
}, 180_000);

// The same dashboard with PostgreSQL and JetStream switched on by configuration: it is only a client of the
// API, so the flow must look the same; the health table names the real components.
const servicesUp = existsSync(CHROMIUM) && (await postgresAvailable()) && (await natsAvailable());

describe.skipIf(!servicesUp)('dashboard against `chronicle start` on PostgreSQL and NATS JetStream', () => {
  let ledger: CliProcess;
  let browser: Browser;
  let db: TestDatabase;
  const bus = uniqueBusNames();
  let dashboard: string;

  beforeAll(async () => {
    buildDashboard();
    db = await createTestDatabase();
    const [port, dashboardPort] = [await freePort(), await freePort()];
    ledger = spawnCli('start', port, {
      DATABASE_URL: db.url, READ_DATABASE_URL: '', NATS_URL: NATS_TEST_URL, NATS_STREAM: bus.streamName, NATS_SUBJECT_PREFIX: bus.subjectPrefix,
      LOG_LEVEL: 'warn', DASHBOARD: 'on', DASHBOARD_PORT: String(dashboardPort), CHRONICLE_CHECKPOINT_INTERVAL_MS: '200',
    });
    await ledger.healthy(60_000);
    dashboard = `http://127.0.0.1:${dashboardPort}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await ledger?.signal('SIGTERM');
    const admin = await natsAdmin();
    try {
      await deleteStreams(admin.jsm, [bus.streamName]);
    } finally {
      await admin.close();
    }
    await db?.drop();
  });

  it('shows commands live on the timeline, the read model catching up through JetStream, and the real components up', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await signIn(context);
    const timeline = await context.newPage();
    const errors: string[] = [];
    timeline.on('pageerror', (error) => errors.push(error.message));
    await timeline.goto(`${dashboard}/`);
    await expect.poll(() => timeline.getByTestId('stream-state').textContent(), { timeout: 15_000 }).toBe('live');

    const page = await context.newPage();
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${dashboard}/commands/`);
    await page.getByTestId('create-id').fill('PG-1');
    await page.getByTestId('create-owner').fill('Postgres Person');
    await page.getByTestId('create-submit').click();
    await expect.poll(() => page.getByTestId('create-result').textContent(), { timeout: 10_000 }).toContain('read model caught up');
    await page.getByTestId('deposit-account').fill('PG-1');
    await expect.poll(() => page.getByTestId('deposit').getByText('Amount (EUR)').count()).toBe(1);
    await page.getByTestId('deposit').getByTestId('amount').fill('12.34');
    await page.getByTestId('deposit-submit').click();
    await expect.poll(() => page.getByTestId('deposit-result').textContent(), { timeout: 10_000 }).toMatch(/€12\.34.*read model caught up/);
    await expect.poll(() => timeline.locator('[data-testid=timeline-row][data-type=MoneyDeposited]').count(), { timeout: 10_000 }).toBe(1);

    await page.goto(`${dashboard}/metrics/`);
    // On PostgreSQL the append-stall monitor is a component too (the transaction holding the log head).
    await expect.poll(() => healthRows(page))
      .toEqual(['appendLock:up', 'bus:up', 'eventStore:up', 'readProcessor:up', 'readStore:up', 'relay:up', 'sealer:up']);
    const kinds = await page.locator('[data-testid=health-row]').allTextContents();
    expect(kinds.join(' ')).toMatch(/eventStore.*kind: postgres/);
    expect(kinds.join(' ')).toMatch(/bus.*kind: nats/);
    expect(errors).toEqual([]);
    await context.close();
  });
}, 180_000);
