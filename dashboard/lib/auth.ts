// The API key this browser signs in with. Kept in sessionStorage (gone with the tab) unless the person asks to
// remember it on this device (localStorage). A key in the URL fragment (#key=…, as the first start prints it)
// is taken once and removed from the address bar: fragments are never sent to a server, but they do stay in
// the history.
const STORAGE_KEY = 'chronicle.apiKey';
const KEY_SHAPE = /^chr_[0-9a-f]{16}_[A-Za-z0-9_-]{43,}$/;

type Listener = (key: string | null) => void;
const listeners = new Set<Listener>();

export const looksLikeKey = (text: string): boolean => KEY_SHAPE.test(text.trim());

export function storedKey(): string | null {
  if (typeof window === 'undefined') return null;
  return window.sessionStorage.getItem(STORAGE_KEY) ?? window.localStorage.getItem(STORAGE_KEY);
}

export function saveKey(key: string, remember: boolean): void {
  const trimmed = key.trim();
  window.sessionStorage.setItem(STORAGE_KEY, trimmed);
  if (remember) window.localStorage.setItem(STORAGE_KEY, trimmed);
  else window.localStorage.removeItem(STORAGE_KEY);
  for (const listener of listeners) listener(trimmed);
}

export function forgetKey(): void {
  window.sessionStorage.removeItem(STORAGE_KEY);
  window.localStorage.removeItem(STORAGE_KEY);
  for (const listener of listeners) listener(null);
}

export function onKeyChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** A #key=… fragment: stored for this session, then dropped from the URL. */
export function takeKeyFromFragment(): void {
  const match = /(?:^#|&)key=([^&]+)/.exec(window.location.hash);
  if (!match) return;
  const key = decodeURIComponent(match[1]!);
  const rest = window.location.hash.replace(/(^#|&)key=[^&]+/, '$1').replace(/^#&?$/, '');
  window.history.replaceState(null, '', window.location.pathname + window.location.search + rest);
  if (looksLikeKey(key)) saveKey(key, false);
}
