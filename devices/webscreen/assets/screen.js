// The customer screen: renders the screens atmd sends over server-sent
// events, sends touches back, and keeps reconnecting while atmd is away.
// No framework and no build step; the file is embedded in the binary.
(() => {
  'use strict';

  // Words of the page itself (the screens' words come from atmd).
  const T = {
    en: {
      bank: 'atmd Bank',
      offline: ['Temporarily out of service', 'We apologise for the inconvenience.', 'Please use another ATM.'],
      reconnecting: 'Reconnecting…',
      qr: 'Scan with your banking app',
      qrAlt: 'QR code to scan with your banking app',
      choices: 'Choices',
      digits: (n) => n === 1 ? '1 digit entered' : n + ' digits entered',
      cleared: 'Entry cleared',
      fkey: 'Function key',
    },
    'zh-TW': {
      bank: 'atmd 銀行',
      offline: ['暫停服務', '造成不便，敬請見諒。', '請使用其他自動櫃員機。'],
      reconnecting: '重新連線中…',
      qr: '請使用行動銀行 App 掃描',
      qrAlt: '請使用行動銀行 App 掃描的 QR 碼',
      choices: '選項',
      digits: (n) => '已輸入 ' + n + ' 位',
      cleared: '已清除輸入',
      fkey: '功能鍵',
    },
  };
  const words = (lang) => T[lang] || T.en;

  // Screens waiting on the machine show a spinner; some show a picture
  // of what to do. Keyed by the flows' screen IDs, which are stable.
  const busy = new Set(['starting', 'please-wait', 'dispensing']);
  const art = {
    'welcome': 'card-in',
    'other-amount': 'cash',
    'enter-pin': 'pin',
    'pin-retry': 'pin',
    'take-card': 'card-out',
    'take-card-cash': 'card-out',
    'take-cash': 'cash',
    'take-cash-partial': 'cash',
    'printing': 'receipt',
    'goodbye': 'thanks',
    'card-retained': 'card-kept',
    'card-retained-left': 'card-kept',
    'out-of-service': 'oos',
    'offline': 'oos',
  };
  const secondary = new Set(['cancel', 'finish', 'back', 'no', 'lang']);

  const $ = (id) => document.getElementById(id);
  const body = document.body;
  const st = {
    panel: body.classList.contains('with-panel'),
    seq: 0,
    screen: null,
    lang: 'en',
    backoff: 500,
    lostTimer: 0,
    instance: '',
    count: -1,
    zoom: 1,
  };

  // ---- extension point for the panel, the phone pane and tests ----
  // window.atmd.on('screen'|'panel'|'hello'|'conn', fn) subscribes;
  // window.atmd.post(path, body) posts JSON to atmd.
  const listeners = {};
  const emit = (ev, data) => (listeners[ev] || []).forEach((fn) => {
    try { fn(data); } catch (e) { console.error(e); }
  });
  // Posts go one at a time, in order: two PIN pad keys clicked quickly
  // must reach the PIN pad in the order they were pressed.
  let chain = Promise.resolve();
  function post(path, data) {
    const p = chain.then(() => send(path, data));
    chain = p.catch(() => {});
    return p;
  }
  async function send(path, data) {
    const r = await fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(data || {}),
    });
    if (r.status === 204) return {};
    const j = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(j.error || ('HTTP ' + r.status));
    return j;
  }
  window.atmd = {
    on(ev, fn) { (listeners[ev] = listeners[ev] || []).push(fn); },
    post,
    // The panel zooms the machine to fit the window and says by how much.
    setZoom(z) {
      st.zoom = z > 0 ? z : 1;
      sizeQR();
    },
    get screen() { return st.screen; },
    get lang() { return st.lang; },
    loadId: Math.random().toString(36).slice(2),
  };

  // ---- connection: EventSource with our own backoff ----
  function connect() {
    const es = new EventSource('/events');
    es.addEventListener('hello', (e) => {
      const h = JSON.parse(e.data);
      st.instance = h.instance;
      opened();
      emit('hello', h);
    });
    es.addEventListener('screen', (e) => render(JSON.parse(e.data)));
    es.addEventListener('panel', (e) => emit('panel', JSON.parse(e.data)));
    es.onerror = () => {
      es.close();
      lost();
      setTimeout(connect, st.backoff);
      st.backoff = Math.min(st.backoff * 2, 5000);
    };
  }
  function opened() {
    st.backoff = 500;
    clearTimeout(st.lostTimer);
    st.lostTimer = 0;
    body.dataset.conn = 'open';
    $('conn').textContent = '';
    emit('conn', 'open');
  }
  // A short blip is not shown; after 1.5 s without atmd the customer sees
  // "out of service" rather than a screen that no longer works.
  function lost() {
    if (body.dataset.conn === 'lost' || st.lostTimer) return;
    st.lostTimer = setTimeout(() => {
      st.lostTimer = 0;
      body.dataset.conn = 'lost';
      const w = words(st.lang);
      render({ seq: 0, id: 'offline', lang: st.lang, tone: 'warning', title: w.offline[0], lines: w.offline.slice(1) });
      $('conn').textContent = w.reconnecting;
      emit('conn', 'lost');
    }, 1500);
  }

  // ---- rendering ----
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function render(v) {
    const s = $('screen');
    const prev = st.screen;
    const lang = v.lang || st.lang;
    const w = words(lang);
    st.screen = v;
    st.seq = v.seq;
    const langChanged = st.lang !== lang;
    st.lang = lang;
    if (langChanged) tick();
    document.documentElement.lang = lang;
    s.lang = lang;
    s.dataset.screen = v.id;
    s.dataset.seq = String(v.seq);
    s.dataset.tone = v.tone || 'info';
    const menu = v.menu || [];
    s.classList.toggle('has-menu', menu.length > 0);
    s.classList.toggle('has-input', !!v.input);
    s.classList.toggle('has-qr', !!v.qr);
    s.classList.toggle('busy', busy.has(v.id));
    s.classList.toggle('oos', v.id === 'out-of-service' || v.id === 'offline');
    s.classList.toggle('blank', v.id === 'blank' || !v.title);
    s.classList.toggle('welcome', v.id === 'welcome');
    $('bank').textContent = w.bank;
    $('menu').setAttribute('aria-label', w.choices);

    $('title').textContent = v.title || '';
    const lines = $('lines');
    lines.replaceChildren(...(v.lines || []).map((l) => el('p', '', l)));

    renderEntry(v.input, w);
    renderQR(v.qr, w);
    renderArt(v);
    renderMenu(menu, v.seq, w);
    layout(s, v, menu);
    fitText();

    // Tell a screen reader: the whole screen when it changes, the count
    // of digits when only the entry field does.
    const changed = !prev || prev.id !== v.id || prev.title !== v.title || prev.lang !== v.lang;
    const n = v.input ? v.input.count : -1;
    if (changed) {
      const parts = [v.title].concat(v.lines || []);
      if (v.input && v.input.label) parts.push(v.input.label);
      announce(parts.filter(Boolean).join('. '));
      if (document.activeElement === body || !document.activeElement) $('title').focus({ preventScroll: true });
    } else if (n !== st.count && v.input) {
      announce(n === 0 ? w.cleared : v.input.kind === 'secret' ? w.digits(n) : v.input.text);
    }
    st.count = n;
    emit('screen', v);
  }

  // Where the text and the picture or QR code end: above the first menu
  // item in their columns (rows are counted in the content's grid, whose
  // first row is the one above the menu rows).
  function layout(s, v, menu) {
    const row = (m) => ((Number(m.key.slice(1)) - 1) % 4) + 2;
    const first = (items) => items.length ? Math.min(...items.map(row)) : -1;
    const right = menu.filter((m) => m.key >= 'F5');
    const side = !!v.qr || $('art').innerHTML !== '';
    s.classList.toggle('has-side', side);
    const c = $('content');
    c.style.setProperty('--side-end', String(first(right)));
    c.style.setProperty('--text-end', String(first(side ? menu.filter((m) => m.key < 'F5') : menu)));
  }

  // A long text on a screen with a QR code or a menu beside it may not
  // fit its room at the full size: shrink it (title, lines, entry field)
  // in steps until it does, down to the floors in screen.css. The text's data-overflow says
  // whether it still overflows (the browser tests fail on it).
  function fitText() {
    const s = $('screen');
    const t = s.querySelector('.text');
    s.style.setProperty('--fit', '1');
    t.classList.add('measure');
    let k = 1;
    while (t.scrollHeight > t.clientHeight + 1 && k > 0.5) {
      k -= 0.05;
      s.style.setProperty('--fit', k.toFixed(2));
    }
    t.dataset.overflow = t.scrollHeight > t.clientHeight + 1 ? 'true' : 'false';
    t.classList.remove('measure');
  }
  window.addEventListener('resize', fitText);
  if (document.fonts) document.fonts.ready.then(fitText);

  function renderEntry(input, w) {
    const box = $('entry');
    box.hidden = !input;
    if (!input) return;
    box.dataset.kind = input.kind;
    $('entry-label').textContent = input.label || '';
    const out = $('entry-value');
    if (input.kind === 'secret') {
      // One dot per digit keyed, and empty places up to four.
      const dots = [];
      for (let i = 0; i < Math.max(4, input.count); i++) dots.push(el('span', i < input.count ? 'dot on' : 'dot'));
      if (input.count < 12) dots.push(el('span', 'caret'));
      out.replaceChildren(...dots);
      out.setAttribute('aria-label', w.digits(input.count));
    } else {
      out.replaceChildren(el('span', 'digits', input.text), el('span', 'caret'));
      out.removeAttribute('aria-label');
    }
  }

  function renderQR(qr, w) {
    const box = $('qr-box');
    const img = $('qr');
    box.hidden = !qr;
    if (!qr) {
      img.removeAttribute('src');
      return;
    }
    img.width = qr.px;
    img.height = qr.px;
    img.src = qr.src;
    img.alt = w.qrAlt;
    $('qr-caption').textContent = w.qr;
    sizeQR();
  }

  // A QR code stays crisp only with a whole number of device pixels per
  // module: as large as its natural size and the room on the screen
  // allow, allowing for the panel's zoom and the display's pixel ratio.
  function sizeQR() {
    const q = st.screen && st.screen.qr;
    const img = $('qr');
    if (!q) return;
    img.style.width = '';
    img.style.height = '';
    const room = Math.min(q.px, parseFloat(getComputedStyle(img).maxHeight) || q.px);
    const scale = st.zoom * (window.devicePixelRatio || 1);
    const per = Math.max(1, Math.floor((room * scale) / q.modules + 1e-6));
    const css = (per * q.modules) / scale;
    img.style.width = css + 'px';
    img.style.height = css + 'px';
  }
  window.addEventListener('resize', sizeQR);

  function renderArt(v) {
    const box = $('art');
    let name = art[v.id] || '';
    if (busy.has(v.id)) name = 'wait';
    if (!name && !v.input && !v.qr && !(v.menu && v.menu.length)) {
      name = { success: 'ok', warning: 'warn', error: 'err' }[v.tone] || '';
    }
    box.dataset.art = name;
    box.innerHTML = svgs[name] || '';
    $('tone-icon').innerHTML = box.innerHTML ? '' : (icons[v.tone] || '');
  }

  function renderMenu(menu, seq, w) {
    const nav = $('menu');
    const items = menu.slice().sort((a, b) => a.key < b.key ? -1 : 1).map((m) => {
      const n = Number(m.key.slice(1));
      const side = n <= 4 ? 'left' : 'right';
      const b = el('button', 'item ' + side + ' r' + (((n - 1) % 4) + 1), '');
      b.type = 'button';
      b.dataset.key = m.key;
      b.dataset.id = m.id;
      if (secondary.has(m.id)) b.classList.add('secondary');
      b.setAttribute('aria-keyshortcuts', m.key);
      b.append(el('span', 'label', m.label));
      b.addEventListener('click', (e) => {
        // A mouse click leaves the keyboard with the page (Enter is the PIN
        // pad's); a keyboard click keeps the focus where the user is.
        if (e.detail > 0) b.blur();
        touch(m.key, seq, b);
      });
      return b;
    });
    nav.replaceChildren(...items);
    // The physical keys beside the screen say what they do now.
    document.querySelectorAll('.fdk').forEach((f) => {
      const m = menu.find((x) => x.key === f.dataset.key);
      f.dataset.bound = m ? 'true' : 'false';
      f.setAttribute('aria-label', w.fkey + ' ' + f.dataset.key + (m ? ': ' + m.label : ''));
    });
  }

  async function touch(key, seq, btn) {
    if (btn) btn.classList.add('pressed');
    try {
      await post('/api/touch', { key, seq });
    } catch (e) {
      console.warn('touch', key, e.message);
    } finally {
      if (btn) btn.classList.remove('pressed');
    }
  }
  window.atmd.touch = (key) => touch(key, st.seq, document.querySelector('.item[data-key="' + key + '"]'));

  function announce(text) {
    const a = $('announce');
    a.textContent = '';
    // A fresh text node, so the same words twice are read twice.
    requestAnimationFrame(() => { a.textContent = text; });
  }

  // ---- keyboard ----
  // F1..F8 are the function keys beside the screen. With the virtual
  // front panel, digits, Enter, Escape, Backspace and Delete are the PIN
  // pad's keys; without it (the kiosk) the page never takes digits: on a
  // real ATM the PIN is keyed only on the encrypting PIN pad.
  document.addEventListener('keydown', (e) => {
    if (e.altKey || e.ctrlKey || e.metaKey || e.repeat) return;
    const t = e.target;
    const onControl = t && t.closest && t.closest('button, select, input, textarea, a, summary');
    let key = '';
    if (/^F[1-8]$/.test(e.key)) key = e.key;
    else if (st.panel) {
      if (/^[0-9]$/.test(e.key) && !(t && t.matches && t.matches('select, input[type=text], textarea'))) key = e.key;
      else if (e.key === 'Enter' && !onControl) key = 'ENTER';
      else if (e.key === 'Escape') key = 'CANCEL';
      else if (e.key === 'Backspace' && !(t && t.matches && t.matches('input[type=text], textarea'))) key = 'BACKSPACE';
      else if (e.key === 'Delete') key = 'CLEAR';
    }
    if (!key) return;
    e.preventDefault();
    if (st.panel && window.atmd.press) {
      window.atmd.press(key);
    } else if (st.screen && (st.screen.menu || []).some((m) => m.key === key)) {
      window.atmd.touch(key);
    }
  });

  // ---- clock in the header ----
  function tick() {
    const now = new Date();
    try {
      $('clock').textContent = new Intl.DateTimeFormat(st.lang, { dateStyle: 'medium', timeStyle: 'short' }).format(now);
    } catch (_) {
      $('clock').textContent = now.toLocaleString();
    }
  }

  // ---- pictures ----
  const S = (inner, vb) => '<svg viewBox="' + (vb || '0 0 200 200') + '" fill="none" stroke="currentColor" stroke-width="6" stroke-linecap="round" stroke-linejoin="round">' + inner + '</svg>';
  const svgs = {
    'card-in': S('<rect x="30" y="120" width="140" height="16" rx="8" class="fill-dark" stroke="none"/>' +
      '<g class="move-down"><rect x="52" y="24" width="96" height="104" rx="10" class="fill-card"/><rect x="66" y="44" width="22" height="16" rx="3" class="fill-chip" stroke-width="3"/><path d="M66 96h50M66 110h30" stroke-width="5"/></g>' +
      '<path d="M100 150v34m-14-14 14 14 14-14" class="accent"/>'),
    'card-out': S('<rect x="30" y="64" width="140" height="16" rx="8" class="fill-dark" stroke="none"/>' +
      '<g class="move-up"><rect x="52" y="72" width="96" height="104" rx="10" class="fill-card"/><rect x="66" y="140" width="22" height="16" rx="3" class="fill-chip" stroke-width="3"/></g>' +
      '<path d="M100 50V16m-14 14 14-14 14 14" class="accent"/>'),
    'card-kept': S('<rect x="40" y="60" width="120" height="84" rx="10" class="fill-card"/><path d="M40 84h120" /><circle cx="140" cy="140" r="34" class="fill-bg"/><path d="M122 122l36 36m0-36-36 36" class="err"/>'),
    pin: S('<rect x="36" y="24" width="100" height="150" rx="14" class="fill-card"/>' +
      '<g class="fill-dark" stroke="none"><circle cx="64" cy="58" r="8"/><circle cx="86" cy="58" r="8"/><circle cx="108" cy="58" r="8"/><circle cx="64" cy="86" r="8"/><circle cx="86" cy="86" r="8"/><circle cx="108" cy="86" r="8"/><circle cx="64" cy="114" r="8"/><circle cx="86" cy="114" r="8"/><circle cx="108" cy="114" r="8"/><circle cx="86" cy="142" r="8"/></g>' +
      '<path d="M148 104l30 11v24c0 20-13 33-30 39-17-6-30-19-30-39v-24z" class="accent fill-shield"/><path d="M136 140l9 9 17-19" class="accent" stroke-width="7"/>'),
    cash: S('<g class="move-up"><rect x="58" y="40" width="116" height="62" rx="6" class="fill-cash"/><rect x="46" y="56" width="116" height="62" rx="6" class="fill-cash"/>' +
      '<rect x="34" y="72" width="116" height="62" rx="6" class="fill-cash"/><circle cx="92" cy="103" r="15"/><path d="M48 86v34M136 86v34" stroke-width="4"/></g>' +
      '<rect x="20" y="142" width="160" height="18" rx="9" class="fill-dark" stroke="none"/>'),
    receipt: S('<rect x="28" y="40" width="144" height="18" rx="9" class="fill-dark" stroke="none"/>' +
      '<path class="move-down fill-card" d="M58 50h84v110l-10-8-11 8-10-8-11 8-10-8-11 8-11-8-10 8z"/><path d="M74 80h52M74 100h52M74 120h32" stroke-width="5"/>'),
    thanks: S('<circle cx="100" cy="100" r="70" class="fill-ok"/><path d="M66 102l24 24 46-50" class="ok-mark" stroke-width="12"/>'),
    ok: S('<circle cx="100" cy="100" r="70" class="fill-ok"/><path d="M66 102l24 24 46-50" class="ok-mark" stroke-width="12"/>'),
    warn: S('<path d="M100 30 176 164H24z" class="fill-warn"/><path d="M100 80v40" stroke-width="12"/><circle cx="100" cy="144" r="4" stroke-width="10"/>'),
    err: S('<circle cx="100" cy="100" r="70" class="fill-err"/><path d="M74 74l52 52m0-52-52 52" stroke-width="12"/>'),
    oos: S('<circle cx="100" cy="100" r="72"/><path d="M100 58v52" stroke-width="12"/><circle cx="100" cy="138" r="4" stroke-width="12"/>'),
    wait: '<span class="spinner"></span>',
  };
  const I = (inner) => '<svg viewBox="0 0 40 40">' + inner + '</svg>';
  const icons = {
    success: I('<circle cx="20" cy="20" r="18" fill="#137333"/><path d="M11 21l6 6 12-13" stroke="#fff" stroke-width="4" fill="none" stroke-linecap="round" stroke-linejoin="round"/>'),
    warning: I('<path d="M20 3 38 35H2z" fill="#b26a00"/><path d="M20 14v10" stroke="#fff" stroke-width="4" stroke-linecap="round"/><circle cx="20" cy="30" r="2.4" fill="#fff"/>'),
    error: I('<circle cx="20" cy="20" r="18" fill="#b3261e"/><path d="M13 13l14 14m0-14-14 14" stroke="#fff" stroke-width="4" stroke-linecap="round"/>'),
  };

  tick();
  setInterval(tick, 10000);
  connect();
})();
