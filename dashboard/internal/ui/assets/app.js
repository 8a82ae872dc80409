// skiff dashboard: a dependency-free single-page app. All data comes live
// over one websocket (/ws) that multiplexes list+watch streams; actions go
// through the dashboard's proxy with the user's token.
(function () {
  'use strict';

  // ---------- helpers ----------
  const $ = (sel, root) => (root || document).querySelector(sel);
  const esc = (s) => String(s == null ? '' : s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
  const view = () => $('#view');
  function age(ts) {
    if (!ts) return '';
    const s = Math.max(0, (Date.now() - Date.parse(ts)) / 1000);
    if (s < 60) return Math.floor(s) + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm';
    if (s < 86400) return Math.floor(s / 3600) + 'h';
    return Math.floor(s / 86400) + 'd';
  }
  function toast(msg, bad) {
    const t = document.createElement('div');
    t.className = 'toast' + (bad ? ' bad' : '');
    t.textContent = msg;
    $('#toasts').appendChild(t);
    setTimeout(() => t.remove(), 5000);
  }
  function parseQty(q) {
    if (q == null) return 0;
    const m = String(q).match(/^([0-9.]+)([a-zA-Z]*)$/);
    if (!m) return 0;
    const n = parseFloat(m[1]);
    const f = { '': 1, m: 1e-3, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1048576, Gi: 1073741824, Ti: 1099511627776 }[m[2]];
    return f == null ? 0 : n * f;
  }
  const fmtCPU = (v) => (v < 1 ? Math.round(v * 1000) + 'm' : (Math.round(v * 100) / 100) + '');
  const fmtMem = (v) => (v >= 1073741824 ? (v / 1073741824).toFixed(1) + 'Gi' : Math.round(v / 1048576) + 'Mi');
  const stamp = (o) => (o.metadata && (o.metadata.uid || (o.metadata.namespace || '') + '/' + o.metadata.name)) || '';

  // ---------- auth ----------
  const auth = {
    token() { const m = document.cookie.match(/(?:^|; )skiff_token=([^;]*)/); return m ? decodeURIComponent(m[1]) : ''; },
    set(t) {
      if (t) document.cookie = 'skiff_token=' + encodeURIComponent(t) + '; path=/; SameSite=Strict';
      else document.cookie = 'skiff_token=; path=/; max-age=0; SameSite=Strict';
      $('#login-btn').textContent = t ? 'Account' : 'Log in';
      live.reconnect();
      render();
    },
  };
  function showLogin(reason) {
    modal(`<h2>Log in</h2><p class="muted small">${esc(reason || 'Paste a bearer token. The dashboard acts with your identity and your rights only.')}</p>
      <input id="tok" type="password" placeholder="bearer token" autocomplete="off">
      <div class="actions"><button class="btn ghost" data-close>Cancel</button>${auth.token() ? '<button class="btn ghost" id="logout">Log out</button>' : ''}<button class="btn" id="tok-ok">Log in</button></div>`);
    $('#tok').focus();
    $('#tok-ok').onclick = () => { auth.set($('#tok').value.trim()); closeModal(); };
    const lo = $('#logout');
    if (lo) lo.onclick = () => { auth.set(''); closeModal(); };
  }
  function modal(html) {
    $('#modal-box').innerHTML = html;
    $('#modal').classList.remove('hidden');
    $('#modal-box').querySelectorAll('[data-close]').forEach((b) => (b.onclick = closeModal));
  }
  function closeModal() { $('#modal').classList.add('hidden'); }
  function confirmBox(title, text, label, danger) {
    return new Promise((resolve) => {
      modal(`<h2>${esc(title)}</h2><p>${esc(text)}</p><div class="actions"><button class="btn ghost" id="c-no">Cancel</button><button class="btn ${danger ? 'danger' : ''}" id="c-yes">${esc(label)}</button></div>`);
      $('#c-no').onclick = () => { closeModal(); resolve(false); };
      $('#c-yes').onclick = () => { closeModal(); resolve(true); };
    });
  }

  // ---------- API ----------
  async function api(method, path, body, contentType) {
    const headers = { 'X-Skiff-Dashboard': '1', Accept: 'application/json' };
    if (body != null && typeof body !== 'string' && !(body instanceof ArrayBuffer) && !(body instanceof Blob)) {
      body = JSON.stringify(body);
      contentType = contentType || 'application/json';
    }
    if (contentType) headers['Content-Type'] = contentType;
    const resp = await fetch(path, { method, headers, body, credentials: 'same-origin' });
    const text = await resp.text();
    let data = text;
    try { data = JSON.parse(text); } catch (e) { /* YAML or text */ }
    if (resp.status === 401) showLogin('The apiserver did not accept your credentials (401). Log in with a token.');
    if (!resp.ok) {
      const err = new Error((data && data.message) || text || resp.statusText);
      err.status = data; err.code = resp.status;
      throw err;
    }
    return data;
  }
  function statusText(err) {
    const st = err.status;
    let s = err.message;
    if (st && st.details && st.details.causes && st.details.causes.length) {
      s += '\n' + st.details.causes.map((c) => '• ' + (c.field ? c.field + ': ' : '') + c.message).join('\n');
    }
    return s;
  }

  // ---------- live: one multiplexed websocket ----------
  const live = {
    ws: null, seq: 0, streams: new Map(), backoff: 500, timer: null,
    connect() {
      const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
      const ws = new WebSocket(proto + '//' + location.host + '/ws');
      this.ws = ws;
      setConn('connecting');
      ws.onopen = () => {
        this.backoff = 500;
        setConn('live');
        for (const s of this.streams.values()) this.sendWatch(s);
      };
      ws.onmessage = (ev) => this.onMessage(JSON.parse(ev.data));
      ws.onclose = () => {
        if (this.ws !== ws) return;
        setConn('down');
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.connect(), this.backoff);
        this.backoff = Math.min(this.backoff * 2, 10000);
      };
    },
    reconnect() { if (this.ws) { const old = this.ws; this.ws = null; old.close(); } this.connect(); },
    sendWatch(s) {
      if (!this.ws || this.ws.readyState !== 1) return;
      this.ws.send(JSON.stringify({ op: 'watch', id: s.id, path: s.path, labelSelector: s.labelSelector || '', resourceVersion: s.rv || '' }));
    },
    // watch opens a stream; onChange(items Map, event) runs at most once per frame.
    watch(path, opts, onChange) {
      const s = { id: 's' + (++this.seq), path, labelSelector: (opts && opts.labelSelector) || '', rv: '', items: new Map(), synced: false, onChange, onError: opts && opts.onError, pending: false, changed: new Set() };
      this.streams.set(s.id, s);
      this.sendWatch(s);
      return { stream: s, cancel: () => { this.streams.delete(s.id); if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify({ op: 'cancel', id: s.id })); } };
    },
    onMessage(m) {
      const s = this.streams.get(m.id);
      if (!s) return;
      switch (m.type) {
        case 'SYNC':
          s.items = new Map();
          for (const o of m.list.items) s.items.set(stamp(o), o);
          s.rv = m.list.resourceVersion; s.synced = true;
          break;
        case 'ADDED': case 'MODIFIED':
          s.items.set(stamp(m.object), m.object); s.rv = m.object.metadata.resourceVersion; s.changed.add(stamp(m.object));
          break;
        case 'DELETED':
          s.items.delete(stamp(m.object)); s.rv = m.object.metadata.resourceVersion;
          break;
        case 'BOOKMARK':
          s.rv = m.resourceVersion; return;
        case 'ERROR':
          if (m.status && m.status.code === 401) showLogin('Your token was rejected (401).');
          if (s.onError) s.onError(m.status); else toast('Watch ' + s.path + ': ' + ((m.status && m.status.message) || 'error'), true);
          return;
      }
      if (!s.pending) {
        s.pending = true;
        requestAnimationFrame(() => { s.pending = false; const ch = s.changed; s.changed = new Set(); if (this.streams.has(s.id)) s.onChange(s.items, ch); });
      }
    },
  };
  function setConn(state) {
    const c = $('#conn');
    c.className = 'conn ' + (state === 'live' ? 'live' : state === 'down' ? 'down' : '');
    c.textContent = '● ' + (state === 'live' ? 'live' : state === 'down' ? 'reconnecting' : 'connecting');
  }

  // ---------- discovery ----------
  const disc = { resources: [], byKey: new Map(), ready: null };
  disc.load = async function () {
    const out = [];
    const add = (group, version, list) => {
      for (const r of list.resources || []) {
        if (r.name.includes('/')) continue;
        const verbs = r.verbs || [];
        if (!verbs.includes('list') || !verbs.includes('watch')) continue;
        out.push({ group, version, name: r.name, kind: r.kind, namespaced: r.namespaced, verbs });
      }
    };
    try { add('', 'v1', await api('GET', '/api/v1')); } catch (e) { toast('discovery /api/v1: ' + e.message, true); }
    try {
      const groups = await api('GET', '/apis');
      await Promise.all((groups.groups || []).map(async (g) => {
        const v = (g.preferredVersion || g.versions[0]).version;
        try { add(g.name, v, await api('GET', '/apis/' + g.name + '/' + v)); } catch (e) { /* group unreachable */ }
      }));
    } catch (e) { toast('discovery /apis: ' + e.message, true); }
    out.sort((a, b) => (a.group || '').localeCompare(b.group || '') || a.name.localeCompare(b.name));
    disc.resources = out;
    for (const r of out) disc.byKey.set(rkey(r), r);
  };
  const rkey = (r) => (r.group || 'core') + '/' + r.version + '/' + r.name;
  function basePath(r) { return r.group ? '/apis/' + r.group + '/' + r.version : '/api/' + r.version; }
  function collPath(r, ns) { return basePath(r) + (r.namespaced && ns ? '/namespaces/' + encodeURIComponent(ns) : '') + '/' + r.name; }
  function objPath(r, ns, name) { return basePath(r) + (r.namespaced ? '/namespaces/' + encodeURIComponent(ns) : '') + '/' + r.name + '/' + encodeURIComponent(name); }
  function findRes(group, name) { return disc.resources.find((r) => r.group === group && r.name === name); }
  function findKind(apiVersion, kind) {
    const [g, v] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
    return disc.resources.find((r) => r.group === g && r.version === v && r.kind === kind) || disc.resources.find((r) => r.group === g && r.kind === kind);
  }
  function objHref(r, o) { return '#/obj/' + rkey(r) + '/' + (o.metadata.namespace || '_') + '/' + encodeURIComponent(o.metadata.name); }

  // ---------- state, nav, routing ----------
  const state = { ns: sessionStorage.getItem('ns') || '', cleanup: [] };
  function onLeave(fn) { state.cleanup.push(fn); }
  const favourites = [['', 'pods'], ['apps', 'deployments'], ['apps', 'replicasets'], ['apps', 'statefulsets'], ['apps', 'daemonsets'], ['batch', 'jobs'], ['', 'services'], ['', 'configmaps'], ['', 'secrets'], ['', 'nodes'], ['', 'namespaces'], ['', 'events']];
  function renderNav() {
    const cur = location.hash || '#/overview';
    let h = '<div class="group">Cluster</div>' + link('#/overview', 'Overview') + link('#/plugins', 'Wasm plugins');
    h += '<div class="group">Workloads &amp; config</div>';
    for (const [g, n] of favourites) { const r = findRes(g, n); if (r) h += link('#/list/' + rkey(r), title(r)); }
    const rest = disc.resources.filter((r) => !favourites.some(([g, n]) => g === r.group && n === r.name));
    let lastGroup = null;
    for (const r of rest) {
      if (r.group !== lastGroup) { h += '<div class="group">' + esc(r.group || 'core') + '</div>'; lastGroup = r.group; }
      h += link('#/list/' + rkey(r), title(r));
    }
    $('#nav').innerHTML = h;
    function link(href, text) { return '<a href="' + esc(href) + '"' + (cur === href || cur.startsWith(href + '?') ? ' class="active"' : '') + '>' + esc(text) + '</a>'; }
  }
  // title turns a resource into a plural display name: Pod/pods → "Pods",
  // AdmissionPolicy/admissionpolicies → "Admission Policies".
  const title = (r) => {
    const k = r.kind, lk = k.toLowerCase();
    let plural = r.name.startsWith(lk) ? k + r.name.slice(lk.length) : /y$/.test(k) && /ies$/.test(r.name) ? k.slice(0, -1) + 'ies' : k;
    return plural.replace(/([a-z])([A-Z])/g, '$1 $2');
  };
  function crumbs(html) { $('#crumbs').innerHTML = html; }

  let nsWatch = null;
  function watchNamespaces() {
    const sel = $('#ns-select');
    nsWatch = live.watch('/api/v1/namespaces', { onError: () => {} }, (items) => {
      const names = [...items.values()].map((o) => o.metadata.name).sort();
      const cur = state.ns;
      sel.innerHTML = '<option value="">All namespaces</option>' + names.map((n) => '<option' + (n === cur ? ' selected' : '') + '>' + esc(n) + '</option>').join('');
      if (cur && !names.includes(cur)) sel.insertAdjacentHTML('beforeend', '<option selected>' + esc(cur) + '</option>');
    });
    sel.onchange = () => { state.ns = sel.value; sessionStorage.setItem('ns', state.ns); render(); };
  }

  function render() {
    for (const f of state.cleanup.splice(0)) { try { f(); } catch (e) { /* ignore */ } }
    renderNav();
    const parts = (location.hash || '#/overview').slice(2).split('?')[0].split('/').map(decodeURIComponent);
    const q = new URLSearchParams((location.hash.split('?')[1]) || '');
    const v = view();
    v.innerHTML = '';
    switch (parts[0]) {
      case 'list': return pageList(parts[1], parts[2], parts[3], q);
      case 'obj': return pageObject(parts[1], parts[2], parts[3], parts[4], parts[5], parts[6] || 'overview');
      case 'plugins': return pagePlugins();
      case 'logs': return pageLogs(parts[1], parts[2], q.get('container') || '');
      case 'exec': return pageExec(parts[1], parts[2], q.get('container') || '');
      default: return pageOverview();
    }
  }

  // ---------- overview ----------
  function pageOverview() {
    crumbs('Cluster overview');
    const v = view();
    v.innerHTML = `<div class="grid">
      <div class="card"><h2>Nodes</h2><div class="stat" id="ov-nodes">–</div><div class="muted small" id="ov-nodes-ready"></div></div>
      <div class="card"><h2>Pods</h2><div class="stat" id="ov-pods">–</div><div class="bar" id="ov-phase-bar"></div><div class="legend" id="ov-phase-legend"></div></div>
      <div class="card"><h2>Component health</h2><div class="health" id="ov-health"><span class="muted">checking…</span></div></div>
      <div class="card wide"><h2>Node capacity vs requested</h2><div id="ov-node-list"><div class="empty">No nodes yet.</div></div></div>
      <div class="card wide"><h2>Recent warnings</h2><div id="ov-events"><div class="empty">No warning events.</div></div></div>
    </div>`;
    let nodes = new Map(), pods = new Map();
    const redraw = () => {
      $('#ov-nodes').textContent = nodes.size;
      const ready = [...nodes.values()].filter((n) => (n.status && n.status.conditions || []).some((c) => c.type === 'Ready' && c.status === 'True')).length;
      $('#ov-nodes-ready').textContent = ready + ' ready';
      $('#ov-pods').textContent = pods.size;
      const phases = {};
      for (const p of pods.values()) { const ph = (p.status && p.status.phase) || 'Pending'; phases[ph] = (phases[ph] || 0) + 1; }
      const bar = $('#ov-phase-bar'); bar.innerHTML = '';
      const legend = [];
      for (const ph of ['Running', 'Pending', 'Succeeded', 'Failed', 'Unknown']) {
        if (!phases[ph]) continue;
        const s = document.createElement('span'); s.className = 'phase-' + ph; s.style.width = (100 * phases[ph] / pods.size) + '%'; bar.appendChild(s);
        legend.push('<span><span class="dot phase-' + ph + '"></span>' + ph + ' ' + phases[ph] + '</span>');
      }
      $('#ov-phase-legend').innerHTML = legend.join('');
      const list = $('#ov-node-list');
      if (!nodes.size) { list.innerHTML = '<div class="empty">No nodes registered.</div>'; return; }
      list.innerHTML = '';
      for (const n of [...nodes.values()].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
        const alloc = (n.status && (n.status.allocatable || n.status.capacity)) || {};
        let cpu = 0, mem = 0, count = 0;
        for (const p of pods.values()) {
          if (!p.spec || p.spec.nodeName !== n.metadata.name) continue;
          const ph = p.status && p.status.phase; if (ph === 'Succeeded' || ph === 'Failed') continue;
          count++;
          for (const c of p.spec.containers || []) { const r = (c.resources && c.resources.requests) || {}; cpu += parseQty(r.cpu); mem += parseQty(r.memory); }
        }
        const row = document.createElement('div'); row.className = 'node-row';
        const capCPU = parseQty(alloc.cpu), capMem = parseQty(alloc.memory);
        row.innerHTML = `<div><a href="${esc(objHref(findRes('', 'nodes') || { group: '', version: 'v1', name: 'nodes' }, n))}">${esc(n.metadata.name)}</a></div>
          ${metric('CPU requested', cpu, capCPU, fmtCPU)}${metric('Memory requested', mem, capMem, fmtMem)}<div class="muted small">${count} pods</div>`;
        list.appendChild(row);
      }
    };
    function metric(label, used, cap, fmt) {
      const pct = cap ? Math.min(100, 100 * used / cap) : 0;
      const cls = pct > 95 ? 'over' : pct > 75 ? 'hot' : '';
      return `<div class="metric"><div class="label"><span>${label}</span><span>${fmt(used)} / ${cap ? fmt(cap) : '?'}</span></div><div class="bar"><span class="fill ${cls}" data-w="${pct.toFixed(1)}"></span></div></div>`;
    }
    const fixBars = () => view().querySelectorAll('[data-w]').forEach((e) => (e.style.width = e.dataset.w + '%'));
    const w1 = live.watch('/api/v1/nodes', {}, (m) => { nodes = m; redraw(); fixBars(); });
    const w2 = live.watch('/api/v1/pods', {}, (m) => { pods = m; redraw(); fixBars(); });
    const w3 = live.watch('/api/v1/events', { onError: () => {} }, (m) => {
      const warn = [...m.values()].filter((e) => e.type === 'Warning').sort((a, b) => evTime(b) - evTime(a)).slice(0, 12);
      $('#ov-events').innerHTML = warn.length ? '<table class="simple"><tr><th>Age</th><th>Object</th><th>Reason</th><th>Message</th></tr>' +
        warn.map((e) => `<tr><td>${esc(age(e.lastTimestamp || e.eventTime || e.metadata.creationTimestamp))}</td><td>${esc((e.involvedObject || {}).kind + '/' + (e.involvedObject || {}).name)}</td><td><span class="badge warn">${esc(e.reason)}</span></td><td><div class="clamp" title="${esc(e.message)}">${esc(e.message)}</div></td></tr>`).join('') + '</table>' : '<div class="empty">No warning events.</div>';
    });
    onLeave(() => { w1.cancel(); w2.cancel(); w3.cancel(); });
    const health = async () => {
      const out = [];
      for (const ep of ['livez', 'readyz']) {
        try {
          const txt = await (await fetch('/' + ep + '?verbose', { credentials: 'same-origin' })).text();
          const checks = txt.split('\n').map((l) => l.match(/^\[([+-])\](\S+)/)).filter(Boolean);
          if (!checks.length) out.push(`<span class="badge ${/ok/.test(txt) ? 'good' : 'bad'}">${ep}</span>`);
          for (const c of checks) out.push(`<span class="badge ${c[1] === '+' ? 'good' : 'bad'}" title="${ep}">${esc(c[2])}</span>`);
        } catch (e) { out.push(`<span class="badge bad">${ep}: unreachable</span>`); }
      }
      const el = $('#ov-health'); if (el) el.innerHTML = out.join('');
    };
    health();
    const t = setInterval(health, 15000);
    onLeave(() => clearInterval(t));
  }
  const evTime = (e) => Date.parse(e.lastTimestamp || e.eventTime || e.metadata.creationTimestamp) || 0;

  // ---------- lists (virtualized) ----------
  // perf records how long list renders take (read by the browser tests).
  const perf = { listDraws: [] };
  function columns(r) {
    const ready = (p) => { const cs = (p.status && p.status.containerStatuses) || []; return cs.filter((c) => c.ready).length + '/' + ((p.spec && p.spec.containers) || []).length; };
    const podStatus = (p) => {
      if (p.metadata.deletionTimestamp) return ['Terminating', 'warn'];
      for (const c of (p.status && p.status.containerStatuses) || []) { if (c.state && c.state.waiting && c.state.waiting.reason) return [c.state.waiting.reason, 'bad']; }
      const ph = (p.status && p.status.phase) || 'Pending';
      return [ph, ph === 'Running' || ph === 'Succeeded' ? 'good' : ph === 'Pending' ? 'warn' : 'bad'];
    };
    const restarts = (p) => ((p.status && p.status.containerStatuses) || []).reduce((a, c) => a + (c.restartCount || 0), 0);
    const cols = {
      pods: [['Ready', '70px', ready], ['Status', '140px', (p) => { const [s, c] = podStatus(p); return `<span class="badge ${c}">${esc(s)}</span>`; }, true], ['Restarts', '80px', restarts], ['Node', '1fr', (p) => p.spec.nodeName || '']],
      deployments: [['Ready', '90px', (d) => ((d.status && d.status.readyReplicas) || 0) + '/' + ((d.spec && d.spec.replicas) != null ? d.spec.replicas : 1)], ['Up-to-date', '100px', (d) => (d.status && d.status.updatedReplicas) || 0], ['Available', '90px', (d) => (d.status && d.status.availableReplicas) || 0]],
      replicasets: [['Desired', '80px', (d) => d.spec.replicas], ['Ready', '80px', (d) => (d.status && d.status.readyReplicas) || 0]],
      statefulsets: [['Ready', '90px', (d) => ((d.status && d.status.readyReplicas) || 0) + '/' + d.spec.replicas]],
      services: [['Type', '100px', (s) => s.spec.type], ['Cluster IP', '130px', (s) => s.spec.clusterIP], ['Ports', '1fr', (s) => (s.spec.ports || []).map((p) => p.port + '/' + p.protocol).join(', ')]],
      nodes: [['Status', '100px', (n) => { const ok = ((n.status && n.status.conditions) || []).some((c) => c.type === 'Ready' && c.status === 'True'); return `<span class="badge ${ok ? 'good' : 'bad'}">${ok ? 'Ready' : 'NotReady'}</span>`; }, true], ['Version', '120px', (n) => (n.status && n.status.nodeInfo && n.status.nodeInfo.kubeletVersion) || '']],
      events: [['Type', '90px', (e) => `<span class="badge ${e.type === 'Warning' ? 'warn' : 'info'}">${esc(e.type)}</span>`, true], ['Reason', '140px', (e) => e.reason], ['Object', '180px', (e) => (e.involvedObject || {}).kind + '/' + (e.involvedObject || {}).name], ['Message', '2fr', (e) => e.message]],
      admissionpolicies: [['Mode', '90px', (p) => p.spec.mode || 'Enforce'], ['Module', '1fr', (p) => p.spec.module]],
      schedulerplugins: [['Module', '1fr', (p) => p.spec.module]],
    }[r.name] || [];
    return cols;
  }

  function pageList(g, ver, name, q) {
    const r = disc.byKey.get(g + '/' + ver + '/' + name);
    if (!r) { view().innerHTML = '<div class="empty">Unknown resource ' + esc(name) + '.</div>'; return; }
    crumbs(esc(title(r)));
    const ns = r.namespaced ? state.ns : '';
    const cols = columns(r);
    const grid = ['minmax(180px,2fr)'].concat(r.namespaced ? ['140px'] : [], cols.map((c) => c[1]), ['70px']).join(' ');
    const v = view();
    v.innerHTML = `<div class="toolbar"><input id="f-name" placeholder="Filter by name" value="${esc(q.get('name') || '')}">
      <input id="f-label" placeholder="Label selector, e.g. app=web,tier!=db" value="${esc(q.get('labels') || '')}">
      <span class="count" id="count"></span><span class="spacer"></span>
      ${r.verbs.includes('create') ? '<button class="btn" id="create">Create</button>' : ''}</div>
      <div class="table"><div class="thead" id="thead"></div><div class="tbody" id="tbody"><div class="empty">Loading…</div></div></div>`;
    const thead = $('#thead');
    thead.style.gridTemplateColumns = grid;
    thead.innerHTML = '<div>Name</div>' + (r.namespaced ? '<div>Namespace</div>' : '') + cols.map((c) => '<div>' + esc(c[0]) + '</div>').join('') + '<div>Age</div>';
    const body = $('#tbody');
    let rows = [], changed = new Set();
    const ROW = 34;
    const draw = () => {
      const t0 = performance.now();
      try { drawRows(); } finally { perf.listDraws.push(performance.now() - t0); if (perf.listDraws.length > 1000) perf.listDraws.shift(); }
    };
    const drawRows = () => {
      const filter = $('#f-name').value.trim().toLowerCase();
      const shown = filter ? rows.filter((o) => o.metadata.name.toLowerCase().includes(filter)) : rows;
      $('#count').textContent = shown.length + (shown.length !== rows.length ? ' of ' + rows.length : '') + ' ' + r.name;
      if (!shown.length) { body.innerHTML = '<div class="empty">' + (rows.length ? 'Nothing matches the filter.' : 'No ' + esc(r.name) + (ns ? ' in ' + esc(ns) : '') + '.') + '</div>'; body.style.height = ''; return; }
      // Virtualized: only the rows in view (plus a margin) exist in the DOM.
      let spacer = body.querySelector('.spacer-v');
      if (!spacer) { body.innerHTML = '<div class="spacer-v"></div>'; spacer = body.firstChild; }
      spacer.style.height = (shown.length * ROW) + 'px';
      const top = body.scrollTop, h = body.clientHeight || 600;
      const first = Math.max(0, Math.floor(top / ROW) - 10), last = Math.min(shown.length, Math.ceil((top + h) / ROW) + 10);
      body.querySelectorAll('.trow').forEach((e) => e.remove());
      const frag = document.createDocumentFragment();
      for (let i = first; i < last; i++) {
        const o = shown[i];
        const row = document.createElement('a');
        row.className = 'trow' + (changed.has(stamp(o)) ? ' flash' : '');
        row.href = objHref(r, o);
        row.style.gridTemplateColumns = grid; row.style.top = (i * ROW) + 'px';
        row.dataset.name = o.metadata.name;
        row.innerHTML = '<div class="cell"><b>' + esc(o.metadata.name) + '</b></div>' + (r.namespaced ? '<div class="cell muted">' + esc(o.metadata.namespace) + '</div>' : '') +
          cols.map((c) => { let val; try { val = c[2](o); } catch (e) { val = ''; } return '<div class="cell">' + (c[3] ? val : esc(val)) + '</div>'; }).join('') +
          '<div class="cell muted">' + esc(age(o.metadata.creationTimestamp)) + '</div>';
        frag.appendChild(row);
      }
      body.appendChild(frag);
      body.style.height = Math.min(shown.length * ROW, window.innerHeight - 230) + 'px';
      changed = new Set();
    };
    let w = null;
    const start = () => {
      if (w) w.cancel();
      rows = [];
      w = live.watch(collPath(r, ns), { labelSelector: $('#f-label').value.trim(), onError: (st) => { body.innerHTML = '<div class="error-box">' + esc((st && st.message) || 'watch failed') + '</div>'; } }, (items, ch) => {
        rows = [...items.values()].sort((a, b) => (a.metadata.namespace || '').localeCompare(b.metadata.namespace || '') || a.metadata.name.localeCompare(b.metadata.name));
        changed = ch; draw();
      });
    };
    start();
    onLeave(() => w && w.cancel());
    let scheduled = false;
    body.addEventListener('scroll', () => { if (!scheduled) { scheduled = true; requestAnimationFrame(() => { scheduled = false; draw(); }); } });
    $('#f-name').oninput = draw;
    let lt = null;
    $('#f-label').oninput = () => { clearTimeout(lt); lt = setTimeout(start, 400); };
    const c = $('#create');
    if (c) c.onclick = () => createDialog(r, ns);
  }

  function createDialog(r, ns) {
    const apiVersion = r.group ? r.group + '/' + r.version : r.version;
    const tmpl = 'apiVersion: ' + apiVersion + '\nkind: ' + r.kind + '\nmetadata:\n  name: \n' + (r.namespaced ? '  namespace: ' + (ns || 'default') + '\n' : '') + 'spec: {}\n';
    modal(`<h2>Create ${esc(r.kind)}</h2><textarea class="editor" id="cr-y" style="min-height:300px">${esc(tmpl)}</textarea><div id="cr-err"></div>
      <div class="actions"><button class="btn ghost" data-close>Cancel</button><button class="btn" id="cr-ok">Create</button></div>`);
    $('#cr-ok').onclick = async () => {
      const y = $('#cr-y').value;
      const m = y.match(/^\s+namespace:\s*(\S+)/m);
      try {
        await api('POST', '/dashboard/yaml?path=' + encodeURIComponent(collPath(r, r.namespaced ? (m ? m[1] : ns || 'default') : '')), y, 'application/yaml');
        closeModal(); toast(r.kind + ' created');
      } catch (e) { $('#cr-err').innerHTML = '<div class="error-box">' + esc(statusText(e)) + '</div>'; }
    };
  }

  // ---------- object detail ----------
  function pageObject(g, ver, name, ns, objName, tab) {
    const r = disc.byKey.get(g + '/' + ver + '/' + name);
    if (!r) { view().innerHTML = '<div class="empty">Unknown resource.</div>'; return; }
    if (ns === '_') ns = '';
    const path = objPath(r, ns, objName);
    const base = '#/obj/' + rkey(r) + '/' + (ns || '_') + '/' + encodeURIComponent(objName);
    crumbs(`<a href="#/list/${esc(rkey(r))}">${esc(title(r))}</a> / ${esc(objName)}`);
    const scalable = ['deployments', 'replicasets', 'statefulsets'].includes(r.name);
    const restartable = ['deployments', 'statefulsets', 'daemonsets'].includes(r.name);
    const v = view();
    v.innerHTML = `<div class="toolbar"><h1 style="margin:0">${esc(objName)}</h1><span class="badge info">${esc(r.kind)}</span>${ns ? '<span class="badge">' + esc(ns) + '</span>' : ''}<span class="spacer"></span>
      ${scalable ? '<button class="btn ghost" id="a-scale">Scale</button>' : ''}${restartable ? '<button class="btn ghost" id="a-restart">Rollout restart</button>' : ''}
      ${r.name === 'pods' ? `<a class="btn ghost" href="#/logs/${esc(ns)}/${esc(objName)}">Logs</a><a class="btn ghost" href="#/exec/${esc(ns)}/${esc(objName)}">Exec</a>` : ''}
      <button class="btn danger" id="a-delete">Delete</button></div>
      <div class="tabs">${['overview', 'yaml', 'events'].map((t) => `<a href="${esc(base + '/' + t)}" class="${t === tab ? 'active' : ''}">${t === 'yaml' ? 'YAML' : t[0].toUpperCase() + t.slice(1)}</a>`).join('')}</div>
      <div id="tab"></div>`;
    let current = null;
    $('#a-delete').onclick = async () => {
      if (!await confirmBox('Delete ' + r.kind, 'Delete ' + r.kind + ' "' + objName + '"' + (ns ? ' in namespace ' + ns : '') + '? This cannot be undone.', 'Delete', true)) return;
      try { await api('DELETE', path); toast(r.kind + ' ' + objName + ' deleted'); location.hash = '#/list/' + rkey(r); } catch (e) { toast(statusText(e), true); }
    };
    const sc = $('#a-scale');
    if (sc) sc.onclick = () => {
      const cur = current && current.spec ? current.spec.replicas : 1;
      modal(`<h2>Scale ${esc(objName)}</h2><p class="muted">Desired replicas</p><input id="sc-n" type="number" min="0" value="${esc(cur)}"><div id="sc-err"></div>
        <div class="actions"><button class="btn ghost" data-close>Cancel</button><button class="btn" id="sc-ok">Scale</button></div>`);
      $('#sc-ok').onclick = async () => {
        const n = parseInt($('#sc-n').value, 10);
        if (!(n >= 0)) { $('#sc-err').innerHTML = '<div class="error-box">Replicas must be a number ≥ 0.</div>'; return; }
        try { await api('PATCH', path, { spec: { replicas: n } }, 'application/merge-patch+json'); closeModal(); toast('Scaled to ' + n); } catch (e) { $('#sc-err').innerHTML = '<div class="error-box">' + esc(statusText(e)) + '</div>'; }
      };
    };
    const rs = $('#a-restart');
    if (rs) rs.onclick = async () => {
      if (!await confirmBox('Rollout restart', 'Restart every pod of ' + objName + ' by rolling out a new template?', 'Restart')) return;
      try { await api('PATCH', path, { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } } } } }, 'application/merge-patch+json'); toast('Rollout restarted'); } catch (e) { toast(statusText(e), true); }
    };
    const tabEl = $('#tab');
    if (tab === 'yaml') return yamlTab(tabEl, r, path);
    if (tab === 'events') return eventsTab(tabEl, ns, objName, r.kind);
    // overview tab: live via a watch on the collection, filtered to this object
    const w = live.watch(collPath(r, ns), { onError: (st) => { tabEl.innerHTML = '<div class="error-box">' + esc(st && st.message) + '</div>'; } }, (items) => {
      const o = [...items.values()].find((x) => x.metadata.name === objName);
      current = o;
      if (!o) { tabEl.innerHTML = '<div class="empty">This ' + esc(r.kind) + ' does not exist (any more).</div>'; return; }
      const md = o.metadata;
      const conds = (o.status && o.status.conditions) || [];
      const owners = (md.ownerReferences || []).map((ref) => {
        const or = findKind(ref.apiVersion, ref.kind);
        return or ? `<a href="${esc(objHref(or, { metadata: { namespace: ns, name: ref.name } }))}">${esc(ref.kind + '/' + ref.name)}</a>` : esc(ref.kind + '/' + ref.name);
      });
      tabEl.innerHTML = `<div class="row2"><div class="card"><h2>Metadata</h2><div class="kv">
        <div class="k">Created</div><div>${esc(md.creationTimestamp)} (${esc(age(md.creationTimestamp))} ago)</div>
        <div class="k">UID</div><div class="small">${esc(md.uid)}</div>
        <div class="k">Resource version</div><div>${esc(md.resourceVersion)}</div>
        ${o.spec && o.spec.replicas != null ? '<div class="k">Replicas</div><div id="replicas">' + esc(o.spec.replicas) + ' desired, ' + esc((o.status && o.status.readyReplicas) || 0) + ' ready</div>' : ''}
        ${r.name === 'pods' ? '<div class="k">Phase</div><div>' + esc(o.status && o.status.phase) + '</div><div class="k">Node</div><div>' + esc(o.spec.nodeName || '—') + '</div><div class="k">Pod IP</div><div>' + esc((o.status && o.status.podIP) || '—') + '</div>' : ''}
        <div class="k">Owner</div><div>${owners.join(', ') || '—'}</div>
        <div class="k">Labels</div><div class="labels">${Object.entries(md.labels || {}).map(([k, x]) => '<span class="badge">' + esc(k + '=' + x) + '</span>').join('') || '—'}</div>
        <div class="k">Annotations</div><div class="labels">${Object.keys(md.annotations || {}).map((k) => '<span class="badge" title="' + esc(md.annotations[k]) + '">' + esc(k) + '</span>').join('') || '—'}</div>
        </div></div>
        <div class="card"><h2>Conditions</h2>${conds.length ? '<table class="simple"><tr><th>Type</th><th>Status</th><th>Reason</th><th>Message</th></tr>' + conds.map((c) => `<tr><td>${esc(c.type)}</td><td><span class="badge ${c.status === 'True' ? 'good' : c.status === 'False' ? 'bad' : ''}">${esc(c.status)}</span></td><td>${esc(c.reason || '')}</td><td class="small">${esc(c.message || '')}</td></tr>`).join('') + '</table>' : '<div class="muted">No conditions.</div>'}</div></div>
        ${r.name === 'pods' ? containersCard(o) : ''}
        <div class="card" style="margin-top:16px" id="owned"><h2>Pods</h2><div class="muted">—</div></div>`;
      ownedPods(o, r, ns);
    });
    onLeave(() => w.cancel());
  }

  function containersCard(p) {
    const st = {};
    for (const c of (p.status && p.status.containerStatuses) || []) st[c.name] = c;
    const state = (c) => {
      if (!c || !c.state) return '<span class="badge">unknown</span>';
      if (c.state.running) return '<span class="badge good">running</span>';
      if (c.state.waiting) return '<span class="badge warn">' + esc(c.state.waiting.reason || 'waiting') + '</span>';
      if (c.state.terminated) return '<span class="badge ' + (c.state.terminated.exitCode ? 'bad' : '') + '">' + esc(c.state.terminated.reason || 'terminated') + ' (' + esc(c.state.terminated.exitCode) + ')</span>';
      return '';
    };
    const ns = encodeURIComponent(p.metadata.namespace), n = encodeURIComponent(p.metadata.name);
    return '<div class="card" style="margin-top:16px"><h2>Containers</h2><table class="simple"><tr><th>Name</th><th>Image</th><th>State</th><th>Restarts</th><th></th></tr>' +
      (p.spec.containers || []).map((c) => `<tr><td><b>${esc(c.name)}</b></td><td class="small">${esc(c.image)}</td><td>${state(st[c.name])}</td><td>${esc((st[c.name] && st[c.name].restartCount) || 0)}</td>
        <td><a href="#/logs/${ns}/${n}?container=${encodeURIComponent(c.name)}">logs</a> · <a href="#/exec/${ns}/${n}?container=${encodeURIComponent(c.name)}">shell</a></td></tr>`).join('') + '</table></div>';
  }

  let ownedWatch = null;
  function ownedPods(o, r, ns) {
    const el = $('#owned');
    const sel = o.spec && o.spec.selector && (o.spec.selector.matchLabels || (r.name === 'services' ? o.spec.selector : null));
    if (!sel || r.name === 'pods') { el.remove(); return; }
    const labelSelector = Object.entries(sel).map(([k, x]) => k + '=' + x).join(',');
    if (ownedWatch && ownedWatch.sel === labelSelector + ns) { ownedWatch.draw(); return; }
    if (ownedWatch) ownedWatch.w.cancel();
    const pr = findRes('', 'pods');
    let pods = new Map();
    const draw = () => {
      const e = $('#owned'); if (!e) return;
      const list = [...pods.values()].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
      e.innerHTML = '<h2>Pods (' + list.length + ')</h2>' + (list.length ? '<table class="simple"><tr><th>Name</th><th>Phase</th><th>Node</th><th>Age</th></tr>' + list.map((p) => `<tr><td><a href="${esc(objHref(pr, p))}">${esc(p.metadata.name)}</a></td><td>${esc(p.status && p.status.phase)}</td><td>${esc(p.spec.nodeName || '')}</td><td>${esc(age(p.metadata.creationTimestamp))}</td></tr>`).join('') + '</table>' : '<div class="muted">No pods match ' + esc(labelSelector) + '.</div>');
    };
    const w = live.watch(collPath(pr, ns), { labelSelector }, (m) => { pods = m; draw(); });
    ownedWatch = { w, sel: labelSelector + ns, draw };
    onLeave(() => { w.cancel(); ownedWatch = null; });
  }

  async function yamlTab(el, r, path) {
    el.innerHTML = '<div class="card"><div class="toolbar"><button class="btn" id="y-save">Save</button><button class="btn ghost" id="y-reload">Reload</button><span class="muted small">Edits are validated by the apiserver; errors appear below.</span></div><div id="y-msg"></div><textarea class="editor" id="y-text" spellcheck="false">Loading…</textarea></div>';
    const load = async () => {
      try { $('#y-text').value = await api('GET', '/dashboard/yaml?path=' + encodeURIComponent(path)); $('#y-msg').innerHTML = ''; } catch (e) { $('#y-msg').innerHTML = '<div class="error-box">' + esc(statusText(e)) + '</div>'; }
    };
    $('#y-reload').onclick = load;
    $('#y-save').onclick = async () => {
      const btn = $('#y-save');
      btn.disabled = true;
      $('#y-msg').innerHTML = '';
      try {
        await api('PUT', '/dashboard/yaml?path=' + encodeURIComponent(path), $('#y-text').value, 'application/yaml');
        await load(); // show what the server stored (defaults, new resourceVersion)
        $('#y-msg').innerHTML = '<div class="ok-box">Saved.</div>';
      } catch (e) {
        $('#y-msg').innerHTML = '<div class="error-box" id="y-error">' + esc(statusText(e)) + (e.code === 409 ? '\nReload to get the latest version, then apply your change again.' : '') + '</div>';
      } finally { btn.disabled = false; }
    };
    await load();
  }

  function eventsTab(el, ns, name, kind) {
    el.innerHTML = '<div class="card" id="ev"><div class="muted">Loading…</div></div>';
    const w = live.watch('/api/v1' + (ns ? '/namespaces/' + encodeURIComponent(ns) : '') + '/events', {}, (m) => {
      const evs = [...m.values()].filter((e) => e.involvedObject && e.involvedObject.name === name && e.involvedObject.kind === kind).sort((a, b) => evTime(b) - evTime(a));
      $('#ev').innerHTML = evs.length ? '<table class="simple"><tr><th>Age</th><th>Type</th><th>Reason</th><th>Message</th><th>Count</th></tr>' + evs.map((e) => `<tr><td>${esc(age(e.lastTimestamp || e.eventTime || e.metadata.creationTimestamp))}</td><td><span class="badge ${e.type === 'Warning' ? 'warn' : 'info'}">${esc(e.type)}</span></td><td>${esc(e.reason)}</td><td>${esc(e.message)}</td><td>${esc(e.count || 1)}</td></tr>`).join('') + '</table>' : '<div class="muted">No events for this object.</div>';
    });
    onLeave(() => w.cancel());
  }

  // ---------- logs ----------
  function pageLogs(ns, pod, container) {
    crumbs(`<a href="#/list/core/v1/pods">Pods</a> / ${esc(pod)} / logs`);
    view().innerHTML = `<div class="toolbar"><h1 style="margin:0">Logs: ${esc(pod)}</h1><input id="lg-c" placeholder="container (optional)" value="${esc(container)}"><label><input type="checkbox" id="lg-follow" checked> follow</label><span class="spacer"></span><span class="muted small" id="lg-state"></span></div><div class="logs" id="lg"></div>`;
    const ctrl = new AbortController();
    onLeave(() => ctrl.abort());
    const out = $('#lg');
    (async () => {
      const q = new URLSearchParams({ follow: 'true', tailLines: '1000' });
      if (container) q.set('container', container);
      try {
        const resp = await fetch('/api/v1/namespaces/' + encodeURIComponent(ns) + '/pods/' + encodeURIComponent(pod) + '/log?' + q, { signal: ctrl.signal, credentials: 'same-origin' });
        if (!resp.ok) { let m = await resp.text(); try { m = JSON.parse(m).message; } catch (e) { /* text */ } out.textContent = 'Logs unavailable: ' + m; return; }
        $('#lg-state').textContent = 'streaming';
        const rd = resp.body.getReader(); const dec = new TextDecoder();
        for (;;) {
          const { value, done } = await rd.read();
          if (done) break;
          out.appendChild(document.createTextNode(dec.decode(value, { stream: true })));
          if ($('#lg-follow').checked) out.scrollTop = out.scrollHeight;
        }
        $('#lg-state').textContent = 'stream ended';
      } catch (e) { if (!ctrl.signal.aborted) out.textContent += '\n[' + e.message + ']'; }
    })();
    $('#lg-c').onchange = () => { location.hash = '#/logs/' + encodeURIComponent(ns) + '/' + encodeURIComponent(pod) + ($('#lg-c').value ? '?container=' + encodeURIComponent($('#lg-c').value) : ''); };
  }

  // ---------- exec terminal (v5.channel.k8s.io) ----------
  function pageExec(ns, pod, container) {
    crumbs(`<a href="#/list/core/v1/pods">Pods</a> / ${esc(pod)} / exec`);
    view().innerHTML = `<div class="toolbar"><h1 style="margin:0">Shell: ${esc(pod)}</h1><input id="ex-cmd" value="/bin/sh"><input id="ex-c" placeholder="container (optional)" value="${esc(container)}"><button class="btn" id="ex-go">Connect</button><span class="muted small" id="ex-state"></span></div><div class="term" id="term" tabindex="0"></div>`;
    const term = $('#term');
    let ws = null;
    onLeave(() => ws && ws.close());
    const write = (txt) => {
      txt = txt.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\x1b\][^\x07]*\x07/g, '');
      for (const ch of txt) {
        if (ch === '\r') continue;
        if (ch === '\b') { term.textContent = term.textContent.slice(0, -1); continue; }
        term.textContent += ch;
      }
      term.scrollTop = term.scrollHeight;
    };
    const connect = () => {
      if (ws) ws.close();
      term.textContent = '';
      const q = new URLSearchParams({ stdin: 'true', stdout: 'true', stderr: 'true', tty: 'true' });
      for (const part of $('#ex-cmd').value.trim().split(/\s+/)) q.append('command', part);
      if ($('#ex-c').value) q.set('container', $('#ex-c').value);
      const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
      ws = new WebSocket(proto + '//' + location.host + '/api/v1/namespaces/' + encodeURIComponent(ns) + '/pods/' + encodeURIComponent(pod) + '/exec?' + q, ['v5.channel.k8s.io', 'v4.channel.k8s.io']);
      ws.binaryType = 'arraybuffer';
      const dec = new TextDecoder();
      ws.onopen = () => { $('#ex-state').textContent = 'connected (' + ws.protocol + ')'; term.focus(); };
      ws.onmessage = (ev) => {
        const b = new Uint8Array(ev.data);
        if (!b.length) return;
        if (b[0] === 1 || b[0] === 2) write(dec.decode(b.subarray(1), { stream: true }));
        else if (b[0] === 3) { const s = dec.decode(b.subarray(1)); if (s) { try { const st = JSON.parse(s); if (st.status !== 'Success') write('\n[' + (st.message || 'exited') + ']\n'); } catch (e) { write('\n' + s + '\n'); } } }
      };
      ws.onclose = (ev) => { $('#ex-state').textContent = 'disconnected' + (ev.reason ? ': ' + ev.reason : ''); };
      ws.onerror = () => { $('#ex-state').textContent = 'exec is not available for this pod (the kubelet or apiserver refused the connection)'; };
    };
    const send = (s) => { if (ws && ws.readyState === 1) { const e = new TextEncoder().encode(s); const b = new Uint8Array(e.length + 1); b[0] = 0; b.set(e, 1); ws.send(b); } };
    term.addEventListener('keydown', (e) => {
      const keys = { Enter: '\r', Backspace: '\x7f', Tab: '\t', Escape: '\x1b', ArrowUp: '\x1b[A', ArrowDown: '\x1b[B', ArrowRight: '\x1b[C', ArrowLeft: '\x1b[D' };
      let s = null;
      if (e.ctrlKey && e.key.length === 1) s = String.fromCharCode(e.key.toUpperCase().charCodeAt(0) - 64);
      else if (keys[e.key]) s = keys[e.key];
      else if (e.key.length === 1 && !e.metaKey) s = e.key;
      if (s != null) { send(s); e.preventDefault(); }
    });
    term.addEventListener('paste', (e) => { send(e.clipboardData.getData('text')); e.preventDefault(); });
    $('#ex-go').onclick = connect;
    connect();
  }

  // ---------- Wasm plugins ----------
  function pagePlugins() {
    crumbs('Wasm plugins');
    const G = '/apis/plugins.skiff.dev/v1alpha1';
    view().innerHTML = `<div class="grid">
      <div class="card wide"><h2>Admission policies</h2><div id="pl-pol"><div class="muted">Loading…</div></div></div>
      <div class="card wide"><h2>Scheduler plugins</h2><div id="pl-sched"><div class="muted">Loading…</div></div></div>
      <div class="card"><h2>Upload a module</h2><p class="muted small">The module is stored as WasmModule sha256-&lt;digest&gt;.</p>
        <input type="file" id="up-file" accept=".wasm,application/wasm"><input id="up-desc" placeholder="description (optional)" style="margin-top:8px;width:100%">
        <div style="margin-top:10px"><button class="btn" id="up-go">Upload</button></div><div id="up-msg"></div></div>
      <div class="card"><h2>Register an admission policy</h2><div class="kv">
        <div class="k">Name</div><input id="rg-name" placeholder="deny-latest">
        <div class="k">Module</div><select id="rg-mod"></select>
        <div class="k">Mode</div><select id="rg-mode"><option>Enforce</option><option>Audit</option></select>
        <div class="k">Operations</div><input id="rg-ops" value="CREATE,UPDATE">
        <div class="k">Resources</div><input id="rg-res" value="pods" placeholder="group/resource, e.g. apps/deployments">
        </div><div style="margin-top:10px"><button class="btn" id="rg-go">Register</button></div><div id="rg-msg"></div></div>
      <div class="card wide"><h2>Try it (dry run)</h2><p class="muted small">Paste an object; it is created with dryRun=All, so policies judge it but nothing is stored.</p>
        <textarea class="editor" id="try-y" style="min-height:200px" spellcheck="false">apiVersion: v1
kind: Pod
metadata:
  name: try-me
  namespace: default
spec:
  containers:
  - name: app
    image: nginx:latest
</textarea><div style="margin-top:10px"><button class="btn" id="try-go">Run policies</button></div><div id="try-out"></div></div>
      <div class="card wide"><h2>Recent denials</h2><div id="pl-denials"><div class="muted">No denials seen yet.</div></div></div>
      <div class="card wide"><h2>Wasm modules</h2><div id="pl-mods"><div class="muted">Loading…</div></div></div>
    </div>`;
    let pols = new Map(), scheds = new Map(), mods = new Map(), stats = {}, prev = null;
    const denials = [];
    const pct = (v) => (v == null ? '—' : v < 0.001 ? (v * 1e6).toFixed(0) + 'µs' : (v * 1000).toFixed(2) + 'ms');
    const drawPols = () => {
      const el = $('#pl-pol'); if (!el) return;
      if (!pols.size) { el.innerHTML = '<div class="muted">No admission policies.</div>'; return; }
      el.innerHTML = '<table class="simple"><tr><th>Name</th><th>Mode</th><th>Module</th><th>Ready</th><th>Calls/s</th><th>Allowed</th><th>Denied</th><th>Errors</th><th>p50</th><th>p99</th></tr>' +
        [...pols.values()].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name)).map((p) => {
          const s = stats[p.metadata.name] || {};
          const rc = ((p.status && p.status.conditions) || []).find((c) => c.type === 'Ready');
          const ready = s.ready != null ? s.ready : rc ? rc.status === 'True' : null;
          return `<tr data-policy="${esc(p.metadata.name)}"><td><b>${esc(p.metadata.name)}</b></td><td><span class="badge ${(p.spec.mode || 'Enforce') === 'Enforce' ? 'info' : 'warn'}">${esc(p.spec.mode || 'Enforce')}</span></td><td class="small">${esc(p.spec.module)}</td>
            <td>${ready == null ? '<span class="badge">unknown</span>' : ready ? '<span class="badge good">Ready</span>' : '<span class="badge bad" title="' + esc(rc && rc.message) + '">NotReady</span>'}</td>
            <td>${s.rate != null ? s.rate.toFixed(1) : '—'}</td><td>${s.allowed != null ? s.allowed : '—'}</td><td>${s.denied != null ? s.denied + (s.audit_denied ? ' (+' + s.audit_denied + ' audit)' : '') : '—'}</td><td>${s.error != null ? s.error : '—'}</td><td>${pct(s.p50)}</td><td>${pct(s.p99)}</td></tr>`;
        }).join('') + '</table>' + (Object.keys(stats).length ? '' : '<p class="muted small">Call statistics appear when the apiserver exposes skiff_admission_policy_* metrics on /metrics.</p>');
    };
    const drawScheds = () => {
      const el = $('#pl-sched'); if (!el) return;
      el.innerHTML = scheds.size ? '<table class="simple"><tr><th>Name</th><th>Module</th><th>Extension points</th><th>Weight</th><th>Ready</th></tr>' + [...scheds.values()].map((p) => {
        const rc = ((p.status && p.status.conditions) || []).find((c) => c.type === 'Ready');
        return `<tr><td><b>${esc(p.metadata.name)}</b></td><td class="small">${esc(p.spec.module)}</td><td>${p.spec.filter ? '<span class="badge">Filter</span> ' : ''}${p.spec.score ? '<span class="badge">Score</span>' : ''}</td><td>${esc(p.spec.weight || '')}</td><td>${rc ? '<span class="badge ' + (rc.status === 'True' ? 'good' : 'bad') + '">' + esc(rc.reason || rc.status) + '</span>' : '—'}</td></tr>`;
      }).join('') + '</table>' : '<div class="muted">No scheduler plugins.</div>';
    };
    const drawMods = () => {
      const el = $('#pl-mods'); if (!el) return;
      const list = [...mods.values()];
      el.innerHTML = list.length ? '<table class="simple"><tr><th>Name</th><th>Size</th><th>Uploaded</th><th>Description</th></tr>' + list.map((m) => `<tr><td class="small">${esc(m.metadata.name)}</td><td>${esc(m.spec.size)}</td><td>${m.status && m.status.uploaded ? '<span class="badge good">yes</span>' : '<span class="badge warn">no</span>'}</td><td>${esc(m.spec.description || '')}</td></tr>`).join('') + '</table>' : '<div class="muted">No modules.</div>';
      const sel = $('#rg-mod'); const cur = sel.value;
      sel.innerHTML = list.map((m) => '<option' + (m.metadata.name === cur ? ' selected' : '') + '>' + esc(m.metadata.name) + '</option>').join('');
    };
    const drawDenials = () => {
      const el = $('#pl-denials'); if (!el) return;
      el.innerHTML = denials.length ? '<table class="simple"><tr><th>Time</th><th>Policy</th><th>Request</th><th>Message</th></tr>' + denials.slice(0, 20).map((d) => `<tr><td>${esc(new Date(d.time).toLocaleTimeString())}</td><td>${esc(d.policy || '')}</td><td>${esc(d.request)}</td><td>${esc(d.message)}</td></tr>`).join('') + '</table>' : '<div class="muted">No denials seen yet.</div>';
    };
    const ws = [
      live.watch(G + '/admissionpolicies', { onError: (st) => { $('#pl-pol').innerHTML = '<div class="error-box">' + esc(st && st.message) + '</div>'; } }, (m) => { pols = m; drawPols(); }),
      live.watch(G + '/schedulerplugins', { onError: (st) => { $('#pl-sched').innerHTML = '<div class="error-box">' + esc(st && st.message) + '</div>'; } }, (m) => { scheds = m; drawScheds(); }),
      live.watch(G + '/wasmmodules', { onError: (st) => { $('#pl-mods').innerHTML = '<div class="error-box">' + esc(st && st.message) + '</div>'; } }, (m) => { mods = m; drawMods(); }),
    ];
    onLeave(() => ws.forEach((w) => w.cancel()));
    // Call counters and latency come from the apiserver's Prometheus metrics.
    const scrape = async () => {
      try {
        const resp = await fetch('/metrics', { credentials: 'same-origin' });
        if (!resp.ok) return;
        const now = Date.now(), next = parseMetrics(await resp.text());
        for (const [name, s] of Object.entries(next)) {
          const p = prev && prev.stats[name];
          s.rate = p ? Math.max(0, (s.calls - p.calls) / ((now - prev.t) / 1000)) : null;
        }
        prev = { t: now, stats: next }; stats = next; drawPols();
      } catch (e) { /* metrics unavailable: table shows dashes */ }
    };
    // Recent denials with messages come from the apiserver's admission
    // statistics (GET /plugins/admission/stats: the chain's PolicyStats for
    // every policy); without them only "try it" denials are listed.
    let statsServed = true;
    const fetchDenials = async () => {
      if (!statsServed) return;
      const seen = [];
      try {
        const resp = await fetch('/plugins/admission/stats', { credentials: 'same-origin' });
        if (resp.status === 404 || resp.status === 405) { statsServed = false; return; }
        if (!resp.ok) return;
        const body = await resp.json();
        for (const st of body.policies || []) {
          for (const d of st.recentDenials || []) seen.push({ time: Date.parse(d.time), policy: st.name, request: d.operation + ' ' + d.resource + ' ' + (d.namespace ? d.namespace + '/' : '') + (d.name || '') + (d.audit ? ' (audit)' : '') + (d.dryRun ? ' (dry run)' : ''), message: d.message, server: true });
        }
      } catch (e) { return; }
      const local = denials.filter((d) => !d.server);
      denials.length = 0;
      denials.push(...seen, ...local);
      denials.sort((a, b) => b.time - a.time);
      drawDenials();
    };
    const tick = () => { scrape(); fetchDenials(); };
    tick();
    const t = setInterval(tick, 3000);
    onLeave(() => clearInterval(t));

    $('#up-go').onclick = async () => {
      const f = $('#up-file').files[0];
      if (!f) { $('#up-msg').innerHTML = '<div class="error-box">Choose a .wasm file first.</div>'; return; }
      try {
        const m = await api('POST', '/dashboard/wasm?description=' + encodeURIComponent($('#up-desc').value), await f.arrayBuffer(), 'application/wasm');
        $('#up-msg').innerHTML = '<div class="ok-box">Uploaded ' + esc(m.metadata.name) + '</div>';
      } catch (e) { $('#up-msg').innerHTML = '<div class="error-box">' + esc(statusText(e)) + '</div>'; }
    };
    $('#rg-go').onclick = async () => {
      const res = $('#rg-res').value.split(',').map((s) => s.trim()).filter(Boolean);
      const rules = res.map((x) => { const [g, rr] = x.includes('/') ? x.split('/') : ['', x]; return { operations: $('#rg-ops').value.split(',').map((s) => s.trim()).filter(Boolean), apiGroups: [g], apiVersions: ['*'], resources: [rr] }; });
      const obj = { apiVersion: 'plugins.skiff.dev/v1alpha1', kind: 'AdmissionPolicy', metadata: { name: $('#rg-name').value.trim() }, spec: { module: $('#rg-mod').value, mode: $('#rg-mode').value, rules } };
      try { await api('POST', G + '/admissionpolicies', obj); $('#rg-msg').innerHTML = '<div class="ok-box">Registered ' + esc(obj.metadata.name) + '</div>'; } catch (e) { $('#rg-msg').innerHTML = '<div class="error-box">' + esc(statusText(e)) + '</div>'; }
    };
    $('#try-go').onclick = async () => {
      const y = $('#try-y').value;
      const av = (y.match(/^apiVersion:\s*(\S+)/m) || [])[1], kind = (y.match(/^kind:\s*(\S+)/m) || [])[1];
      const ns = (y.match(/^\s+namespace:\s*(\S+)/m) || [])[1] || 'default';
      const r = av && kind && findKind(av, kind);
      if (!r) { $('#try-out').innerHTML = '<div class="error-box">Cannot tell the resource from apiVersion/kind (' + esc(av + ' ' + kind) + ').</div>'; return; }
      try {
        await api('POST', '/dashboard/yaml?dryRun=All&path=' + encodeURIComponent(collPath(r, r.namespaced ? ns : '')), y, 'application/yaml');
        $('#try-out').innerHTML = '<div class="ok-box" id="try-verdict">Allowed: every policy admitted this ' + esc(kind) + ' (nothing was stored).</div>';
      } catch (e) {
        const msg = statusText(e);
        $('#try-out').innerHTML = '<div class="error-box" id="try-verdict">Denied (' + esc(e.code) + '): ' + esc(msg) + '</div>';
        const pm = msg.match(/admission policy "?([\w.-]+)"?/i) || msg.match(/policy ([\w.-]+)/i);
        denials.unshift({ time: Date.now(), policy: pm ? pm[1] : '', request: 'CREATE ' + kind + ' (dry run)', message: msg });
        drawDenials();
      }
    };
  }

  function parseMetrics(text) {
    const out = {};
    const get = (n) => (out[n] = out[n] || { calls: 0, buckets: [] });
    for (const line of text.split('\n')) {
      if (!line.startsWith('skiff_admission_policy_')) continue;
      const m = line.match(/^(\w+)\{([^}]*)\}\s+(\S+)/);
      if (!m) continue;
      const labels = {};
      m[2].replace(/(\w+)="((?:[^"\\]|\\.)*)"/g, (_, k, v) => { labels[k] = v; });
      const val = parseFloat(m[3]);
      if (!labels.policy) continue;
      const s = get(labels.policy);
      switch (m[1]) {
        case 'skiff_admission_policy_ready': s.ready = val === 1; break;
        case 'skiff_admission_policy_calls_total': s.calls = val; break;
        case 'skiff_admission_policy_decisions_total': s[labels.decision] = val; break;
        case 'skiff_admission_policy_duration_seconds_bucket': s.buckets.push([labels.le === '+Inf' ? Infinity : parseFloat(labels.le), val]); break;
      }
    }
    for (const s of Object.values(out)) {
      const total = s.buckets.length ? s.buckets[s.buckets.length - 1][1] : 0;
      const q = (p) => { if (!total) return null; for (const [le, c] of s.buckets) if (c >= p * total) return le === Infinity ? null : le; return null; };
      s.p50 = q(0.5); s.p99 = q(0.99);
    }
    return out;
  }

  // ---------- boot ----------
  async function boot() {
    $('#login-btn').onclick = () => showLogin();
    try {
      const cfg = await api('GET', '/dashboard/config');
      if (cfg.requireToken && !cfg.authenticated) showLogin('This dashboard requires a token.');
      $('#login-btn').textContent = cfg.authenticated ? 'Account' : 'Log in';
    } catch (e) { /* offline */ }
    live.connect();
    await disc.load();
    watchNamespaces();
    window.addEventListener('hashchange', render);
    render();
    document.body.dataset.ready = 'true';
  }
  window.skiffDashboard = { live, disc, state, perf };
  boot();
})();
