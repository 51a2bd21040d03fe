// simulstream's live page. Plain browser JavaScript, no build step, no framework.
// Every piece of text from a call (numbers, transcripts) goes into the page through textContent,
// never as HTML: a caller's words cannot inject markup.
'use strict';
(() => {
  const token = new URLSearchParams(location.search).get('token');
  /** A URL relative to the page (so a reverse proxy may serve it under a sub-path), with the token. */
  const url = (path, params = {}) => {
    const u = new URL(path, location.href);
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    if (token) u.searchParams.set('token', token);
    return u.pathname + u.search;
  };
  const $ = (sel) => document.querySelector(sel);
  const el = (tag, text, className) => {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (className) e.className = className;
    return e;
  };
  const clock = (seconds) => {
    const s = Math.max(0, Math.floor(seconds));
    const mm = String(Math.floor(s / 60) % 60).padStart(2, '0');
    const ss = String(s % 60).padStart(2, '0');
    return s >= 3600 ? `${Math.floor(s / 3600)}:${mm}:${ss}` : `${mm}:${ss}`;
  };
  const lag = (x) => (x === null || x === undefined ? '–' : `${x.toFixed(1)} s`);
  const time = (iso) => new Date(iso).toLocaleTimeString();

  let offsetMs = 0; // the server's clock minus the browser's
  const live = new Map();
  let selected = null;
  let callStream = null;

  // ---- live calls -------------------------------------------------------------------------------
  function liveRow(c) {
    const tr = el('tr');
    tr.dataset.uuid = c.uuid;
    tr.tabIndex = 0;
    tr.append(el('td', c.uuid, 'uuid'), el('td', c.caller), el('td', c.callee), el('td', c.legs.join(' + ')), el('td', '', 'duration'), el('td', lag(c.lagSeconds), 'lag'));
    if (c.uuid === selected) tr.classList.add('selected');
    const open = () => select(c.uuid, true);
    tr.addEventListener('click', open);
    tr.addEventListener('keydown', (e) => e.key === 'Enter' && open());
    return tr;
  }
  function renderLive() {
    $('#live tbody').replaceChildren(...[...live.values()].map(liveRow));
    $('#live-count').textContent = String(live.size);
    $('#live-empty').hidden = live.size > 0;
    tick();
  }
  function tick() {
    const now = Date.now() + offsetMs;
    for (const tr of document.querySelectorAll('#live tbody tr')) {
      const c = live.get(tr.dataset.uuid);
      if (c) tr.querySelector('.duration').textContent = clock((now - Date.parse(c.startedAt)) / 1000);
    }
  }
  setInterval(tick, 1000);

  const calls = new EventSource(url('events'));
  calls.addEventListener('open', () => status('live', 'ok'));
  calls.addEventListener('error', () => status('reconnecting…', 'down'));
  calls.addEventListener('snapshot', (e) => {
    const d = JSON.parse(e.data);
    offsetMs = Date.parse(d.now) - Date.now();
    live.clear();
    for (const c of d.calls) live.set(c.uuid, c);
    renderLive();
    loadDay();
  });
  calls.addEventListener('start', (e) => {
    const c = JSON.parse(e.data);
    live.set(c.uuid, c);
    renderLive();
  });
  calls.addEventListener('update', (e) => {
    const c = JSON.parse(e.data);
    live.set(c.uuid, c);
    const tr = document.querySelector(`#live tbody tr[data-uuid="${CSS.escape(c.uuid)}"]`);
    if (tr) tr.querySelector('.lag').textContent = lag(c.lagSeconds);
    else renderLive();
  });
  calls.addEventListener('end', (e) => {
    live.delete(JSON.parse(e.data).uuid);
    renderLive();
    loadDay();
  });
  function status(text, cls) {
    const s = $('#status');
    s.textContent = text;
    s.className = `status ${cls}`;
  }

  // ---- the day's finished calls -----------------------------------------------------------------
  let dayRequest = 0;
  async function loadDay() {
    const n = ++dayRequest;
    const res = await fetch(url('api/day', { q: $('#q').value }), { cache: 'no-store' }).catch(() => null);
    if (!res || !res.ok || n !== dayRequest) return; // the server is away: the event stream says so and reloads on return
    const d = await res.json();
    $('#day tbody').replaceChildren(
      ...d.calls.map((c) => {
        const tr = el('tr');
        tr.dataset.uuid = c.uuid;
        tr.tabIndex = 0;
        tr.append(el('td', c.uuid, 'uuid'), el('td', c.caller), el('td', c.callee), el('td', c.legs.join(' + ')), el('td', time(c.endedAt)), el('td', clock(c.durationSeconds)), el('td', c.preview, 'preview'));
        if (c.uuid === selected) tr.classList.add('selected');
        const open = () => select(c.uuid, false);
        tr.addEventListener('click', open);
        tr.addEventListener('keydown', (e) => e.key === 'Enter' && open());
        return tr;
      }),
    );
    $('#day-count').textContent = d.matched > d.calls.length ? `${d.calls.length} of ${d.matched}` : String(d.matched);
    $('#day-empty').hidden = d.calls.length > 0;
    $('#day-empty').textContent = $('#q').value ? 'No call matches.' : 'No finished call today.';
  }
  let searchTimer = null;
  $('#q').addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(loadDay, 250);
  });
  $('#search').addEventListener('submit', (e) => {
    e.preventDefault();
    loadDay();
  });

  // ---- one call's transcript --------------------------------------------------------------------
  function addLine(l) {
    // a final line ends its utterance: the lines before it on its leg are final too
    if (l.final) for (const li of document.querySelectorAll('#lines li.partial')) if (li.dataset.leg === l.leg) li.className = 'final';
    if (!l.text.trim()) return; // an utterance that ended without new words
    const li = el('li', undefined, l.final ? 'final' : 'partial');
    li.dataset.leg = l.leg;
    li.append(el('span', clock(l.start_ms / 1000), 'at'));
    if (l.leg !== 'mixed') li.append(el('span', l.leg, `leg ${l.leg}`));
    li.append(el('span', l.text.trim(), 'text'));
    $('#lines').append(li);
    li.scrollIntoView({ block: 'nearest' });
  }
  function finishAll() {
    for (const li of document.querySelectorAll('#lines li.partial')) li.className = 'final';
  }
  function select(uuid, isLive) {
    selected = uuid;
    for (const tr of document.querySelectorAll('tr.selected')) tr.classList.remove('selected');
    for (const tr of document.querySelectorAll('tbody tr')) if (tr.dataset.uuid === uuid) tr.classList.add('selected');
    callStream?.close();
    callStream = null;
    $('#lines').replaceChildren();
    const c = live.get(uuid);
    $('#selected').textContent = c ? `${c.caller} → ${c.callee} · ${uuid}` : uuid;
    $('#selected').dataset.uuid = uuid;
    if (isLive) {
      callStream = new EventSource(url('events', { call: uuid }));
      callStream.addEventListener('reset', () => $('#lines').replaceChildren());
      callStream.addEventListener('line', (e) => addLine(JSON.parse(e.data)));
      callStream.addEventListener('end', () => {
        finishAll();
        $('#selected').textContent += ' (ended)';
        callStream?.close();
        callStream = null;
      });
    } else {
      void fetch(url(`api/calls/${encodeURIComponent(uuid)}`), { cache: 'no-store' })
        .then((res) => (res.ok ? res.json() : null))
        .then((d) => {
          if (!d || selected !== uuid) return;
          $('#selected').textContent = `${d.caller} → ${d.callee} · ${uuid}`;
          for (const l of d.lines) addLine(l);
        });
    }
  }
})();
