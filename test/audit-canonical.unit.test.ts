// The canonical event encoding (src/domain/audit/canonical.ts) pinned by test vectors. The two event vectors
// (exact text and SHA-256) were computed with this code, checked by hand against RFC 8785 (member order,
// escapes), and their hashes recomputed independently with coreutils `sha256sum` over the same text. They are
// hard-coded so that any change to the encoding, however small, fails here: a change would break every stored
// hash and proof. If the encoding must change, that is a new CANONICAL_ENCODING_ID, never an edit of these.
// The member-order vector of RFC 8785 section 3.2.3 is the published one.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CANONICAL_ENCODING_ID, CANONICAL_NESTING_DEPTH_MAX, canonicalEventBytes, canonicalEventJson, canonicalJson, CanonicalEncodingError,
  entryHash, hashHex, GENESIS_PREV_HASH, type CanonicalEventFields,
  canonicalContentJson, contentHash, CONTENT_ENCODING_ID, linkHash,
} from '../src/domain/audit/canonical.js';
import type { Sha256 } from '../src/domain/audit/hash.js';
import type { RecordedEvent } from '../src/ports/event-store.js';

const sha256: Sha256 = (bytes) => createHash('sha256').update(bytes).digest();
const nodeSha256Hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

const opened: RecordedEvent = {
  eventId: '0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f506',
  streamId: 'account-acc-1',
  streamVersion: 1,
  globalPosition: 1,
  transactionId: '748',
  aggregateType: 'Account',
  type: 'AccountCreated',
  data: { accountId: 'acc-1', owner: 'Zoë Ångström', currency: 'EUR' },
  schemaVersion: 1,
  recordedAt: '2026-11-25T13:14:05.773412Z',
  createdBy: 'admin',
  metadata: { correlationId: 'c-1', clientAddress: '127.0.0.1' },
};

const deposited: RecordedEvent = {
  ...opened,
  eventId: '0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f507',
  streamVersion: 2,
  globalPosition: 7,
  transactionId: '751',
  type: 'MoneyDeposited',
  data: { accountId: 'acc-1', amount: '12345', currency: 'EUR', balanceAfter: '12345' },
  recordedAt: '2026-11-25T13:14:06.000000Z',
  metadata: { correlationId: 'c-2', causationId: 'c-1' },
};

// ---------------------------------------------------------------------------------------------------------
// Fixed vectors

const OPENED_JSON =
  '{"aggregateType":"Account","createdBy":"admin","data":{"accountId":"acc-1","currency":"EUR","owner":"Zoë Ångström"},' +
  '"encoding":"chronicle-event-v1","eventId":"0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f506","globalPosition":1,' +
  '"metadata":{"clientAddress":"127.0.0.1","correlationId":"c-1"},' +
  '"prevHash":"0000000000000000000000000000000000000000000000000000000000000000",' +
  '"recordedAt":"2026-11-25T13:14:05.773412Z","schemaVersion":1,"streamId":"account-acc-1","streamVersion":1,' +
  '"type":"AccountCreated"}';
const OPENED_HASH = 'ac1e57e1e9a8283cf8a825f8a0e06dc2773b06c1d9623e4c77dfa6b1d254d24d';

const DEPOSITED_JSON_PREFIX =
  '{"aggregateType":"Account","createdBy":"admin","data":{"accountId":"acc-1","amount":"12345","balanceAfter":"12345",' +
  '"currency":"EUR"},"encoding":"chronicle-event-v1","eventId":"0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f507","globalPosition":7,' +
  '"metadata":{"causationId":"c-1","correlationId":"c-2"},"prevHash":"';
const DEPOSITED_HASH = '3f9fcae292f98d361d7be0a5dc5f48d9d36f2514c6ffc6b36e3d7b1fe9eb90f3';

describe('canonical event encoding: fixed vectors', () => {
  it('the first event of a stream: exact text, bytes and hash', () => {
    const json = canonicalEventJson(opened, GENESIS_PREV_HASH);
    expect(json).toBe(OPENED_JSON);
    expect(Buffer.from(canonicalEventBytes(opened, GENESIS_PREV_HASH)).toString('utf8')).toBe(OPENED_JSON);
    expect(hashHex(sha256, canonicalEventBytes(opened, GENESIS_PREV_HASH))).toBe(nodeSha256Hex(OPENED_JSON));
    expect(entryHash(sha256, opened, GENESIS_PREV_HASH)).toBe(OPENED_HASH);
  });

  it('the second event chains to the first: its prevHash is the first one\'s hash', () => {
    const json = canonicalEventJson(deposited, OPENED_HASH);
    expect(json).toBe(
      `${DEPOSITED_JSON_PREFIX}${OPENED_HASH}","recordedAt":"2026-11-25T13:14:06.000000Z","schemaVersion":1,` +
        '"streamId":"account-acc-1","streamVersion":2,"type":"MoneyDeposited"}',
    );
    expect(entryHash(sha256, deposited, OPENED_HASH)).toBe(nodeSha256Hex(json));
    expect(entryHash(sha256, deposited, OPENED_HASH)).toBe(DEPOSITED_HASH);
  });

  it('UTF-8 output: "ë", "Å" and "ö" are two bytes each, and the byte length says so', () => {
    const bytes = canonicalEventBytes(opened, GENESIS_PREV_HASH);
    expect(bytes.length).toBe(OPENED_JSON.length + 3);
    expect(CANONICAL_ENCODING_ID).toBe('chronicle-event-v1');
  });

  it('every field counts: changing any one changes the hash', () => {
    const base = entryHash(sha256, deposited, OPENED_HASH);
    const variants: Partial<CanonicalEventFields>[] = [
      { eventId: '0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f508' }, { streamId: 'account-acc-2' }, { streamVersion: 3 },
      { globalPosition: 8 }, { aggregateType: 'account' }, { type: 'MoneyWithdrawn' }, { schemaVersion: 2 },
      { data: { ...deposited.data, amount: '12346' } }, { metadata: {} }, { recordedAt: '2026-11-25T13:14:06.000001Z' },
      { createdBy: 'writer-1' },
    ];
    for (const change of variants) expect(entryHash(sha256, { ...deposited, ...change }, OPENED_HASH)).not.toBe(base);
    expect(entryHash(sha256, deposited, 'f'.repeat(64))).not.toBe(base);
  });

  it('transactionId is not part of the encoding', () => {
    expect(canonicalEventJson({ ...opened, transactionId: '999' } as RecordedEvent, GENESIS_PREV_HASH)).toBe(OPENED_JSON);
  });

  it('eventId is lower-cased, as PostgreSQL returns a uuid, so append and read hash alike', () => {
    expect(canonicalEventJson({ ...opened, eventId: opened.eventId.toUpperCase() }, GENESIS_PREV_HASH)).toBe(OPENED_JSON);
  });

  it('member order in the input does not matter', () => {
    const shuffled = Object.fromEntries(Object.entries(opened).reverse()) as unknown as RecordedEvent;
    const data = { currency: 'EUR', owner: 'Zoë Ångström', accountId: 'acc-1' };
    expect(canonicalEventJson({ ...shuffled, data }, GENESIS_PREV_HASH)).toBe(OPENED_JSON);
  });
});

describe('canonical JSON (RFC 8785)', () => {
  it('sorts members by UTF-16 code units, not by code points or locale', () => {
    // U+FB01 (one unit, 0xFB01) sorts after U+1F600 (surrogates 0xD83D 0xDE00), though its code point is smaller;
    // upper case before lower case; "10" before "9"; a prefix before its extensions.
    const value = { '\uFB01': 1, '\u{1F600}': 2, b: 3, B: 4, a: 5, aa: 6, '10': 7, '9': 8, é: 9 };
    expect(canonicalJson(value)).toBe('{"10":7,"9":8,"B":4,"a":5,"aa":6,"b":3,"é":9,"\u{1F600}":2,"\uFB01":1}');
  });

  it('writes the RFC 8785 example keys in its order (section 3.2.3)', () => {
    const value = { '\u20ac': 'Euro Sign', '\r': 'Carriage Return', '\ufb33': 'Hebrew Letter Dalet With Dagesh', '1': 'One',
      '\u{1f600}': 'Emoji: Grinning Face', '\u0080': 'Control', '\u00f6': 'Latin Small Letter O With Diaeresis' };
    const order = [...canonicalJson(value).matchAll(/"([^"]*)":"([^"]*)"/g)].map((m) => m[2]);
    expect(order).toStrictEqual([
      'Carriage Return', 'One', 'Control', 'Latin Small Letter O With Diaeresis', 'Euro Sign', 'Emoji: Grinning Face',
      'Hebrew Letter Dalet With Dagesh',
    ]);
  });

  it('escapes only quote, backslash and U+0000..U+001F, with short forms where JSON has them', () => {
    const text = '"\\\b\f\n\r\t\u0000\u0001\u001f\u007f/\u2028\u2029é€😀';
    expect(canonicalJson(text)).toBe('"\\"\\\\\\b\\f\\n\\r\\t\\u0000\\u0001\\u001f\u007f/\u2028\u2029é€😀"');
  });

  it('escapes in member names too', () => {
    expect(canonicalJson({ 'a"b': 1, 'c\nd': 2 })).toBe('{"a\\"b":1,"c\\nd":2}');
  });

  it('precomposed and decomposed "é" are different strings, different bytes, different hashes (no normalisation)', () => {
    const nfc = { ...opened, data: { ...opened.data, owner: 'Ren\u00e9' } };
    const nfd = { ...opened, data: { ...opened.data, owner: 'Rene\u0301' } };
    expect(nfc.data.owner.normalize('NFC')).toBe(nfd.data.owner.normalize('NFC'));
    expect(canonicalEventJson(nfc, GENESIS_PREV_HASH)).toContain('"owner":"Ren\u00e9"');
    expect(canonicalEventJson(nfd, GENESIS_PREV_HASH)).toContain('"owner":"Rene\u0301"');
    expect(entryHash(sha256, nfc, GENESIS_PREV_HASH)).not.toBe(entryHash(sha256, nfd, GENESIS_PREV_HASH));
  });

  it('nested objects and arrays, empty ones, null, booleans and integers', () => {
    const value = { z: [3, -2, 0, { y: null, x: [] }, [[true]], false], a: {}, m: { n: { o: 9007199254740991, p: -9007199254740991 } } };
    expect(canonicalJson(value)).toBe('{"a":{},"m":{"n":{"o":9007199254740991,"p":-9007199254740991}},"z":[3,-2,0,{"x":[],"y":null},[[true]],false]}');
  });

  it('-0 is written as 0; undefined members are left out as the store leaves them out', () => {
    expect(canonicalJson({ a: -0, b: undefined, c: 1 })).toBe('{"a":0,"c":1}');
  });

  it('a null-prototype object is a plain object', () => {
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { b: 1, a: 2 });
    expect(canonicalJson(bare)).toBe('{"a":2,"b":1}');
  });

  it('agrees with JSON.stringify of the sorted value for random JSON without floats', () => {
    const sortDeep = (v: unknown): unknown =>
      Array.isArray(v) ? v.map(sortDeep)
        : v !== null && typeof v === 'object'
          ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortDeep((v as Record<string, unknown>)[k])]))
          : v;
    const json = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.constant(null), fc.boolean(), fc.maxSafeInteger(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }).map((s) => s.replace(/\p{Surrogate}/gu, '')),
        fc.array(tie('value'), { maxLength: 4 }),
        fc.dictionary(fc.string({ unit: 'binary' }).map((s) => s.replace(/\p{Surrogate}/gu, '')), tie('value'), { maxKeys: 4 }),
      ),
    })).value;
    fc.assert(fc.property(json, (value) => {
      const text = canonicalJson(value);
      expect(text).toBe(JSON.stringify(sortDeep(value)));
      expect(canonicalJson(JSON.parse(text))).toBe(text);
    }));
  });
});

describe('what has no canonical form is refused', () => {
  const refuse = (value: unknown, code: string, pointer: string) => {
    let error: unknown;
    try {
      canonicalEventJson({ ...opened, data: { x: value } }, GENESIS_PREV_HASH);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CanonicalEncodingError);
    expect((error as CanonicalEncodingError).code).toBe(code);
    expect((error as CanonicalEncodingError).pointer).toBe(pointer);
  };

  it.each([
    ['1.5', 1.5, 'number_not_integer'], ['0.1', 0.1, 'number_not_integer'], ['1e-7', 1e-7, 'number_not_integer'],
    ['NaN', Number.NaN, 'number_not_integer'], ['Infinity', Number.POSITIVE_INFINITY, 'number_not_integer'],
    ['-Infinity', Number.NEGATIVE_INFINITY, 'number_not_integer'], ['2^53', 2 ** 53, 'number_unsafe'], ['1e21', 1e21, 'number_unsafe'],
    ['-(2^53)', -(2 ** 53), 'number_unsafe'],
  ])('the number %s', (_label, value, code) => refuse(value, code, '/data/x'));

  it.each([
    ['bigint', 1n], ['Date', new Date(0)], ['Map', new Map()], ['class instance', new (class Amount { v = 1; })()],
    ['function', () => 1], ['symbol', Symbol('s')], ['boxed string', new String('s')],
  ])('a %s', (_label, value) => refuse(value, 'unsupported_value', '/data/x'));

  it('undefined inside an array, naming its index', () => refuse([1, undefined], 'unsupported_value', '/data/x/1'));
  it('a hole in an array', () => refuse([1, , 3], 'unsupported_value', '/data/x/1'));
  it('a lone surrogate in a value', () => refuse('a\uD800b', 'lone_surrogate', '/data/x'));
  it('a lone low surrogate in a value', () => refuse('\uDC00', 'lone_surrogate', '/data/x'));
  it('a lone surrogate in a member name, with the name escaped in the pointer', () => refuse({ 'a/b~\uDFFF': 1 }, 'lone_surrogate', '/data/x/a~1b~0\uDFFF'));
  it('a float deep inside, named by its JSON Pointer', () => refuse({ list: [{ rate: 0.5 }] }, 'number_not_integer', '/data/x/list/0/rate'));

  it(`nesting deeper than ${CANONICAL_NESTING_DEPTH_MAX}, and so a cycle`, () => {
    let ok: unknown = 'leaf';
    for (let i = 0; i < CANONICAL_NESTING_DEPTH_MAX - 1; i++) ok = [ok];
    expect(() => canonicalEventJson({ ...opened, data: { x: ok } }, GENESIS_PREV_HASH)).not.toThrow();
    expect(() => canonicalEventJson({ ...opened, data: { x: [ok] } }, GENESIS_PREV_HASH)).toThrow(/nested deeper than 64/);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(() => canonicalEventJson({ ...opened, data: cycle }, GENESIS_PREV_HASH)).toThrow(CanonicalEncodingError);
  });

  it('a surrogate pair is fine: it is one code point', () => {
    expect(canonicalJson('\uD83D\uDE00')).toBe('"😀"');
  });
});

describe('the event fields are checked', () => {
  const bad: [string, Partial<Record<keyof CanonicalEventFields, unknown>>, string][] = [
    ['eventId not a UUID', { eventId: 'abc' }, '/eventId'],
    ['eventId in braces', { eventId: `{${opened.eventId}}` }, '/eventId'],
    ['eventId without hyphens', { eventId: opened.eventId.replace(/-/g, '') }, '/eventId'],
    ['streamId not a string', { streamId: 1 }, '/streamId'],
    ['type missing', { type: undefined }, '/type'],
    ['streamVersion 0', { streamVersion: 0 }, '/streamVersion'],
    ['streamVersion fractional', { streamVersion: 1.5 }, '/streamVersion'],
    ['globalPosition as text', { globalPosition: '1' }, '/globalPosition'],
    ['globalPosition beyond 2^53', { globalPosition: 2 ** 53 }, '/globalPosition'],
    ['schemaVersion missing', { schemaVersion: undefined }, '/schemaVersion'],
    ['recordedAt with milliseconds', { recordedAt: '2026-11-25T13:14:05.773Z' }, '/recordedAt'],
    ['recordedAt with an offset', { recordedAt: '2026-11-25T13:14:05.773412+00:00' }, '/recordedAt'],
    ['recordedAt as a Date', { recordedAt: new Date(0) }, '/recordedAt'],
    ['data an array', { data: [] }, '/data'],
    ['metadata null', { metadata: null }, '/metadata'],
  ];
  it.each(bad)('%s', (_label, change, pointer) => {
    const event = { ...opened, ...change } as RecordedEvent;
    expect(() => canonicalEventJson(event, GENESIS_PREV_HASH)).toThrow(CanonicalEncodingError);
    try {
      canonicalEventJson(event, GENESIS_PREV_HASH);
    } catch (e) {
      expect((e as CanonicalEncodingError).code).toBe('invalid_field');
      expect((e as CanonicalEncodingError).pointer).toBe(pointer);
    }
  });

  it('prevHash: lower-case hex of 64 digits; all zeros always for version 1', () => {
    expect(() => canonicalEventJson(opened, 'A'.repeat(64))).toThrow(/prevHash/);
    expect(() => canonicalEventJson(opened, '0'.repeat(63))).toThrow(/prevHash/);
    expect(() => canonicalEventJson(opened, 'a'.repeat(64))).toThrow(/first event of a stream has the all-zero prevHash/);
    // A later event with zeros: the first chained event of a stream older than chaining (logEntry).
    expect(canonicalEventJson(deposited, GENESIS_PREV_HASH)).toContain(`"prevHash":"${GENESIS_PREV_HASH}"`);
  });

  it('eventHash is lower-case hex SHA-256 of exactly the bytes given', () => {
    expect(hashHex(sha256, new Uint8Array(0))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(hashHex(sha256, new TextEncoder().encode('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

// ---------------------------------------------------------------------------------------------------------
// The content encoding and the chain link (docs/audit.md, decision 1)

describe('content encoding (chronicle-content-v1) and chain link', () => {
  // Computed with this code and checked with coreutils sha256sum (content) and PostgreSQL 15's
  // encode(sha256(decode(repeat('00',32) || '<content hash>', 'hex')), 'hex') (link): the SQL the store will run.
  const OPENED_CONTENT_JSON =
    '{"aggregateType":"Account","createdBy":"admin","data":{"accountId":"acc-1","currency":"EUR","owner":"Zoë Ångström"},' +
    '"encoding":"chronicle-content-v1","eventId":"0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f506",' +
    '"metadata":{"clientAddress":"127.0.0.1","correlationId":"c-1"},"schemaVersion":1,"streamId":"account-acc-1","type":"AccountCreated"}';
  const OPENED_CONTENT_HASH = '35e57ae983b2b24c92e8ad6920f4e6b6a66d9f1b780334d1ab96e6e291f3ecff';
  const OPENED_LINK = 'e091d3316539cbb73a85c654d6794581f3b51f8b320a47bec77ec9e4c2dd3a04';

  it('is byte-exact: the pinned vector, its hash, and the link PostgreSQL computes', () => {
    expect(CONTENT_ENCODING_ID).toBe('chronicle-content-v1');
    expect(canonicalContentJson(opened)).toBe(OPENED_CONTENT_JSON);
    expect(contentHash(sha256, opened)).toBe(OPENED_CONTENT_HASH);
    expect(nodeSha256Hex(OPENED_CONTENT_JSON)).toBe(OPENED_CONTENT_HASH);
    expect(linkHash(sha256, GENESIS_PREV_HASH, OPENED_CONTENT_HASH)).toBe(OPENED_LINK);
  });

  it('leaves out what is assigned under the lock or by the INSERT (version, position, recordedAt, transaction id) and nothing else', () => {
    const later = { ...opened, streamVersion: 7, globalPosition: 99, recordedAt: '2030-01-01T00:00:00.000000Z', transactionId: '9' };
    expect(contentHash(sha256, later)).toBe(OPENED_CONTENT_HASH);
    for (const changed of [
      { ...opened, data: { ...opened.data, owner: 'Zoe Angstrom' } }, { ...opened, createdBy: 'someone' },
      { ...opened, eventId: '0192f3a4-5b6c-7d8e-9fa0-b1c2d3e4f507' }, { ...opened, metadata: {} },
      { ...opened, streamId: 'account-acc-2' }, { ...opened, type: 'AccountOpened' }, { ...opened, schemaVersion: 2 },
    ]) expect(contentHash(sha256, changed)).not.toBe(OPENED_CONTENT_HASH);
  });

  it('the link depends on both inputs, and refuses anything but two hashes', () => {
    const next = linkHash(sha256, OPENED_LINK, contentHash(sha256, deposited));
    expect(next).toMatch(/^[0-9a-f]{64}$/);
    expect(linkHash(sha256, GENESIS_PREV_HASH, contentHash(sha256, deposited))).not.toBe(next);
    expect(() => linkHash(sha256, 'xyz', OPENED_CONTENT_HASH)).toThrow(CanonicalEncodingError);
    expect(() => linkHash(sha256, OPENED_LINK, OPENED_CONTENT_HASH.toUpperCase())).toThrow(CanonicalEncodingError);
  });

  it('refuses what the event encoding refuses (floats, bad ids)', () => {
    expect(() => contentHash(sha256, { ...opened, data: { amount: 1.5 } })).toThrow(CanonicalEncodingError);
    expect(() => contentHash(sha256, { ...opened, eventId: 'not-a-uuid' })).toThrow(CanonicalEncodingError);
  });
});
