// The one way the dashboard talks to the ledger: its HTTP API, with the signed-in key as a Bearer token.
// Every failure becomes an ApiProblem carrying the API's own error (code, message, details), or `unreachable`
// when there was no answer at all.
import { storedKey } from './auth';
import { dashboardConfig } from './config';

export interface ApiErrorBody {
  error: { code: string; message: string; details?: unknown };
}

export class ApiProblem extends Error {
  override readonly name = 'ApiProblem';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly correlationId?: string,
  ) {
    super(message);
  }
}

export interface ApiRequest {
  method?: 'GET' | 'POST';
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface ApiAnswer<T> {
  status: number;
  body: T;
  headers: Headers;
}

export async function apiUrl(path: string): Promise<string> {
  return (await dashboardConfig()).apiUrl + path;
}

export async function authHeaders(): Promise<Record<string, string>> {
  const key = storedKey();
  return key === null ? {} : { authorization: `Bearer ${key}` };
}

export async function apiFetch<T>(path: string, request: ApiRequest = {}): Promise<ApiAnswer<T>> {
  const url = await apiUrl(path);
  const headers: Record<string, string> = { ...(await authHeaders()), ...request.headers };
  if (request.body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(url, {
      method: request.method ?? 'GET',
      headers,
      ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
      ...(request.signal ? { signal: request.signal } : {}),
      cache: 'no-store',
    });
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error;
    throw new ApiProblem(0, 'unreachable', `the ledger API at ${url.split('/').slice(0, 3).join('/')} did not answer`);
  }
  const text = await response.text();
  let body: unknown = null;
  try {
    body = text === '' ? null : JSON.parse(text);
  } catch {
    body = text;
  }
  if (!response.ok) {
    const error = (body as Partial<ApiErrorBody> | null)?.error;
    throw new ApiProblem(
      response.status,
      error?.code ?? `http_${response.status}`,
      error?.message ?? `${response.status} ${response.statusText}`,
      error?.details,
      response.headers.get('x-correlation-id') ?? undefined,
    );
  }
  return { status: response.status, body: body as T, headers: response.headers };
}

export const api = async <T>(path: string, request?: ApiRequest): Promise<T> => (await apiFetch<T>(path, request)).body;

/** The /metrics page as text (Prometheus exposition format). */
export async function metricsText(signal?: AbortSignal): Promise<string> {
  const response = await fetch(await apiUrl('/metrics'), { cache: 'no-store', ...(signal ? { signal } : {}) });
  if (!response.ok) throw new ApiProblem(response.status, `http_${response.status}`, 'metrics unavailable');
  return response.text();
}

/** /health answers 503 with the components when one is down: both are an answer here. */
export async function health(signal?: AbortSignal): Promise<HealthAnswer> {
  try {
    return await api<HealthAnswer>('/health', signal ? { signal } : {});
  } catch (error) {
    if (error instanceof ApiProblem && error.status === 503) {
      const details = error.details as { components?: HealthAnswer['components']; store?: string } | undefined;
      return { status: 'down', store: details?.store ?? 'unknown', components: details?.components ?? {} };
    }
    throw error;
  }
}

export interface HealthAnswer {
  status: 'ok' | 'down';
  store: string;
  components: Record<string, { status: 'up' | 'down' | 'standby' | string; error?: string; [k: string]: unknown }>;
}
