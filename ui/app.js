// app.js — the kiosk page. The daemon owns the flow (daemon/flow.c); this
// page shows its view, collects what the person types and posts it. It
// keeps nothing: typed digits live in this page only until "Next", and
// every screen change wipes them.
"use strict";
(function () {
  const $ = (s) => document.querySelector(s);
  const screen = $("#screen");
  let lang = "zh";
  let large = true;
  let token = "";
  let printer = false;
  let view = null;          // last view from the daemon
  let shownSeq = -1;        // the view on screen
  let deadline = 0;         // Date.now() when the step times out
  let banner = {};
  let lastAlive = 0;
  let overlayTimer = 0;
  let voiceOn = true;       // spoken prompts: on by default in elderly mode
  let clips = null;         // voice/clips.json: {lang: {screen: file}}
  let spoken = "";          // what the last view said (screen + error)
  const audio = new Audio();
  const voiceLog = { key: "", src: "", played: 0, playedKey: "", missing: [] };
  audio.addEventListener("playing", () => { voiceLog.played++; voiceLog.playedKey = voiceLog.key; });

  const T = () => window.I18N[lang];
  const tr = (k, ...a) => { const v = T()[k]; return typeof v === "function" ? v(...a) : v; };
  const errText = (code) => T().err[code] || code;

  // Icons drawn here, as SVG: a symbol from a font may be missing on the
  // kiosk (an emoji, a dingbat: tools/fontcheck.py checks every character
  // the page can show against the fonts sscard-kiosk depends on). 24×24,
  // in the text's colour; always beside a text, never instead of it.
  const ICONS = {
    speaker: [["M3 9h4l5-4v14l-5-4H3z", "fill"], ["M15.5 9a4 4 0 0 1 0 6M18 6.5a7.5 7.5 0 0 1 0 11", "stroke"]],
    warning: [["M12 3 22 20H2z", "stroke"], ["M12 9.5v5", "stroke"], ["M12 16.6a1.2 1.2 0 1 0 0.01 0z", "fill"]],
    check: [["M4 12.5 9.5 18 20 6.5", "stroke"]],
    info: [["M12 3a9 9 0 1 0 0.01 0z", "stroke"], ["M12 11v6", "stroke"], ["M12 6.6a1.3 1.3 0 1 0 0.01 0z", "fill"]],
    backspace: [["M8 5h13v14H8l-6-7z", "stroke"], ["M11.5 9l5.5 6M17 9l-5.5 6", "stroke"]],
    // the home screen's services
    loss_report: [["M3 6h18v12H3z", "stroke"], ["M3 10h18", "stroke"], ["M2 3l20 18", "stroke"]],
    loss_cancel: [["M3 6h18v12H3z", "stroke"], ["M7 13l3 3 7-7", "stroke"]],
    replacement: [["M3 6h18v12H3z", "stroke"], ["M12 9v6M9 12h6", "stroke"]],
    activation: [["M3 6h18v12H3z", "stroke"], ["M6 9h5v4H6z", "fill"], ["M14 15h4", "stroke"]],
    pin_change: [["M3 7h18v10H3z", "stroke"], ["M7 12h.01M12 12h.01M17 12h.01", "dots"]],
    status: [["M10.5 4a6.5 6.5 0 1 0 0.01 0z", "stroke"], ["M15.5 15.5 21 21", "stroke"]],
    pin_reset: [["M5 11h14v10H5z", "stroke"], ["M8 11V7a4 4 0 0 1 7.5-2", "stroke"], ["M12 15v2", "stroke"]],
  };
  function icon(name) {
    const NS = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    svg.setAttribute("class", "ico ico-" + name);
    for (const [d, how] of ICONS[name]) {
      const p = document.createElementNS(NS, "path");
      p.setAttribute("d", d);
      p.setAttribute("fill", how === "fill" ? "currentColor" : "none");
      if (how !== "fill") {
        p.setAttribute("stroke", "currentColor");
        p.setAttribute("stroke-width", how === "dots" ? "3.5" : "2.2");
        p.setAttribute("stroke-linecap", "round");
        p.setAttribute("stroke-linejoin", "round");
      }
      svg.append(p);
    }
    return svg;
  }
  const kindIcon = (kind) => icon(kind === "error" ? "warning" : kind === "ok" ? "check" : "info");

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k === "style") e.style.cssText = v; // CSSOM: allowed by the page's CSP
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (v !== false && v !== undefined && v !== null) e.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids.flat()) if (kid !== null && kid !== undefined) e.append(kid);
    return e;
  }

  // ---- talking to the daemon -------------------------------------------
  async function session() {
    const r = await fetch("/api/v1/session", { cache: "no-store" });
    const j = await r.json();
    token = j.token;
    printer = j.printer;
    if (!sessionStorage.getItem("lang")) lang = j.language;
    if (!sessionStorage.getItem("large")) large = j.large_text;
  }

  async function post(path, body) {
    let r;
    try {
      r = await fetch(path, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Session-Token": token },
        body: JSON.stringify(body),
      });
    } catch (e) {
      flash("error", errText("network"));
      return null;
    }
    const j = await r.json().catch(() => ({}));
    if (r.status === 403 && j.error === "session") {
      await session();
      return post(path, body);
    }
    if (j.view) show(j.view);
    if (!j.ok && j.error && j.error !== "wrong_step") flash("error", j.message || errText(j.error));
    return j;
  }

  const act = (body) => post("/api/v1/flow", body);
  const input = (fields) => act(Object.assign({ action: "input", step: view.step }, fields));

  function alive() {
    const now = Date.now();
    if (now - lastAlive > 5000) {
      lastAlive = now;
      act({ action: "alive" }).then(() => {});
      if (view && view.timeout_s) deadline = now + view.timeout_s * 1000;
    }
  }

  function listen() {
    const es = new EventSource("/api/v1/events");
    es.addEventListener("view", (e) => show(JSON.parse(e.data)));
    es.addEventListener("banner", (e) => { banner = JSON.parse(e.data); drawBanner(); });
    es.addEventListener("help", () => flash("info", tr("help_called"), 8000));
    es.onerror = () => { /* the browser reconnects by itself (retry: 1 s) */ };
  }

  // ---- voice: a clip for every screen (tools/voice.mjs, at build time) ---
  function voiceKey(v) {
    if (!v) return "";
    const d = v.data || {};
    if (v.error && v.error.code) return "err_" + v.error.code;
    if (v.step === "identify" || v.step === "agent") return v.step + (d.idcard && d.idcard !== "off" ? "_idcard" : "");
    if (v.step === "pin" && d.purpose === "initial") return "pin_initial";
    if (v.step === "busy") return "busy_" + (d.what || "wait");
    if (v.step === "home" && d.pin_reset) return "home_pin_reset";
    if (v.step === "pin_op" && d.blocked !== true) return "pin_op_unknown";
    return v.step;
  }

  function speak(always) {
    const key = voiceKey(view);
    if (!clips || !view) return;
    const file = (clips[lang] || {})[key];
    if (!file) { if (!voiceLog.missing.includes(lang + ":" + key)) voiceLog.missing.push(lang + ":" + key); return; }
    if (!voiceOn && !always) return;
    voiceLog.key = key;
    voiceLog.src = "voice/" + file;
    audio.pause();
    audio.src = voiceLog.src;
    audio.play().catch(() => { /* no sound device, or no touch yet: the screen says it all */ });
  }

  function drawVoice() {
    $("#voice").textContent = voiceOn ? tr("voice_on") : tr("voice_off");
    $("#voice").setAttribute("aria-pressed", String(voiceOn));
    $("#replay").replaceChildren(icon("speaker"), " " + tr("replay"));
    $("#replay").hidden = !clips;
  }

  // ---- chrome: language, size, help, banner, countdown, overlays ---------
  function chrome() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.title = tr("title");
    $("#title").textContent = tr("title");
    $("#lang").textContent = tr("lang");
    $("#lang").setAttribute("lang", lang === "zh" ? "en" : "zh-CN");
    document.body.classList.toggle("large", large);
    $("#size").textContent = large ? tr("size_on") : tr("size_off");
    $("#size").setAttribute("aria-pressed", String(large));
    $("#help").textContent = tr("help");
    drawVoice();
    drawBanner();
  }

  function drawBanner() {
    const b = $("#banner");
    b.textContent = "";
    if (banner.list_stale) b.append(el("p", { text: tr(banner.clock_wrong ? "banner_clock" : "banner_stale") }));
    if (banner.offline) b.append(el("p", { text: tr("banner_offline") }));
  }

  function tick() {
    const c = $("#countdown");
    if (!view || !view.timeout_s || view.step === "busy" || view.step === "error") {
      c.textContent = "";
      return;
    }
    const left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    const pct = Math.min(100, (100 * left) / view.timeout_s);
    c.textContent = "";
    c.append(el("span", { text: tr("seconds_left", left) }),
      el("div", { class: "bar", "aria-hidden": "true" }, el("span", { style: `width:${pct}%` })));
  }

  function flash(kind, text, ms) {
    const o = $("#overlay");
    const box = o.querySelector(".overlay-box");
    box.className = "overlay-box " + kind;
    $("#overlay-text").replaceChildren(kindIcon(kind), " " + text);
    o.hidden = false;
    clearTimeout(overlayTimer);
    overlayTimer = setTimeout(() => { o.hidden = true; }, ms || (kind === "ok" ? 2000 : 5000));
  }
  $("#overlay").addEventListener("click", () => { $("#overlay").hidden = true; });

  // A scanner in keyboard mode types the code and Enter faster than any
  // person (a few ms a key): on an identify screen such a run is a scanned
  // code, handed to the daemon (which resolves it) and taken back out of
  // whatever field had the focus. The code is kept nowhere else. Judged on
  // the run's average (a busy browser may hold a key back a moment; a
  // person types a key every 80 ms or slower): at least SCAN_MIN keys, on
  // average under SCAN_AVG_MS apart, no pause over SCAN_GAP_MS, then Enter.
  const SCAN_AVG_MS = 50, SCAN_GAP_MS = 400, SCAN_MIN = 16;
  let burst = { keys: "", start: 0, last: 0, field: null, before: "" };
  document.addEventListener("keydown", (e) => {
    if (!view || view.step !== "identify") return;
    const now = performance.now();
    if (e.key === "Enter") {
      const scanned = burst.keys.length >= SCAN_MIN && now - burst.last < SCAN_GAP_MS &&
        (now - burst.start) / burst.keys.length < SCAN_AVG_MS;
      if (scanned) {
        e.preventDefault();
        if (burst.field) burst.field.value = burst.before;
        const code = burst.keys;
        burst = { keys: "", start: 0, last: 0, field: null, before: "" };
        input({ ecode: code }).then(() => {});
        return;
      }
      burst.keys = "";
      return;
    }
    if (e.key.length !== 1) { burst.keys = ""; return; }
    if (now - burst.last > SCAN_GAP_MS || !burst.keys) {
      const f = document.activeElement && document.activeElement.tagName === "INPUT" ? document.activeElement : null;
      burst = { keys: "", start: now, last: now, field: f, before: f ? f.value : "" };
    }
    burst.keys += e.key;
    burst.last = now;
  }, true);

  $("#lang").addEventListener("click", () => {
    lang = lang === "zh" ? "en" : "zh";
    sessionStorage.setItem("lang", lang);
    chrome();
    redraw();
    speak();
  });
  $("#size").addEventListener("click", () => {
    large = !large;
    sessionStorage.setItem("large", large ? "1" : "");
    if (sessionStorage.getItem("voice") === null) voiceOn = large; // follows elderly mode until chosen
    chrome();
  });
  $("#voice").addEventListener("click", () => {
    voiceOn = !voiceOn;
    sessionStorage.setItem("voice", voiceOn ? "1" : "");
    if (voiceOn) speak(); else audio.pause();
    chrome();
  });
  $("#replay").addEventListener("click", () => speak(true));
  $("#help").addEventListener("click", () => {
    post("/api/v1/help", {}).then(() => {});
    flash("info", tr("help_called"), 8000);
  });

  // ---- widgets -----------------------------------------------------------
  function message(kind, text, extra) {
    return el("div", { class: "msg " + kind, role: kind === "error" ? "alert" : "status" },
      el("span", { class: "icon", "aria-hidden": "true" }, kindIcon(kind)),
      el("div", {}, el("p", { style: "margin:0", text }), extra || null));
  }

  function inlineError() {
    if (!view.error) return null;
    const e = view.error;
    const extra = e.tries_left !== undefined ? el("p", { style: "margin:0", class: "tries", text: tr("tries_left", e.tries_left) }) : null;
    return message("error", errText(e.code), extra);
  }

  // A field typed on the on-screen keypad. opts: {id, label, max, secret, x}
  function keypadField(opts) {
    let value = "";
    const shown = el("output", { class: "display", id: opts.id, "aria-label": opts.label, "data-value": "" });
    const draw = () => {
      shown.textContent = opts.secret ? "●".repeat(value.length) : value;
      shown.setAttribute("data-value", opts.secret ? String(value.length) : value);
    };
    const press = (k) => {
      alive();
      if (k === "del") value = value.slice(0, -1);
      else if (k === "clear") value = "";
      else if (value.length < opts.max) value += k;
      draw();
    };
    const keys = ["1", "2", "3", "4", "5", "6", "7", "8", "9", opts.x ? "X" : "clear", "0", "del"];
    const pad = el("div", { class: "keypad", role: "group", "aria-label": opts.label },
      keys.map((k) => el("button", {
        type: "button", class: k.length > 1 ? "wide" : "", "data-key": k,
        "aria-label": k === "del" ? tr("del") : k === "clear" ? tr("clear") : k,
        onclick: () => press(k),
      }, k === "del" ? [icon("backspace"), " " + tr("del")] : k === "clear" ? tr("clear") : k)));
    draw();
    return {
      node: el("div", { class: "field kp" }, el("label", { for: opts.id, text: opts.label }), shown,
        opts.below ? el("div", { class: "below" }, opts.below) : null, pad),
      get value() { return value; },
      wipe() { value = ""; draw(); },
    };
  }

  function actions(...buttons) {
    return el("div", { class: "actions" }, buttons,
      el("button", { type: "button", id: "cancel", onclick: () => act({ action: "cancel" }), text: tr("cancel") }));
  }

  function facts(pairs) {
    return el("dl", { class: "facts" }, pairs.filter((p) => p[1] !== undefined && p[1] !== null && p[1] !== "")
      .flatMap(([k, v]) => [el("dt", { text: tr(k) }), el("dd", { text: v })]));
  }

  const stateText = (s) => T().card_state[s] || s;
  const money = (fen) => tr("fee", fen);

  // ---- screens -----------------------------------------------------------
  const screens = {
    home(d) {
      const flows = ["loss_report", "loss_cancel", "replacement", "activation", "pin_change", "status", "pin_reset"];
      // a terminal without a PSAM or the HSM says so on the tile itself
      const off = (f) => f === "pin_reset" && !d.pin_reset;
      return [el("h2", { text: tr("home_title") }), inlineError(),
        el("div", { class: "home" }, flows.map((f) => el("button", {
          type: "button", class: off(f) ? "" : "primary", id: "start-" + f, disabled: off(f),
          onclick: () => act({ action: "start", flow: f }),
        }, icon(f), el("span", { class: "label" }, tr("f_" + f),
          el("small", { text: tr(off(f) ? "f_" + f + "_off" : "f_" + f + "_sub") })))))];
    },
    pin_op(d) {
      return [el("h2", { text: tr(d.blocked === true ? "pin_op_title" : "pin_op_title_unknown") }), facts([["k_card", d.card]]), inlineError(),
        el("div", { class: "choices" },
          el("button", { type: "button", class: "primary", id: "op-unblock", onclick: () => input({ op: "unblock" }) },
            tr("pin_op_unblock"), el("small", { style: "display:block", text: tr("pin_op_unblock_sub") })),
          el("button", { type: "button", class: "primary", id: "op-reload", onclick: () => input({ op: "reload" }) },
            tr("pin_op_reload"), el("small", { style: "display:block", text: tr("pin_op_reload_sub") }))),
        actions()];
    },
    insert_card() {
      return [el("h2", { text: tr("insert_title") }), inlineError(), message("info", tr("insert_hint")), actions()];
    },
    busy(d) {
      return [el("h2", { text: tr("busy_" + (d.what || "wait")), "aria-busy": "true" })];
    },
    identify(d, agent) {
      const name = el("input", { class: "display", id: "name", type: "text", autocomplete: "off", maxlength: "30", oninput: alive });
      const ssn = keypadField({ id: "ssn", label: tr("ssn"), max: 18, x: true,
        below: el("div", { class: "field" }, el("label", { for: "name", text: tr("name") }), name,
          el("p", { style: "margin:0", text: tr("name_hint") })) });
      const reader = d.idcard && d.idcard !== "off";
      // the phone's e-voucher: a third way, beside the ID card, before typing
      const scan = !agent && d.scanner === "ready" ? message("info", tr("scan_hint")) : null;
      const head = reader
        ? [el("h2", { text: tr(agent ? "idcard_agent_title" : "idcard_title") }), inlineError(),
          d.idcard === "ready"
            ? el("div", { class: "idcard", id: "idcard-prompt" },
              el("span", { class: "idcard-icon", "aria-hidden": "true" }), el("p", { text: tr("idcard_hint") }))
            : message("info", tr("idcard_down")),
          scan, el("h3", { text: tr("or_type") })]
        : [el("h2", { text: tr(agent ? "agent_title" : "identify_title") }), inlineError(), scan];
      return [...head, ssn.node,
        actions(el("button", { type: "button", class: "primary", id: "next", text: tr("next"),
          onclick: () => { const v = ssn.value; ssn.wipe(); input({ ssn: v, name: name.value.trim() }); } }))];
    },
    agent(d) { return screens.identify(d, true); },
    otp(d) {
      const code = keypadField({ id: "code", label: tr("otp"), max: 6 });
      return [el("h2", { text: tr("otp_title") }), el("p", { text: tr("otp_sent", d.sent_to || "") }), inlineError(), code.node,
        actions(el("button", { type: "button", class: "primary", id: "next", text: tr("next"),
          onclick: () => { const v = code.value; code.wipe(); input({ code: v }); } }))];
    },
    choose_card(d) {
      return [el("h2", { text: tr("choose_title") }), inlineError(),
        el("div", { class: "choices" }, (d.cards || []).map((c) => el("button", {
          type: "button", class: c.selectable ? "primary" : "", id: "card-" + c.index,
          disabled: !c.selectable, onclick: () => input({ index: c.index }),
          text: `${c.card} · ${stateText(c.state)}${c.selectable ? "" : " " + tr("not_selectable")}`,
        }))), actions()];
    },
    loss_type(d) {
      return [el("h2", { text: tr("loss_type_title") }), facts([["k_card", d.card]]), inlineError(),
        el("div", { class: "choices" },
          el("button", { type: "button", class: "primary", id: "loss-temporary", onclick: () => input({ loss: "temporary" }) },
            tr("loss_temporary"), el("small", { style: "display:block", text: tr("loss_temporary_sub", d.temporary_days) })),
          el("button", { type: "button", class: "primary", id: "loss-formal", onclick: () => input({ loss: "formal" }) },
            tr("loss_formal"), el("small", { style: "display:block", text: tr(d.by_idcard ? "loss_formal_sub_idcard" : d.by_ecode ? "loss_formal_sub_ecode" : "loss_formal_sub") }))),
        actions()];
    },
    replace_menu() {
      return [el("h2", { text: tr("replace_menu_title") }), el("div", { class: "choices" },
        el("button", { type: "button", class: "primary", id: "replace-apply", onclick: () => input({ what: "apply" }), text: tr("replace_apply") }),
        el("button", { type: "button", class: "primary", id: "replace-progress", onclick: () => input({ what: "progress" }), text: tr("replace_progress") })),
      actions()];
    },
    reason(d) {
      return [el("h2", { text: tr("reason_title") }), facts([["k_card", d.card]]), el("div", { class: "choices" },
        el("button", { type: "button", class: "primary", id: "reason-damaged", onclick: () => input({ reason: "damaged" }), text: tr("reason_damaged") }),
        el("button", { type: "button", class: "primary", id: "reason-lost", onclick: () => input({ reason: "lost" }), text: tr("reason_lost") })),
      actions()];
    },
    outlet(d) {
      const box = el("input", { type: "checkbox", id: "delegated", style: "width:40px;height:40px" });
      return [el("h2", { text: tr("outlet_title") }), el("p", { text: money(d.fee_fen) + "；" + tr("days", d.days) }), inlineError(),
        el("div", { class: "field" }, el("label", { style: "display:flex;gap:0.6em;align-items:center;min-height:var(--target)" }, box, tr("delegated"))),
        el("div", { class: "choices" }, (d.outlets || []).map((o, i) => el("button", {
          type: "button", class: "primary", id: "outlet-" + i, text: o,
          onclick: () => input({ outlet: i, delegated: box.checked }),
        }))), actions()];
    },
    confirm(d) {
      const kind = view.flow;
      return [el("h2", { text: tr("confirm_title") }), inlineError(), facts([
        ["k_action", T().action[kind]], ["k_card", d.card], ["k_name", d.name],
        ["k_loss", d.loss && T().loss[d.loss]], ["k_outlet", d.outlet],
        ["k_fee", d.fee_fen !== undefined ? money(d.fee_fen) : undefined],
        ["k_ready", d.ready_date], ["k_agent", d.agent]]),
        actions(el("button", { type: "button", class: "primary", id: "confirm", text: tr("confirm"),
          onclick: () => input({ confirm: true }) }))];
    },
    pin(d) {
      const p = keypadField({ id: "pin", label: tr("pin"), max: d.max || 6, secret: true });
      const initial = d.purpose === "initial";
      return [el("h2", { text: tr(initial ? "pin_title_initial" : "pin_title_current") }),
        initial ? el("p", { text: tr("pin_hint_initial") }) : null, inlineError(), p.node,
        el("p", { text: tr("pin_note") }),
        actions(el("button", { type: "button", class: "primary", id: "next", text: tr("next"),
          onclick: () => { const v = p.value; p.wipe(); input({ pin: v }); } }))];
    },
    new_pin(d, again) {
      const p = keypadField({ id: "pin", label: tr("pin"), max: d.max || 6, secret: true });
      return [el("h2", { text: tr(again ? "new_pin_again_title" : "new_pin_title") }),
        el("p", { text: tr("new_pin_hint", d.max || 6) }), inlineError(), p.node,
        actions(el("button", { type: "button", class: "primary", id: "next", text: tr("next"),
          onclick: () => { const v = p.value; p.wipe(); input({ pin: v }); } }))];
    },
    new_pin_again(d) { return screens.new_pin(d, true); },
    pay(d) {
      // the QR code the daemon drew (libqrencode): parsed as SVG, never as HTML
      const svg = new DOMParser().parseFromString(d.qr || "", "image/svg+xml").documentElement;
      const qr = el("div", { class: "qr", id: "pay-qr", role: "img", "aria-label": tr("pay_qr") });
      if (svg && svg.nodeName === "svg") qr.append(document.importNode(svg, true));
      return [el("h2", { text: tr("pay_title") }), inlineError(),
        el("p", { class: "amount", id: "pay-amount", text: tr("pay_amount", d.fee_fen) }),
        message("info", tr("pay_hint")), qr, facts([["k_order", d.order]]), actions()];
    },
    receipt(d) {
      const t = d.type;
      const next = t === "loss_report" ? tr("next_loss", d.temporary_days, d.loss === "temporary")
        : t === "loss_cancel" ? tr("next_cancel") : t === "replacement" ? tr("next_replacement")
        : t === "activation" ? tr("next_activation")
        : t === "pin_reset" ? tr(d.pin_op === "unblock" ? "next_pin_reset_unblock" : "next_pin_reset_reload") : tr("next_pin");
      const del = d.delivery;
      // a printer that cannot print: no button, and a plain way on
      const noPaper = d.printer_state && !["none", "ready", "unknown"].includes(d.printer_state);
      return [el("h2", { text: tr("receipt_title") }), d.holder_hidden ? message("info", tr("holder_hidden")) : null,
        el("section", { class: "receipt", id: "receipt", "aria-label": tr("receipt_title") },
          facts([["k_ref", d.reference], ["k_time", d.time], ["k_action", T().action[t]], ["k_card", d.card],
            ["k_name", d.name], ["k_loss", d.loss && T().loss[d.loss]], ["k_outlet", d.outlet],
            ["k_ready", d.ready_date], ["k_fee", d.fee_fen !== undefined ? money(d.fee_fen) : undefined],
            ["k_paid", d.paid_fen !== undefined ? tr("pay_amount", d.paid_fen).replace(/^[^¥]*/, "¥") : undefined],
            ["k_order", d.order]]),
          message(del === "refused" ? "error" : del === "delivered" ? "ok" : "info", T().delivery[del], null),
          el("ul", { class: "next" }, next.map((s) => el("li", { text: s })))),
        view.card_present ? message("info", tr("take_card_hint")) : null,
        noPaper ? message("error", tr(d.printer_state === "out_of_paper" ? "printer_no_paper" : "printer_down")) : null,
        el("div", { class: "actions" },
          noPaper ? null : d.printer ? el("button", { type: "button", id: "print", text: tr("print"),
            onclick: () => post("/api/v1/print", {}).then((j) => { if (j && j.ok) flash("info", tr("printed")); }) })
            : el("button", { type: "button", id: "print", text: tr("print"), onclick: () => window.print() }),
          el("button", { type: "button", class: "primary", id: "done", text: tr("done"), onclick: () => act({ action: "done" }) }))];
    },
    status(d) {
      const l = d.list || {};
      const listText = l.clock_wrong && l.stale ? tr("list_clock_short")
        : l.version ? (l.stale ? tr("list_stale_short") : tr("list_fresh", l.version, l.age_s || 0)) : tr("list_stale_short");
      return [el("h2", { text: tr("status_title") }), d.offline ? message("info", tr("offline_note")) : null,
        d.holder_hidden ? message("info", tr("holder_hidden")) : null,
        facts([["k_card", d.card], ["k_name", d.name], ["k_state", stateText(d.state)],
          ["k_expiry", d.expiry_date ? d.expiry_date + (d.expired ? " " + tr("expired") : "") : undefined],
          ["k_list", listText]]),
        el("div", { class: "actions" }, el("button", { type: "button", class: "primary", id: "done", text: tr("done"), onclick: () => act({ action: "done" }) }))];
    },
    progress(d) {
      const r = d.replacement;
      return [el("h2", { text: tr("progress_title") }), facts([["k_card", d.card], ["k_state", stateText(d.state)]]),
        r ? facts([["k_new_card", r.new_card], ["k_outlet", r.outlet], ["k_ready", r.ready_date], ["k_progress", r.progress]])
          : message("info", tr("no_replacement")),
        el("div", { class: "actions" }, el("button", { type: "button", class: "primary", id: "done", text: tr("done"), onclick: () => act({ action: "done" }) }))];
    },
    error(d) {
      const e = view.error || { code: "internal" };
      // the next step this terminal can take now (unlock a blocked PIN, a new card)
      const offer = d.offer ? el("button", { type: "button", class: "primary", id: "offer", text: tr("offer_" + d.offer),
        onclick: () => act({ action: "start", flow: d.offer }) }) : null;
      return [el("h2", { text: tr(offer ? "error_title_offer" : "error_title") }), message("error", errText(e.code)),
        el("div", { class: "actions" }, offer,
          el("button", { type: "button", class: offer ? "" : "primary", id: "done", text: tr("back_home"), onclick: () => act({ action: "done" }) }))];
    },
    take_card() {
      return [el("h2", { text: tr("take_card"), id: "take-card" }), message("info", tr("take_card_hint"))];
    },
  };

  function redraw() {
    if (!view) return;
    const f = screens[view.step] || screens.busy;
    screen.textContent = "";
    screen.setAttribute("data-step", view.step);
    screen.setAttribute("data-flow", view.flow);
    screen.append(...[f(view.data || {})].flat().filter(Boolean));
    tick();
  }

  function show(v) {
    // answers can cross: an older view (a late POST reply) never replaces a newer one
    if (!v || (view && v.seq <= view.seq)) return;
    const prev = view;
    view = v;
    deadline = Date.now() + (v.remaining_ms || 0);
    if (v.seq === shownSeq) return;
    shownSeq = v.seq;
    redraw();
    if (v.step === "receipt" && (!prev || prev.step !== "receipt")) flash("ok", tr("success"));
    else if (prev && prev.step !== v.step && (v.step === "error")) flash("error", errText(v.error.code));
    const h = screen.querySelector("h2");
    if (h && (!prev || prev.step !== v.step)) { screen.focus({ preventScroll: true }); }
    const said = voiceKey(v);
    if (said !== spoken) { spoken = said; speak(); }
  }

  setInterval(tick, 500);
  (async function boot() {
    lang = sessionStorage.getItem("lang") || "zh";
    large = sessionStorage.getItem("large") !== null ? sessionStorage.getItem("large") === "1" : true;
    try {
      await session();
    } catch (e) { setTimeout(boot, 2000); return; }
    voiceOn = sessionStorage.getItem("voice") !== null ? sessionStorage.getItem("voice") === "1" : large;
    clips = await fetch("voice/clips.json", { cache: "no-store" }).then((x) => (x.ok ? x.json() : null)).catch(() => null);
    chrome();
    const r = await fetch("/api/v1/state", { cache: "no-store" }).then((x) => x.json()).catch(() => null);
    if (r) { banner = r.banner || {}; drawBanner(); show(r.view); }
    listen();
  })();
  window.sscardKiosk = { get view() { return view; }, voice: voiceLog, voiceKey: () => voiceKey(view) };
})();
