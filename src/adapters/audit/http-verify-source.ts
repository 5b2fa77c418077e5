// A running ledger's HTTP API as the verifier's source: $all in commit order (which is leaf order) and the
// signed checkpoints. Only fetch and types: the dashboard runs this same code in the browser.
import type { SignedCheckpoint } from '../../domain/audit/checkpoint.js';
import { AUDIT_CHECKPOINTS_PAGE_MAX, READ_PAGE_MAX } from '../../domain/limits.js';
import type { LogItem, VerifiableEvent } from '../../domain/audit/verify.js';
import type { VerifySource } from '../../ports/verify-source.js';

/** A response other than 2xx from the ledger's API: the CLI tells 401 and 403 apart (which key to pass). */
export class HttpStatusError extends Error {
  override readonly name = 'HttpStatusError';
  constructor(readonly path: string, readonly status: number, body: string) {
    super(`GET ${path}: ${status} ${body}`);
  }
}

/** A running ledger's HTTP API (`Authorization` header optional: an auditor key when access control is on). */
export function httpVerifySource(baseUrl: string, headers: Record<string, string> = {}): VerifySource {
  const get = async <T>(path: string): Promise<T> => {
    const response = await fetch(new URL(path, baseUrl), { headers });
    if (!response.ok) throw new HttpStatusError(path, response.status, await response.text());
    return (await response.json()) as T;
  };
  return {
    async checkpoints() {
      const out: SignedCheckpoint[] = [];
      let after = 0;
      for (;;) {
        const page = await get<{ checkpoints: (SignedCheckpoint & { format: string; signedMessage: string })[]; next: number | null }>(`/audit/checkpoints?after=${after}&limit=${AUDIT_CHECKPOINTS_PAGE_MAX}`);
        out.push(...page.checkpoints.map(({ treeSize, rootHash, issuedAt, keyId, signature }) => ({ treeSize, rootHash, issuedAt, keyId, signature })));
        if (page.next === null) return out;
        after = page.next;
      }
    },
    async *leaves(): AsyncGenerator<LogItem> {
      let from = 0;
      let index = 0;
      for (;;) {
        const page = await get<{ events: VerifiableEvent[]; lastPosition: number }>(`/streams/$all?from=${from}&count=${READ_PAGE_MAX}`);
        for (const event of page.events) yield { leafIndex: index++, event };
        if (page.events.length === 0) return;
        from = page.lastPosition;
      }
    },
    async *unsealed() {},
  };
}
