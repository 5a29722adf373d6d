// The status page's script: polls /healthz, /api/status/history and /api/status/disconnects every few seconds and
// draws them; charts with uPlot (served by the gateway). Every field is read defensively: one that is absent shows
// "—". With security.http.token set the JSON needs the bearer token: the operator types it in once per tab, it is
// kept in sessionStorage (this tab only, gone when the tab closes) and sent only to this gateway.

const TOKEN_KEY = 'gateway-status-token';
const REFRESH_MS = 5000;
const NONE = '—';
/** Sections of /healthz shown in their own cards (the others are listed under Parts). */
const OWN_CARDS = new Set(['kafka', 'backlog', 'devices']);

class NeedToken extends Error {}

const $ = (id) => document.getElementById(id);
const present = (v) => v !== undefined && v !== null && v !== '';
const pick = (obj, names) => {
  if (!obj || typeof obj !== 'object') return undefined;
  for (const n of names) if (present(obj[n])) return obj[n];
  return undefined;
};

/** An array element: an object (e.g. one of kafka.errors) as its `key=value` pairs. */
const item = (v) =>
  v && typeof v === 'object'
    ? Object.entries(v)
        .map(([k, x]) => `${k}=${typeof x === 'object' ? JSON.stringify(x) : x}`)
        .join(' ')
    : String(v);

const fmt = {
  num: (v) => (typeof v === 'number' ? v.toLocaleString('en-US', { maximumFractionDigits: 1 }) : NONE),
  bytes: (v) => {
    if (typeof v !== 'number') return NONE;
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let n = v;
    let u = 0;
    while (n >= 1024 && u < units.length - 1) {
      n /= 1024;
      u++;
    }
    return `${u === 0 ? n : n.toFixed(1)} ${units[u]}`;
  },
  age: (sec) => {
    if (typeof sec !== 'number') return present(sec) ? String(sec) : NONE;
    const s = Math.round(sec);
    if (s < 120) return `${s} s`;
    if (s < 7200) return `${Math.floor(s / 60)} min ${s % 60} s`;
    if (s < 172800) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
    return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
  },
  rate: (v) => (typeof v === 'number' ? `${v.toLocaleString('en-US', { maximumFractionDigits: 1 })} records/s` : NONE),
  time: (ms) => (typeof ms === 'number' && ms > 0 ? new Date(ms).toLocaleString() : NONE),
  any: (v) => {
    if (!present(v)) return NONE;
    if (Array.isArray(v)) return v.length ? v.map(item).join('; ') : NONE;
    if (typeof v === 'number') return fmt.num(v);
    return String(v);
  },
};

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

async function getJson(path) {
  const t = token();
  const res = await fetch(path, { headers: t ? { authorization: `Bearer ${t}` } : {}, cache: 'no-store' });
  if (res.status === 401) throw new NeedToken(path);
  // /healthz answers 503 with its body when the broker is down: still worth showing.
  if (!res.ok && !(res.status === 503 && path === '/healthz')) throw new Error(`${path}: HTTP ${res.status}`);
  return res.json();
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function setText(id, text, state) {
  const e = $(id);
  e.textContent = text;
  if (state !== undefined) e.className = `${e.classList.contains('badge') ? 'badge ' : ''}state-${state}`;
}

/** key/value pairs of a section, one level of nesting flattened (`lastError.cause`), `first` keys first. */
function flatten(obj, first = []) {
  const out = [];
  const add = (k, v) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k2, v2] of Object.entries(v))
        if (typeof v2 !== 'object' || Array.isArray(v2)) out.push([`${k}.${k2}`, v2]);
    } else out.push([k, v]);
  };
  for (const k of first) add(k, obj?.[k]);
  for (const [k, v] of Object.entries(obj || {})) if (!first.includes(k)) add(k, v);
  return out;
}

function fillList(dl, pairs) {
  dl.replaceChildren();
  for (const [k, v] of pairs) {
    dl.append(el('dt', k));
    const dd = el('dd', fmt.any(v));
    dd.dataset.field = k;
    if ((k === 'state' || k === 'link') && present(v)) dd.className = `state-${v}`;
    dl.append(dd);
  }
}

function renderHeader(h) {
  setText('gateway-id', fmt.any(h.gatewayId));
  setText('status', fmt.any(h.status), h.status);
  const v = h.version;
  setText('version', v && typeof v === 'object' ? Object.values(v).join(' ') : fmt.any(v));
  const up = pick(h, ['uptimeSec', 'uptime_s', 'uptime']);
  setText('uptime', typeof up === 'number' ? fmt.age(up) : fmt.any(up));
  setText('updated', new Date().toLocaleTimeString());
}

function renderKafka(h) {
  const k = h.kafka || {};
  fillList($('kafka'), flatten(k, ['link', 'stalled', 'brokers', 'lastError', 'lastErrorAt', 'lastSuccessAt']));
}

function classDrops(name, c, hist) {
  const own = pick(c, ['drops', 'dropped']);
  if (typeof own === 'number') return own;
  if (own && typeof own === 'object') return Object.values(own).reduce((a, b) => a + (Number(b) || 0), 0);
  return hist?.totals?.dropped?.[name];
}

function renderClasses(h, hist) {
  const body = $('classes').tBodies[0];
  body.replaceChildren();
  for (const [name, c] of Object.entries(h.backlog?.classes || {})) {
    const used =
      c.budgetBytes > 0 && typeof c.bytes === 'number' ? `${((100 * c.bytes) / c.budgetBytes).toFixed(1)} %` : NONE;
    const cells = [
      ['class', name],
      ['records', fmt.num(c.records)],
      ['bytes', fmt.bytes(c.bytes)],
      ['oldest', c.records > 0 ? fmt.age(c.oldestAgeSec) : NONE],
      ['budget', used],
      ['policy', fmt.any(c.policy)],
      ['drops', fmt.num(classDrops(name, c, hist))],
    ];
    const tr = el('tr');
    tr.dataset.class = name;
    for (const [field, text] of cells) {
      const td = el('td', text);
      td.dataset.field = field;
      tr.append(td);
    }
    body.append(tr);
  }
}

function renderFlow(h, hist) {
  const b = h.backlog || {};
  setText('in-rate', fmt.rate(pick(b, ['inRate']) ?? hist?.inRate));
  setText('out-rate', fmt.rate(pick(b, ['outRate']) ?? hist?.outRate));
  setText('backlog-total', `${fmt.num(b.records)} records, ${fmt.bytes(b.bytes)}`);
  const own = pick(b, ['drainEtaSec', 'etaSec', 'drainEta']) ?? pick(h.kafka, ['drainEtaSec', 'drainEta']);
  const eta = present(own) ? own : hist?.drainEtaSec;
  let text = NONE;
  if (b.records === 0) text = 'empty';
  else if (typeof eta === 'number') text = fmt.age(eta);
  else if (present(eta)) text = String(eta);
  else if (hist) text = 'not draining';
  setText('drain-eta', text);
}

function renderDevices(h, disc) {
  setText('devices-online', fmt.num(h.devices?.online));
  setText('devices-known', fmt.num(h.devices?.known));
  const body = $('disconnects').tBodies[0];
  body.replaceChildren();
  for (const d of disc?.disconnects || []) {
    const tr = el('tr');
    tr.append(el('td', d.clientId), el('td', fmt.time(d.at)), el('td', fmt.any(d.reason)));
    tr.append(el('td', d.online ? 'online' : 'offline', d.online ? 'state-up' : 'state-down'));
    body.append(tr);
  }
  if (!body.children.length) body.append(el('tr')).append(el('td', 'none'));
}

function renderParts(h) {
  const box = $('parts');
  box.replaceChildren();
  for (const [name, part] of Object.entries(h)) {
    if (OWN_CARDS.has(name) || !part || typeof part !== 'object' || Array.isArray(part)) continue;
    const div = el('div', undefined, 'part');
    div.dataset.part = name;
    div.append(el('h3', name));
    const dl = el('dl');
    fillList(dl, flatten(part, 'state' in part ? ['state'] : []));
    div.append(dl);
    if (name === 'flows' && part.editorServed && typeof part.editorPath === 'string') {
      const a = el('a', 'open the flow editor');
      a.href = part.editorPath;
      div.append(a);
    }
    box.append(div);
  }
}

let charts;

function makeChart(id, title, series) {
  const box = $(id);
  const opts = {
    title,
    width: Math.max(300, box.clientWidth),
    height: 220,
    scales: { x: { time: true } },
    series: [{}, ...series],
  };
  return new uPlot(opts, [[], ...series.map(() => [])], box);
}

function drawCharts(hist) {
  if (!charts) {
    charts = {
      backlog: makeChart('chart-backlog', 'Backlog (records)', [{ label: 'records', stroke: '#2f6fd0', width: 2 }]),
      rates: makeChart('chart-rates', 'In and out (records/s)', [
        { label: 'in', stroke: '#a86400', width: 2 },
        { label: 'out', stroke: '#1b7f3b', width: 2 },
      ]),
    };
    window.addEventListener('resize', () => {
      for (const [id, c] of [
        ['chart-backlog', charts.backlog],
        ['chart-rates', charts.rates],
      ])
        c.setSize({ width: Math.max(300, $(id).clientWidth), height: 220 });
    });
  }
  const s = hist?.samples || { t: [], records: [], inRate: [], outRate: [] };
  const x = s.t.map((t) => t / 1000);
  charts.backlog.setData([x, s.records]);
  charts.rates.setData([x, s.inRate, s.outRate]);
}

function showTokenForm(refused) {
  $('token-form').hidden = false;
  $('token-error').textContent = refused ? 'the gateway refused this token' : '';
  $('token').focus();
}

let refreshes = 0;

async function refresh() {
  try {
    const [h, hist, disc] = await Promise.all([
      getJson('/healthz'),
      getJson('/api/status/history'),
      getJson('/api/status/disconnects'),
    ]);
    $('token-form').hidden = true;
    $('error').hidden = true;
    renderHeader(h);
    renderKafka(h);
    renderFlow(h, hist);
    renderClasses(h, hist);
    renderDevices(h, disc);
    renderParts(h);
    drawCharts(hist);
    refreshes++;
    document.body.dataset.refreshes = String(refreshes);
  } catch (err) {
    if (err instanceof NeedToken) {
      const refused = token() !== '';
      sessionStorage.removeItem(TOKEN_KEY);
      showTokenForm(refused);
      return; // polling resumes once a token is entered
    }
    $('error').hidden = false;
    $('error').textContent = `Update failed: ${err.message}`;
  }
  setTimeout(refresh, REFRESH_MS);
}

$('token-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
  $('token').value = '';
  $('token-form').hidden = true;
  void refresh();
});

void refresh();
