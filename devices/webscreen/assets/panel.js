// The virtual front panel (simulation only): every button posts one
// action to /api/panel/{action}; what the devices show comes back in
// "panel" events. screen.js owns the connection and calls in through
// window.atmd.
(() => {
  'use strict';
  const atmd = window.atmd;
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  let faults = [];
  let state = null;

  function message(text, isError) {
    const m = $('panel-msg');
    m.textContent = text || '';
    m.dataset.error = isError ? 'true' : 'false';
  }

  // After a mouse click the keyboard goes back to the page, so Enter is
  // the PIN pad's ENTER again; a keyboard click keeps the focus.
  document.querySelector('.atm').addEventListener('click', (e) => {
    const b = e.target.closest && e.target.closest('button');
    if (b && e.detail > 0) b.blur();
  });

  async function act(action, body, btn) {
    if (btn) btn.classList.add('pressed');
    try {
      const r = await atmd.post('/api/panel/' + action, body);
      message('');
      return r;
    } catch (e) {
      message(e.message, true);
      return null;
    } finally {
      if (btn) setTimeout(() => btn.classList.remove('pressed'), 120);
    }
  }

  // A key press, from a click or the keyboard: light the key, post it.
  atmd.press = (key) => {
    const btn = document.querySelector('.pk[data-key="' + key + '"], .fdk[data-key="' + key + '"]');
    return act('press', { key }, btn);
  };

  document.querySelectorAll('.pk[data-key], .fdk[data-key]').forEach((b) => {
    b.addEventListener('click', () => atmd.press(b.dataset.key));
  });
  $('take-card').addEventListener('click', (e) => act('take-card', {}, e.currentTarget));
  $('take-cash').addEventListener('click', (e) => act('take-cash', {}, e.currentTarget));
  $('tap').addEventListener('click', async (e) => {
    const r = await act('tap', {}, e.currentTarget);
    $('tap-read').textContent = r && r.read ? 'Phone read: ' + r.read : '';
    if (r && r.read) toPhone({ op: 'tap', uri: r.read });
  });

  // ---- the phone pane ----
  // The banking-app simulator runs in the iframe, from the bank's origin
  // (sim/phone/webapp). The phone's camera and NFC antenna are ours: it
  // asks {atmd:'phone', op:'scan', id} and gets the payload of the QR
  // code on the screen from atmd (POST /api/panel/scan); a tap on the tag
  // sends it what the phone read. Messages go only to the frame's origin
  // and are taken only from the frame: the payload passes through this
  // script, never through the screen's DOM.
  const frame = $('phone-frame');
  const phoneOrigin = frame ? new URL(frame.getAttribute('src'), location.href).origin : '';
  function toPhone(msg) {
    if (frame && frame.contentWindow) frame.contentWindow.postMessage(Object.assign({ atmd: 'atm' }, msg), phoneOrigin);
  }
  atmd.phone = { send: toPhone };
  if (frame) {
    // Whichever loads first, the phone learns that a panel is around.
    frame.addEventListener('load', () => toPhone({ op: 'hello' }));
    toPhone({ op: 'hello' });
    window.addEventListener('message', async (e) => {
      if (e.source !== frame.contentWindow || e.origin !== phoneOrigin) return;
      const m = e.data;
      if (!m || typeof m !== 'object' || m.atmd !== 'phone') return;
      if (m.op === 'hello') {
        toPhone({ op: 'hello' });
      } else if (m.op === 'scan') {
        try {
          const r = await atmd.post('/api/panel/scan', {});
          toPhone({ op: 'scan', id: m.id, payload: r.payload });
        } catch (err) {
          const none = /no QR code/.test(err.message);
          toPhone({ op: 'scan', id: m.id, error: none ? "There is no QR code on the ATM's screen." : "The camera could not read the ATM's screen." });
        }
      }
    });
  }
  $('supervisor').addEventListener('change', (e) => act('supervisor', { on: e.currentTarget.checked }));
  $('fault-device').addEventListener('change', fillCodes);
  $('inject').addEventListener('click', () => {
    const device = $('fault-device').value;
    const code = $('fault-code').value;
    if (device && code) act('inject', { device, code }).then((r) => { if (r) message(device + ': ' + code + ' injected'); });
  });
  $('clear').addEventListener('click', () => {
    const device = $('fault-device').value;
    if (device) act('clear', { device }).then((r) => { if (r) message(device + ': faults cleared'); });
  });

  atmd.on('hello', (h) => {
    const cards = $('cards');
    cards.replaceChildren(...(h.cards || []).map((c) => {
      const b = el('button', 'card');
      b.type = 'button';
      b.dataset.card = c.id;
      b.setAttribute('aria-label', 'Insert card ' + c.label + (c.holder ? ', ' + c.holder : '') + (c.note ? ', ' + c.note : ''));
      if (c.note) b.append(el('span', 'c-note', c.note));
      b.append(el('span', 'c-label', c.label), el('span', 'c-holder', c.holder || c.id));
      b.addEventListener('click', () => act('insert', { card: c.id }, b));
      return b;
    }));
    faults = h.faults || [];
    const dev = $('fault-device');
    const keep = dev.value;
    dev.replaceChildren(...faults.map((f) => {
      const o = el('option', '', f.device);
      o.value = f.device;
      return o;
    }));
    if (keep) dev.value = keep;
    fillCodes();
    if (state) draw(state);
    fit(); // the cards changed the panel's height
  });

  function fillCodes() {
    const f = faults.find((x) => x.device === $('fault-device').value);
    $('fault-code').replaceChildren(...(f ? f.codes : []).map((c) => {
      const o = el('option', '', c);
      o.value = c;
      return o;
    }));
  }

  const cardWords = { empty: 'No card', inside: 'Card inside', presented: 'Card at the slot: take it' };

  function draw(s) {
    state = s;
    const slot = $('card-slot');
    slot.dataset.card = s.card || 'empty';
    slot.dataset.accepting = s.accepting ? 'true' : 'false';
    $('card-state').textContent = (s.accepting && s.card === 'empty') ? 'Insert a card' : (cardWords[s.card] || s.card || '');
    $('take-card').disabled = s.card !== 'presented';
    // A card can go in while the slot is empty; the slot light says
    // whether the ATM is waiting for one.
    document.querySelectorAll('.card').forEach((b) => { b.disabled = s.card !== 'empty'; });

    $('pinpad').dataset.entry = s.entry || '';

    const cash = s.cash || [];
    $('tray').dataset.cash = cash.length ? 'true' : 'false';
    $('notes').replaceChildren(...cash.map((n) => el('li', '', n.count + ' × ' + n.label)));
    $('no-cash').hidden = cash.length > 0;
    $('take-cash').disabled = cash.length === 0;

    const r = $('receipt');
    r.hidden = !(s.receipt && s.receipt.length);
    r.textContent = (s.receipt || []).join('\n');
    $('no-receipt').hidden = !r.hidden;

    $('tech').dataset.service = s.service || '';
    $('service').textContent = s.service || '—';
    $('supervisor').checked = !!s.supervisor;
    $('devlist').replaceChildren(...(s.devices || []).map((d) => {
      const ok = d.status && (d.status.state === 'online' || d.status.state === 'busy') && !d.status.fault;
      const li = el('li', '', d.name + ' ');
      li.dataset.ok = ok ? 'true' : 'false';
      li.title = d.name + ': ' + (d.status ? d.status.state + (d.status.fault ? ' ' + d.status.fault : '') + (d.status.detail ? ': ' + d.status.detail : '') : '');
      if (!ok && d.status) li.append(el('span', 'fault', d.status.fault || d.status.state));
      return li;
    }));
  }
  atmd.on('panel', draw);
  // While atmd is away the devices' state is unknown: say so, and take
  // no clicks until it is back (the next "panel" event redraws).
  atmd.on('conn', (c) => {
    if (c !== 'lost') return;
    $('tech').dataset.service = 'unknown';
    $('service').textContent = 'atmd is not running';
    $('card-slot').dataset.accepting = 'false';
  });

  // Zoom the whole machine to fit the window (never up).
  const atm = document.querySelector('.atm');
  function fit() {
    atm.style.zoom = '1';
    const z = Math.min(1, window.innerWidth / atm.scrollWidth, Math.max(0.6, window.innerHeight / atm.scrollHeight));
    const zoom = Math.max(0.45, z);
    atm.style.zoom = String(zoom);
    atmd.setZoom(zoom);
  }
  window.addEventListener('resize', fit);
  fit();
})();
