// The one byte-exact encoding of a recorded event that every audit hash is taken over: the per-stream hash
// chain and the leaves of the global Merkle log (merkle.ts). Changing a single byte of it later breaks every
// stored hash and every proof, so it is pinned by test vectors (test/audit-canonical.unit.test.ts). Version
// "chronicle-event-v1", specified here:
//
// 1. The event becomes one JSON object with exactly these members (a member absent from the event is an error):
//      encoding        "chronicle-event-v1": names this specification, so a verifier knows which rules made
//                      a hash, and a hash of some other JSON document can never pass for an event's.
//      eventId         the UUID in its 8-4-4-4-12 form, lower-cased (PostgreSQL's uuid column returns it
//                      lower-case whatever case was sent; the hash must be the same at append and on reading).
//      streamId, aggregateType, type, createdBy   strings, as stored.
//      streamVersion   integer >= 1.     globalPosition  integer >= 1.     schemaVersion   integer.
//      data, metadata  JSON objects, as stored (JSONB).
//      recordedAt      the stored instant as text, exactly YYYY-MM-DDTHH:MM:SS.ffffffZ (UTC, six fraction
//                      digits: PostgreSQL's microsecond precision, always written out).
//      prevHash        the chain link (linkHash below) of the previous event of the same stream, lower-case
//                      hex; 64 zeros for the stream's first event (streamVersion 1), and for the first
//                      chained event of a stream whose earlier events were stored before chaining existed.
//    Not included: transactionId (a PostgreSQL xid8, an artefact of how commit order is tracked, not a fact
//    about the event; the leaf order of the Merkle log already fixes the global order).
// 2. That object is serialised by RFC 8785, the JSON Canonicalization Scheme (JCS): no whitespace; object
//    members sorted by their names as arrays of UTF-16 code units; strings as ECMAScript JSON.stringify
//    writes them (only ", \ and U+0000..U+001F escaped; \b \t \n \f \r short, the rest \u00xx lower-case hex;
//    everything else, U+007F, U+2028, U+2029 and "/" included, written as itself); then encoded as UTF-8.
// 3. Numbers: only safe integers (|n| <= 2^53 - 1) are allowed anywhere, written in plain decimal (-0 as 0),
//    which is what JCS writes for them. Any other number (1.5, NaN, Infinity, 2^53) throws: JSONB would keep
//    1.50 but JavaScript reads 1.5, and a large integer loses digits in JavaScript, so no float or big
//    number could hash the same at append and after a read. Money is a decimal string everywhere already.
// 4. Unicode: strings are hashed exactly as stored, NOT normalised (JCS does not normalise, and normalising
//    here would let two different stored strings share a hash). "é" precomposed (U+00E9) and decomposed
//    (U+0065 U+0301) are different bytes and different hashes; inputs that should compare equal (owner names)
//    are NFC-normalised by the API before they are stored. A lone surrogate (not valid Unicode, so no UTF-8
//    form; I-JSON forbids it) throws, in a value or a member name.
// 5. Values in data and metadata: null, booleans, strings, numbers as above, arrays, and plain objects
//    (prototype Object.prototype or null), nested at most CANONICAL_NESTING_DEPTH_MAX deep. An object member
//    whose value is `undefined` is left out, as JSON.stringify and so the store leave it out. Anything else
//    (undefined in an array, bigint, Date, Map, class instances, functions, symbols) throws.
// Errors are CanonicalEncodingError with a code and the JSON Pointer of the offending value, so a caller can
// refuse an append with a 4xx and a verifier can name what it could not encode.
import { JSON_DEPTH_MAX } from '../limits.js';
import { concatBytes, digest, fromHex, toHex, type Sha256 } from './hash.js';

export const CANONICAL_ENCODING_ID = 'chronicle-event-v1';

/** prevHash of a stream's first event. */
export const GENESIS_PREV_HASH = '0'.repeat(64);

/** Nesting of arrays and objects inside data or metadata (data itself is depth 1). Also stops cycles. */
export const CANONICAL_NESTING_DEPTH_MAX = JSON_DEPTH_MAX;

/** The fields the encoding reads; RecordedEvent (ports/event-store.ts) has all of them. */
export interface CanonicalEventFields {
  eventId: string;
  streamId: string;
  streamVersion: number;
  globalPosition: number;
  aggregateType: string;
  type: string;
  schemaVersion: number;
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
  recordedAt: string;
  createdBy: string;
}

type CanonicalEncodingErrorCode =
  | 'invalid_field'
  | 'number_not_integer'
  | 'number_unsafe'
  | 'lone_surrogate'
  | 'unsupported_value'
  | 'too_deep';

export class CanonicalEncodingError extends Error {
  override readonly name = 'CanonicalEncodingError';
  constructor(readonly code: CanonicalEncodingErrorCode, readonly pointer: string, private readonly problem: string) {
    super(`${pointer || '/'}: ${problem}`);
  }

  /** The same error seen from the container: `segment` ("/data", "/3") goes in front of its pointer. */
  under(segment: string): CanonicalEncodingError {
    return new CanonicalEncodingError(this.code, segment + this.pointer, this.problem);
  }
}

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const RECORDED_AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const HASH_HEX = /^[0-9a-f]{64}$/;
/** With the u flag a surrogate pair is one code point, so this matches lone surrogates only. */
const LONE_SURROGATE = /\p{Surrogate}/u;
const UTF8 = new TextEncoder();

/** The canonical JSON text of an event (rules 1 to 5 above). */
export function canonicalEventJson(event: CanonicalEventFields, prevHash: string): string {
  return canonicalJson(canonicalEventObject(event, prevHash));
}

/** The canonical encoding itself: UTF-8 bytes of canonicalEventJson. */
export function canonicalEventBytes(event: CanonicalEventFields, prevHash: string): Uint8Array {
  return UTF8.encode(canonicalEventJson(event, prevHash));
}

/** Lower-case hex SHA-256 of the given bytes. */
export function hashHex(sha256: Sha256, bytes: Uint8Array): string {
  return toHex(digest(sha256, bytes));
}

/** SHA-256 of an event's canonical encoding (hex). Not its chain link (linkHash) nor its Merkle leaf hash. */
export function entryHash(sha256: Sha256, event: CanonicalEventFields, prevHash: string): string {
  return hashHex(sha256, canonicalEventBytes(event, prevHash));
}

/**
 * The Merkle log's entry for a stored event: its canonical encoding with the prevHash it stores. An event
 * stored before chaining existed has none and is encoded with 64 zeros (so is the first chained event of
 * such a stream: its chain starts there).
 */
export function logEntry(event: CanonicalEventFields & { prevHash?: string | null }): Uint8Array {
  return canonicalEventBytes(event, event.prevHash ?? GENESIS_PREV_HASH);
}

/**
 * logEntry, or for a stored event with no canonical form (possible only for rows written before the store
 * refused such events) the entry {"encoding":"chronicle-unencodable-v1","eventId":…,"globalPosition":…}: the
 * log must not stop at it, and the verifier reports it by name.
 */
export function sealableEntry(event: CanonicalEventFields & { prevHash?: string | null }): { entry: Uint8Array; encodable: boolean } {
  try {
    return { entry: logEntry(event), encodable: true };
  } catch (error) {
    if (!(error instanceof CanonicalEncodingError)) throw error;
    const fallback = canonicalJson({ encoding: 'chronicle-unencodable-v1', eventId: String(event.eventId).toLowerCase(), globalPosition: event.globalPosition });
    return { entry: UTF8.encode(fallback), encodable: false };
  }
}

// ---- The content encoding, for the per-stream chain (docs/audit.md, decision 1) -------------------------
// The chain hash is taken when the event is appended, before the INSERT assigns its global position and its
// recordedAt, so it cannot cover them. "chronicle-content-v1" is the same encoding (rules 2 to 5) of what the
// writer knows beforehand: encoding, eventId, streamId, aggregateType, type, schemaVersion, data, metadata,
// createdBy. Not streamVersion: an append expecting 'any' learns it only under the stream's lock, inside SQL;
// the chain itself fixes each event's place in its stream (the verifier walks versions 1..n and checks every
// link), and the Merkle leaf covers the number. The chain link is then SHA-256(prevHash || contentHash) over the 32 + 32 raw
// bytes, computed by the store in SQL (PostgreSQL's sha256(bytea)) under the stream's row lock. Position and
// recordedAt are covered by the Merkle leaf (canonicalEventBytes above), which the sealer takes after commit.

export const CONTENT_ENCODING_ID = 'chronicle-content-v1';

/** The fields of an event known before it is stored. */
type ContentFields = Omit<CanonicalEventFields, 'globalPosition' | 'recordedAt' | 'streamVersion'>;

export function canonicalContentJson(event: ContentFields): string {
  // Validated as a whole event would be, with placeholders for the two fields the content leaves out.
  const { encoding: _, globalPosition: _p, recordedAt: _r, prevHash: _h, streamVersion: _v, ...content } = canonicalEventObject(
    { ...event, streamVersion: 1, globalPosition: 1, recordedAt: '1970-01-01T00:00:00.000000Z' },
    GENESIS_PREV_HASH,
  );
  return canonicalJson({ encoding: CONTENT_ENCODING_ID, ...content });
}

/** Lower-case hex SHA-256 of the content encoding's UTF-8 bytes. */
export function contentHash(sha256: Sha256, event: ContentFields): string {
  return toHex(digest(sha256, UTF8.encode(canonicalContentJson(event))));
}

/** One link of a stream's chain as the store computes it: SHA-256(prevHash || contentHash), raw bytes. */
export function linkHash(sha256: Sha256, prevHash: string, content: string): string {
  if (!HASH_HEX.test(prevHash)) throw invalid('/prevHash', 'must be 64 lower-case hex digits');
  if (!HASH_HEX.test(content)) throw invalid('/contentHash', 'must be 64 lower-case hex digits');
  return toHex(digest(sha256, concatBytes(fromHex(prevHash), fromHex(content))));
}

/**
 * RFC 8785 JCS of a JSON value restricted as rules 3 to 5 say. Exported for tests and for other signed
 * documents (checkpoints); events go through canonicalEventJson.
 */
export function canonicalJson(value: unknown): string {
  return serialise(value, 0);
}

function canonicalEventObject(event: CanonicalEventFields, prevHash: string): Record<string, unknown> {
  if (typeof event !== 'object' || event === null) throw invalid('', 'the event must be an object');
  if (typeof event.eventId !== 'string' || !UUID.test(event.eventId)) {
    throw invalid('/eventId', 'must be a UUID in 8-4-4-4-12 hex form');
  }
  for (const name of ['streamId', 'aggregateType', 'type', 'createdBy'] as const) {
    if (typeof event[name] !== 'string') throw invalid(`/${name}`, 'must be a string');
  }
  checkInteger('/streamVersion', event.streamVersion, 1);
  checkInteger('/globalPosition', event.globalPosition, 1);
  checkInteger('/schemaVersion', event.schemaVersion, Number.MIN_SAFE_INTEGER);
  if (typeof event.recordedAt !== 'string' || !RECORDED_AT.test(event.recordedAt)) {
    throw invalid('/recordedAt', 'must be UTC with six fraction digits, YYYY-MM-DDTHH:MM:SS.ffffffZ');
  }
  if (!isPlainObject(event.data)) throw invalid('/data', 'must be a plain object');
  if (!isPlainObject(event.metadata)) throw invalid('/metadata', 'must be a plain object');
  if (typeof prevHash !== 'string' || !HASH_HEX.test(prevHash)) throw invalid('/prevHash', 'must be 64 lower-case hex digits');
  if (event.streamVersion === 1 && prevHash !== GENESIS_PREV_HASH) {
    throw invalid('/prevHash', 'the first event of a stream has the all-zero prevHash');
  }
  return {
    encoding: CANONICAL_ENCODING_ID,
    eventId: event.eventId.toLowerCase(),
    streamId: event.streamId,
    streamVersion: event.streamVersion,
    globalPosition: event.globalPosition,
    aggregateType: event.aggregateType,
    type: event.type,
    schemaVersion: event.schemaVersion,
    data: event.data,
    metadata: event.metadata,
    recordedAt: event.recordedAt,
    createdBy: event.createdBy,
    prevHash,
  };
}

// `depth` counts the containers entered: the event object is 0, its data 1. Errors are raised with the
// pointer relative to the value at hand, and each container puts its own segment in front on the way out
// (CanonicalEncodingError.under): no pointer is built for a value that encodes, the common case.
function serialise(value: unknown, depth: number): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return serialiseString(value);
    case 'number':
      return serialiseNumber(value);
    case 'object':
      break;
    default:
      throw new CanonicalEncodingError('unsupported_value', '', `${typeof value} has no JSON form`);
  }
  if (depth > CANONICAL_NESTING_DEPTH_MAX) {
    throw new CanonicalEncodingError('too_deep', '', `nested deeper than ${CANONICAL_NESTING_DEPTH_MAX}`);
  }
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item === undefined) throw new CanonicalEncodingError('unsupported_value', `/${i}`, 'undefined in an array');
      try {
        out += (i === 0 ? '' : ',') + serialise(item, depth + 1);
      } catch (error) {
        throw error instanceof CanonicalEncodingError ? error.under(`/${i}`) : error;
      }
    }
    return `${out}]`;
  }
  if (!isPlainObject(value)) {
    throw new CanonicalEncodingError('unsupported_value', '', 'only plain objects and arrays have a canonical form');
  }
  const names = Object.keys(value).filter((name) => value[name] !== undefined);
  // Array.prototype.sort without a comparator orders strings by UTF-16 code units: RFC 8785 3.2.3 exactly.
  names.sort();
  let out = '{';
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    try {
      out += `${i === 0 ? '' : ','}${serialiseString(name)}:${serialise(value[name], depth + 1)}`;
    } catch (error) {
      throw error instanceof CanonicalEncodingError ? error.under(`/${escapePointer(name)}`) : error;
    }
  }
  return `${out}}`;
}

function serialiseString(text: string): string {
  if (LONE_SURROGATE.test(text)) throw new CanonicalEncodingError('lone_surrogate', '', 'string holds a lone surrogate');
  // For well-formed strings RFC 8785 3.2.2.2 is defined as ECMAScript's JSON.stringify of a string.
  return JSON.stringify(text);
}

function serialiseNumber(n: number): string {
  if (!Number.isInteger(n)) {
    throw new CanonicalEncodingError('number_not_integer', '', `${String(n)} is not an integer; send decimals as strings`);
  }
  if (!Number.isSafeInteger(n)) {
    throw new CanonicalEncodingError('number_unsafe', '', `${String(n)} is beyond 2^53-1; send it as a string`);
  }
  return Object.is(n, -0) ? '0' : String(n);
}

function checkInteger(pointer: string, value: unknown, min: number): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw invalid(pointer, `must be a safe integer >= ${min}`);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** RFC 6901: ~ and / in a member name. Only for error messages. */
const escapePointer = (name: string): string => name.replace(/~/g, '~0').replace(/\//g, '~1');

const invalid = (pointer: string, message: string) => new CanonicalEncodingError('invalid_field', pointer, message);
