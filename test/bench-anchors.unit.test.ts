// Reading the anchors script's output (bench/anchors.ts) and the final table built from it
// (bench/bench-table.ts): the two fixtures are two real runs of `bash ../shared/anchors/run.sh` on this
// machine (DURATION=15), inlined as printed, psql NOTICE lines (stderr) included in the first.
import { describe, expect, it } from 'vitest';
import { AnchorsFormatError, anchorRange, parseAnchors, ratioRange } from '../bench/anchors.js';
import { buildTable, type TableInput } from '../bench/bench-table.js';

const RUN1 = `pg-insert1   c=32        2902 tps   latency avg 11.027 ms
pg-insert10  c=32        1556 tps   latency avg 20.559 ms
             (pg-insert10: multiply tps by 10 for events/s)
pg-select    c=8        22218 tps   latency avg 0.360 ms
psql:/work/shared/anchors/pg/transfer-schema.sql:4: NOTICE:  table "anchor_entries" does not exist, skipping
psql:/work/shared/anchors/pg/transfer-schema.sql:5: NOTICE:  table "anchor_accounts" does not exist, skipping
psql:/work/shared/anchors/pg/transfer-schema.sql:6: NOTICE:  sequence "anchor_transfer_ids" does not exist, skipping
pg-transfer  c=32        3094 tps   latency avg 10.342 ms
{"bench":"emmett-append","config":"32 workers, pool default, 1 event/append","run":1,"cmd":"POOL=default WORKERS=32 DURATION=15 node emmett/append.mjs","metrics":{"appends_per_s":2071.271213660563,"p50_ms":14.183759999999893,"p99_ms":35.29619199999979,"conflicts":109}}
{"bench":"emmett-aggregate","config":"32 workers, pool default, 10 events/stream","run":1,"cmd":"POOL=default WORKERS=32 DURATION=15 node emmett/read.mjs","metrics":{"reads_per_s":4638.138442273467,"events_per_s":46381.38442273467,"p50_ms":5.656294000000344,"p99_ms":21.56246100000135}}
http-get     c=48       29408 req/s   p99 4 ms
http-post    c=48       17337 req/s   p99 6 ms
`;

const RUN2 = `pg-insert1   c=32        4873 tps   latency avg 6.566 ms
pg-insert10  c=32        1851 tps   latency avg 17.280 ms
             (pg-insert10: multiply tps by 10 for events/s)
pg-select    c=8        24488 tps   latency avg 0.327 ms
pg-transfer  c=32        4157 tps   latency avg 7.698 ms
{"bench":"emmett-append","config":"32 workers, pool default, 1 event/append","run":1,"cmd":"POOL=default WORKERS=32 DURATION=15 node emmett/append.mjs","metrics":{"appends_per_s":898.2140947484005,"p50_ms":29.84382199999891,"p99_ms":118.57240699999966,"conflicts":50}}
{"bench":"emmett-aggregate","config":"32 workers, pool default, 10 events/stream","run":1,"cmd":"POOL=default WORKERS=32 DURATION=15 node emmett/read.mjs","metrics":{"reads_per_s":4274.5116595042,"events_per_s":42745.116595041996,"p50_ms":6.083528999999544,"p99_ms":24.824280000000726}}
http-get     c=48       31042 req/s   p99 4 ms
http-post    c=48       29460 req/s   p99 6 ms
`;

describe('parseAnchors', () => {
  it('reads every anchor of a run, NOTICE and note lines ignored', () => {
    expect(parseAnchors(RUN1)).toEqual({
      pgInsert1Tps: 2902,
      pgInsert10Tps: 1556,
      pgInsert10EventsPerSecond: 15560,
      pgSelectTps: 22218,
      pgTransferTps: 3094,
      emmettAppendsPerSecond: 2071.271213660563,
      emmettAppendP99Ms: 35.29619199999979,
      emmettAggregateReadsPerSecond: 4638.138442273467,
      emmettAggregateEventsPerSecond: 46381.38442273467,
      httpGetPerSecond: 29408,
      httpGetP99Ms: 4,
      httpPostPerSecond: 17337,
      httpPostP99Ms: 6,
    });
    const run2 = parseAnchors(RUN2);
    expect(run2.pgTransferTps).toBe(4157);
    expect(run2.pgInsert10EventsPerSecond).toBe(18510);
    expect(run2.emmettAppendsPerSecond).toBeCloseTo(898.214, 3);
    expect(run2.httpGetPerSecond).toBe(31042);
  });

  it('the range over before and after, and a ratio\'s range against it', () => {
    const runs = [parseAnchors(RUN1), parseAnchors(RUN2)];
    expect(anchorRange(runs, 'pgTransferTps')).toEqual({ min: 3094, max: 4157 });
    expect(anchorRange([], 'pgTransferTps')).toBeNull();
    const r = ratioRange(1640, { min: 3094, max: 4157 });
    expect(r.min).toBeCloseTo(1640 / 4157, 10);
    expect(r.max).toBeCloseTo(1640 / 3094, 10);
  });

  it('fails loudly when an anchor is missing (the script died half way)', () => {
    const cut = RUN1.split('\n').filter((l) => !l.startsWith('http-')).join('\n');
    expect(() => parseAnchors(cut)).toThrow(AnchorsFormatError);
    expect(() => parseAnchors(cut)).toThrow(/no http-get, http-post line/);
    expect(() => parseAnchors('')).toThrow(/no pg-insert1, pg-insert10, pg-select, pg-transfer, emmett-append, emmett-aggregate, http-get, http-post/);
  });

  it('fails loudly on a line whose format changed, rather than yielding NaN', () => {
    // pgbench printed no tps (the sed found nothing): the script prints an empty field
    expect(() => parseAnchors(RUN1.replace('pg-transfer  c=32        3094 tps', 'pg-transfer  c=32             tps'))).toThrow(/pg-transfer line not in the expected form/);
    expect(() => parseAnchors(RUN1.replace('29408 req/s', '29408 requests/s'))).toThrow(/http-get line not in the expected form/);
    expect(() => parseAnchors(RUN1.replace('"appends_per_s"', '"appendsPerSecond"'))).toThrow(/emmett-append metrics.appends_per_s is not a positive number/);
    expect(() => parseAnchors(RUN1.replace('{"bench":"emmett-aggregate"', '{"bench":"emmett-aggregate",'))).toThrow(/JSON line does not parse/);
    expect(() => parseAnchors(RUN1.replace('pg-select    c=8        22218 tps', 'pg-select    c=8            0 tps'))).toThrow(/pg-select tps is not a positive number/);
  });

  it('refuses an anchor printed twice (two runs pasted together)', () => {
    expect(() => parseAnchors(`${RUN1}\n${RUN2}`)).toThrow(/appears twice/);
  });
});

describe('buildTable', () => {
  const input: TableInput = {
    connections: 48,
    commandsPerSecond: 1640,
    commandP99Ms: 77.08,
    readsPerSecond: 20000,
    visibilityP99Ms: 176.4,
    visibilityHalfRateP99Ms: 42.5,
    rebuildEventsPerSecond: 17000,
    sealingEventsPerSecond: 'BENCH_SEAL=0',
    embedded: { commandsPerSecond: 820, commandP99Ms: 150, readsPerSecond: 'BENCH_EMBEDDED=0' },
    anchors: [parseAnchors(RUN1), parseAnchors(RUN2)],
  };

  it('has the rows of issue 14, each ratio over the anchors\' range and judged against its target', () => {
    const table = buildTable(input);
    expect(table.rows.map((r) => r.what)).toEqual([
      'commands/s vs pg-transfer',
      'commands/s vs Emmett append',
      'command p99 (48 clients)',
      'balance reads/s vs http-get',
      'write→read visibility p99 at half the max command rate (prober, phase 1b)',
      'write→read visibility p99 at full command load (prober, phase 1; no target)',
      'rebuild events/s vs pg-insert10',
      'sealing events/s vs pg-insert10',
      'embedded (PGlite) commands/s vs the PostgreSQL run',
      'embedded (PGlite) command p99 vs the PostgreSQL run',
      'embedded (PGlite) balance reads/s vs the PostgreSQL run',
    ]);
    const [transfer, emmett, p99, reads, visibilityHalf, visibility, rebuild, sealing, embeddedCommands, embeddedP99, embeddedReads] = table.rows;
    expect(transfer).toMatchObject({ anchorText: 'pg-transfer 3,094–4,157 tps', ratioText: '0.39–0.53×', target: '≥ 1.0×', met: 'no' });
    expect(emmett).toMatchObject({ anchorText: 'Emmett append 898–2,071/s', ratioText: '0.79–1.83×', target: '≥ 2.0×', met: 'no' });
    expect(p99).toMatchObject({ measuredText: '77.1 ms', target: '≤ 30 ms', met: 'no' });
    expect(reads).toMatchObject({ anchorText: 'http-get 29,408–31,042 req/s', ratioText: '0.64–0.68×', met: 'yes' });
    expect(visibilityHalf).toMatchObject({ measuredText: '42.5 ms', target: '≤ 50 ms', met: 'yes' });
    expect(visibility).toMatchObject({ measuredText: '176 ms', target: '–', met: '–' });
    // 17,000 events/s against 15,560–18,510: the target lies inside the range
    expect(rebuild).toMatchObject({ ratioText: '0.92–1.09×', met: 'partly' });
    expect(sealing).toMatchObject({ measuredText: 'not measured (BENCH_SEAL=0)', ratioText: '–', met: '–' });
    expect(embeddedCommands).toMatchObject({ anchorText: 'the PostgreSQL run 1,640/s', ratioText: '0.50×', met: 'yes' });
    expect(embeddedP99).toMatchObject({ ratioText: '1.95×', target: '–', met: '–' });
    expect(embeddedReads).toMatchObject({ measuredText: 'not measured (BENCH_EMBEDDED=0)', met: '–' });
    expect(table.markdown.split('\n')).toHaveLength(13);
    expect(table.markdown).not.toMatch(/NaN|undefined|Infinity/);
  });

  it('without anchors says so instead of inventing a ratio', () => {
    const table = buildTable({ ...input, anchors: [], anchorsNote: 'BENCH_ANCHORS=off' });
    expect(table.rows[0]).toMatchObject({ anchorText: 'no anchors (BENCH_ANCHORS=off)', ratio: null, ratioText: '–', met: '–' });
    expect(table.markdown).not.toMatch(/NaN|undefined|Infinity/);
  });
});
