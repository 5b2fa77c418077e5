// Real NATS JetStream for integration tests. Each test run uses streams and subject prefixes of its own
// (random names), never the real `chronicle-events` / `events.>`, and deletes them at the end. With
// CHRONICLE_REQUIRE_SERVICES=1 (CI) an unreachable server fails the suite instead of skipping it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { RecordedEvent } from '../../src/ports/event-store.js';

export const NATS_TEST_URL = process.env['CHRONICLE_TEST_NATS_URL'] ?? 'nats://127.0.0.1:4222';
const REQUIRED = process.env['CHRONICLE_REQUIRE_SERVICES'] === '1';

let available: Promise<boolean> | undefined;

/** True when NATS with JetStream answers; throws instead of false when CHRONICLE_REQUIRE_SERVICES=1. */
export function natsAvailable(): Promise<boolean> {
  available ??= (async () => {
    let nc: NatsConnection | undefined;
    try {
      nc = await connect({ servers: NATS_TEST_URL, timeout: 3_000, reconnect: false });
      await (await jetstreamManager(nc)).getAccountInfo(); // JetStream enabled, not just core NATS
      return true;
    } catch (error) {
      if (REQUIRED) throw new Error(`NATS JetStream is required (CHRONICLE_REQUIRE_SERVICES=1) but ${NATS_TEST_URL} is unusable: ${(error as Error).message}`);
      return false;
    } finally {
      await nc?.close().catch(() => {});
    }
  })();
  return available;
}

/** A stream name and subject prefix no other test run (nor a real deployment) uses. */
export function uniqueBusNames(): { streamName: string; subjectPrefix: string } {
  const id = randomBytes(5).toString('hex');
  return { streamName: `chronicle-test-${id}`, subjectPrefix: `test_${id}.events` };
}

/** An admin connection for checking and cleaning up streams. */
export async function natsAdmin(url = NATS_TEST_URL): Promise<{ jsm: JetStreamManager; close(): Promise<void> }> {
  const nc = await connect({ servers: url, timeout: 3_000 });
  return { jsm: await jetstreamManager(nc), close: () => nc.close() };
}

export interface StreamMessage {
  seq: number;
  subject: string;
  msgId: string | undefined;
  event: RecordedEvent;
}

/** Every message a stream holds, in sequence order. */
export async function readStreamMessages(jsm: JetStreamManager, streamName: string): Promise<StreamMessage[]> {
  const info = await jsm.streams.info(streamName);
  const out: StreamMessage[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq += 1) {
    const message = await jsm.streams.getMessage(streamName, { seq });
    if (!message) continue;
    out.push({ seq, subject: message.subject, msgId: message.header?.get('Nats-Msg-Id') || undefined, event: message.json<RecordedEvent>() });
  }
  return out;
}

export async function deleteStreams(jsm: JetStreamManager, names: readonly string[]): Promise<void> {
  for (const name of names) await jsm.streams.delete(name).catch(() => {});
}

/** The nats-server binary, for tests that need a server of their own to stop and start (never the shared one). */
export const NATS_SERVER_BIN = process.env['CHRONICLE_TEST_NATS_SERVER_BIN'] ?? 'nats-server';

export function natsServerBinaryAvailable(): boolean {
  return spawnSync(NATS_SERVER_BIN, ['--version'], { stdio: 'ignore' }).status === 0;
}

export interface PrivateNatsServer {
  url: string;
  /** Stops this server (its own pid only) and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * A nats-server with JetStream on 127.0.0.1:`port`, storing in `storeDir`: started again on the same port
 * and directory it comes back with its streams, as after an outage.
 */
export async function startPrivateNatsServer(storeDir: string, port: number): Promise<PrivateNatsServer> {
  const child: ChildProcess = spawn(NATS_SERVER_BIN, ['-js', '-sd', storeDir, '-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `nats://127.0.0.1:${port}`;
  const end = Date.now() + 10_000;
  for (;;) {
    try {
      const nc = await connect({ servers: url, timeout: 500, reconnect: false });
      await (await jetstreamManager(nc)).getAccountInfo();
      await nc.close();
      break;
    } catch (error) {
      if (Date.now() > end || child.exitCode !== null) {
        child.kill('SIGKILL');
        throw new Error(`nats-server on ${url} did not start: ${(error as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    }).on('error', reject);
  });
}
