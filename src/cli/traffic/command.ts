// The two traffic commands as the CLI runs them: a bad argument is one line on stderr and exit 2; SIGINT
// stops simulate-traffic early (in-flight commands journaled unknown, the summary written), a second SIGINT
// at once (every journal line already written is on disk: one write(2) each).
import { UsageError } from './args.js';
import { simulateTraffic } from './simulate.js';
import { verifyConsistency } from './verify-consistency.js';

export type TrafficCommand = 'simulate-traffic' | 'verify-consistency';

export interface TrafficIo {
  out: (line: string) => void;
  err: (line: string) => void;
  env: NodeJS.ProcessEnv;
}

export async function trafficCommand(command: TrafficCommand, args: string[], io: TrafficIo, onSigint?: (handler: (() => void) | null) => void): Promise<number> {
  try {
    if (command === 'verify-consistency') return await verifyConsistency(args, io);
    const interrupt = new AbortController();
    onSigint?.(() => {
      if (interrupt.signal.aborted) process.exit(130);
      io.err('interrupted: finishing the journal (Ctrl-C again to quit at once)');
      interrupt.abort();
    });
    try {
      const code = await simulateTraffic(args, { ...io, interrupt: interrupt.signal });
      return interrupt.signal.aborted ? 130 : code;
    } finally {
      onSigint?.(null);
    }
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err(`chronicle ${command}: ${error.message} (--help for usage)`);
    return 2;
  }
}
