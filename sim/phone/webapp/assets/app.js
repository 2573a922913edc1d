// The banking-app simulator: a phone with the bank's app and a Messages
// app, against the reference host's mobile API (same origin: /v1/...).
// No framework, no build step; embedded in the binary (sim/phone/webapp).
//
// Layout of this file: state, the API client, the live inbox and SMS
// feeds, the bridge to the ATM's virtual front panel (postMessage), then
// the screens (a table: name → render function) and the bank app's tiles.
(() => {
  'use strict';

  const $ = (id) => document.getElementById(id);

  // h('button.primary', {type: 'button', onclick}, 'text', child...)
  function h(spec, attrs, ...kids) {
    const [tag, ...cls] = spec.split('.');
    const e = document.createElement(tag || 'div');
    if (cls.length) e.className = cls.join(' ');
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (k === 'text') e.textContent = v;
      else if (k === 'dataset') Object.assign(e.dataset, v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const k of kids.flat()) {
      if (k === undefined || k === null || k === false) continue;
      e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    }
    return e;
  }

  // ---- state ----
  const S = {
    demo: { users: [], phones: [] },
    session: null, // {token, user, device, expires, name, phone}
    gen: 0, // bumps on every login and logout: stale loops stop
    inbox: [], lastPush: 0, unreadPush: 0,
    inboxState: 'off', // 'off', 'connecting', 'live'
    sms: { phone: '', msgs: [], gen: 0, ctl: null, unread: 0 },
    intent: null, // {last4, expires}
    panel: false, // the ATM's front panel answered hello: scanning works
    atmOrigin: '',
    scanSeq: 0,
    scans: new Map(),
    cur: { name: 'home', arg: null },
    stack: [],
  };
  const KEY = 'atmd.phone.session';

  // ---- API client ----
  class APIError extends Error {
    constructor(status, code, message) {
      super(message || ('HTTP ' + status));
      this.status = status;
      this.code = code || 'http';
    }
  }
  async function api(method, path, body) {
    const opt = { method, headers: {}, cache: 'no-store' };
    if (S.session) opt.headers.Authorization = 'Bearer ' + S.session.token;
    if (body !== undefined) {
      opt.headers['Content-Type'] = 'application/json';
      opt.body = JSON.stringify(body);
    }
    let r;
    try {
      r = await fetch(path, opt);
    } catch (_) {
      throw new APIError(0, 'offline', 'The bank cannot be reached. Check the connection and try again.');
    }
    if (r.status === 204) return {};
    const j = await r.json().catch(() => ({}));
    if (!r.ok) {
      const e = new APIError(r.status, j.error, j.message);
      if (r.status === 401 && j.error === 'unauthenticated' && S.session) sessionEnded();
      throw e;
    }
    return j;
  }

  // The digits a code or default-PIN message carries (after " is "), as
  // sim/phone.Secret reads them.
  function secret(text) {
    const i = (text || '').indexOf(' is ');
    if (i < 0) return '';
    const m = /^[0-9]+/.exec(text.slice(i + 4));
    return m ? m[0] : '';
  }
  const kinds = { code: 'Verification code', 'default-pin': 'Default PIN', alert: 'Security alert', notice: 'Notice' };
  const fmtTime = (t) => {
    const d = new Date(t);
    return isNaN(d) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  };
  const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

  // ---- session ----
  function saveSession() {
    try {
      if (S.session) sessionStorage.setItem(KEY, JSON.stringify(S.session));
      else sessionStorage.removeItem(KEY);
    } catch (_) { /* storage off: the session lasts as long as the page */ }
  }
  async function login(user, password, device) {
    const who = S.demo.users.find((u) => u.user === user) || {};
    const r = await api('POST', '/v1/login', { user, password, device_id: device || who.device || user + '-phone' });
    S.session = { token: r.token, user: r.user, device: r.device_id, expires: r.expires, name: who.name || r.user, phone: who.phone || '' };
    saveSession();
    startSession();
  }
  async function logout() {
    try { await api('POST', '/v1/logout'); } catch (_) { /* ended anyway */ }
    endSession();
    go('login', null, { reset: true });
  }
  function endSession() {
    S.session = null;
    S.gen++;
    S.inbox = []; S.lastPush = 0; S.unreadPush = 0; S.intent = null;
    S.inboxState = 'off';
    if (S.inboxCtl) S.inboxCtl.abort();
    saveSession();
    badges();
  }
  function sessionEnded() {
    endSession();
    go('login', { msg: 'Your session has ended. Please log in again.' }, { reset: true });
  }
  function startSession() {
    S.gen++;
    S.inbox = []; S.lastPush = 0; S.unreadPush = 0;
    inboxLoop(S.gen);
  }

  // ---- the push inbox, live ----
  // The whole inbox once, then the API's event stream from the newest
  // message on. fetch reads the stream: EventSource cannot send the
  // Authorization header. Reconnects with backoff (0.5 s doubling to 5 s).
  async function inboxLoop(gen) {
    let backoff = 500;
    const alive = () => S.session && S.gen === gen;
    while (alive()) {
      S.inboxState = 'connecting';
      try {
        if (!S.lastPush && !S.inbox.length) {
          const r = await api('GET', '/v1/inbox');
          if (!alive()) return;
          S.inbox = r.messages || [];
          S.lastPush = S.inbox.reduce((m, x) => Math.max(m, x.id), 0);
          refresh('inbox');
        }
        S.inboxCtl = new AbortController();
        const r = await fetch('/v1/inbox/events?after=' + S.lastPush, {
          headers: { Authorization: 'Bearer ' + S.session.token, Accept: 'text/event-stream' },
          cache: 'no-store', signal: S.inboxCtl.signal,
        });
        if (r.status === 401) { if (alive()) sessionEnded(); return; }
        if (!r.ok) throw new Error('HTTP ' + r.status);
        S.inboxState = 'live';
        document.body.dataset.inbox = 'live';
        refresh('inbox');
        backoff = 500;
        const reader = r.body.getReader();
        const dec = new TextDecoder();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf = (buf + dec.decode(value, { stream: true })).replace(/\r\n?/g, '\n');
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            if (alive()) onEvent(block);
          }
        }
      } catch (e) {
        if (!alive()) return;
      }
      S.inboxState = 'connecting';
      document.body.dataset.inbox = 'connecting';
      refresh('inbox');
      await sleep(backoff);
      backoff = Math.min(backoff * 2, 5000);
    }
  }
  function onEvent(block) {
    let ev = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (!line || line[0] === ':') continue;
      const j = line.indexOf(':');
      const f = j < 0 ? line : line.slice(0, j);
      const v = j < 0 ? '' : line.slice(j + 1).replace(/^ /, '');
      if (f === 'event') ev = v;
      else if (f === 'data') data.push(v);
    }
    if (ev !== 'push' || !data.length) return;
    let m;
    try { m = JSON.parse(data.join('\n')); } catch (_) { return; }
    if (!m || typeof m.id !== 'number' || m.id <= S.lastPush) return;
    S.lastPush = m.id;
    S.inbox.push(m);
    if (S.cur.name !== 'inbox') {
      S.unreadPush++;
      notify('atmd Bank', m, () => go('inbox'));
    }
    badges();
    refresh('inbox');
  }

  // ---- Messages (SMS), live ----
  // The simulator-only SMS outbox of one phone number, long-polled.
  function watchSMS(phone) {
    const s = S.sms;
    if (s.ctl) s.ctl.abort();
    s.phone = phone; s.msgs = []; s.unread = 0;
    s.gen++;
    s.state = phone ? 'connecting' : 'off';
    badges();
    if (phone) smsLoop(phone, s.gen);
  }
  async function smsLoop(phone, gen) {
    const s = S.sms;
    let after = 0;
    let first = true;
    let backoff = 500;
    while (s.gen === gen) {
      s.ctl = new AbortController();
      try {
        const q = new URLSearchParams({ phone, after: String(after) });
        if (!first) q.set('wait', '25s');
        const r = await fetch('/v1/sim/sms?' + q, { cache: 'no-store', signal: s.ctl.signal });
        const j = await r.json().catch(() => ({}));
        if (s.gen !== gen) return;
        if (!r.ok) {
          s.state = 'error';
          s.error = j.message || ('HTTP ' + r.status);
          refresh('sms');
          return; // a bad number does not get better by asking again
        }
        s.state = 'live';
        backoff = 500;
        for (const m of j.messages || []) {
          after = Math.max(after, m.id);
          s.msgs.push(m);
          if (!first && S.cur.name !== 'sms') {
            s.unread++;
            notify('Messages', m, () => go('sms'));
          }
        }
        first = false;
        badges();
        refresh('sms');
      } catch (_) {
        if (s.gen !== gen) return;
        s.state = 'connecting';
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  // ---- the ATM's front panel: camera and NFC ----
  const inFrame = window.parent !== window;
  function toPanel(msg) {
    if (!inFrame) return;
    // The request carries nothing secret; answers come back only to
    // this frame's origin.
    let origin = S.atmOrigin;
    if (!origin) {
      const a = window.location.ancestorOrigins;
      origin = a && a.length ? a[0] : '*';
    }
    window.parent.postMessage(Object.assign({ atmd: 'phone' }, msg), origin);
  }
  window.addEventListener('message', (e) => {
    if (!inFrame || e.source !== window.parent) return;
    const m = e.data;
    if (!m || typeof m !== 'object' || m.atmd !== 'atm') return;
    switch (m.op) {
      case 'hello':
        S.panel = true;
        S.atmOrigin = e.origin;
        document.body.dataset.panel = 'true';
        refresh('scan');
        break;
      case 'scan': {
        const w = S.scans.get(m.id);
        if (!w) return;
        S.scans.delete(m.id);
        if (typeof m.payload === 'string' && m.payload) w.res(m.payload);
        else w.rej(new Error(m.error || 'The camera read nothing.'));
        break;
      }
      case 'tap':
        if (typeof m.uri === 'string') {
          S.lastTap = { uri: m.uri, time: new Date().toISOString() };
          notify('NFC', { kind: 'notice', text: 'Tag read: ' + m.uri, time: S.lastTap.time }, null);
        }
        break;
    }
  });
  // Point the camera at the ATM's screen: the panel answers with what
  // the QR code there says.
  function scanATM() {
    return new Promise((res, rej) => {
      if (!S.panel) {
        rej(new Error("No ATM in front of the camera: open this phone from the ATM's front panel."));
        return;
      }
      const id = ++S.scanSeq;
      S.scans.set(id, { res, rej });
      toPanel({ op: 'scan', id });
      setTimeout(() => {
        if (S.scans.delete(id)) rej(new Error("The camera could not read the ATM's screen."));
      }, 8000);
    });
  }

  // ---- notifications, badges, announcements ----
  let bannerTimer = 0;
  function notify(app, m, open) {
    const b = $('banner');
    const s = m.kind === 'code' || m.kind === 'default-pin' ? secret(m.text) : '';
    b.replaceChildren(
      h('span.b-app', { text: app + (m.kind && kinds[m.kind] ? ' · ' + kinds[m.kind] : '') }),
      h('span.b-text', { text: m.text }),
    );
    b.dataset.kind = m.kind || '';
    b.hidden = false;
    b.onclick = () => { b.hidden = true; if (open) open(); };
    announce(app + ': ' + (kinds[m.kind] || '') + (s ? ' ' + s.split('').join(' ') : '') + '. ' + m.text);
    clearTimeout(bannerTimer);
    bannerTimer = setTimeout(() => { b.hidden = true; }, 6000);
  }
  function announce(text) {
    const a = $('announce');
    a.textContent = '';
    requestAnimationFrame(() => { a.textContent = text; });
  }
  function badges() {
    document.querySelectorAll('[data-badge="bank"]').forEach((e) => setBadge(e, S.unreadPush));
    document.querySelectorAll('[data-badge="sms"]').forEach((e) => setBadge(e, S.sms.unread));
  }
  function setBadge(e, n) {
    e.textContent = n > 0 ? String(n) : '';
    e.hidden = n <= 0;
  }

  // ---- navigation ----
  function go(name, arg, opt) {
    opt = opt || {};
    if (opt.reset) S.stack = [];
    else if (!opt.replace && S.cur) S.stack.push(S.cur);
    S.cur = { name, arg: arg === undefined ? null : arg };
    render();
  }
  function back() {
    S.cur = S.stack.pop() || { name: 'home', arg: null };
    render();
  }
  function render() {
    let { name, arg } = S.cur;
    const sc = screens[name];
    if (sc.auth && !S.session) {
      S.cur = { name: 'login', arg: { then: name } };
      name = 'login';
    }
    if (name === 'inbox') S.unreadPush = 0;
    if (name === 'sms') S.sms.unread = 0;
    // What the banner announces is on the screen now.
    if (name === 'inbox' || name === 'sms') $('banner').hidden = true;
    const v = $('view');
    v.replaceChildren();
    $('phone').dataset.screen = name;
    document.body.dataset.screen = name;
    screens[name].draw(v, S.cur.arg);
    badges();
    const h1 = v.querySelector('h1');
    if (h1) {
      h1.tabIndex = -1;
      h1.focus({ preventScroll: true });
    }
  }
  // Redraw a screen when what it shows changed, keeping the focus.
  function refresh(name) {
    if (S.cur.name !== name) return;
    const f = document.activeElement && document.activeElement.id;
    const v = $('view');
    const top = v.scrollTop;
    v.replaceChildren();
    screens[name].draw(v, S.cur.arg);
    badges();
    v.scrollTop = top;
    if (f && $(f)) $(f).focus({ preventScroll: true });
  }

  // ---- building blocks ----
  function appBar(title, opts) {
    opts = opts || {};
    return h('header.appbar' + (opts.dark ? '.dark' : ''), {},
      opts.noBack ? h('span.spacer') : h('button.back', { type: 'button', 'aria-label': 'Back', onclick: back }, h('span', { 'aria-hidden': 'true', text: '‹' })),
      h('h1', { text: title }),
      opts.right || h('span.spacer'));
  }
  function showMsg(v, text, ok) {
    const m = v.querySelector('#msg');
    if (!m) return;
    m.textContent = text || '';
    m.dataset.ok = ok ? 'true' : 'false';
  }
  function busy(btn, on) {
    btn.disabled = on;
    btn.setAttribute('aria-busy', on ? 'true' : 'false');
  }
  const icon = {
    bank: '<svg viewBox="0 0 32 32"><rect x="1" y="1" width="30" height="30" rx="8" fill="#0b57b0"/><path d="M9 22 16 8l7 14M11.6 17h8.8" stroke="#fff" stroke-width="3" fill="none" stroke-linecap="round" stroke-linejoin="round"/></svg>',
    sms: '<svg viewBox="0 0 32 32"><rect x="1" y="1" width="30" height="30" rx="8" fill="#1e9e4f"/><path d="M8 10h16a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2h-9l-5 4v-4H8a2 2 0 0 1-2-2v-8a2 2 0 0 1 2-2z" fill="#fff"/></svg>',
    card: '<svg viewBox="0 0 32 32" fill="none" stroke="currentColor" stroke-width="2.4" stroke-linecap="round" stroke-linejoin="round"><rect x="3" y="7" width="26" height="18" rx="3"/><path d="M3 12h26"/><path d="M17 20l2.5 2.5L24 18"/></svg>',
    qr: '<svg viewBox="0 0 32 32" fill="none" stroke="currentColor" stroke-width="2.4" stroke-linecap="round"><path d="M4 10V6a2 2 0 0 1 2-2h4M22 4h4a2 2 0 0 1 2 2v4M28 22v4a2 2 0 0 1-2 2h-4M10 28H6a2 2 0 0 1-2-2v-4"/><rect x="9" y="9" width="5" height="5"/><rect x="18" y="9" width="5" height="5"/><rect x="9" y="18" width="5" height="5"/><path d="M18 18h2v2M23 23v-1M18 23h1"/></svg>',
    inbox: '<svg viewBox="0 0 32 32" fill="none" stroke="currentColor" stroke-width="2.4" stroke-linejoin="round"><path d="M16 4a8 8 0 0 0-8 8v6l-3 4h22l-3-4v-6a8 8 0 0 0-8-8z"/><path d="M13 26a3 3 0 0 0 6 0" stroke-linecap="round"/></svg>',
    link: '<svg viewBox="0 0 32 32" fill="none" stroke="currentColor" stroke-width="2.4" stroke-linecap="round"><rect x="9" y="3" width="14" height="26" rx="3"/><path d="M14 25h4"/><path d="M3 13l3 3-3 3M29 13l-3 3 3 3"/></svg>',
    ok: '<svg viewBox="0 0 48 48"><circle cx="24" cy="24" r="22" fill="#137333"/><path d="M14 25l7 7 14-15" stroke="#fff" stroke-width="4.5" fill="none" stroke-linecap="round" stroke-linejoin="round"/></svg>',
    err: '<svg viewBox="0 0 48 48"><circle cx="24" cy="24" r="22" fill="#b3261e"/><path d="M17 17l14 14m0-14L17 31" stroke="#fff" stroke-width="4.5" stroke-linecap="round"/></svg>',
  };
  // Fixed, trusted SVG only: never data from the API.
  const svg = (name, cls) => {
    const s = h('span.icon' + (cls ? '.' + cls : ''), { 'aria-hidden': 'true' });
    s.innerHTML = icon[name];
    return s;
  };
  const cardLabel = (c) => 'Debit card •••• ' + c.last4;
  const expiry = (yymm) => yymm && yymm.length === 4 ? yymm.slice(2) + '/' + yymm.slice(0, 2) : '';

  function messageItem(m) {
    const s = m.kind === 'code' || m.kind === 'default-pin' ? secret(m.text) : '';
    const li = h('li.message', { dataset: { kind: m.kind || '', id: String(m.id || '') } },
      h('div.m-head', {}, h('span.m-kind', { text: kinds[m.kind] || m.kind || 'Message' }), h('time', { datetime: m.time, text: fmtTime(m.time) })));
    if (s) {
      li.append(h('p.secret', { 'aria-label': (kinds[m.kind] || 'Code') + ': ' + s.split('').join(' '), text: s }));
    }
    li.append(h('p.m-text', { text: m.text }));
    return li;
  }

  // ---- screens ----
  // Each: draw(view, arg); auth: the bank app's screens need a login.
  const screens = {};

  // The phone's home screen.
  screens.home = {
    draw(v) {
      const t = new Date();
      v.append(
        h('div.homescreen', {},
          h('div.widget', { 'aria-hidden': 'true' },
            h('div.w-time', { text: t.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) }),
            h('div.w-date', { text: t.toLocaleDateString([], { weekday: 'long', month: 'long', day: 'numeric' }) })),
          h('h1.sr-only', { text: 'Home screen' }),
          h('nav.apps', { 'aria-label': 'Apps' },
            h('button.app', { type: 'button', id: 'open-bank', 'aria-label': 'atmd Bank app', onclick: () => go(S.session ? 'bank' : 'login') },
              svg('bank', 'app-icon'), h('span.app-name', { text: 'atmd Bank' }), h('span.badge', { dataset: { badge: 'bank' }, hidden: true })),
            h('button.app', { type: 'button', id: 'open-sms', 'aria-label': 'Messages', onclick: () => go('sms') },
              svg('sms', 'app-icon'), h('span.app-name', { text: 'Messages' }), h('span.badge', { dataset: { badge: 'sms' }, hidden: true })))));
    },
  };

  screens.login = {
    draw(v, arg) {
      const user = h('input', { id: 'login-user', name: 'user', autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false', required: true });
      const pass = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
      const btn = h('button.primary', { type: 'submit', id: 'login-submit', text: 'Log in' });
      const then = (arg && arg.then) || 'bank';
      async function doLogin(u, p, dev) {
        busy(btn, true);
        showMsg(v, '');
        try {
          await login(u, p, dev);
          go(then === 'login' ? 'bank' : then, null, { reset: true });
          S.stack = [{ name: 'home', arg: null }];
        } catch (e) {
          showMsg(v, e.code === 'wrong_credentials' ? 'Wrong user ID or password.' : e.message);
          busy(btn, false);
        }
      }
      const form = h('form.card-form', {
        novalidate: true,
        onsubmit: (e) => {
          e.preventDefault();
          if (!user.value || !pass.value) {
            showMsg(v, 'Enter your user ID and password.');
            return;
          }
          doLogin(user.value.trim(), pass.value);
        },
      },
      h('label', { for: 'login-user', text: 'User ID' }), user,
      h('label', { for: 'login-password', text: 'Password' }), pass,
      btn);
      const picks = S.demo.users.map((u) => h('button.pick', {
        type: 'button', dataset: { user: u.user }, 'aria-label': 'Log in as ' + u.user + ', ' + u.name,
        onclick: () => { user.value = u.user; pass.value = u.password; doLogin(u.user, u.password, u.device); },
      }, h('span.p-main', { text: u.user }), h('span.p-sub', { text: u.name })));
      v.append(
        appBar('atmd Bank', { dark: true }),
        h('div.content', {},
          h('div.brand', {}, svg('bank', 'brand-icon'), h('p', { text: 'Mobile banking' })),
          h('p.msg', { role: 'alert', id: 'msg', text: (arg && arg.msg) || '' }),
          form,
          picks.length ? h('section.picks', { 'aria-labelledby': 'picks-h' },
            h('h2', { id: 'picks-h', text: 'Demo users (simulation)' }), h('div.pick-list', {}, picks)) : null));
    },
  };

  // The bank app's home: one tile per service. A later journey adds a
  // tile here and a screen above.
  const tiles = [
    { id: 'activate', label: 'Card activation', icon: 'card', to: 'activate' },
    { id: 'scan', label: 'Scan QR code', icon: 'qr', to: 'scan' },
    { id: 'inbox', label: 'Inbox', icon: 'inbox', to: 'inbox', badge: 'bank' },
    { id: 'binding', label: 'Phone binding', icon: 'link', to: 'bind' },
  ];
  screens.bank = {
    auth: true,
    draw(v) {
      const se = S.session;
      v.append(
        appBar('atmd Bank', { dark: true, noBack: false }),
        h('div.content', {},
          h('div.hello', {}, h('p.h-small', { text: 'Welcome back' }), h('p.h-name', { text: se.name })),
          h('div.tiles', {}, tiles.map((t) => h('button.tile', { type: 'button', id: 'tile-' + t.id, dataset: { tile: t.id }, onclick: () => go(t.to) },
            svg(t.icon), h('span.t-label', { text: t.label }), t.badge ? h('span.badge', { dataset: { badge: t.badge }, hidden: true }) : null))),
          h('p.session', {}, 'Signed in as ', h('strong', { text: se.user }), ' on ', h('span', { text: se.device })),
          h('button.link', { type: 'button', id: 'logout', onclick: logout, text: 'Log out' })));
    },
  };

  // Card activation: the user's cards awaiting it; choosing one tells
  // the bank (POST /v1/activation/intent).
  screens.activate = {
    auth: true,
    draw(v) {
      const list = h('div.cards', { 'aria-busy': 'true' }, h('p.loading', { text: 'Loading your cards…' }));
      v.append(appBar('Card activation'), h('div.content', {},
        h('p.lead', { text: 'Activate a new card at any atmd Bank ATM. Your default PIN comes to this app; you then choose your own PIN at the ATM.' }),
        h('p.msg', { role: 'alert', id: 'msg' }), list));
      Promise.all([api('GET', '/v1/cards'), api('GET', '/v1/devices')]).then(([c, d]) => {
        const mine = (d.devices || []).filter((x) => x.device_id === S.session.device);
        const fresh = (c.cards || []).filter((x) => x.status === 'new');
        list.removeAttribute('aria-busy');
        if (!fresh.length) {
          list.replaceChildren(h('p.empty', { text: 'You have no card awaiting activation.' }));
          return;
        }
        list.replaceChildren(...fresh.map((card) => {
          const bound = mine.some((x) => x.account_id === card.account_id);
          const btn = h('button.primary', {
            type: 'button', dataset: { last4: card.last4 }, text: 'Activate this card',
            'aria-label': 'Activate debit card ending ' + card.last4,
            onclick: async () => {
              busy(btn, true);
              try {
                const r = await api('POST', '/v1/activation/intent', { card_last4: card.last4 });
                S.intent = { last4: r.card_last4, expires: r.expires };
                go('activate-ready', { card, bound });
              } catch (e) {
                showMsg(v, e.message);
                busy(btn, false);
              }
            },
          });
          return h('article.cardbox', { dataset: { last4: card.last4 } },
            h('div.plastic', { 'aria-hidden': 'true' }, h('span.chip'), h('span.pl-num', { text: '•••• ' + card.last4 }), h('span.pl-name', { text: card.name })),
            h('h2', { text: cardLabel(card) }),
            h('p.meta', { text: 'Expires ' + expiry(card.expiry) + ' · account ' + card.account_id }),
            bound ? null : h('p.warn', {}, "This phone is not bound to the card's account, so the ATM cannot use its QR code. ",
              h('button.link', { type: 'button', onclick: () => go('bind', { account: card.account_id }), text: 'Bind this phone' })),
            btn);
        }));
      }).catch((e) => {
        list.removeAttribute('aria-busy');
        list.replaceChildren();
        showMsg(v, e.message);
      });
    },
  };

  screens['activate-ready'] = {
    auth: true,
    draw(v, arg) {
      const card = (arg && arg.card) || { last4: S.intent ? S.intent.last4 : '' };
      const until = S.intent ? fmtTime(S.intent.expires) : '';
      v.append(appBar('Card activation'), h('div.content', {},
        h('div.done', {}, svg('ok', 'big'), h('p.d-title', { text: 'Card activation chosen' }),
          h('p', { text: cardLabel(card) + (until ? ' · until ' + until : '') })),
        h('ol.steps', {},
          h('li', { text: 'Insert the card at the ATM and choose Activate a new card.' }),
          h('li', { text: 'Scan the QR code the ATM shows with this app.' }),
          h('li', { text: 'Key the default PIN this app receives, then your new PIN twice.' })),
        h('button.primary', { type: 'button', id: 'scan-qr', onclick: () => go('scan'), text: 'Scan QR code' })));
    },
  };

  // Scanning: the camera points at the ATM's screen (the panel reads its
  // QR code), then the app sends what it read to the bank (POST /v1/qr).
  const purposes = { activate: 'Card activation' };
  const qrErrors = {
    unknown_challenge: 'This code is not one the bank issued, or it was replaced. Show a new code at the ATM.',
    used: 'This code was already used.',
    expired: 'This code has expired. Choose Show a new code at the ATM.',
    not_bound: "This phone is not bound to the card's account.",
    forbidden: 'This card is not yours.',
    bad_request: 'This is not an atmd Bank code.',
    too_many_tries: 'Too many wrong codes. Log in again.',
  };
  screens.scan = {
    auth: true,
    draw(v, arg) {
      const state = (arg && arg.state) || 'aim';
      const finder = h('div.finder', { 'aria-hidden': 'true', dataset: { state } }, h('span.c1'), h('span.c2'), h('span.c3'), h('span.c4'), h('span.laser'));
      const status = h('p.scan-status', { role: 'status', id: 'scan-status' });
      const btn = h('button.primary', { type: 'button', id: 'scan-now', text: state === 'aim' ? 'Scan' : 'Scan again' });
      v.append(appBar('Scan QR code'), h('div.content.scan', {}, finder, status, h('p.msg', { role: 'alert', id: 'msg' }), btn));
      if (!S.panel) {
        status.textContent = "The camera works when this phone is opened from the ATM's front panel.";
        btn.disabled = true;
        return;
      }
      status.textContent = state === 'aim' ? "Point the camera at the QR code on the ATM's screen." : '';
      btn.addEventListener('click', async () => {
        busy(btn, true);
        finder.dataset.state = 'scanning';
        status.textContent = 'Scanning…';
        showMsg(v, '');
        let payload;
        try {
          payload = await scanATM();
        } catch (e) {
          finder.dataset.state = 'error';
          status.textContent = '';
          showMsg(v, e.message);
          btn.textContent = 'Scan again';
          busy(btn, false);
          return;
        }
        status.textContent = 'Code read. Checking with the bank…';
        try {
          const r = await api('POST', '/v1/qr', { payload });
          payload = '';
          go('scanned', { purpose: r.purpose }, { replace: true });
        } catch (e) {
          payload = '';
          finder.dataset.state = 'error';
          status.textContent = '';
          showMsg(v, qrErrors[e.code] || e.message);
          btn.textContent = 'Scan again';
          busy(btn, false);
        }
      });
    },
  };
  screens.scanned = {
    auth: true,
    draw(v, arg) {
      const what = purposes[arg && arg.purpose] || 'Your request';
      v.append(appBar('Scan QR code'), h('div.content', {},
        h('div.done', { id: 'scan-done', dataset: { purpose: (arg && arg.purpose) || '' } }, svg('ok', 'big'),
          h('p.d-title', { text: 'Identity confirmed' }),
          h('p', { text: what + ': the ATM continues by itself.' }),
          arg && arg.purpose === 'activate' ? h('p', { text: 'The default PIN of your new card is on its way to your inbox. Key it at the ATM.' }) : null),
        h('button.primary', { type: 'button', id: 'open-inbox', onclick: () => go('inbox'), text: 'Open inbox' })));
    },
  };

  screens.inbox = {
    auth: true,
    draw(v) {
      const live = S.inboxState === 'live';
      const items = S.inbox.slice().reverse();
      v.append(appBar('Inbox', { right: h('span.live', { dataset: { live: live ? 'true' : 'false' }, title: live ? 'Live' : 'Connecting', text: live ? 'Live' : '…' }) }),
        h('div.content', {},
          items.length ? h('ul.messages', { id: 'inbox', 'aria-label': 'Messages from atmd Bank', 'aria-live': 'polite' }, items.map(messageItem))
            : h('p.empty', { id: 'inbox-empty', text: 'No messages yet. Codes and your default PIN arrive here.' })));
    },
  };

  screens.bind = {
    auth: true,
    draw(v, arg) {
      const se = S.session;
      const acct = h('select', { id: 'bind-account' });
      const phone = h('input', { id: 'bind-phone', type: 'tel', inputmode: 'tel', autocomplete: 'tel', placeholder: '+886…', value: se.phone || '' });
      const btn = h('button.primary', { type: 'submit', id: 'bind-submit', text: 'Bind this phone' });
      const current = h('ul.bindings', { 'aria-label': 'Bound accounts' });
      v.append(appBar('Phone binding'), h('div.content', {},
        h('p.lead', {}, 'Binding lets the ATM trust this phone (', h('strong', { text: se.device }), ") for the account's cards."),
        current,
        h('p.msg', { role: 'alert', id: 'msg' }),
        h('form.card-form', {
          novalidate: true,
          onsubmit: async (e) => {
            e.preventDefault();
            busy(btn, true);
            try {
              const d = await api('POST', '/v1/devices/bind', { account_id: acct.value, phone: phone.value.trim() });
              showMsg(v, 'Bound to ' + d.account_id + '.', true);
              load();
            } catch (err) {
              showMsg(v, err.code === 'phone_mismatch' ? 'That is not the phone number the bank has on file for you.' : err.message);
            }
            busy(btn, false);
          },
        }, h('label', { for: 'bind-account', text: 'Account' }), acct, h('label', { for: 'bind-phone', text: "This phone's number" }), phone, btn)));
      function load() {
        Promise.all([api('GET', '/v1/cards'), api('GET', '/v1/devices')]).then(([c, d]) => {
          const accts = [...new Set((c.cards || []).map((x) => x.account_id))];
          const keep = acct.value || (arg && arg.account) || '';
          acct.replaceChildren(...accts.map((a) => h('option', { value: a, text: a })));
          if (keep) acct.value = keep;
          const mine = (d.devices || []).filter((x) => x.device_id === se.device);
          current.replaceChildren(...(mine.length ? mine.map((x) => h('li', {}, h('strong', { text: x.account_id }), ' · ' + x.phone))
            : [h('li.none', { text: 'This phone is not bound to any account.' })]));
        }).catch((e) => showMsg(v, e.message));
      }
      load();
    },
  };

  // Messages: the SMS sent to a phone number (a customer without the
  // app gets codes this way).
  screens.sms = {
    draw(v) {
      const s = S.sms;
      if (!s.phone) {
        const num = h('input', { id: 'sms-phone', type: 'tel', inputmode: 'tel', placeholder: '+886…', value: (S.session && S.session.phone) || '' });
        const form = h('form.numform', {
          novalidate: true,
          onsubmit: (e) => { e.preventDefault(); if (num.value.trim()) { watchSMS(num.value.trim()); refresh('sms'); } },
        }, h('label', { for: 'sms-phone', text: "This phone's number" }), h('div.row', {}, num, h('button.primary', { type: 'submit', id: 'sms-show', text: 'Show' })));
        const picks = S.demo.phones.map((p) => h('button.pick.small', {
          type: 'button', dataset: { phone: p.phone },
          'aria-label': p.name + ', ' + p.phone + (p.app ? '' : ', no banking app'),
          onclick: () => { watchSMS(p.phone); refresh('sms'); },
        }, h('span.p-main', { text: p.name.split(' (')[0] }), h('span.p-sub', { text: p.phone + (p.app ? '' : ' · no app') })));
        v.append(appBar('Messages'), h('div.content', {}, form,
          picks.length ? h('section.picks', { 'aria-labelledby': 'phones-h' },
            h('h2', { id: 'phones-h', text: 'Demo phone numbers (simulation)' }), h('div.pick-list.phones', {}, picks)) : null));
        return;
      }
      let list;
      if (s.state === 'error') list = h('p.msg', { role: 'alert', text: s.error });
      else if (!s.msgs.length) list = h('p.empty', { id: 'sms-empty', text: 'No messages yet.' });
      else list = h('ul.messages.sms', { id: 'sms-list', 'aria-label': 'Messages to ' + s.phone, 'aria-live': 'polite' }, s.msgs.slice().reverse().map(messageItem));
      v.append(appBar('Messages'), h('div.content', {},
        h('div.numbar', {}, h('span', {}, 'To ', h('strong', { id: 'sms-number', text: s.phone })),
          h('button.link', { type: 'button', id: 'sms-change', onclick: () => { watchSMS(''); refresh('sms'); }, text: 'Change' })),
        list));
    },
  };

  // ---- start ----
  $('home-button').addEventListener('click', () => go('home', null, { reset: true }));
  function clock() {
    $('sb-time').textContent = new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }
  clock();
  setInterval(clock, 30000);

  async function start() {
    try {
      const r = await fetch('demo.json', { cache: 'no-store' });
      if (r.ok) S.demo = Object.assign({ users: [], phones: [] }, await r.json());
    } catch (_) { /* no quick picks */ }
    try {
      const saved = JSON.parse(sessionStorage.getItem(KEY) || 'null');
      if (saved && saved.token) {
        S.session = saved;
        startSession();
      }
    } catch (_) { /* no saved session */ }
    render();
    document.body.dataset.ready = 'true';
    toPanel({ op: 'hello' });
  }
  start();
})();
