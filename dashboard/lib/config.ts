// Where the API is. `chronicle start` serves /config.json next to the pages, naming the API's origin as this
// browser must call it; `next dev` (no such file) falls back to NEXT_PUBLIC_API_URL or the default port.
export interface DashboardConfig {
  apiUrl: string;
}

let loaded: Promise<DashboardConfig> | null = null;

export function dashboardConfig(): Promise<DashboardConfig> {
  loaded ??= (async () => {
    try {
      const response = await fetch('/config.json', { cache: 'no-store' });
      if (response.ok) {
        const body = (await response.json()) as Partial<DashboardConfig>;
        if (typeof body.apiUrl === 'string') return { apiUrl: body.apiUrl.replace(/\/$/, '') };
      }
    } catch {
      // fall through to the development default
    }
    return { apiUrl: process.env.NEXT_PUBLIC_API_URL ?? `http://${window.location.hostname}:4000` };
  })();
  return loaded;
}
