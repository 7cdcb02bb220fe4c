// relayscope dashboard: polls the REST API (api/v1/...) and renders it.
// Every value from the API is put into the page as text (createTextNode /
// textContent), never as HTML: evidence strings come from untrusted
// middleboxes.
'use strict';

const WINDOWS = ['15m', '1h', '6h', '24h', '7d'];
const params = new URLSearchParams(location.search);
const state = {
  window: WINDOWS.includes(params.get('window')) ? params.get('window') : '1h',
  refreshMs: Math.max(2, Number(params.get('refresh')) || 10) * 1000,
  lastOk: null,
  session: null,  // {agent_id, session_id} being shown
  timer: null,
};

const OUTCOME_COLORS = {
  OUTCOME_OK: '#2e7d32',
  OUTCOME_DNS_FAILURE: '#6a1b9a',
  OUTCOME_CONNECT_TIMEOUT: '#c62828',
  OUTCOME_CONNECTION_REFUSED: '#ad1457',
  OUTCOME_HOST_UNREACHABLE: '#4e342e',
  OUTCOME_NETWORK_UNREACHABLE: '#37474f',
  OUTCOME_CONNECTION_RESET: '#d84315',
  OUTCOME_PROXY_ERROR: '#ef6c00',
  OUTCOME_PROXY_AUTH_REQUIRED: '#f9a825',
  OUTCOME_PROXY_AUTH_FAILED: '#ff8f00',
  OUTCOME_TLS_FAILURE: '#00838f',
  OUTCOME_PROTOCOL_INTERFERENCE: '#1565c0',
  OUTCOME_HANDSHAKE_TIMEOUT: '#5e35b1',
  OUTCOME_HANDSHAKE_INVALID: '#283593',
  OUTCOME_TLS_INTERCEPTED: '#880e4f',
  OUTCOME_SNI_FILTERED: '#bf360c',
  OUTCOME_TLS_REFUSED: '#4a148c',
};

// ---- helpers ---------------------------------------------------------------

const $ = (id) => document.getElementById(id);

// el('td', {class: 'num'}, 'text', childNode, ...): strings become text nodes.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null) continue;
    if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function replace(container, ...nodes) {
  container.replaceChildren(...nodes.flat().filter((n) => n));
}

// uint64 fields arrive as JSON strings (proto3 JSON mapping).
const num = (value) => Number(value || 0);
const pct = (ratio) => `${Math.round(ratio * 1000) / 10}%`;

function outcomeLabel(name) {
  return String(name || 'OUTCOME_UNSPECIFIED').replace(/^OUTCOME_/, '').toLowerCase().replaceAll('_', ' ');
}
function routeLabel(name) {
  return String(name || '').replace(/^ROUTE_KIND_/, '').toLowerCase();
}
function outcomeBadge(name) {
  return el('span', {class: 'outcome', style: `background:${OUTCOME_COLORS[name] || '#757575'}`,
    'data-outcome': name}, outcomeLabel(name));
}
function timeText(timestamp) {
  if (!timestamp) return '—';
  const date = new Date(timestamp);
  return Number.isNaN(date.getTime()) ? '—' : date.toISOString().replace('T', ' ').slice(0, 19) + 'Z';
}
function durationMs(duration) {
  // proto3 JSON durations: "0.003s".
  if (!duration) return null;
  const seconds = parseFloat(String(duration).replace(/s$/, ''));
  return Number.isFinite(seconds) ? Math.round(seconds * 10000) / 10 : null;
}
function ratioColor(ratio) {
  return `hsl(${Math.round(ratio * 120)}, 70%, 82%)`;
}

class ApiError extends Error {
  constructor(httpStatus, status, message) {
    super(message);
    this.httpStatus = httpStatus;
    this.status = status;
  }
}

async function api(path, query) {
  const url = new URL(`api/v1/${path}`, document.baseURI);
  for (const [key, value] of Object.entries(query || {})) url.searchParams.set(key, value);
  let response;
  try {
    response = await fetch(url, {cache: 'no-store'});
  } catch (error) {
    throw new ApiError(0, 'UNAVAILABLE', `the dashboard server cannot be reached (${error.message})`);
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (body && body.error) || {};
    throw new ApiError(response.status, error.status || 'UNKNOWN',
                       error.message || response.statusText);
  }
  return body;
}

function table(headers, rows) {
  return el('table', {},
    el('thead', {}, el('tr', {}, headers.map(([text, cls]) => el('th', {class: cls}, text)))),
    el('tbody', {}, rows));
}

// ---- panels ----------------------------------------------------------------

function renderMatrix(reply) {
  const series = reply.series || [];
  const regions = [...new Set(series.map((s) => s.region))].sort();
  const ports = [...new Set(series.map((s) => s.port))].sort((a, b) => a - b);
  const byKey = new Map(series.map((s) => [`${s.region}|${s.port}`, s.total || {}]));
  if (series.length === 0) {
    replace($('matrix'), el('p', {class: 'muted'}, 'No attempts in this window.'));
    return;
  }
  const rows = regions.map((region) => el('tr', {'data-region': region},
    el('th', {scope: 'row'}, region),
    ports.map((port) => {
      const total = byKey.get(`${region}|${port}`);
      if (!total || num(total.attempts) === 0) return el('td', {class: 'nodata'}, '—');
      const ratio = Number(total.success_ratio || 0);
      return el('td', {class: 'cell', style: `background:${ratioColor(ratio)}`,
        'data-region': region, 'data-port': port, 'data-ratio': ratio,
        title: `${region} port ${port}: ${num(total.ok)} of ${num(total.attempts)} attempts reached the relay`},
        pct(ratio), el('small', {}, `${num(total.ok)}/${num(total.attempts)}`));
    })));
  replace($('matrix'), el('table', {class: 'matrix'},
    el('thead', {}, el('tr', {}, el('th', {}, 'region \\ port'),
      ports.map((p) => el('th', {class: 'num'}, String(p))))),
    el('tbody', {}, rows)));
}

// Download checks (TLS to the catalogue's download services): their own
// rows of the reachability reply, never part of the relay series.
function renderDownloads(reply) {
  const rows = reply.downloads || [];
  if (rows.length === 0) {
    replace($('downloads'), el('p', {class: 'muted'}, 'No download checks in this window.'));
    return;
  }
  replace($('downloads'), table(
    [['Service'], ['Port', 'num'], ['Route'], ['Checks', 'num'], ['Genuine', 'num'],
     ['Success', 'num'], ['Outcomes']],
    rows.map((d) => {
      const ratio = Number(d.success_ratio || 0);
      return el('tr', {'data-service': d.service, 'data-port': d.port,
        'data-route': d.route_kind, 'data-ratio': ratio},
        el('td', {}, `${d.region} / ${d.service}`),
        el('td', {class: 'num'}, num(d.port) === 0 ? 'other' : String(d.port)),
        el('td', {}, routeLabel(d.route_kind)),
        el('td', {class: 'num'}, num(d.attempts)),
        el('td', {class: 'num'}, num(d.ok)),
        el('td', {class: 'num', style: `background:${ratioColor(ratio)}`}, pct(ratio)),
        el('td', {}, (d.outcomes || []).map((o) =>
          el('span', {class: 'outcome-count'}, outcomeBadge(o.outcome), ` ${num(o.attempts)} `))));
    })));
}

function renderChart(reply) {
  const series = (reply.series || []).filter((s) => num(s.total && s.total.attempts) > 0);
  const svgNS = 'http://www.w3.org/2000/svg';
  if (series.length === 0) {
    replace($('chart'), el('p', {class: 'muted'}, 'No attempts in this window.'));
    replace($('legend'));
    return;
  }
  const points = series[0].points.length;
  const totals = Array.from({length: points}, (_, i) =>
    series.reduce((sum, s) => sum + num(s.points[i] && s.points[i].attempts), 0));
  const max = Math.max(1, ...totals);
  const width = 720, height = 200, left = 40, bottom = 18;
  const barWidth = (width - left) / points;
  const svg = document.createElementNS(svgNS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height + bottom}`);
  svg.setAttribute('width', '100%');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'attempts by outcome over time');
  const text = (x, y, anchor, content) => {
    const t = document.createElementNS(svgNS, 'text');
    t.setAttribute('x', x); t.setAttribute('y', y); t.setAttribute('font-size', '11');
    t.setAttribute('text-anchor', anchor); t.setAttribute('fill', '#5b6475');
    t.textContent = content;
    svg.append(t);
  };
  for (let i = 0; i < points; i++) {
    let y = height;
    for (const s of series) {
      const count = num(s.points[i] && s.points[i].attempts);
      if (count === 0) continue;
      const h = (count / max) * (height - 10);
      y -= h;
      const rect = document.createElementNS(svgNS, 'rect');
      rect.setAttribute('x', left + i * barWidth + 0.5);
      rect.setAttribute('y', y);
      rect.setAttribute('width', Math.max(1, barWidth - 1));
      rect.setAttribute('height', h);
      rect.setAttribute('fill', OUTCOME_COLORS[s.outcome] || '#757575');
      const title = document.createElementNS(svgNS, 'title');
      title.textContent = `${timeText(s.points[i].time)}: ${count} × ${outcomeLabel(s.outcome)}`;
      rect.append(title);
      svg.append(rect);
    }
  }
  text(left - 4, 12, 'end', String(max));
  text(left - 4, height, 'end', '0');
  text(left, height + bottom - 4, 'start', timeText(series[0].points[0].time));
  text(width, height + bottom - 4, 'end', timeText(series[0].points[points - 1].time));
  replace($('chart'), svg);
  replace($('legend'), series.map((s) => el('span', {'data-outcome': s.outcome},
    el('span', {class: 'swatch', style: `background:${OUTCOME_COLORS[s.outcome] || '#757575'}`}),
    `${outcomeLabel(s.outcome)} (${num(s.total.attempts)})`)));
}

function evidenceNode(pattern) {
  const e = pattern.example || {};
  const lines = [];
  if (e.status_line) lines.push(e.status_line);
  if (e.page_title) lines.push(`title: ${e.page_title}`);
  if (e.server) lines.push(`server: ${e.server}`);
  if (lines.length === 0 && pattern.example_detail) lines.push(pattern.example_detail);
  return el('div', {class: 'evidence'}, lines.join('\n'));
}

function renderPatterns(reply) {
  const patterns = reply.patterns || [];
  if (patterns.length === 0) {
    replace($('patterns'), el('p', {class: 'muted'}, 'No failures in this window.'));
    return;
  }
  replace($('patterns'), table(
    [['Outcome'], ['Where'], ['Route'], ['Count', 'num'], ['Sites', 'num'], ['Agents', 'num'],
     ['First seen'], ['Last seen'], ['Evidence'], ['']],
    patterns.map((p) => el('tr', {'data-outcome': p.outcome},
      el('td', {}, outcomeBadge(p.outcome)),
      el('td', {}, p.target === 'TARGET_DOWNLOAD' ? 'download ' : '',
         `${p.region} / ${p.relay}:${p.port}`),
      el('td', {}, routeLabel(p.route_kind), p.proxy_status ? ` (proxy ${p.proxy_status})` : ''),
      el('td', {class: 'num'}, num(p.count)),
      el('td', {class: 'num'}, num(p.sites)),
      el('td', {class: 'num'}, num(p.agents)),
      el('td', {}, timeText(p.first_seen)),
      el('td', {}, timeText(p.last_seen)),
      el('td', {}, evidenceNode(p)),
      el('td', {}, p.example_session_id
        ? el('button', {class: 'link', onclick: () => openSession(p.example_agent_id, p.example_session_id)},
             'example')
        : '')))));
}

function renderSites(reply) {
  const sites = reply.sites || [];
  if (sites.length === 0) {
    replace($('sites'), el('p', {class: 'muted'}, 'No sites reported in this window.'));
    return;
  }
  replace($('sites'), table(
    [['Site'], ['Agents', 'num'], ['Attempts', 'num'], ['Failures', 'num'], ['Success', 'num'],
     ['Top failure'], ['Last seen']],
    sites.map((s) => el('tr', {'data-site': s.site},
      el('td', {}, s.site || '(no site label)'),
      el('td', {class: 'num'}, num(s.agents)),
      el('td', {class: 'num'}, num(s.attempts)),
      el('td', {class: 'num'}, num(s.failures)),
      el('td', {class: 'num'}, pct(Number(s.success_ratio || 0))),
      el('td', {}, num(s.failures) > 0 ? outcomeBadge(s.top_failure) : '—'),
      el('td', {}, timeText(s.last_seen))))));
}

function verdictNode(status) {
  const name = String(status || '').replace(/^VERDICT_STATUS_/, '');
  return el('span', {class: `verdict-${name}`}, name.toLowerCase() || '—');
}

function renderSessions(reply) {
  const sessions = reply.sessions || [];
  if (sessions.length === 0) {
    replace($('sessions'), el('p', {class: 'muted'}, 'No sessions in this window.'));
    return;
  }
  replace($('sessions'), table(
    [['Received'], ['Site'], ['Verdict'], ['Attempts', 'num'], ['Failures', 'num']],
    sessions.map((s) => el('tr', {class: 'clickable', 'data-session': s.session_id,
      title: s.summary || '', onclick: () => openSession(s.agent_id, s.session_id)},
      el('td', {}, timeText(s.updated)),
      el('td', {}, s.site || '(no site label)'),
      el('td', {}, verdictNode(s.verdict)),
      el('td', {class: 'num'}, num(s.attempts)),
      el('td', {class: 'num'}, num(s.failures))))));
}

function phaseMs(attempt, phase) {
  const p = (attempt.phases || []).find((x) => x.phase === phase && x.completed);
  return p ? durationMs(p.duration) : null;
}

async function openSession(agentId, sessionId) {
  state.session = {agent_id: agentId, session_id: sessionId};
  // A link to this view: #session=<agent_id>/<session_id>.
  history.replaceState(null, '', `#session=${encodeURIComponent(agentId)}/${encodeURIComponent(sessionId)}`);
  $('session-panel').hidden = false;
  replace($('session-title'), `${sessionId}`);
  replace($('session'), el('p', {class: 'muted'}, 'loading…'));
  try {
    const reply = await api(`sessions/${encodeURIComponent(agentId)}/${encodeURIComponent(sessionId)}`);
    renderSession(reply.session || {});
    $('session-panel').dataset.loaded = 'true';
  } catch (error) {
    replace($('session'), el('p', {class: 'muted'}, `Cannot load this session: ${error.message}`));
  }
  $('session-panel').scrollIntoView({block: 'nearest'});
}

function renderSession(session) {
  const agent = session.agent || {};
  const verdict = session.verdict || {};
  const attempts = session.attempts || [];
  const blockers = (verdict.blockers || []).map((b) => el('li', {},
    el('strong', {}, `${b.relay}:${b.port} ${routeLabel(b.route_kind)}: `), b.explanation || '',
    b.advice ? el('div', {class: 'muted'}, `→ ${b.advice}`) : null));
  replace($('session'),
    el('p', {}, verdictNode(verdict.status), ' ', verdict.summary || ''),
    el('p', {class: 'muted'}, `agent ${agent.agent_id || '?'} · ${agent.os || ''} · version ${agent.version || '?'}` +
       ` · site ${agent.site || '(none)'} · started ${timeText(session.start_time)}`),
    blockers.length ? el('ul', {}, blockers) : null,
    (verdict.downloads || []).length
      ? el('ul', {class: 'downloads'}, verdict.downloads.map((d) => el('li', {'data-service': d.service},
          el('strong', {}, `${d.display_name || d.service}: `), d.reachable ? 'reachable' : 'blocked',
          d.summary ? el('div', {class: 'muted'}, d.summary) : null)))
      : null,
    table([['#', 'num'], ['Relay'], ['Address'], ['Route'], ['Outcome'], ['Connect ms', 'num'],
           ['Handshake / TLS ms', 'num'], ['Total ms', 'num'], ['Evidence / detail']],
      attempts.map((a) => el('tr', {'data-outcome': a.outcome},
        el('td', {class: 'num'}, num(a.sequence)),
        el('td', {}, a.target === 'TARGET_DOWNLOAD' ? 'download ' : '', `${a.region} / ${a.relay}`),
        el('td', {}, `${a.address}:${a.port}`),
        el('td', {}, routeLabel(a.route_kind),
           a.proxy && a.proxy.host ? ` via ${a.proxy.host}:${a.proxy.port}` : ''),
        el('td', {}, outcomeBadge(a.outcome)),
        el('td', {class: 'num'}, phaseMs(a, 'PHASE_TCP_CONNECT') ?? '—'),
        el('td', {class: 'num'},
           phaseMs(a, a.target === 'TARGET_DOWNLOAD' ? 'PHASE_SERVER_TLS' : 'PHASE_HANDSHAKE') ?? '—'),
        el('td', {class: 'num'}, durationMs(a.total_duration) ?? '—'),
        el('td', {}, el('div', {class: 'evidence'}, [
          a.interference && a.interference.status_line,
          a.interference && a.interference.page_title && `title: ${a.interference.page_title}`,
          a.tls && a.tls.certificate && a.tls.certificate.issuer &&
            `certificate issuer: ${a.tls.certificate.issuer}`,
          a.tls && a.tls.alert && `TLS alert: ${a.tls.alert}`,
          a.detail].filter(Boolean).join('\n')))))));
}

// ---- refresh loop ----------------------------------------------------------

function setStatus(kind, text) {
  const status = $('status');
  status.className = `status ${kind}`;
  status.textContent = text;
}

async function refresh() {
  const span = state.window;
  try {
    const [matrix, outcomes, patterns, sites, sessions] = await Promise.all([
      api('reachability', {window: span, step: '0', group_by: 'region,port'}),
      api('reachability', {window: span, group_by: 'outcome'}),
      api('failure-patterns', {window: span, page_size: 25}),
      api('sites', {window: span, page_size: 10}),
      api('sessions', {window: span, page_size: 15}),
    ]);
    if (span !== state.window) return;  // the window changed meanwhile
    renderMatrix(matrix);
    renderDownloads(matrix);
    renderChart(outcomes);
    renderPatterns(patterns);
    renderSites(sites);
    renderSessions(sessions);
    const empty = (matrix.series || []).length === 0 && (matrix.downloads || []).length === 0;
    $('empty').hidden = !empty;
    $('banner').hidden = true;
    $('main').classList.remove('stale');
    state.lastOk = new Date();
    setStatus('live', `live · updated ${state.lastOk.toLocaleTimeString()}`);
    document.body.dataset.state = empty ? 'empty' : 'ready';
  } catch (error) {
    const since = state.lastOk
      ? ` The figures below are from ${state.lastOk.toLocaleTimeString()} and are NOT current.`
      : ' No data could be loaded.';
    const what = error.httpStatus === 503 || error.httpStatus === 0
      ? 'The collector is unreachable' : `The dashboard API answered ${error.httpStatus}`;
    $('banner').textContent = `${what}: ${error.message}.${since}`;
    $('banner').hidden = false;
    $('main').classList.add('stale');
    setStatus('error', 'collector unreachable — retrying');
    document.body.dataset.state = 'error';
  }
}

function schedule() {
  clearTimeout(state.timer);
  state.timer = setTimeout(async () => {
    await refresh();
    schedule();
  }, state.refreshMs);
}

function renderWindows() {
  replace($('windows'), WINDOWS.map((w) => el('button', {
    'aria-pressed': w === state.window ? 'true' : 'false',
    onclick: () => {
      state.window = w;
      const url = new URL(location.href);
      url.searchParams.set('window', w);
      history.replaceState(null, '', url);
      renderWindows();
      refresh();
    }}, w)));
}

document.addEventListener('DOMContentLoaded', async () => {
  renderWindows();
  await refresh();
  const link = /^#session=([^/]+)\/(.+)$/.exec(location.hash);
  if (link) await openSession(decodeURIComponent(link[1]), decodeURIComponent(link[2]));
  schedule();
});
