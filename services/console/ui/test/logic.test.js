// Unit tests of the console's logic: `node --test services/console/ui/test/` (the test command's
// `ui` step). No dependencies: node:test, node:assert, and bash for the curl round trip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

// Local times below are written for UTC; the formatting functions use the runtime's zone.
process.env.TZ = 'UTC';

const logic = await import('../logic.js');
const {
  COLUMNS, FILTERS, MISSING, typeLabel, visibleColumns, cellText, detailFields, providerOptions,
  catalogueProviders, catalogueSources, statsRows, emptyFilters, filtersToQuery, isFiltered, eventsPath, mergeFirstPage, appendPage, formatTime,
  formatAgo, formatBytes, utf8Length, bucketize, formatWidth, describeProblem, prettyJson,
  payloadJson, shellQuote, normalizeBase, curlCommand, localToRfc3339, attemptSummary, formatIn,
  deliveryRows,
} = logic;

const NOW = Date.parse('2026-11-24T14:00:00Z');
const event = (n, extra = {}) => ({
  id: `evt_${String(n).padStart(32, '0')}`,
  provider: 'github',
  delivery_id: `d-${n}`,
  event_type: 'push',
  status: 'pending',
  received_at: new Date(NOW - n * 1000).toISOString(),
  ...extra,
});

// --- columns and fields --------------------------------------------------------------------

test('the table shows the listed fields, and optional columns only when an event has them', () => {
  const plain = [event(1), event(2)];
  assert.deepEqual(visibleColumns(plain).map((c) => c.key), ['received_at', 'provider', 'event_type', 'delivery_id', 'status']);
  const withSource = [event(1), event(2, { source: 'org-hook' })];
  assert.deepEqual(visibleColumns(withSource).map((c) => c.key), ['received_at', 'provider', 'event_type', 'source', 'delivery_id', 'status']);
  assert.equal(cellText(COLUMNS.find((c) => c.key === 'source'), withSource[0]), MISSING);
});

test('type shows the action when there is one, and a dash when the type is absent', () => {
  assert.equal(typeLabel({ event_type: 'issues', action: 'opened' }), 'issues \u00b7 opened');
  assert.equal(typeLabel({ event_type: 'push' }), 'push');
  assert.equal(typeLabel({}), MISSING);
  assert.equal(typeLabel({ action: 'opened' }), 'opened');
  assert.equal(typeLabel({ event_type: '', action: null }), MISSING);
});

test('cells tolerate missing, unknown and structured values', () => {
  const provider = COLUMNS.find((c) => c.key === 'provider');
  assert.equal(cellText(provider, { provider: 'shopify' }), 'shopify');
  assert.equal(cellText(provider, {}), MISSING);
  assert.equal(cellText(provider, { provider: { name: 'x' } }), '{"name":"x"}');
  assert.equal(cellText(provider, { provider: 0 }), '0');
});

test('the detail lists known fields in order, then unknown scalar ones, never the payload', () => {
  const fields = detailFields({
    ...event(1), processed_at: null, action: 'opened', future_field: 'x', payload: {}, deliveries: [], nested: { a: 1 },
  });
  assert.deepEqual(fields.map((f) => f.key), ['id', 'provider', 'event_type', 'action', 'delivery_id', 'status', 'received_at', 'future_field']);
  assert.equal(fields.at(-1).label, 'future field');
});

const entry = (slug, name, configured) => ({
  slug, name, scheme_family: 'hmac-body', secret_variable: `webhook_${slug}_secret`,
  configured, handshake: null, proof: 'computed-vector',
});
const catalogue = (configured) => ({
  configured_as_of: configured === null ? null : '2026-11-24T13:00:00.000Z',
  providers: [
    entry('github', 'GitHub', configured === null ? null : true),
    entry('stripe', 'Stripe', configured === null ? null : true),
    entry('azuredevops', 'Azure DevOps', configured === null ? null : false),
    entry('box', 'Box', configured === null ? null : false),
  ],
});

test('the provider filter offers the catalogue by name, configured providers first', () => {
  assert.deepEqual(providerOptions(catalogue(true)), [
    { value: 'github', label: 'GitHub', group: 'Configured' },
    { value: 'stripe', label: 'Stripe', group: 'Configured' },
    { value: 'azuredevops', label: 'Azure DevOps', group: 'Not configured' },
    { value: 'box', label: 'Box', group: 'Not configured' },
  ]);
  // The webhook component has not said which are configured yet: one list, by name.
  assert.deepEqual(providerOptions(catalogue(null)).map((o) => o.value), ['azuredevops', 'box', 'github', 'stripe']);
  assert.ok(providerOptions(catalogue(null)).every((o) => !('group' in o)));
});

test('the generic sources the catalogue lists follow, and filter by provider source and their name', () => {
  const withSources = { ...catalogue(true), sources: [{ name: 'billing' }, { name: 'acme' }, null, { name: '' }] };
  assert.deepEqual(providerOptions(withSources).slice(-2), [
    { value: 'source/acme', label: 'acme', group: 'Generic sources' },
    { value: 'source/billing', label: 'billing', group: 'Generic sources' },
  ]);
  assert.deepEqual(catalogueSources({ sources: 'nope' }), []);
  const { params, error } = filtersToQuery({ ...emptyFilters(), provider: 'source/acme' }, NOW);
  assert.equal(error, null);
  assert.equal(params.toString(), 'limit=50&provider=source&source=acme');
});

test('until the catalogue is read, the filter offers what the stats count; nothing is hand-kept', () => {
  assert.deepEqual(providerOptions(null), []);
  assert.deepEqual(providerOptions(null, { by_provider: {} }), []);
  assert.deepEqual(providerOptions({ providers: 'nope' }, { by_provider: { stripe: {}, github: {}, linear: {} } }),
    [{ value: 'github', label: 'github' }, { value: 'linear', label: 'linear' }, { value: 'stripe', label: 'stripe' }]);
});

test('malformed catalogue entries are skipped, a missing name falls back to the slug', () => {
  assert.deepEqual(catalogueProviders({ providers: [null, { slug: '' }, { slug: 7 }, { slug: 'x', configured: 'yes' }, { slug: 'line', name: 'LINE', configured: false }] }), [
    { slug: 'x', name: 'x', configured: null },
    { slug: 'line', name: 'LINE', configured: false },
  ]);
  assert.deepEqual(catalogueProviders(undefined), []);
});

test('the stats show providers with events and configured ones, by name', () => {
  const counts = (pending, processed) => ({ pending, processed, total: pending + processed });
  const stats = { by_provider: { github: counts(0, 0), stripe: counts(0, 0), box: counts(2, 1), azuredevops: counts(0, 0), other: counts(1, 0) } };
  assert.deepEqual(statsRows(stats, catalogue(true)).map((r) => [r.slug, r.label, r.counts.total]), [
    ['box', 'Box', 3], ['github', 'GitHub', 0], ['other', 'other', 1], ['stripe', 'Stripe', 0],
  ]);
  // Configuration unknown: only providers with events.
  assert.deepEqual(statsRows(stats, catalogue(null)).map((r) => r.slug), ['box', 'other']);
  assert.deepEqual(statsRows(stats, null).map((r) => r.label), ['box', 'other']);
  assert.deepEqual(statsRows(null, catalogue(true)).map((r) => [r.slug, r.counts.total]), [['github', 0], ['stripe', 0]]);
});

test('every filter is a control with a label, and the ones sent are API parameters', () => {
  const known = ['provider', 'type', 'status', 'since', 'until'];
  for (const filter of FILTERS) {
    assert.ok(filter.label, filter.name);
    if (filter.param) assert.ok(known.includes(filter.param), filter.param);
  }
});

// --- filters -> query ------------------------------------------------------------------------

test('no filter asks for a page, newest first', () => {
  const { params, error } = filtersToQuery(emptyFilters(), NOW);
  assert.equal(error, null);
  assert.equal(params.toString(), 'limit=50');
  assert.equal(isFiltered(emptyFilters()), false);
});

test('filters map to the API parameters', () => {
  const state = { ...emptyFilters(), provider: 'stripe', type: ' invoice.paid ', status: 'processed' };
  const { params, error } = filtersToQuery(state, NOW, 20);
  assert.equal(error, null);
  assert.equal(params.toString(), 'limit=20&provider=stripe&type=invoice.paid&status=processed');
  assert.equal(isFiltered(state), true);
});

test('a preset range becomes since, relative to now', () => {
  const { params } = filtersToQuery({ ...emptyFilters(), range: '1h' }, NOW);
  assert.equal(params.get('since'), '2026-11-24T13:00:00.000Z');
  assert.equal(params.get('until'), null);
  const week = filtersToQuery({ ...emptyFilters(), range: '7d' }, NOW).params;
  assert.equal(week.get('since'), '2026-11-17T14:00:00.000Z');
});

test('a custom range sends local times as UTC, and refuses what the API would', () => {
  const custom = { ...emptyFilters(), range: 'custom', since: '2026-11-24T10:30', until: '2026-11-24T12:00' };
  const { params, error } = filtersToQuery(custom, NOW);
  assert.equal(error, null);
  assert.equal(params.get('since'), '2026-11-24T10:30:00.000Z');
  assert.equal(params.get('until'), '2026-11-24T12:00:00.000Z');
  assert.match(filtersToQuery({ ...custom, until: '2026-11-24T10:00' }, NOW).error, /later than/);
  assert.match(filtersToQuery({ ...custom, since: 'yesterday' }, NOW).error, /not a date/);
  assert.match(filtersToQuery({ ...emptyFilters(), type: 'a b' }, NOW).error, /spaces/);
  // since/until fields are ignored unless the range is custom.
  assert.equal(filtersToQuery({ ...custom, range: '' }, NOW).params.toString(), 'limit=50');
  assert.equal(localToRfc3339(''), null);
});

test('the events path carries the cursor, encoded', () => {
  const { params } = filtersToQuery({ ...emptyFilters(), type: 'a+b/c' }, NOW);
  assert.equal(eventsPath(params, null), '/api/events?limit=50&type=a%2Bb%2Fc');
  assert.equal(eventsPath(params, 'abc=='), '/api/events?limit=50&type=a%2Bb%2Fc&cursor=abc%3D%3D');
});

// --- merging refreshed pages -----------------------------------------------------------------

test('a refresh adds new deliveries on top and keeps the pages loaded with Load more', () => {
  const shown = [1, 2, 3, 4, 5, 6].map((n) => event(n)); // two pages of 3, cursor after 6
  const fresh = [0, 1, 2].map((n) => event(n)); // one new delivery; the page ends at 2
  const merged = mergeFirstPage(shown, 'after-6', fresh, 'after-2');
  assert.deepEqual(merged.events.map((e) => e.delivery_id), ['d-0', 'd-1', 'd-2', 'd-3', 'd-4', 'd-5', 'd-6']);
  assert.equal(merged.cursor, 'after-6');
  assert.equal(merged.added, 1);
});

test('a refresh updates changed events and drops deleted or no longer matching ones', () => {
  const shown = [1, 2, 3, 4].map((n) => event(n));
  const fresh = [event(1, { status: 'processed' }), event(3), event(4)]; // 2 is gone
  const merged = mergeFirstPage(shown, 'after-4', fresh, 'after-4');
  assert.deepEqual(merged.events.map((e) => e.delivery_id), ['d-1', 'd-3', 'd-4']);
  assert.equal(merged.events[0].status, 'processed');
  assert.equal(merged.added, 0);
});

test('a refresh whose page is the whole list replaces it', () => {
  const merged = mergeFirstPage([event(1), event(2)], null, [event(0), event(1)], null);
  assert.deepEqual(merged.events.map((e) => e.delivery_id), ['d-0', 'd-1']);
  assert.equal(merged.cursor, null);
});

test('when more arrived than a page holds, Load more continues after the fresh page', () => {
  // d-3 .. d-9 arrived too and are not on the fresh page: keeping d-10, d-11 would hide them.
  const shown = [10, 11].map((n) => event(n));
  const fresh = [0, 1, 2].map((n) => event(n));
  const merged = mergeFirstPage(shown, 'after-11', fresh, 'after-2');
  assert.deepEqual(merged.events.map((e) => e.delivery_id), ['d-0', 'd-1', 'd-2']);
  assert.equal(merged.cursor, 'after-2');
  assert.equal(merged.added, 3);
});

test('a refresh keeps the shown events when the fresh page reaches the newest of them', () => {
  const shown = [2, 3].map((n) => event(n));
  const fresh = [0, 1, 2].map((n) => event(n));
  const merged = mergeFirstPage(shown, 'after-3', fresh, 'after-2');
  assert.deepEqual(merged.events.map((e) => e.delivery_id), ['d-0', 'd-1', 'd-2', 'd-3']);
  assert.equal(merged.cursor, 'after-3');
});

test('load more skips events already shown', () => {
  assert.deepEqual(appendPage([event(1), event(2)], [event(2), event(3)]).map((e) => e.delivery_id), ['d-1', 'd-2', 'd-3']);
});

// --- times and sizes -------------------------------------------------------------------------

test('times are written in the local zone, and how long ago', () => {
  assert.equal(formatTime('2026-11-24T14:34:37.086Z'), '2026-11-24 14:34:37');
  assert.equal(formatTime('not a time'), 'not a time');
  assert.equal(formatTime(undefined), MISSING);
  assert.equal(formatAgo(new Date(NOW - 3000).toISOString(), NOW), 'just now');
  assert.equal(formatAgo(new Date(NOW - 42e3).toISOString(), NOW), '42 s ago');
  assert.equal(formatAgo(new Date(NOW - 5 * 60e3).toISOString(), NOW), '5 min ago');
  assert.equal(formatAgo(new Date(NOW - 3 * 3600e3).toISOString(), NOW), '3 h ago');
  assert.equal(formatAgo(new Date(NOW - 50 * 3600e3).toISOString(), NOW), '2 d ago');
  assert.equal(formatAgo(new Date(NOW + 60e3).toISOString(), NOW), 'in the future');
  assert.equal(formatAgo('nope', NOW), '');
});

test('byte counts', () => {
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1536), '1.5 KB');
  assert.equal(formatBytes(2_500_000), '2.5 MB');
  assert.equal(utf8Length('h\u00e9'), 3);
});

// --- chart -----------------------------------------------------------------------------------

test('deliveries are counted per round bucket, ending now', () => {
  const times = [NOW - 10e3, NOW - 20e3, NOW - 30 * 60e3, NOW - 2 * 3600e3].map((t) => new Date(t).toISOString());
  const buckets = bucketize(times, NOW, 24);
  assert.equal(buckets.width, 15 * 60e3);
  assert.equal(buckets.counts.length, 12); // 11:15 .. 14:00 in quarters of an hour (at least 12)
  assert.equal(buckets.start, Date.parse('2026-11-24T11:15:00Z'));
  assert.equal(buckets.counts.slice(0, 3).reduce((a, b) => a + b, 0), 0);
  assert.equal(buckets.counts[3], 1); // 12:00-12:15
  assert.equal(buckets.counts.reduce((a, b) => a + b, 0), 4);
  assert.equal(buckets.counts.at(-1), 0); // 14:00-14:15: none yet
  assert.equal(buckets.counts.at(-2), 2); // 13:45-14:00
  assert.equal(formatWidth(buckets.width), '15 minutes');
});

test('a chart never has more buckets than asked, however old the events', () => {
  const old = [new Date(NOW - 400 * 24 * 3600e3).toISOString(), new Date(NOW).toISOString()];
  const buckets = bucketize(old, NOW, 24);
  assert.ok(buckets.counts.length <= 24);
  assert.equal(buckets.counts.reduce((a, b) => a + b, 0), 1, 'the event older than the chart is left out');
  const burst = bucketize([new Date(NOW - 1000).toISOString(), new Date(NOW - 2000).toISOString()], NOW);
  assert.equal(burst.width, 60e3);
  assert.deepEqual(burst.counts, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0]); // 13:59 and 14:00 (now)
  assert.equal(bucketize([], NOW), null);
  assert.equal(bucketize(['garbage'], NOW), null);
  assert.equal(formatWidth(60e3), '1 minute');
  assert.equal(formatWidth(3600e3), '1 hour');
  assert.equal(formatWidth(6 * 3600e3), '6 hours');
  assert.equal(formatWidth(24 * 3600e3), '1 day');
});

// --- problems --------------------------------------------------------------------------------

test('problems are described from their RFC 9457 members', () => {
  const problem = describeProblem(401, {
    type: 'urn:webhook-inbox:problem:unauthorized', title: 'Authentication is required', status: 401,
    detail: 'the bearer token is not valid', errors: [{ field: 'header:Authorization', detail: 'the bearer token is not valid' }],
    request_id: 'abc',
  });
  assert.equal(problem.title, 'Authentication is required');
  assert.equal(problem.detail, 'the bearer token is not valid');
  assert.deepEqual(problem.errors, [{ field: 'header:Authorization', detail: 'the bearer token is not valid' }]);
  assert.equal(problem.requestId, 'abc');
  assert.equal(describeProblem(502, null).title, 'The API answered HTTP 502');
  assert.equal(describeProblem(0, { detail: 'Failed to fetch' }).title, 'The API could not be reached');
  assert.deepEqual(describeProblem(400, { errors: 'nope' }).errors, []);
});

// --- payloads --------------------------------------------------------------------------------

test('pretty JSON keeps numbers and strings exactly as sent', () => {
  const source = '{"id":12345678901234567890,"s":"a,{b}:[c] \\"q\\" \\\\","e":{},"a":[ ],"n":[1,2.50,-0e3,true,null]}';
  assert.equal(prettyJson(source), [
    '{',
    '  "id": 12345678901234567890,',
    '  "s": "a,{b}:[c] \\"q\\" \\\\",',
    '  "e": {},',
    '  "a": [],',
    '  "n": [',
    '    1,',
    '    2.50,',
    '    -0e3,',
    '    true,',
    '    null',
    '  ]',
    '}',
  ].join('\n'));
  assert.equal(prettyJson('"just a string"'), '"just a string"');
  assert.equal(prettyJson('{"a":1'), null);
  assert.equal(prettyJson('payload=%7B%7D'), null);
  assert.equal(prettyJson(undefined), null);
});

test('the payload shown is the raw JSON body re-indented, else the stored json', () => {
  assert.equal(payloadJson({ content_type: 'application/json; charset=utf-8', raw_body: '{"n":9007199254740993}', json: { n: 1 } }),
    '{\n  "n": 9007199254740993\n}');
  assert.equal(payloadJson({ content_type: 'application/x-www-form-urlencoded', raw_body: 'payload=%7B%22a%22%3A1%7D', json: { a: 1 } }),
    '{\n  "a": 1\n}');
  assert.equal(payloadJson(undefined), '');
});

// --- copy as curl ----------------------------------------------------------------------------

/** Runs a command under bash with `curl` replaced by a function that prints its arguments. */
function argumentsOf(command) {
  const script = `curl() { printf '%s\\0' "$@"; }\n${command}\n`;
  const result = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout.split('\0').slice(0, -1);
}

test('shell quoting survives bash for every awkward character', () => {
  const words = ["it's", '$HOME `id` $(id) "q" \\ !x', 'tab\there\nnewline', 'cr\rand\x1besc!', '<script>alert(1)</script>', '', '\u00e9\u{1f600}'];
  for (const word of words) {
    const result = spawnSync('bash', ['-c', `printf '%s' ${shellQuote(word)}`], { encoding: 'utf8' });
    assert.equal(result.stdout, word, JSON.stringify(word));
  }
  assert.throws(() => shellQuote('nul\0'), /NUL/);
});

test('re-send addresses must be http(s) URLs', () => {
  assert.equal(normalizeBase('http://127.0.0.1:3000/'), 'http://127.0.0.1:3000');
  assert.equal(normalizeBase(' https://x.example/inbox// '), 'https://x.example/inbox');
  assert.equal(normalizeBase('javascript:alert(1)'), null);
  assert.equal(normalizeBase('127.0.0.1:3000'), null);
  assert.equal(normalizeBase(''), null);
});

test('Copy as curl re-sends the stored delivery byte for byte with its headers', () => {
  const body = '{"zen":"it\'s <script>alert(1)</script> \\"><img src=x onerror=alert(1)>","n":1}\n';
  const detail = {
    ...event(1),
    payload: {
      content_type: 'application/json',
      headers: {
        'x-github-event': 'push', 'x-github-delivery': 'd-1', 'content-type': 'application/json',
        'x-hub-signature-256': 'sha256=abc', 'user-agent': 'GitHub-Hookshot/1', 'x-empty': '',
      },
      raw_body: body,
      json: {},
    },
  };
  const command = curlCommand(detail, 'http://127.0.0.1:3000/');
  assert.ok(command.startsWith("curl -sS -X POST 'http://127.0.0.1:3000/webhooks/github'"), command);
  assert.deepEqual(argumentsOf(command), [
    '-sS', '-X', 'POST', 'http://127.0.0.1:3000/webhooks/github',
    '-H', 'content-type: application/json',
    '-H', 'user-agent: GitHub-Hookshot/1',
    '-H', 'x-empty;',
    '-H', 'x-github-delivery: d-1',
    '-H', 'x-github-event: push',
    '-H', 'x-hub-signature-256: sha256=abc',
    '--data-raw', body,
  ]);
});

test('Copy as curl adds the content type when no header has it, and refuses bad addresses', () => {
  const detail = { provider: 'stripe', payload: { content_type: 'application/json', headers: { 'stripe-signature': 't=1,v1=x' }, raw_body: '{}' } };
  const args = argumentsOf(curlCommand(detail, 'http://localhost:3000'));
  assert.deepEqual(args, ['-sS', '-X', 'POST', 'http://localhost:3000/webhooks/stripe', '-H', 'content-type: application/json', '-H', 'stripe-signature: t=1,v1=x', '--data-raw', '{}']);
  assert.throws(() => curlCommand(detail, 'file:///etc/passwd'), /http/);
  const odd = { provider: 'a/b', payload: {} };
  assert.equal(argumentsOf(curlCommand(odd))[3], 'http://127.0.0.1:3000/webhooks/a%2Fb');
});

// --- deliveries ----------------------------------------------------------------------------

test('an attempt reads as its number, time and answer or error', () => {
  assert.equal(
    attemptSummary({ attempt: 2, at: '2026-11-24T13:59:00Z', status_code: 503, duration_ms: 120 }),
    '#2 at 2026-11-24 13:59:00: HTTP 503, 120 ms',
  );
  assert.equal(
    attemptSummary({ attempt: 1, at: '2026-11-24T13:58:00Z', error: 'no response within 10000 ms', duration_ms: 10001 }),
    '#1 at 2026-11-24 13:58:00: no response within 10000 ms, 10001 ms',
  );
  assert.equal(
    attemptSummary({ attempt: 1, at: '2026-11-24T13:57:00Z', error: 'abandoned: ...', duration_ms: 0, abandoned: true }),
    '#1 at 2026-11-24 13:57:00: abandoned, outcome unknown (it may have been delivered)',
  );
  assert.equal(attemptSummary(null), MISSING);
});

test('future times read as how soon', () => {
  assert.equal(formatIn('2026-11-24T13:00:00Z', NOW), 'now');
  assert.equal(formatIn('2026-11-24T14:00:42Z', NOW), 'in 42 s');
  assert.equal(formatIn('2026-11-24T14:05:00Z', NOW), 'in 5 min');
  assert.equal(formatIn('2026-11-24T17:00:00Z', NOW), 'in 3 h');
  assert.equal(formatIn('2026-11-26T14:00:00Z', NOW), 'in 2 d');
  assert.equal(formatIn('not a time', NOW), '');
});

test('delivery rows say the state in words, the last attempt and the history', () => {
  const rows = deliveryRows({
    event_id: 'evt_1',
    deliveries: [
      { destination: 'billing', state: 'pending', next_attempt_at: '2026-11-24T14:05:00Z', replays: 0,
        attempts: [{ attempt: 1, at: '2026-11-24T13:59:00Z', status_code: 500, duration_ms: 9 }] },
      { destination: 'ci', state: 'dead', replays: 1, attempts: [
        { attempt: 1, at: '2026-11-24T13:50:00Z', status_code: 410, duration_ms: 3 },
        { attempt: 2, at: '2026-11-24T13:55:00Z', status_code: 410, duration_ms: 4 }] },
      { destination: 'x', state: 'delivered', attempts: [], ordered: true },
      { destination: '<img src=x onerror=alert(1)>', state: 'teleported' },
    ],
  }, NOW);
  assert.deepEqual(rows.map((r) => r.state), ['pending', 'dead', 'delivered', 'unknown']);
  assert.deepEqual(rows.map((r) => r.ordered), [false, false, true, false]);
  assert.equal(rows[0].label, 'Pending, next attempt in 5 min');
  assert.equal(rows[0].last, '#1 at 2026-11-24 13:59:00: HTTP 500, 9 ms');
  assert.equal(rows[1].label, 'Dead letter: no more attempts');
  assert.equal(rows[1].attempts, '2');
  assert.equal(rows[1].history.length, 2);
  assert.equal(rows[1].replays, 1);
  assert.equal(rows[2].last, 'none yet');
  // Unknown values are shown as text, never interpreted.
  assert.equal(rows[3].label, 'teleported');
  assert.equal(rows[3].destination, '<img src=x onerror=alert(1)>');
  assert.deepEqual(deliveryRows({}), []);
  assert.deepEqual(deliveryRows(null), []);
});

// --- bulk replay of dead letters -------------------------------------------------------------

test('the bulk replay offers the destinations the stats count, with their dead letters', () => {
  const { deadLetterDestinations } = logic;
  assert.deepEqual(deadLetterDestinations({ forwarding: { zeta: { dead: 2 }, alpha: { dead: 0 } } }), [
    { value: 'alpha', label: 'alpha (0 dead)' },
    { value: 'zeta', label: 'zeta (2 dead)' },
  ]);
  assert.deepEqual(deadLetterDestinations(null), []);
  assert.deepEqual(deadLetterDestinations({ forwarding: null }), []);
});

test('a bulk replay body carries only what is set, and refuses what the API would', () => {
  const { bulkReplayBody, filterPatterns, BULK_REPLAY_DEFAULT } = logic;
  assert.deepEqual(filterPatterns(' stripe:invoice.*,github  push ,'), ['stripe:invoice.*', 'github', 'push']);
  assert.deepEqual(bulkReplayBody({ destination: '', filter: '', since: '', limit: '' }),
    { body: { limit: BULK_REPLAY_DEFAULT }, error: null });
  assert.deepEqual(
    bulkReplayBody({ destination: 'billing', filter: 'stripe:invoice.*', since: '2026-11-24T13:00', limit: '5' }, '17'),
    { body: { destination: 'billing', filter: ['stripe:invoice.*'], since: '2026-11-24T13:00:00.000Z', limit: 5, cursor: '17' }, error: null });
  for (const limit of ['0', '101', '2.5', 'x']) {
    assert.match(bulkReplayBody({ limit }).error, /1 to 100/, limit);
  }
  assert.match(bulkReplayBody({ since: 'nope', limit: '1' }).error, /Dead since/);
});

test('batches add up, and the summary says whether more remain', () => {
  const { addBatch, describeBatches } = logic;
  const first = addBatch(null, {
    replayed: [{ event_id: 'evt_a', destination: 'd' }, { event_id: 'evt_b', destination: 'd' }],
    skipped: { not_matching: 1, no_longer_dead: 0, event_gone: 0, unreadable: 0 },
    scanned: 3,
    next_cursor: '5',
  });
  assert.equal(first.cursor, '5');
  assert.equal(describeBatches(first), 'Replayed 2 dead letters. Passed over: 1 not selected. More remain: Continue goes on from here.');
  const second = addBatch(first, { replayed: [{ event_id: 'evt_c', destination: 'd' }], skipped: { no_longer_dead: 2 }, next_cursor: null });
  assert.deepEqual([second.replayed, second.batches, second.cursor], [3, 2, null]);
  assert.equal(describeBatches(second),
    'Replayed 1 dead letter (3 in 2 batches). Passed over: 2 no longer dead, 1 not selected. Done: every dead letter was read.');
});

// --- destinations: state, settings, circuit breaking -----------------------------------------

test('formatSeconds writes at most two adjacent units', () => {
  const { formatSeconds } = logic;
  assert.equal(formatSeconds(45), '45 s');
  assert.equal(formatSeconds(600), '10 min');
  assert.equal(formatSeconds(5400), '1 h 30 min');
  assert.equal(formatSeconds(3605), '1 h');
  assert.equal(formatSeconds(2592000), '30 d');
  assert.equal(formatSeconds(0), '0 s');
  for (const odd of [-1, 1.5, '60', null, undefined]) assert.equal(formatSeconds(odd), MISSING, String(odd));
});

test('settingsTexts: limits, a rotation and the circuit thresholds', () => {
  const { settingsTexts } = logic;
  assert.deepEqual(settingsTexts({
    secrets: 2, max_per_second: 20, max_in_flight: 5, disable_after_failures: 3, disable_after_seconds: 600,
  }), ['\u2264 20/s', '\u2264 5 in flight', 'rotating: 2 secrets', 'disabled after 3 failed attempts in a row or 10 min failing']);
  assert.deepEqual(settingsTexts({ secrets: 1 }), [], 'one secret is no rotation, no limit or threshold is none');
  assert.deepEqual(settingsTexts({ secrets: 1, disable_after_failures: 1 }), ['disabled after 1 failed attempt in a row']);
  assert.deepEqual(settingsTexts({ secrets: 1, disable_after_seconds: 3600 }), ['disabled after 1 h failing']);
  // Odd values are left out, never shown as "≤ undefined/s".
  assert.deepEqual(settingsTexts({ secrets: '3', max_per_second: 0, max_in_flight: -2, disable_after_failures: 'x', disable_after_seconds: 2.5 }), []);
  for (const odd of [null, undefined, 'fast', 7, [], [1]]) assert.deepEqual(settingsTexts(odd), [], JSON.stringify(odd));
});

test('destinationRows turns the stats into one row per destination, by name', () => {
  const { destinationRows } = logic;
  const rows = destinationRows({
    forwarding: {
      zeta: { pending: 0, delivered: 12, dead: 1, ordered: true, settings: { secrets: 2, max_per_second: 20 } },
      billing: {
        pending: 4, delivered: 0, dead: 0, ordered: false,
        settings: { secrets: 1, disable_after_failures: 2 },
        disabled: { since: '2026-11-24T13:59:00.000Z', reason: '2 failed attempts in a row', waiting: 9 },
      },
    },
  });
  assert.deepEqual(rows, [
    {
      name: 'billing', counts: { pending: '4', delivered: '0', dead: '0' }, ordered: false,
      settings: ['disabled after 2 failed attempts in a row'], reported: true,
      disabled: { since: '2026-11-24T13:59:00.000Z', when: '2026-11-24 13:59:00', reason: '2 failed attempts in a row', waiting: 9 },
    },
    {
      name: 'zeta', counts: { pending: '0', delivered: '12', dead: '1' }, ordered: true,
      settings: ['\u2264 20/s', 'rotating: 2 secrets'], reported: true, disabled: null,
    },
  ]);
});

test('destinationRows survives odd input: missing settings, disabled without a reason, non-objects', () => {
  const { destinationRows } = logic;
  for (const stats of [null, undefined, 'stats', {}, { forwarding: null }, { forwarding: 'x' }, { forwarding: [{ pending: 1 }] }]) {
    assert.deepEqual(destinationRows(stats), [], JSON.stringify(stats));
  }
  const rows = destinationRows({
    forwarding: {
      a: { pending: 1, delivered: 2, dead: 3 }, // an older API: no settings, no ordered
      b: 5,
      c: null,
      d: { pending: -1, delivered: '7', dead: 1.5, ordered: 'yes', settings: 'none' },
      e: { disabled: {} },
      f: { disabled: { since: 'yesterday', reason: '   ', waiting: -2 } },
      g: { disabled: true },
      h: { disabled: null },
      i: { disabled: false },
      j: { settings: [] },
    },
  });
  const byName = Object.fromEntries(rows.map((row) => [row.name, row]));
  assert.deepEqual(rows.map((row) => row.name), ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
  assert.deepEqual(byName.a, { name: 'a', counts: { pending: '1', delivered: '2', dead: '3' }, ordered: false, settings: [], reported: false, disabled: null });
  for (const name of ['b', 'c', 'd']) {
    assert.deepEqual(byName[name].counts, { pending: MISSING, delivered: MISSING, dead: MISSING }, name);
    assert.equal(byName[name].ordered, false, name);
    assert.equal(byName[name].reported, false, name);
    assert.equal(byName[name].disabled, null, name);
  }
  const unknown = { since: null, when: 'unknown time', reason: 'no reason given', waiting: null };
  assert.deepEqual(byName.e.disabled, unknown);
  assert.deepEqual(byName.f.disabled, unknown, 'an unreadable time and a blank reason');
  assert.deepEqual(byName.g.disabled, unknown, 'disabled, though not as an object: still offered re-enabling');
  assert.equal(byName.h.disabled, null);
  assert.equal(byName.i.disabled, null);
  assert.equal(byName.j.reported, false);
});

test('enableRequest posts to the destination, its name encoded', () => {
  const { enableRequest } = logic;
  assert.deepEqual(enableRequest('billing'), { method: 'POST', path: '/api/destinations/billing/enable', error: null });
  assert.equal(enableRequest('a/b?c').path, '/api/destinations/a%2Fb%3Fc/enable');
  for (const odd of ['', null, undefined, 7, {}]) {
    const request = enableRequest(odd);
    assert.equal(request.path, null, String(odd));
    assert.match(request.error, /No destination/);
  }
});

test('describeEnabled says what the destination was disabled for', () => {
  const { describeEnabled } = logic;
  assert.equal(
    describeEnabled('billing', { destination: 'billing', was_disabled: { since: '2026-11-24T13:59:00Z', reason: '2 failed attempts in a row' } }),
    'Re-enabled billing (it was disabled since 2026-11-24 13:59:00: 2 failed attempts in a row). What waited for it is sent from the next dispatch round on.',
  );
  assert.equal(describeEnabled('billing', { destination: 'billing', was_disabled: null }), 'billing was not disabled: nothing changed.');
  assert.equal(describeEnabled('billing', { destination: 'billing', was_disabled: {} }),
    'Re-enabled billing (it was disabled). What waited for it is sent from the next dispatch round on.');
  assert.equal(describeEnabled('billing', { was_disabled: { since: 'soon', reason: 7 } }),
    'Re-enabled billing (it was disabled). What waited for it is sent from the next dispatch round on.');
  for (const odd of [null, undefined, 'ok', {}, { destination: 'billing' }, { was_disabled: 'yes' }]) {
    assert.equal(describeEnabled('billing', odd), 'Asked to re-enable billing; the answer did not say what it was disabled for.', JSON.stringify(odd));
  }
});
