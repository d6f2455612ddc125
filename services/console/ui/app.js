// The console page: sign-in, the events list, one event, the stats, the destinations. Plain ES
// modules, no framework, no build step. Every stored value (payloads, headers, ids, types) reaches
// the page through textContent, text nodes or attribute values, never through HTML parsing; the
// page's CSP also enforces Trusted Types with no policy, so an HTML sink would throw. The logic
// (formatting, filters -> query, merging pages, curl) is in logic.js, tested by node.

import {
  TOKEN_KEY, RESEND_BASE_KEY, DEFAULT_RESEND_BASE, REFRESH_MS, FILTERS, MISSING,
  CHANGED_MEANWHILE, cellText, visibleColumns, detailFields, providerOptions, statsRows, emptyFilters,
  filtersToQuery, isFiltered, eventsPath, mergeFirstPage, appendPage, formatTime, formatAgo,
  formatBytes, utf8Length, bucketize, formatWidth, describeProblem, payloadJson, curlCommand,
  text, deliveryRows, deadLetterDestinations, bulkReplayBody, addBatch, describeBatches,
  BULK_REPLAY_MAX, BULK_REPLAY_DEFAULT, destinationRows, enableRequest, describeEnabled,
} from './logic.js';

const $ = (id) => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';

/** An element with attributes and children; strings become text nodes. */
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') node.className = value;
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  node.append(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

// --- state ----------------------------------------------------------------------------------

const state = {
  token: null,
  filters: emptyFilters(), // what the controls say
  applied: null, // the filters the shown list was loaded with (null: not loaded yet)
  generation: 0, // bumped when the list is reloaded, so a late refresh is dropped
  events: [],
  cursor: null,
  catalogue: null, // GET /api/providers: names, and which providers are configured
  catalogueProblem: null, // why it could not be read (the stats box shows it)
  stats: null, // the last /api/stats answer
  providers: providerOptions(null),
  detail: null, // { event, etag }
  timer: null,
  busy: false,
  freshIds: new Set(),
  lastFocusedId: null,
  bulk: null, // the totals of the dead-letter replay under way (its `cursor` goes on)
};

function storage() {
  try {
    return window.sessionStorage;
  } catch {
    return null; // storage disabled: the token lives in memory for this page only
  }
}

// --- API ------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    const problem = describeProblem(status, body);
    super(problem.title);
    this.status = status;
    this.problem = problem;
  }
}

/** Calls the same-origin API with the session's token; resolves `{ status, body, etag }`. */
async function api(path, { method = 'GET', headers = {}, body, token = state.token } = {}) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: { accept: 'application/json', authorization: `Bearer ${token}`, ...headers },
      body,
      cache: 'no-store',
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
    });
  } catch (error) {
    throw new ApiError(0, { detail: `${error.message}. Is the app running?` });
  }
  let parsed = null;
  if (response.status !== 204) {
    try {
      parsed = await response.json();
    } catch {
      parsed = null;
    }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, parsed);
    // A wrong, revoked or rotated token: back to sign-in, with the API's explanation.
    if (response.status === 401 && token === state.token && state.token) signOut(error.problem);
    throw error;
  }
  return { status: response.status, body: parsed, etag: response.headers.get('etag') };
}

/** Shows a problem (or hides the box for null) as text. */
function showProblem(box, problem, extra) {
  box.replaceChildren();
  if (!problem) {
    box.hidden = true;
    return;
  }
  box.append(h('p', {}, h('strong', {}, problem.title), problem.status ? ` (HTTP ${problem.status})` : ''));
  if (problem.detail) box.append(h('p', {}, problem.detail));
  if (problem.errors.length) {
    box.append(h('ul', {}, problem.errors.map((e) => h('li', {}, h('code', {}, e.field), `: ${e.detail}`))));
  }
  if (extra) box.append(extra);
  if (problem.requestId) box.append(h('p', { class: 'request-id' }, `Request id ${problem.requestId}`));
  box.hidden = false;
}

// --- views and routing ----------------------------------------------------------------------

function show(view) {
  $('signin-view').hidden = view !== 'signin';
  $('inbox-view').hidden = view !== 'inbox';
  $('detail-view').hidden = view !== 'detail';
  $('sign-out').hidden = view === 'signin';
}

function route() {
  if (!state.token) {
    show('signin');
    document.title = 'Sign in · webhook-inbox console';
    stopRefresh();
    return;
  }
  const match = /^#\/events\/([^/]+)$/.exec(location.hash);
  if (match) {
    show('detail');
    stopRefresh();
    openEvent(decodeURIComponent(match[1]));
  } else {
    show('inbox');
    document.title = 'Inbox · webhook-inbox console';
    if (state.applied === null) {
      applyFilters();
      // Signing in has just read the stats; a reload with a kept token has not.
      if (!$('stats-body').rows.length) loadStats();
      if (!state.catalogue) loadCatalogue();
    } else {
      refresh();
      restoreFocus();
    }
    startRefresh();
  }
}

function restoreFocus() {
  if (!state.lastFocusedId) return;
  const link = [...$('events-body').querySelectorAll('a')].find((a) => a.dataset.id === state.lastFocusedId);
  if (link) link.focus();
  state.lastFocusedId = null;
}

// --- sign-in --------------------------------------------------------------------------------

async function signIn(event) {
  event.preventDefault();
  const input = $('token');
  const token = input.value.trim();
  const invalid = !token ? 'Enter an API token.'
    : /[^\x21-\x7e]/.test(token) ? 'An API token is printable ASCII without spaces.' : null;
  if (invalid) {
    showProblem($('signin-problem'), { title: invalid, detail: '', errors: [], requestId: '' });
    input.focus();
    return;
  }
  $('signin-button').disabled = true;
  try {
    const { body } = await api('/api/stats', { token });
    state.token = token;
    storage()?.setItem(TOKEN_KEY, token);
    input.value = '';
    showProblem($('signin-problem'), null);
    renderStats(body);
    state.applied = null;
    route();
    $('main').focus();
  } catch (error) {
    showProblem($('signin-problem'), error.problem);
    input.select();
    input.focus();
  } finally {
    $('signin-button').disabled = false;
  }
}

function signOut(problem = null) {
  state.token = null;
  storage()?.removeItem(TOKEN_KEY);
  state.events = [];
  state.cursor = null;
  state.applied = null;
  state.detail = null;
  state.catalogue = null;
  state.catalogueProblem = null;
  state.stats = null;
  resetBulk();
  $('dead-status').textContent = '';
  $('events-body').replaceChildren();
  $('stats-body').replaceChildren();
  $('destinations-body').replaceChildren();
  delete $('destinations-body').dataset.shown;
  $('destinations-status').textContent = '';
  showProblem($('destinations-problem'), null);
  showProblem($('signin-problem'), problem);
  if (location.hash && location.hash !== '#/') history.replaceState(null, '', '#/');
  route();
  $('token').focus();
}

// --- filters --------------------------------------------------------------------------------

function buildFilters() {
  const box = $('filter-fields');
  box.replaceChildren();
  for (const filter of FILTERS) {
    const id = `filter-${filter.name}`;
    let control;
    if (filter.control === 'select') {
      control = h('select', { id, name: filter.name });
      fillSelect(control, filter);
    } else {
      control = h('input', {
        id, name: filter.name, type: filter.control, placeholder: filter.placeholder,
        autocomplete: 'off', spellcheck: 'false',
      });
    }
    control.value = state.filters[filter.name] || '';
    control.addEventListener('change', () => {
      state.filters[filter.name] = control.value;
      updateFilterVisibility();
      if (filter.control === 'select') applyFilters();
    });
    box.append(h('div', { class: 'field', 'data-filter': filter.name }, h('label', { for: id }, filter.label), control));
  }
  updateFilterVisibility();
}

function fillSelect(select, filter) {
  const options = filter.options === 'providers' ? state.providers : filter.options;
  const current = state.filters[filter.name] || '';
  select.replaceChildren();
  if (filter.any) select.append(h('option', { value: '' }, filter.any));
  let parent = select;
  for (const option of options) {
    const value = typeof option === 'string' ? option : option.value;
    const label = typeof option === 'string' ? option : option.label;
    const group = typeof option === 'string' ? null : option.group;
    if (group && (parent === select || parent.label !== group)) {
      parent = h('optgroup', { label: group });
      select.append(parent);
    }
    parent.append(h('option', { value }, label));
  }
  // A filter value the list does not (yet) offer stays selectable.
  if (current && ![...select.options].some((o) => o.value === current)) select.append(h('option', { value: current }, current));
  select.value = current;
}

function updateFilterVisibility() {
  for (const filter of FILTERS) {
    if (!filter.when) continue;
    const field = $('filter-fields').querySelector(`[data-filter="${filter.name}"]`);
    if (field) field.hidden = !filter.when(state.filters);
  }
}

function readFilters() {
  for (const filter of FILTERS) {
    const control = $(`filter-${filter.name}`);
    if (control) state.filters[filter.name] = control.value;
  }
}

async function applyFilters(event) {
  if (event) event.preventDefault();
  readFilters();
  const { error } = filtersToQuery(state.filters);
  if (error) {
    showProblem($('list-problem'), { title: 'Check the filters', detail: error, errors: [], requestId: '' });
    return;
  }
  state.applied = { ...state.filters };
  state.generation += 1;
  state.events = [];
  state.cursor = null;
  state.freshIds = new Set();
  await loadPage({ replace: true });
}

/** The query of the shown list, now: a "last hour" range slides with every refresh. */
function currentQuery() {
  return filtersToQuery(state.applied).params;
}

async function loadStats() {
  try {
    renderStats((await api('/api/stats')).body);
  } catch (error) {
    if (error.status !== 401) showProblem($('stats-problem'), error.problem);
  }
}

/**
 * Reads the provider catalogue (the filter's options, the stats' names, which providers are
 * configured): once per sign-in, and again with Refresh. Until it is read, or if it cannot be,
 * the filter offers the providers the stats count.
 */
async function loadCatalogue() {
  const token = state.token;
  try {
    const { body } = await api('/api/providers');
    if (token !== state.token) return;
    state.catalogue = body;
    state.catalogueProblem = null;
    updateProviders();
  } catch (error) {
    if (error.status === 401 || token !== state.token) return;
    state.catalogueProblem = error.problem;
    showProblem($('stats-problem'), error.problem);
  }
}

/** The provider filter's options and the stats table, from the catalogue and the stats. */
function updateProviders() {
  const providers = providerOptions(state.catalogue, state.stats);
  if (JSON.stringify(providers) !== JSON.stringify(state.providers)) {
    state.providers = providers;
    const select = $('filter-provider');
    const filter = FILTERS.find((f) => f.options === 'providers');
    if (select && filter) fillSelect(select, filter);
  }
  if (state.stats) renderStatsTable(state.stats);
}

// --- the list -------------------------------------------------------------------------------

async function loadPage({ replace = false } = {}) {
  if (!state.applied) return;
  const generation = state.generation;
  const status = $('list-status');
  status.textContent = replace ? 'Loading events\u2026' : 'Loading more events\u2026';
  $('load-more').disabled = true;
  state.busy = true;
  try {
    const { body } = await api(eventsPath(currentQuery(), replace ? null : state.cursor));
    if (generation !== state.generation) return;
    const items = Array.isArray(body && body.items) ? body.items : [];
    state.events = replace ? items : appendPage(state.events, items);
    state.cursor = (body && body.next_cursor) || null;
    showProblem($('list-problem'), null);
    renderList();
    status.textContent = `${state.events.length} event${state.events.length === 1 ? '' : 's'} shown${state.cursor ? ', more to load' : ''}.`;
  } catch (error) {
    if (error.status === 401) return;
    status.textContent = '';
    showProblem($('list-problem'), error.problem, h('p', {}, 'Check that the app is running, then use Refresh.'));
    if (replace) renderList(true);
  } finally {
    state.busy = false;
    $('load-more').disabled = false;
  }
}

/** Re-reads the first page and the stats, keeping what is on screen where it is. */
async function refresh() {
  if (!state.applied || state.busy || !state.token) return;
  const generation = state.generation;
  state.busy = true;
  try {
    const [page, stats] = await Promise.all([api(eventsPath(currentQuery(), null)), api('/api/stats')]);
    if (generation !== state.generation) return;
    const items = Array.isArray(page.body && page.body.items) ? page.body.items : [];
    const merged = mergeFirstPage(state.events, state.cursor, items, (page.body && page.body.next_cursor) || null);
    const known = new Set(state.events.map((e) => e.id));
    state.freshIds = new Set(items.filter((e) => !known.has(e.id)).map((e) => e.id));
    if (JSON.stringify(merged.events) === JSON.stringify(state.events)) {
      // Nothing changed: leave the rows alone (a selection or hover survives), update the ages.
      state.cursor = merged.cursor;
      updateAges();
    } else {
      keepScrollPosition(() => {
        state.events = merged.events;
        state.cursor = merged.cursor;
        renderList();
      });
    }
    renderStats(stats.body);
    showProblem($('list-problem'), null);
    if (merged.added) $('list-status').textContent = `${merged.added} new event${merged.added === 1 ? '' : 's'}.`;
  } catch (error) {
    if (error.status === 401) return;
    showProblem($('list-problem'), error.problem, h('p', {}, 'Retrying every few seconds while auto-refresh is on.'));
  } finally {
    state.busy = false;
  }
}

/**
 * Runs `change` and scrolls so that the first row visible before it is where it was: rows
 * added above the viewport do not push what the reader is looking at away.
 */
function keepScrollPosition(change) {
  const rows = [...$('events-body').rows];
  // Only when the reader has scrolled into the table; at its top, new rows should be seen.
  const inside = $('events').getBoundingClientRect().top < 0;
  const anchor = inside ? rows.find((row) => row.getBoundingClientRect().bottom > 0) : null;
  const id = anchor && anchor.dataset.id;
  const top = anchor ? anchor.getBoundingClientRect().top : 0;
  change();
  if (!id) return;
  const again = [...$('events-body').rows].find((row) => row.dataset.id === id);
  if (again) window.scrollBy(0, again.getBoundingClientRect().top - top);
}

function startRefresh() {
  stopRefresh();
  state.timer = window.setInterval(() => {
    if ($('auto-refresh').checked && !document.hidden) refresh();
  }, REFRESH_MS);
}

function stopRefresh() {
  if (state.timer !== null) window.clearInterval(state.timer);
  state.timer = null;
}

function updateAges() {
  const now = Date.now();
  for (const time of $('events-body').querySelectorAll('time[datetime]')) {
    const ago = time.nextElementSibling;
    if (ago && ago.classList.contains('ago')) ago.textContent = formatAgo(time.getAttribute('datetime'), now);
  }
  for (const row of $('events-body').querySelectorAll('tr.fresh')) row.classList.remove('fresh');
}

function renderList(failed = false) {
  const columns = visibleColumns(state.events);
  $('events-head').replaceChildren(...columns.map((c) => h('th', { scope: 'col' }, c.label)));
  const now = Date.now();
  const focusedId = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.id : null;
  const rows = state.events.map((event) => {
    const row = h('tr', { 'data-id': event.id, class: state.freshIds.has(event.id) ? 'fresh' : null });
    for (const column of columns) row.append(h('td', { 'data-label': column.label }, cell(column, event, now)));
    return row;
  });
  $('events-body').replaceChildren(...rows);
  if (focusedId) {
    const link = [...$('events-body').querySelectorAll('a')].find((a) => a.dataset.id === focusedId);
    if (link) link.focus({ preventScroll: true });
  }
  $('load-more').hidden = !state.cursor;
  const empty = $('list-empty');
  empty.replaceChildren();
  empty.hidden = state.events.length > 0 || failed;
  if (!empty.hidden) {
    if (isFiltered(state.filters)) {
      empty.append(h('strong', {}, 'No event matches these filters.'), 'Change or clear the filters to see more.');
    } else {
      empty.append(
        h('strong', {}, 'No events yet.'),
        'Point a provider\u2019s webhook at ', h('code', {}, '/webhooks/github'), ', ',
        h('code', {}, '/webhooks/stripe'), ' or ', h('code', {}, '/webhooks/standard'),
        ' (./scripts/dev prints a signed curl example); new deliveries appear here within seconds.',
      );
    }
  }
  renderChart();
}

function cell(column, event, now) {
  const wrap = h('div', { class: 'cell' });
  if (column.kind === 'time') {
    const iso = event[column.key];
    wrap.append(h('time', { datetime: typeof iso === 'string' ? iso : null, title: text(iso) }, formatTime(iso)));
    const ago = formatAgo(iso, now);
    if (ago) wrap.append(h('span', { class: 'ago' }, ago));
  } else if (column.kind === 'status') {
    wrap.append(badge(event[column.key]));
  } else if (column.link) {
    wrap.append(h('a', { href: `#/events/${encodeURIComponent(event.id)}`, 'data-id': event.id }, cellText(column, event)));
  } else {
    wrap.append(cellText(column, event));
  }
  return wrap;
}

function badge(status) {
  const value = text(status);
  return h('span', { class: `badge ${/^[a-z]+$/.test(value) ? value : ''}` }, value);
}

function onRowClick(event) {
  const link = event.target.closest('a[data-id]');
  if (link) {
    state.lastFocusedId = link.dataset.id; // the link navigates by itself; focus returns to it
    return;
  }
  const row = event.target.closest('tr[data-id]');
  if (row && !window.getSelection().toString()) openFromList(row.dataset.id);
}

function onRowKey(event) {
  if (event.key !== 'ArrowDown' && event.key !== 'ArrowUp') return;
  const links = [...$('events-body').querySelectorAll('a[data-id]')];
  const index = links.indexOf(document.activeElement);
  if (index < 0) return;
  const next = links[index + (event.key === 'ArrowDown' ? 1 : -1)];
  if (next) {
    event.preventDefault();
    next.focus();
  }
}

function openFromList(id) {
  state.lastFocusedId = id;
  location.hash = `#/events/${encodeURIComponent(id)}`;
}

// --- stats and chart ------------------------------------------------------------------------

function renderStats(stats) {
  if (!stats || typeof stats !== 'object') return;
  state.stats = stats;
  updateProviders();
  updateDestinations();
  updateDeadDestinations();
}

// --- destinations: state, settings, re-enabling one disabled for failing --------------------

const ORDERED_TITLE = 'Events reach it in ingestion order, one at a time: a failing one holds those behind it until it is delivered or dead.';

/** The destinations table, from the stats; rebuilt only when what it shows changed (focus stays). */
function updateDestinations() {
  const rows = destinationRows(state.stats);
  const body = $('destinations-body');
  const shown = JSON.stringify(rows);
  if (body.dataset.shown === shown) return;
  body.dataset.shown = shown;
  const focused = document.activeElement && body.contains(document.activeElement)
    ? document.activeElement.getAttribute('data-destination') : null;
  body.replaceChildren(...(rows.length ? rows.map(destinationRow) : [h('tr', {}, h('td', { colspan: 7, class: 'empty' },
    'No destination: forwarding is off (no forward_destinations), or the forwarder has not sent anything yet.'))]));
  if (focused) body.querySelector(`button[data-destination="${CSS.escape(focused)}"]`)?.focus();
}

function destinationRow(row) {
  const condition = row.disabled
    ? [h('span', { class: 'badge disabled' }, 'disabled'),
      h('span', { class: 'why' }, 'since ', h('time', { datetime: row.disabled.since }, row.disabled.when), `: ${row.disabled.reason}`,
        row.disabled.waiting === null ? '' : `; ${row.disabled.waiting} waiting`)]
    : [h('span', { class: 'badge enabled' }, 'enabled')];
  const settings = row.settings.length
    ? h('div', { class: 'settings' }, ...row.settings.map((setting) => h('span', { class: 'badge setting' }, setting)))
    : (row.reported ? 'no limits or thresholds' : 'not reported yet');
  const action = row.disabled
    ? h('button', { type: 'button', 'data-destination': row.name, 'aria-label': `Re-enable ${row.name}` }, 'Re-enable')
    : null;
  // data-label: on a narrow screen each cell names its column (console.css), its content in one
  // box beside the name.
  const td = (label, attrs, ...content) => h('td', { 'data-label': label, ...attrs }, h('div', {}, ...content));
  return h('tr', { 'data-destination': row.name },
    td('Destination', {}, h('code', {}, row.name),
      ...(row.ordered ? [' ', h('span', { class: 'badge unknown', title: ORDERED_TITLE }, 'ordered')] : [])),
    td('State', {}, ...condition),
    td('Pending', { class: 'num' }, row.counts.pending),
    td('Delivered', { class: 'num' }, row.counts.delivered),
    td('Dead', { class: 'num' }, row.counts.dead),
    td('Settings', {}, settings),
    td('', {}, action));
}

/** POST /api/destinations/{name}/enable, then says what it did and reads the stats again. */
async function enableDestination(button) {
  const name = button.getAttribute('data-destination');
  const request = enableRequest(name);
  const status = $('destinations-status');
  showProblem($('destinations-problem'), null);
  if (request.error) {
    showProblem($('destinations-problem'), { title: 'Nothing to re-enable', detail: request.error, errors: [], requestId: '' });
    return;
  }
  button.disabled = true;
  status.textContent = `Re-enabling ${name}\u2026`;
  try {
    const result = await api(request.path, { method: request.method });
    status.textContent = describeEnabled(name, result.body);
    await loadStats();
    // Its row was rebuilt without the button: keep the focus in the panel, not on the page.
    if (!button.isConnected) $('destinations-title').focus();
  } catch (error) {
    if (error.status === 401) return;
    status.textContent = '';
    showProblem($('destinations-problem'), error.problem);
  } finally {
    button.disabled = false; // a row the new stats replaced is gone with its button
  }
}

// --- replaying dead letters in bulk ---------------------------------------------------------

/** The bulk replay's destination choices, from the stats (the choice made is kept). */
function updateDeadDestinations() {
  const select = $('dead-destination');
  const current = select.value;
  const options = deadLetterDestinations(state.stats);
  const labels = options.map((o) => o.label).join('\n');
  if (select.dataset.labels === labels) return;
  select.dataset.labels = labels;
  select.replaceChildren(h('option', { value: '' }, 'All destinations'),
    ...options.map((o) => h('option', { value: o.value }, o.label)));
  if (current && !options.some((o) => o.value === current)) select.append(h('option', { value: current }, current));
  select.value = current;
}

/** A changed selection starts a new pass. */
function resetBulk() {
  state.bulk = null;
  $('replay-dead').textContent = 'Replay dead letters';
  $('replay-dead-over').hidden = true;
}

/** One batch: the first of a pass, or the next from where the last stopped. */
async function replayDeadLetters(event) {
  event.preventDefault();
  const controls = {
    destination: $('dead-destination').value,
    filter: $('dead-filter').value,
    since: $('dead-since').value,
    limit: $('dead-limit').value,
  };
  const { body, error } = bulkReplayBody(controls, state.bulk && state.bulk.cursor);
  if (error) {
    showProblem($('dead-problem'), { title: 'Check the replay', detail: error, errors: [], requestId: '' });
    return;
  }
  const button = $('replay-dead');
  button.disabled = true;
  $('dead-status').textContent = 'Replaying\u2026';
  showProblem($('dead-problem'), null);
  try {
    const result = await api('/api/dead-letters/replay', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    state.bulk = addBatch(state.bulk, result.body);
    $('dead-status').textContent = describeBatches(state.bulk);
    if (state.bulk.cursor) {
      button.textContent = 'Continue';
      $('replay-dead-over').hidden = false;
    } else {
      state.bulk = null;
      button.textContent = 'Replay dead letters';
      $('replay-dead-over').hidden = true;
    }
    setTimeout(loadStats, 1500);
  } catch (failure) {
    if (failure.status === 401) return;
    $('dead-status').textContent = '';
    showProblem($('dead-problem'), failure.problem);
  } finally {
    button.disabled = false;
  }
}

function renderStatsTable(stats) {
  const number = (counts, key) => h('td', { class: 'num' }, text(counts && counts[key] !== undefined ? counts[key] : MISSING));
  const rows = statsRows(stats, state.catalogue).map(({ slug, label, counts }) => h('tr', { 'data-provider': slug },
    h('th', { scope: 'row' }, label), number(counts, 'pending'), number(counts, 'processed'), number(counts, 'total')));
  const total = stats.total || {};
  rows.push(h('tr', { class: 'total' }, h('th', { scope: 'row' }, 'All'), number(total, 'pending'), number(total, 'processed'), number(total, 'total')));
  $('stats-body').replaceChildren(...rows);
  showProblem($('stats-problem'), state.catalogueProblem);
}

function renderChart() {
  const chart = $('chart');
  const caption = $('chart-caption');
  chart.replaceChildren();
  const buckets = bucketize(state.events.map((e) => e.received_at));
  if (!buckets) {
    caption.textContent = 'Deliveries over time: no events loaded.';
    return;
  }
  const W = 480;
  const H = 120;
  const top = 14;
  const bottom = 16;
  const max = Math.max(...buckets.counts);
  const slot = W / buckets.counts.length;
  buckets.counts.forEach((count, i) => {
    const height = count ? Math.max(2, ((H - top - bottom) * count) / max) : 0;
    const from = new Date(buckets.start + i * buckets.width);
    const rect = svg('rect', {
      class: 'bar-rect', x: (i * slot + slot * 0.1).toFixed(1), y: (H - bottom - height).toFixed(1),
      width: (slot * 0.8).toFixed(1), height: height.toFixed(1),
    });
    const title = svg('title');
    title.textContent = `${formatTime(from.toISOString())}: ${count} deliver${count === 1 ? 'y' : 'ies'}`;
    rect.append(title);
    chart.append(rect);
  });
  const label = (x, anchor, value) => {
    const node = svg('text', { x, y: H - 3, 'text-anchor': anchor });
    node.textContent = value;
    return node;
  };
  const maxLabel = svg('text', { x: 2, y: 11 });
  maxLabel.textContent = `max ${max}`;
  chart.append(
    maxLabel,
    label(2, 'start', formatTime(new Date(buckets.start).toISOString())),
    label(W - 2, 'end', 'now'),
  );
  const total = buckets.counts.reduce((a, b) => a + b, 0);
  caption.textContent = `Deliveries over time: the ${total} listed event${total === 1 ? '' : 's'} per ${formatWidth(buckets.width)}, `
    + `since ${formatTime(new Date(buckets.start).toISOString())}; busiest ${formatWidth(buckets.width)}: ${max}.`;
}

// --- one event ------------------------------------------------------------------------------

async function openEvent(id) {
  state.detail = null;
  $('detail-title').textContent = `Event ${id}`;
  document.title = `${id} · webhook-inbox console`;
  $('detail-body').hidden = true;
  $('detail-status').textContent = '';
  showProblem($('detail-problem'), null);
  $('detail-title').focus();
  try {
    const { body, etag } = await api(`/api/events/${encodeURIComponent(id)}`);
    renderDetail(body, etag);
  } catch (error) {
    if (error.status === 401) return;
    const extra = error.status === 404 ? h('p', {}, 'It may have been deleted. Go back to the events.') : null;
    showProblem($('detail-problem'), error.problem, extra);
  }
}

function renderDetail(event, etag) {
  state.detail = { event, etag };
  const fields = detailFields(event).map((field) => {
    const value = event[field.key];
    let dd;
    if (field.kind === 'time') dd = h('dd', {}, h('time', { datetime: value }, formatTime(value)), ` (${text(value)}, ${formatAgo(value)})`);
    else if (field.kind === 'status') dd = h('dd', {}, badge(value));
    else if (field.code) dd = h('dd', {}, h('code', {}, text(value)));
    else dd = h('dd', {}, text(value));
    return [h('dt', {}, field.label), dd];
  });
  $('detail-fields').replaceChildren(...fields.flat());
  const processed = event.status === 'processed';
  $('mark-processed').disabled = processed;
  $('mark-processed').textContent = processed ? 'Processed' : 'Mark processed';

  const payload = event.payload || {};
  const headers = payload.headers && typeof payload.headers === 'object' ? payload.headers : {};
  const headerRows = Object.keys(headers).sort().map((name) => h('tr', {}, h('td', {}, name), h('td', {}, text(headers[name]))));
  $('detail-headers').replaceChildren(...(headerRows.length ? headerRows : [h('tr', {}, h('td', { colspan: 2 }, 'No headers were stored.'))]));
  const raw = typeof payload.raw_body === 'string' ? payload.raw_body : '';
  $('payload-meta').textContent = `${text(payload.content_type)}, ${formatBytes(utf8Length(raw))}`;
  $('payload-json').textContent = payloadJson(payload) || '(no JSON payload)';
  $('payload-raw').textContent = raw;
  updateCurl();
  $('detail-body').hidden = false;
  loadDeliveries(event.id);
}

// --- its deliveries to destinations ---------------------------------------------------------

async function loadDeliveries(id) {
  showProblem($('deliveries-problem'), null);
  try {
    const { body } = await api(`/api/events/${encodeURIComponent(id)}/deliveries`);
    if (!state.detail || state.detail.event.id !== id) return;
    renderDeliveries(body);
  } catch (error) {
    if (error.status === 401) return;
    $('deliveries-body').replaceChildren();
    showProblem($('deliveries-problem'), error.problem);
  }
}

function renderDeliveries(body) {
  const rows = deliveryRows(body).map((row) => {
    const history = row.history.length > 1
      ? h('details', {}, h('summary', {}, `${row.attempts} attempts${row.replays ? `, replayed ${row.replays}\u00d7` : ''}`),
        h('ol', {}, ...row.history.map((line) => h('li', {}, line))))
      : `${row.attempts}${row.replays ? ` (replayed ${row.replays}\u00d7)` : ''}`;
    const replay = h('button', { type: 'button', class: 'secondary', 'data-destination': row.destination,
      'aria-label': `Replay to ${row.destination}` }, 'Replay');
    // data-label: on a narrow screen each cell names its column (console.css).
    return h('tr', {},
      h('td', { 'data-label': 'Destination' }, h('code', {}, row.destination),
        ...(row.ordered ? [' ', h('span', { class: 'badge unknown', title: 'Events reach it in ingestion order, one at a time: a failing one holds those behind it until it is delivered or dead.' }, 'ordered')] : [])),
      h('td', { 'data-label': 'State' }, h('span', { class: `badge ${row.state}` }, row.state), ' ', row.label),
      h('td', { 'data-label': 'Attempts' }, history),
      h('td', { 'data-label': 'Last attempt' }, row.last),
      h('td', { 'data-label': '' }, replay));
  });
  $('deliveries-body').replaceChildren(...(rows.length ? rows : [h('tr', {}, h('td', { colspan: 5, class: 'empty' },
    'Not forwarded: forwarding is off (no forward_destinations), no destination\u2019s filter matches this event, or it waits behind a failing event in an ordered destination\u2019s line.'))]));
  $('replay-all').disabled = !rows.length;
}

async function replay(destination) {
  if (!state.detail) return;
  const id = state.detail.event.id;
  $('deliveries-status').textContent = 'Queuing the replay\u2026';
  showProblem($('deliveries-problem'), null);
  try {
    const body = destination ? JSON.stringify({ destination }) : '';
    const headers = destination ? { 'content-type': 'application/json' } : {};
    const result = await api(`/api/events/${encodeURIComponent(id)}/replay`, { method: 'POST', headers, body });
    const count = deliveryRows(result.body).length;
    $('deliveries-status').textContent = destination
      ? `Replay to ${destination} queued: it is sent now.`
      : `Replay queued for ${count} destination${count === 1 ? '' : 's'}: sent now.`;
    // The forwarder sends right after the answer: show where it got to shortly after.
    setTimeout(() => loadDeliveries(id), 1500);
  } catch (error) {
    if (error.status === 401) return;
    $('deliveries-status').textContent = '';
    showProblem($('deliveries-problem'), error.problem);
  }
}

function updateCurl() {
  if (!state.detail) return;
  const base = $('resend-base').value;
  try {
    $('curl-command').value = curlCommand(state.detail.event, base);
    $('copy-curl').disabled = false;
  } catch (error) {
    $('curl-command').value = `# ${error.message}`;
    $('copy-curl').disabled = true;
  }
}

async function copyCurl() {
  updateCurl();
  const area = $('curl-command');
  const value = area.value;
  let copied = false;
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(value);
      copied = true;
    }
  } catch {
    copied = false;
  }
  if (!copied) {
    area.focus();
    area.select();
    try {
      copied = document.execCommand('copy');
    } catch {
      copied = false;
    }
  }
  $('detail-status').textContent = copied
    ? 'Copied the curl command to the clipboard.'
    : 'The clipboard is not available here: the command is selected below, press Ctrl+C (\u2318C) to copy it.';
}

async function markProcessed() {
  if (!state.detail) return;
  const { event, etag } = state.detail;
  $('mark-processed').disabled = true;
  $('detail-status').textContent = 'Marking processed\u2026';
  try {
    const headers = { 'content-type': 'application/merge-patch+json' };
    if (etag) headers['if-match'] = etag;
    const result = await api(`/api/events/${encodeURIComponent(event.id)}`, {
      method: 'PATCH', headers, body: JSON.stringify({ status: 'processed' }),
    });
    renderDetail(result.body, result.etag);
    showProblem($('detail-problem'), null);
    $('detail-status').textContent = 'Marked processed.';
  } catch (error) {
    if (error.status === 401) return;
    $('detail-status').textContent = '';
    changeFailed(error);
    $('mark-processed').disabled = state.detail.event.status === 'processed';
  }
}

function changeFailed(error) {
  if (error.status === 412) {
    const reload = h('button', { type: 'button', class: 'secondary', id: 'reload-after-conflict' }, 'Reload');
    reload.addEventListener('click', () => openEvent(state.detail.event.id));
    showProblem($('detail-problem'), { ...error.problem, detail: CHANGED_MEANWHILE, title: 'Changed meanwhile, reload' }, h('p', {}, reload));
  } else {
    showProblem($('detail-problem'), error.problem);
  }
}

function askDelete() {
  if (!state.detail) return;
  $('confirm-id').textContent = state.detail.event.id;
  $('confirm-delete').showModal();
}

async function deleteEvent() {
  $('confirm-delete').close();
  if (!state.detail) return;
  const { event, etag } = state.detail;
  $('detail-status').textContent = 'Deleting\u2026';
  try {
    await api(`/api/events/${encodeURIComponent(event.id)}`, { method: 'DELETE', headers: etag ? { 'if-match': etag } : {} });
    state.events = state.events.filter((e) => e.id !== event.id);
    state.lastFocusedId = null;
    renderList();
    location.hash = '#/';
    $('list-status').textContent = `Deleted ${event.id}.`;
  } catch (error) {
    if (error.status === 401) return;
    $('detail-status').textContent = '';
    changeFailed(error);
  }
}

// --- start ----------------------------------------------------------------------------------

function start() {
  buildFilters();
  $('signin-form').addEventListener('submit', signIn);
  $('sign-out').addEventListener('click', () => signOut());
  $('filters').addEventListener('submit', applyFilters);
  $('clear-filters').addEventListener('click', () => {
    state.filters = emptyFilters();
    buildFilters();
    applyFilters();
  });
  $('refresh').addEventListener('click', () => {
    refresh();
    loadCatalogue();
  });
  $('load-more').addEventListener('click', () => loadPage());
  $('dead-limit').max = String(BULK_REPLAY_MAX);
  $('dead-limit').value = String(BULK_REPLAY_DEFAULT);
  $('dead-form').addEventListener('submit', replayDeadLetters);
  $('dead-form').addEventListener('input', resetBulk);
  $('dead-form').addEventListener('change', resetBulk);
  $('replay-dead-over').addEventListener('click', () => {
    resetBulk();
    $('dead-status').textContent = '';
  });
  $('destinations-body').addEventListener('click', (event) => {
    const button = event.target.closest('button[data-destination]');
    if (button && !button.disabled) enableDestination(button);
  });
  $('events-body').addEventListener('click', onRowClick);
  $('events-body').addEventListener('keydown', onRowKey);
  $('mark-processed').addEventListener('click', markProcessed);
  $('reload-event').addEventListener('click', () => state.detail && openEvent(state.detail.event.id));
  $('delete-event').addEventListener('click', askDelete);
  $('confirm-cancel').addEventListener('click', () => $('confirm-delete').close());
  $('confirm-ok').addEventListener('click', deleteEvent);
  $('copy-curl').addEventListener('click', copyCurl);
  $('deliveries-body').addEventListener('click', (event) => {
    const button = event.target.closest('button[data-destination]');
    if (button) replay(button.getAttribute('data-destination'));
  });
  $('replay-all').addEventListener('click', () => replay(null));
  $('reload-deliveries').addEventListener('click', () => state.detail && loadDeliveries(state.detail.event.id));
  const base = $('resend-base');
  base.value = storage()?.getItem(RESEND_BASE_KEY) || DEFAULT_RESEND_BASE;
  base.addEventListener('input', () => {
    storage()?.setItem(RESEND_BASE_KEY, base.value);
    updateCurl();
  });
  $('auto-refresh').addEventListener('change', (event) => {
    if (event.target.checked) refresh();
  });
  window.addEventListener('hashchange', route);
  state.token = storage()?.getItem(TOKEN_KEY) || null;
  route();
}

start();
