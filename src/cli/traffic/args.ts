// Arguments of the traffic commands: `--flag value` pairs and bare switches, each checked; a bad one is a
// UsageError (one line, exit 2).
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface Parsed {
  values: Map<string, string>;
  switches: Set<string>;
}

export function parseArgs(args: string[], valueFlags: readonly string[], switchFlags: readonly string[]): Parsed {
  const values = new Map<string, string>();
  const switches = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (switchFlags.includes(arg)) switches.add(arg);
    else if (valueFlags.includes(arg)) {
      const value = args[i + 1];
      if (value === undefined || value.startsWith('--')) throw new UsageError(`${arg} needs a value`);
      if (values.has(arg)) throw new UsageError(`${arg} given twice`);
      values.set(arg, value);
      i++;
    } else throw new UsageError(`unknown argument ${arg}`);
  }
  return { values, switches };
}

/** An integer flag within [min, max]; `fallback` when absent (undefined: required). */
export function intFlag(parsed: Parsed, flag: string, min: number, max: number, fallback?: number): number {
  const text = parsed.values.get(flag);
  if (text === undefined) {
    if (fallback === undefined) throw new UsageError(`${flag} is required`);
    return fallback;
  }
  if (!/^\d{1,10}$/.test(text) || Number(text) < min || Number(text) > max) throw new UsageError(`${flag} must be an integer from ${min} to ${max}, not ${text}`);
  return Number(text);
}

/** --url: one or more http(s) URLs, comma-separated; commands fail over from one to the next. */
export function urlsFlag(parsed: Parsed, flag: string, fallback?: string[]): string[] {
  const text = parsed.values.get(flag);
  if (text === undefined) {
    if (fallback === undefined) throw new UsageError(`${flag} is required (the ledger API, e.g. http://127.0.0.1:4000; several comma-separated)`);
    return fallback;
  }
  return text.split(',').map((u) => u.trim()).filter((u) => u !== '').map((u) => {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      throw new UsageError(`${flag}: ${u} is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${flag}: ${u} is not an http(s) URL`);
    return url.origin;
  });
}

/** --key, else CHRONICLE_KEY. */
export function keyFlag(parsed: Parsed, env: NodeJS.ProcessEnv): string {
  const key = parsed.values.get('--key') ?? env['CHRONICLE_KEY'];
  if (key === undefined || key === '') throw new UsageError('--key is required (an admin API key; or set CHRONICLE_KEY)');
  return key;
}

/** The id part of a chronicle API key (chr_<16 hex>_<secret>), never the secret. */
export function keyIdOf(key: string): string | null {
  return /^chr_([0-9a-f]{16})_/.exec(key)?.[1] ?? null;
}
