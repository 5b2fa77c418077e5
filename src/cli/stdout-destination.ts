// Where a long-running process's log lines (and the generated first key) go: stdout, without ever blocking
// the event loop on it. Issue 10: with pino's default destination (synchronous writes to fd 1), a stdout
// pipe nobody drained blocked the process in write(2) (or in a retry loop on EAGAIN), so it could not even
// run its SIGTERM handler and had to be SIGKILLed.
//
// On Linux, process.stdout on a pipe writes asynchronously and queues what the pipe cannot take yet; here
// that queue is bounded (past STDOUT_QUEUE_BYTES_MAX a line is dropped and counted, not queued), and a
// write error (EPIPE: the reader went away) stops the output for good instead of crashing the process
// with an unhandled 'error' event. Files and terminals are written as Node writes them.

import { STDOUT_QUEUE_BYTES_MAX } from '../domain/limits.js';

interface StdoutDestination {
  /** pino's DestinationStream: one line at a time. */
  write(line: string): void;
  /** Lines dropped because the reader was too slow or gone. */
  dropped(): number;
}

export function stdoutDestination(stdout: NodeJS.WriteStream = process.stdout, queueBytesMax = STDOUT_QUEUE_BYTES_MAX): StdoutDestination {
  let broken = false;
  let dropped = 0;
  stdout.on('error', () => {
    // EPIPE and the like: nobody is reading. Logging stops; the process goes on.
    broken = true;
  });
  return {
    write(line: string) {
      if (broken || stdout.writableLength > queueBytesMax) {
        dropped += 1;
        return;
      }
      stdout.write(line);
    },
    dropped: () => dropped,
  };
}
