// The console's logic, free of the DOM: what the table shows, how the filters become the API's
// query, how a stored delivery becomes a curl command, how times are written and counted.
// app.js wires it to the page; test/logic.test.js runs it under `node --test`.
//
// Forward compatibility: the API is growing (event summaries gain `source` and `action`, more
// providers, `event_type` may be absent; an event's `deliveries` are read on their own, below).
// Everything the console shows of an event comes from the lists below, so a new field is one
// entry, and a field the console does not know, or one that is missing, never breaks a row.

/** Where the session's API token is kept (sessionStorage only: this tab, until sign-out). */
export const TOKEN_KEY = 'webhook-inbox.console.token';
/** Where the "re-send to" base URL of "Copy as curl" is kept (sessionStorage). */
export const RESEND_BASE_KEY = 'webhook-inbox.console.resend-base';
/** A local `spin up` (scripts/dev). */
export const DEFAULT_RESEND_BASE = 'http://127.0.0.1:3000';
/** Page size of the listing. */
export const PAGE_SIZE = 50;
/** How often the list and the stats are refreshed while visible. */
export const REFRESH_MS = 5000;
/** Shown for a value an event does not have. */
export const MISSING = '\u2014';

/** Event statuses (the API's `status` filter). */
export const STATUSES = ['pending', 'processed'];

/** Received-time presets of the filter; `custom` shows the from/to fields. */
export const RANGES = [
  { value: '', label: 'Any time' },
  { value: '15m', label: 'Last 15 minutes', ms: 15 * 60e3 },
  { value: '1h', label: 'Last hour', ms: 3600e3 },
  { value: '24h', label: 'Last 24 hours', ms: 24 * 3600e3 },
  { value: '7d', label: 'Last 7 days', ms: 7 * 24 * 3600e3 },
  { value: 'custom', label: 'Custom range' },
];

/**
 * The filter controls, in order. `param` is the API's query parameter; `options` is a list, or
 * `'providers'` for the API's provider catalogue (`providerOptions`). `when` shows a control only
 * for some states.
 */
export const FILTERS = [
  { name: 'provider', param: 'provider', label: 'Provider', control: 'select', options: 'providers', any: 'Any provider' },
  { name: 'type', param: 'type', label: 'Type', control: 'text', placeholder: 'e.g. push' },
  { name: 'status', param: 'status', label: 'Status', control: 'select', options: STATUSES, any: 'Any status' },
  { name: 'range', label: 'Received', control: 'select', options: RANGES },
  { name: 'since', param: 'since', label: 'From', control: 'datetime-local', when: (state) => state.range === 'custom' },
  { name: 'until', param: 'until', label: 'To', control: 'datetime-local', when: (state) => state.range === 'custom' },
];

/** The event type and, where the provider has one, its action (`issues` + `opened`). */
export function typeLabel(event) {
  const parts = [event.event_type, event.action].filter((part) => typeof part === 'string' && part !== '');
  return parts.length ? parts.join(' \u00b7 ') : MISSING;
}

/**
 * The events table's columns. `optional` columns appear only when a listed event has the field
 * (so `source` shows up by itself once the API sends it). `link` marks the cell that opens it.
 */
export const COLUMNS = [
  { key: 'received_at', label: 'Received', kind: 'time' },
  { key: 'provider', label: 'Provider' },
  { key: 'event_type', label: 'Type', value: typeLabel },
  { key: 'source', label: 'Source', optional: true },
  { key: 'delivery_id', label: 'Delivery', link: true },
  { key: 'status', label: 'Status', kind: 'status' },
];

/** The summary fields of the detail view, in order; other scalar fields follow them. */
export const DETAIL_FIELDS = [
  { key: 'id', label: 'Event id', code: true },
  { key: 'provider', label: 'Provider' },
  { key: 'event_type', label: 'Type' },
  { key: 'action', label: 'Action' },
  { key: 'source', label: 'Source' },
  { key: 'delivery_id', label: 'Delivery id', code: true },
  { key: 'status', label: 'Status', kind: 'status' },
  { key: 'received_at', label: 'Received', kind: 'time' },
  { key: 'processed_at', label: 'Processed', kind: 'time' },
];

/** Members of an event that are not summary fields. */
const NOT_FIELDS = new Set(['payload', 'deliveries']);

/** The columns to show for these events. */
export function visibleColumns(events, columns = COLUMNS) {
  return columns.filter((column) => !column.optional || events.some((event) => hasValue(event[column.key])));
}

function hasValue(value) {
  return value !== undefined && value !== null && value !== '';
}

/** A value as text: missing is a dash, objects are JSON. */
export function text(value) {
  if (!hasValue(value)) return MISSING;
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** The text of one cell. */
export function cellText(column, event) {
  return column.value ? column.value(event) : text(event[column.key]);
}

/** The detail rows: the known fields an event has, then any other scalar member it has. */
export function detailFields(event) {
  const known = new Set(DETAIL_FIELDS.map((field) => field.key));
  const rows = DETAIL_FIELDS.filter((field) => hasValue(event[field.key]));
  for (const [key, value] of Object.entries(event)) {
    if (known.has(key) || NOT_FIELDS.has(key) || !hasValue(value) || typeof value === 'object') continue;
    rows.push({ key, label: key.replaceAll('_', ' ') });
  }
  return rows;
}

/**
 * The providers of the API's catalogue (`GET /api/providers`) the console can use: `{ slug, name,
 * configured }` per well-formed entry (`configured`: true, false, or null when the webhook
 * component has not reported yet). An empty list for anything that is not a catalogue.
 */
export function catalogueProviders(catalogue) {
  const entries = catalogue && Array.isArray(catalogue.providers) ? catalogue.providers : [];
  return entries
    .filter((entry) => entry && typeof entry.slug === 'string' && entry.slug !== '')
    .map((entry) => ({
      slug: entry.slug,
      name: typeof entry.name === 'string' && entry.name !== '' ? entry.name : entry.slug,
      configured: typeof entry.configured === 'boolean' ? entry.configured : null,
    }));
}

/** The generic sources the catalogue lists (`sources`: those with a secret), by name. */
export function catalogueSources(catalogue) {
  const entries = catalogue && Array.isArray(catalogue.sources) ? catalogue.sources : [];
  return entries
    .filter((entry) => entry && typeof entry.name === 'string' && entry.name !== '')
    .map((entry) => entry.name);
}

/** A provider filter value that is one generic source: `source/<name>`. */
export const SOURCE_PREFIX = 'source/';

/**
 * The provider filter's options, `{ value, label, group }`, sorted by name: from the API's
 * catalogue (`/api/providers`), the configured providers first (`group` 'Configured', the others
 * 'Not configured') once the webhook component has said which are, then each generic source
 * (`group` 'Generic sources', value `source/<name>`); until the catalogue is read (or if it
 * cannot be), the providers `/api/stats` counts, by slug. No list is kept here.
 */
export function providerOptions(catalogue, stats = null) {
  const byName = (a, b) => a.label.localeCompare(b.label, 'en', { sensitivity: 'base' }) || a.value.localeCompare(b.value);
  const providers = catalogueProviders(catalogue);
  if (providers.length) {
    const options = providers.map((p) => ({ value: p.slug, label: p.name, configured: p.configured })).sort(byName);
    const sources = catalogueSources(catalogue).sort()
      .map((name) => ({ value: `${SOURCE_PREFIX}${name}`, label: name, group: 'Generic sources' }));
    if (!options.some((o) => o.configured !== null)) return options.map(({ value, label }) => ({ value, label }));
    return [
      ...options.filter((o) => o.configured).map(({ value, label }) => ({ value, label, group: 'Configured' })),
      ...options.filter((o) => !o.configured).map(({ value, label }) => ({ value, label, group: 'Not configured' })),
      ...sources,
    ];
  }
  const counted = stats && stats.by_provider && typeof stats.by_provider === 'object' ? Object.keys(stats.by_provider) : [];
  return counted.map((slug) => ({ value: slug, label: slug })).sort(byName);
}

/**
 * The stats table's provider rows, `{ slug, label, counts }` sorted by name: every provider with
 * events, and every one the catalogue says is configured (the others, dozens of zeros, are left
 * out). Names come from the catalogue; a provider it does not list keeps its slug.
 */
export function statsRows(stats, catalogue) {
  const counts = stats && stats.by_provider && typeof stats.by_provider === 'object' ? stats.by_provider : {};
  const known = new Map(catalogueProviders(catalogue).map((p) => [p.slug, p]));
  const rows = [];
  for (const slug of new Set([...Object.keys(counts), ...known.keys()])) {
    const entry = known.get(slug);
    const total = counts[slug] && typeof counts[slug].total === 'number' ? counts[slug].total : 0;
    if (total > 0 || (entry && entry.configured)) {
      rows.push({ slug, label: entry ? entry.name : slug, counts: counts[slug] || { pending: 0, processed: 0, total: 0 } });
    }
  }
  return rows.sort((a, b) => a.label.localeCompare(b.label, 'en', { sensitivity: 'base' }) || a.slug.localeCompare(b.slug));
}

// --- filters -> query ---------------------------------------------------------------------

/** The filter state nothing is filtered by. */
export function emptyFilters() {
  return { provider: '', type: '', status: '', range: '', since: '', until: '' };
}

/** A `datetime-local` value (local time) as RFC 3339 UTC, or null if it is not a time. */
export function localToRfc3339(value) {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/**
 * The listing's query for a filter state: `{ params, error }`. `params` is a URLSearchParams
 * (without `cursor`); `error` names a filter the API would refuse, so nothing is sent.
 */
export function filtersToQuery(state, nowMs = Date.now(), limit = PAGE_SIZE) {
  const params = new URLSearchParams();
  params.set('limit', String(limit));
  const provider = (state.provider || '').trim();
  if (provider.startsWith(SOURCE_PREFIX)) {
    // One generic source: its events are the provider `source`'s with that source.
    params.set('provider', 'source');
    params.set('source', provider.slice(SOURCE_PREFIX.length));
  } else if (provider) {
    params.set('provider', provider);
  }
  const type = (state.type || '').trim();
  if (type) {
    if (/\s/.test(type)) return { params, error: 'Type cannot contain spaces.' };
    params.set('type', type);
  }
  if (state.status) params.set('status', state.status);
  const preset = RANGES.find((range) => range.value === state.range && range.ms);
  if (preset) {
    params.set('since', new Date(nowMs - preset.ms).toISOString());
  } else if (state.range === 'custom') {
    const since = localToRfc3339(state.since);
    const until = localToRfc3339(state.until);
    if (state.since && !since) return { params, error: '\u201cFrom\u201d is not a date and time.' };
    if (state.until && !until) return { params, error: '\u201cTo\u201d is not a date and time.' };
    if (since && until && since >= until) return { params, error: '\u201cTo\u201d must be later than \u201cFrom\u201d.' };
    if (since) params.set('since', since);
    if (until) params.set('until', until);
  }
  return { params, error: null };
}

/** Whether any filter is set (for the empty state's wording). */
export function isFiltered(state) {
  return Boolean((state.provider || '') || (state.type || '').trim() || state.status || state.range);
}

/** The path of a page of events. */
export function eventsPath(params, cursor) {
  const query = new URLSearchParams(params);
  if (cursor) query.set('cursor', cursor);
  return `/api/events?${query}`;
}

// --- merging refreshed pages ----------------------------------------------------------------

/**
 * Merges a refreshed first page into the events already shown, keeping the pages loaded with
 * "Load more": the fresh page replaces everything at least as new as its last item (new
 * deliveries appear, changed ones update, deleted or no longer matching ones go), older items
 * stay. When more arrived than a page holds, the fresh page does not reach what was shown, and
 * keeping it would leave a hole: then the fresh page is the list. Returns
 * `{ events, cursor, added }`.
 */
export function mergeFirstPage(current, currentCursor, fresh, freshCursor) {
  const freshIds = new Set(fresh.map((event) => event.id));
  const before = new Set(current.map((event) => event.id));
  const added = fresh.filter((event) => !before.has(event.id)).length;
  if (!freshCursor || fresh.length === 0) {
    return { events: fresh.slice(), cursor: freshCursor || null, added };
  }
  const last = fresh[fresh.length - 1].received_at;
  if (!current.length || String(last) > String(current[0].received_at)) {
    return { events: fresh.slice(), cursor: freshCursor, added };
  }
  const older = current.filter((event) => !freshIds.has(event.id) && String(event.received_at) <= String(last));
  return {
    events: fresh.concat(older),
    cursor: older.length ? currentCursor : freshCursor,
    added,
  };
}

/** Appends a further page, skipping events already shown. */
export function appendPage(current, page) {
  const seen = new Set(current.map((event) => event.id));
  return current.concat(page.filter((event) => !seen.has(event.id)));
}

// --- times ----------------------------------------------------------------------------------

const pad = (n, width = 2) => String(n).padStart(width, '0');

/** A timestamp in the browser's time zone, `YYYY-MM-DD HH:MM:SS`; the input if it is not one. */
export function formatTime(iso) {
  if (!iso) return MISSING;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} `
    + `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** How long ago a timestamp was: `just now`, `42 s ago`, `5 min ago`, `3 h ago`, `2 d ago`. */
export function formatAgo(iso, nowMs = Date.now()) {
  const then = new Date(iso).getTime();
  if (Number.isNaN(then)) return '';
  const seconds = Math.round((nowMs - then) / 1000);
  if (seconds < -5) return 'in the future';
  if (seconds < 10) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

/** A byte count: `512 B`, `1.5 KB`. */
export function formatBytes(bytes) {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(1)} KB`;
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** The UTF-8 length of a string. */
export function utf8Length(value) {
  return new TextEncoder().encode(value).length;
}

// --- deliveries to destinations -------------------------------------------------------------

/**
 * An attempt in words: `#2 at 2026-11-24 14:00:00: HTTP 503, 120 ms` (or the error), or
 * `#1 at ...: abandoned, outcome unknown` for one a later attempt took over.
 */
export function attemptSummary(attempt) {
  if (!attempt || typeof attempt !== 'object') return MISSING;
  if (attempt.abandoned === true) {
    return `#${text(attempt.attempt)} at ${formatTime(attempt.at)}: abandoned, outcome unknown (it may have been delivered)`;
  }
  const answer = attempt.status_code != null ? `HTTP ${text(attempt.status_code)}` : text(attempt.error || 'no answer');
  return `#${text(attempt.attempt)} at ${formatTime(attempt.at)}: ${answer}, ${text(attempt.duration_ms)} ms`;
}

/** When a timestamp comes: `now`, `in 42 s`, `in 5 min`, `in 3 h`, `in 2 d`. */
export function formatIn(iso, nowMs = Date.now()) {
  const then = new Date(iso).getTime();
  if (Number.isNaN(then)) return '';
  const seconds = Math.round((then - nowMs) / 1000);
  if (seconds <= 0) return 'now';
  if (seconds < 60) return `in ${seconds} s`;
  if (seconds < 3600) return `in ${Math.floor(seconds / 60)} min`;
  if (seconds < 86400) return `in ${Math.floor(seconds / 3600)} h`;
  return `in ${Math.floor(seconds / 86400)} d`;
}

/**
 * One row per delivery of `GET /api/events/{id}/deliveries`: `{ destination, state, label,
 * attempts, last, next, replays }`, all text; `state` is the badge class (`pending`,
 * `delivered`, `dead`, or `unknown` for a state this console does not know).
 */
export function deliveryRows(body, nowMs = Date.now()) {
  const list = body && Array.isArray(body.deliveries) ? body.deliveries : [];
  return list.map((d) => {
    const state = ['pending', 'delivered', 'dead'].includes(d.state) ? d.state : 'unknown';
    const attempts = Array.isArray(d.attempts) ? d.attempts : [];
    const label = {
      pending: d.next_attempt_at ? `Pending, next attempt ${formatIn(d.next_attempt_at, nowMs)}` : 'Pending',
      delivered: 'Delivered',
      dead: 'Dead letter: no more attempts',
      unknown: text(d.state),
    }[state];
    return {
      destination: text(d.destination),
      state,
      label,
      attempts: String(attempts.length),
      last: attempts.length ? attemptSummary(attempts[attempts.length - 1]) : 'none yet',
      history: attempts.map(attemptSummary),
      replays: Number(d.replays) || 0,
      // An "ordered" destination: events reach it in ingestion order, one at a time.
      ordered: d.ordered === true,
    };
  });
}

// --- chart ----------------------------------------------------------------------------------

const MINUTE = 60e3;
const HOUR = 60 * MINUTE;
/** Bucket widths the chart may use, smallest first. */
export const BUCKET_WIDTHS = [MINUTE, 5 * MINUTE, 15 * MINUTE, HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, 24 * HOUR, 7 * 24 * HOUR];

/**
 * Deliveries over time: the listed events counted into at most `maxBuckets` buckets of a round
 * width, aligned to that width, ending with the bucket holding `nowMs`, and at least
 * `minBuckets` of them (so a burst is a bar, not the whole chart).
 * Returns `{ width, start, counts }` (`start` of the first bucket, in ms) or null for no events.
 */
export function bucketize(timestamps, nowMs = Date.now(), maxBuckets = 24, minBuckets = 12) {
  const times = timestamps.map((t) => new Date(t).getTime()).filter((t) => !Number.isNaN(t));
  if (!times.length) return null;
  const end = Math.max(nowMs, ...times);
  const oldest = Math.min(...times);
  const width = BUCKET_WIDTHS.find((w) => Math.floor(end / w) - Math.floor(oldest / w) + 1 <= maxBuckets)
    ?? BUCKET_WIDTHS[BUCKET_WIDTHS.length - 1];
  const last = Math.floor(end / width);
  const first = Math.max(Math.min(Math.floor(oldest / width), last - minBuckets + 1), last - maxBuckets + 1);
  const counts = new Array(last - first + 1).fill(0);
  for (const t of times) {
    const index = Math.floor(t / width) - first;
    if (index >= 0 && index < counts.length) counts[index] += 1;
  }
  return { width, start: first * width, counts };
}

/** A bucket width in words: `1 minute`, `15 minutes`, `6 hours`, `1 day`. */
export function formatWidth(ms) {
  if (ms < HOUR) return ms === MINUTE ? '1 minute' : `${ms / MINUTE} minutes`;
  if (ms < 24 * HOUR) return ms === HOUR ? '1 hour' : `${ms / HOUR} hours`;
  return ms === 24 * HOUR ? '1 day' : `${ms / (24 * HOUR)} days`;
}

// --- problems -------------------------------------------------------------------------------

/**
 * What to tell a person about a failed API call: `{ title, detail, errors, requestId }`, from an
 * RFC 9457 problem body when there is one.
 */
export function describeProblem(status, body) {
  const problem = body && typeof body === 'object' ? body : {};
  const errors = Array.isArray(problem.errors)
    ? problem.errors.map((e) => ({ field: text(e && e.field), detail: text(e && e.detail) }))
    : [];
  const fallback = status === 0 ? 'The API could not be reached' : `The API answered HTTP ${status}`;
  return {
    title: typeof problem.title === 'string' && problem.title ? problem.title : fallback,
    detail: typeof problem.detail === 'string' ? problem.detail : '',
    errors,
    requestId: typeof problem.request_id === 'string' ? problem.request_id : '',
    status,
  };
}

/** The words for a 412 on a change: the event is not what this page showed any more. */
export const CHANGED_MEANWHILE = 'This event changed meanwhile (someone else updated it). Reload it to see the current version, then try again.';

// --- payloads -------------------------------------------------------------------------------

/**
 * JSON text re-indented, token by token, so numbers and strings stay exactly as sent (parsing
 * would round integers above 2^53). Returns null when the text is not JSON.
 */
export function prettyJson(source, indent = '  ') {
  if (typeof source !== 'string') return null;
  try {
    JSON.parse(source);
  } catch {
    return null;
  }
  let out = '';
  let depth = 0;
  let i = 0;
  const newline = () => `\n${indent.repeat(depth)}`;
  while (i < source.length) {
    const c = source[i];
    if (c === '"') {
      let j = i + 1;
      while (source[j] !== '"') j += source[j] === '\\' ? 2 : 1;
      out += source.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (c === '{' || c === '[') {
      let j = i + 1;
      while (/\s/.test(source[j])) j += 1;
      if (source[j] === (c === '{' ? '}' : ']')) {
        out += c + source[j];
        i = j + 1;
        continue;
      }
      depth += 1;
      out += c + newline();
    } else if (c === '}' || c === ']') {
      depth -= 1;
      out += newline() + c;
    } else if (c === ',') {
      out += `,${newline()}`;
    } else if (c === ':') {
      out += ': ';
    } else if (!/\s/.test(c)) {
      out += c;
    }
    i += 1;
  }
  return out;
}

/** The payload as pretty JSON: from the raw body when it is the JSON, else from `json`. */
export function payloadJson(payload) {
  if (!payload) return '';
  const media = String(payload.content_type || '').split(';')[0].trim().toLowerCase();
  if (media === 'application/json') {
    const pretty = prettyJson(payload.raw_body);
    if (pretty !== null) return pretty;
  }
  return payload.json === undefined ? '' : JSON.stringify(payload.json, null, 2);
}

// --- copy as curl ---------------------------------------------------------------------------

/** One shell word: single-quoted, or `$'...'` when it holds control characters. */
export function shellQuote(value) {
  const s = String(value);
  if (s.includes('\0')) throw new Error('a shell argument cannot hold a NUL character');
  // Newlines and tabs are safe inside single quotes; other control characters (CR, ESC, ...)
  // would be mangled by a terminal on paste, so those words are written with escapes.
  if (!/[\x01-\x08\x0b-\x1f\x7f]/.test(s)) return `'${s.replaceAll("'", "'\\''")}'`;
  let out = "$'";
  for (const ch of s) {
    const code = ch.codePointAt(0);
    if (ch === '\\' || ch === "'") out += `\\${ch}`;
    else if (code < 0x20 || code === 0x7f || ch === '!') out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}'`;
}

/** The base URL a delivery is re-sent to, normalized; null if it is not an http(s) URL. */
export function normalizeBase(base) {
  let url;
  try {
    url = new URL(String(base || '').trim());
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/**
 * A curl command that re-sends a stored delivery, byte for byte with its stored headers, to
 * the webhook endpoint of `base` (a local `spin up` by default): for debugging a consumer.
 * The signature verifies there if that app has the same secret; Stripe and Standard Webhooks
 * signatures also carry a timestamp, which must still be within the receiver's tolerance.
 * Throws when the delivery cannot be written as a command.
 */
export function curlCommand(detail, base = DEFAULT_RESEND_BASE) {
  const root = normalizeBase(base);
  if (!root) throw new Error('the re-send address must be an http:// or https:// URL');
  const payload = detail.payload || {};
  const headers = { ...(payload.headers || {}) };
  const names = Object.keys(headers).map((name) => name.toLowerCase());
  if (!names.includes('content-type') && payload.content_type) headers['content-type'] = payload.content_type;
  const lines = [`curl -sS -X POST ${shellQuote(`${root}/webhooks/${encodeURIComponent(detail.provider)}`)}`];
  for (const name of Object.keys(headers).sort()) {
    // curl drops a header given as `name:`; `name;` sends it with an empty value.
    const value = String(headers[name]);
    lines.push(`-H ${shellQuote(value === '' ? `${name};` : `${name}: ${value}`)}`);
  }
  // --data-raw: sent as given (no `@file` reading, no newline stripping).
  lines.push(`--data-raw ${shellQuote(payload.raw_body ?? '')}`);
  return lines.join(' \\\n  ');
}

// --- replaying dead letters in bulk (POST /api/dead-letters/replay) ------------------------

/** The largest batch the API takes, and the console's default. */
export const BULK_REPLAY_MAX = 100;
export const BULK_REPLAY_DEFAULT = 20;

/**
 * The destinations the bulk replay offers, from the stats' per-destination counts:
 * `[{ value, label }]`, each labelled with its dead letters, by name.
 */
export function deadLetterDestinations(stats) {
  const forwarding = stats && typeof stats.forwarding === 'object' && stats.forwarding ? stats.forwarding : {};
  return Object.keys(forwarding).sort().map((name) => {
    const dead = Number((forwarding[name] || {}).dead) || 0;
    return { value: name, label: `${name} (${dead} dead)` };
  });
}

/** A filter as typed (`stripe:invoice.*, github push`): its patterns, commas or spaces between. */
export function filterPatterns(value) {
  return String(value || '').split(/[\s,]+/).filter((pattern) => pattern !== '');
}

/**
 * The request body of one batch for the controls' state `{ destination, filter, since, limit }`
 * and the cursor to go on from: `{ body, error }` (an error names what the API would refuse).
 */
export function bulkReplayBody(controls, cursor = null) {
  const body = {};
  if (controls.destination) body.destination = controls.destination;
  const patterns = filterPatterns(controls.filter);
  if (patterns.length) body.filter = patterns;
  if (controls.since) {
    const since = localToRfc3339(controls.since);
    if (!since) return { body: null, error: 'Dead since is not a date and time.' };
    body.since = since;
  }
  const limit = controls.limit === '' || controls.limit === undefined ? BULK_REPLAY_DEFAULT : Number(controls.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > BULK_REPLAY_MAX) {
    return { body: null, error: `The batch size is a whole number from 1 to ${BULK_REPLAY_MAX}.` };
  }
  body.limit = limit;
  if (cursor) body.cursor = cursor;
  return { body, error: null };
}

/** Adds one batch's answer to the totals of a pass (`null`: a new pass). */
export function addBatch(totals, answer) {
  const sum = totals || { replayed: 0, batches: 0, skipped: {} };
  const replayed = Array.isArray(answer && answer.replayed) ? answer.replayed.length : 0;
  const skipped = { ...sum.skipped };
  for (const [reason, count] of Object.entries((answer && answer.skipped) || {})) {
    skipped[reason] = (skipped[reason] || 0) + (Number(count) || 0);
  }
  return {
    replayed: sum.replayed + replayed,
    batches: sum.batches + 1,
    last: replayed,
    skipped,
    cursor: (answer && answer.next_cursor) || null,
  };
}

const SKIP_REASONS = {
  no_longer_dead: 'no longer dead',
  not_matching: 'not selected',
  event_gone: 'event gone',
  unreadable: 'unreadable',
};

/** What a pass did so far, in a sentence or two. */
export function describeBatches(totals) {
  const plural = (n, one) => `${n} ${one}${n === 1 ? '' : 's'}`;
  const skipped = Object.entries(SKIP_REASONS)
    .filter(([reason]) => totals.skipped[reason])
    .map(([reason, label]) => `${totals.skipped[reason]} ${label}`);
  const head = totals.batches > 1
    ? `Replayed ${plural(totals.last, 'dead letter')} (${totals.replayed} in ${totals.batches} batches).`
    : `Replayed ${plural(totals.last, 'dead letter')}.`;
  const passed = skipped.length ? ` Passed over: ${skipped.join(', ')}.` : '';
  const tail = totals.cursor ? ' More remain: Continue goes on from here.' : ' Done: every dead letter was read.';
  return head + passed + tail;
}

// --- destinations: their state, settings and circuit breaking (GET /api/stats) --------------


/** A count as text: a whole number, else a dash. */
function countText(value) {
  return Number.isInteger(value) && value >= 0 ? String(value) : MISSING;
}

/** A setting that is a positive whole number, or null. */
function positive(value) {
  return Number.isInteger(value) && value > 0 ? value : null;
}

/** A number of seconds in words: `45 s`, `10 min`, `1 h 30 min`, `2 d 3 h`. */
export function formatSeconds(total) {
  if (!Number.isInteger(total) || total < 0) return MISSING;
  const units = [['d', 86400], ['h', 3600], ['min', 60], ['s', 1]];
  const parts = [];
  let rest = total;
  for (const [unit, size] of units) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n && parts.length < 2) parts.push(`${n} ${unit}`);
    else if (parts.length) break; // two adjacent units at most: `1 h 30 min`, never `1 h 5 s`
  }
  return parts.length ? parts.join(' ') : '0 s';
}

/**
 * A destination's settings as short texts, in order: throttle limits (`≤ 20/s`, `≤ 5 in
 * flight`), a rotation (`rotating: 2 secrets`) and when it is disabled for failing (`disabled
 * after 3 failed attempts in a row or 10 min failing`). Empty for none, or for no settings.
 */
export function settingsTexts(settings) {
  if (!settings || typeof settings !== 'object' || Array.isArray(settings)) return [];
  const texts = [];
  const perSecond = positive(settings.max_per_second);
  if (perSecond) texts.push(`\u2264 ${perSecond}/s`);
  const inFlight = positive(settings.max_in_flight);
  if (inFlight) texts.push(`\u2264 ${inFlight} in flight`);
  const secrets = positive(settings.secrets);
  if (secrets && secrets > 1) texts.push(`rotating: ${secrets} secrets`);
  const failures = positive(settings.disable_after_failures);
  const seconds = positive(settings.disable_after_seconds);
  const thresholds = [
    failures ? `${failures} failed attempt${failures === 1 ? '' : 's'} in a row` : null,
    seconds ? `${formatSeconds(seconds)} failing` : null,
  ].filter(Boolean);
  if (thresholds.length) texts.push(`disabled after ${thresholds.join(' or ')}`);
  return texts;
}

/**
 * The destinations panel's rows, from `/api/stats`' `forwarding`, sorted by name: `{ name,
 * counts: { pending, delivered, dead } (text), ordered, settings (texts, see settingsTexts),
 * reported (whether the forwarder has recorded its settings yet), disabled }`. `disabled` is null
 * while it is enabled, else `{ since (RFC 3339, or null), when (text), reason }`: any value of
 * `disabled` but null, false or absent means disabled, so a malformed one still offers
 * re-enabling (which changes nothing for a destination that is not disabled).
 */
export function destinationRows(stats) {
  const forwarding = stats && stats.forwarding && typeof stats.forwarding === 'object' && !Array.isArray(stats.forwarding)
    ? stats.forwarding : {};
  return Object.keys(forwarding).sort().map((name) => {
    const raw = forwarding[name];
    const entry = raw && typeof raw === 'object' && !Array.isArray(raw) ? raw : {};
    const settings = entry.settings && typeof entry.settings === 'object' && !Array.isArray(entry.settings)
      ? entry.settings : null;
    let disabled = null;
    if (entry.disabled !== undefined && entry.disabled !== null && entry.disabled !== false) {
      const record = typeof entry.disabled === 'object' ? entry.disabled : {};
      const since = typeof record.since === 'string' && !Number.isNaN(new Date(record.since).getTime()) ? record.since : null;
      const reason = typeof record.reason === 'string' && record.reason.trim() ? record.reason.trim() : 'no reason given';
      // How many deliveries wait for it (a whole number; absent from an older API: null).
      const waiting = Number.isInteger(record.waiting) && record.waiting >= 0 ? record.waiting : null;
      disabled = { since, when: since ? formatTime(since) : 'unknown time', reason, waiting };
    }
    return {
      name,
      counts: { pending: countText(entry.pending), delivered: countText(entry.delivered), dead: countText(entry.dead) },
      ordered: entry.ordered === true,
      settings: settingsTexts(settings),
      reported: settings !== null,
      disabled,
    };
  });
}

/** The request that re-enables a destination: `{ method, path, error }` (`error`: nothing to send). */
export function enableRequest(name) {
  if (typeof name !== 'string' || name === '') return { method: 'POST', path: null, error: 'No destination was named.' };
  return { method: 'POST', path: `/api/destinations/${encodeURIComponent(name)}/enable`, error: null };
}

/** What a re-enable did, in a sentence, from its answer (`DestinationEnabled`). */
export function describeEnabled(name, answer) {
  const destination = answer && typeof answer.destination === 'string' && answer.destination ? answer.destination : text(name);
  const was = answer && typeof answer === 'object' ? answer.was_disabled : undefined;
  if (was === null) return `${destination} was not disabled: nothing changed.`;
  if (!was || typeof was !== 'object') return `Asked to re-enable ${destination}; the answer did not say what it was disabled for.`;
  const since = typeof was.since === 'string' && !Number.isNaN(new Date(was.since).getTime()) ? ` since ${formatTime(was.since)}` : '';
  const reason = typeof was.reason === 'string' && was.reason.trim() ? `: ${was.reason.trim()}` : '';
  return `Re-enabled ${destination} (it was disabled${since}${reason}). What waited for it is sent from the next dispatch round on.`;
}
