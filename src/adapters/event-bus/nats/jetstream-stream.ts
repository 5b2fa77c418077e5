// The JetStream stream the relay publishes into: created when missing, its few settings that matter kept
// as configured (subjects, duplicate window, age limit, replicas) when it exists. A clustered JetStream
// scales an existing stream's replicas on update (NATS_STREAM_REPLICAS raised from 1 to 3 takes effect).
import {
  DiscardPolicy, JetStreamApiCodes, JetStreamApiError, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';

export interface StreamSettings {
  streamName: string;
  subjectPrefix: string;
  /** Nats-Msg-Id duplicates are dropped within this window. */
  duplicateWindowMs: number;
  /** Messages older than this are discarded; 0 keeps them (the event store keeps everything anyway). */
  maxAgeMs: number;
  replicas: number;
}

/** Stream names: JetStream refuses white space, '.', '*', '>', path separators. */
export const STREAM_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** Subject prefix: plain tokens separated by dots, no wildcards. */
export const SUBJECT_PREFIX_PATTERN = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

// "stream name already in use": a concurrent start created it between our info and add.
const STREAM_NAME_IN_USE = 10058;

export async function ensureStream(jsm: JetStreamManager, settings: StreamSettings): Promise<void> {
  const subjects = [`${settings.subjectPrefix}.>`];
  const wanted = {
    subjects,
    duplicate_window: nanos(settings.duplicateWindowMs),
    max_age: nanos(settings.maxAgeMs),
    num_replicas: settings.replicas,
  };
  for (let attempt = 1; ; attempt += 1) {
    try {
      const info = await jsm.streams.info(settings.streamName);
      const current = info.config;
      const same = current.subjects.length === 1 && current.subjects[0] === subjects[0]
        && current.duplicate_window === wanted.duplicate_window && current.max_age === wanted.max_age
        && current.num_replicas === wanted.num_replicas;
      if (!same) await jsm.streams.update(settings.streamName, { ...current, ...wanted });
      return;
    } catch (error) {
      if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound)) throw error;
    }
    const config: Partial<StreamConfig> & { name: string } = {
      name: settings.streamName,
      ...wanted,
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
    };
    try {
      await jsm.streams.add(config);
      return;
    } catch (error) {
      if (!(error instanceof JetStreamApiError && error.code === STREAM_NAME_IN_USE) || attempt >= 3) throw error;
    }
  }
}
