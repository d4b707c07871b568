// ctguard triage page. Served by the API at /ui/app.js under a strict Content-Security-Policy:
// no inline code, no HTML parsing of data; everything from the API is shown through textContent.
"use strict";

(() => {
  const TOKEN_KEY = "ctguard.token";
  const PAGE_SIZE = 50;
  // An entry that has not caught up for longer than this is shown as stale (MaxEntryLagHours).
  const STALE_SECONDS = 6 * 3600;
  // A canary silent for longer than this is a blind monitor (CANARY_WINDOW).
  const CANARY_WINDOW_SECONDS = 36 * 3600;
  const HEX64 = /^[0-9a-f]{64}$/;

  const $ = (id) => document.getElementById(id);
  const state = { cursor: null, severity: "", domain: "", loading: false };

  // ------------------------------------------------------------------ DOM helpers

  // Builds an element; strings become text nodes, never markup.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function say(text, isError) {
    const message = $("message");
    message.textContent = text;
    message.classList.toggle("error", Boolean(isError));
  }

  function when(iso) {
    if (!iso) return "never";
    const t = Date.parse(iso);
    if (Number.isNaN(t)) return String(iso);
    return new Date(t).toISOString().slice(0, 16).replace("T", " ") + " UTC (" + ago(t) + ")";
  }

  function day(iso) {
    const t = Date.parse(iso);
    return Number.isNaN(t) ? "?" : new Date(t).toISOString().slice(0, 10);
  }

  function ago(t) {
    const s = Math.round((Date.now() - t) / 1000);
    const future = s < 0;
    const a = Math.abs(s);
    const text = a < 90 ? a + " s" : a < 5400 ? Math.round(a / 60) + " min" :
      a < 172800 ? Math.round(a / 3600) + " h" : Math.round(a / 86400) + " d";
    return future ? "in " + text : text + " ago";
  }

  function duration(seconds) {
    return ago(Date.now() - seconds * 1000).replace(" ago", "");
  }

  // ------------------------------------------------------------------ API

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(method, path, body) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) throw new ApiError(0, "no_token", "Paste an admin token to start.");
    const init = {
      method,
      headers: { Authorization: "Bearer " + token },
      cache: "no-store",
      credentials: "omit",
      redirect: "error",
    };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, "network", "The API could not be reached (" + e.message + ").");
    }
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const error = (data && data.error) || {};
      if (response.status === 401) {
        sessionStorage.removeItem(TOKEN_KEY);
        showToken();
      }
      throw new ApiError(response.status, error.code || "http_" + response.status,
        (error.message || response.statusText || "request failed") + " (HTTP " + response.status + ")");
    }
    return data;
  }

  // ------------------------------------------------------------------ token

  function showToken() {
    const has = Boolean(sessionStorage.getItem(TOKEN_KEY));
    $("token").value = "";
    $("token").placeholder = has ? "token set for this tab" : "paste a token";
    $("token-forget").hidden = !has;
  }

  function saveToken(event) {
    event.preventDefault();
    const token = $("token").value.trim();
    // A bearer token is printable ASCII; anything else cannot go in a header.
    if (!/^[\x21-\x7e]{1,4096}$/.test(token)) {
      say("A token is printable ASCII without spaces.", true);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    showToken();
    refresh();
  }

  function forgetToken() {
    sessionStorage.removeItem(TOKEN_KEY);
    showToken();
    $("alerts").replaceChildren();
    $("domains").tBodies[0].replaceChildren();
    $("warnings").replaceChildren();
    $("alerts-more").hidden = true;
    say("Token forgotten.");
  }

  // ------------------------------------------------------------------ alerts

  function reasons(alert) {
    // The alert's own reasons first (code: detail), then what its state says.
    const out = (Array.isArray(alert.reasons) ? alert.reasons : [])
      .filter((r) => r && typeof r.code === "string")
      .map((r) => r.code + (typeof r.detail === "string" && r.detail ? ": " + r.detail : ""));
    if (alert.severity === "suspicious" || alert.severity === "critical") {
      out.push("No pushed certificate or authorized key has its TBS or public-key hash: nobody deployed it.");
    } else if (alert.severity === "pending") {
      out.push("Not pushed yet; grace period until " + when(alert.grace_until) + ".");
    } else if (alert.severity === "info") {
      out.push(alert.authorized_by === "pubkey_sha256"
        ? "Authorized: its public key is in the inventory."
        : "Authorized: this certificate (TBS hash) was pushed.");
    }
    if (alert.baseline) out.push("Found by the first poll of the domain (baseline).");
    if (alert.revoked) out.push("Revoked by its CA.");
    if (alert.reduced) out.push("Reduced alert: " + alert.reduced);
    if (alert.names_truncated) out.push("Only some of its " + (alert.names_total || "many") + " names are stored.");
    return out;
  }

  function matchedList(alert) {
    const matched = Array.isArray(alert.matched) ? alert.matched : [];
    if (matched.length === 0) return ["(none recorded)"];
    return el("ul", { class: "reasons" }, matched.map((m) =>
      el("li", {}, el("strong", {}, m.entry || "?"), ": ", (m.names || []).join(", "))));
  }

  function crtShLink(alert) {
    const hash = String(alert.cert_sha256 || "");
    if (!HEX64.test(hash)) return "(no certificate hash)";
    return el("a", {
      href: "https://crt.sh/?sha256=" + hash,
      target: "_blank",
      rel: "noopener noreferrer",
      class: "crtsh",
    }, "crt.sh");
  }

  function ackPart(alert) {
    if (alert.ack) {
      const note = alert.ack.note ? ": " + alert.ack.note : "";
      return el("p", { class: "acked-by" },
        "Acknowledged by " + alert.ack.by + " " + when(alert.ack.at) + note);
    }
    const tbs = String(alert.tbs_sha256);
    const id = "note-" + tbs;
    const form = el("form", { class: "ack-form", "data-tbs": tbs },
      el("label", { for: id }, "Note"),
      el("input", { id, name: "note", type: "text", maxlength: "1000", placeholder: "what you found" }),
      el("button", { type: "submit", class: "ack" }, "Acknowledge"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      acknowledge(form, tbs, form.elements.note.value);
    });
    return form;
  }

  function alertCard(alert) {
    const severity = ["info", "pending", "suspicious", "critical"].includes(alert.severity) ? alert.severity : "unknown";
    const names = Array.isArray(alert.dns_names) ? alert.dns_names : [];
    const issuer = alert.issuer || {};
    const title = names[0] || alert.tbs_sha256;
    return el("li", {
      class: "alert sev-" + severity + (alert.ack ? " acked" : ""),
      "data-tbs": alert.tbs_sha256,
      "data-severity": severity,
    },
    el("article", { "aria-label": severity + " alert for " + title },
      el("h3", {},
        el("span", { class: "badge sev-" + severity }, severity),
        el("span", { class: "name" }, title),
        el("span", { class: "time" }, "first seen " + when(alert.first_seen_at))),
      el("dl", {},
        el("dt", {}, "Why"), el("dd", {}, el("ul", { class: "reasons" }, reasons(alert).map((r) => el("li", {}, r)))),
        el("dt", {}, "Matched"), el("dd", { class: "matched" }, matchedList(alert)),
        el("dt", {}, "Names"), el("dd", { class: "names" }, names.join(", ")),
        el("dt", {}, "Issuer"), el("dd", { class: "issuer" }, issuer.friendly_name || issuer.name || "unknown"),
        el("dt", {}, "Valid"), el("dd", {}, day(alert.not_before) + " to " + day(alert.not_after)),
        el("dt", {}, "TBS SHA-256"), el("dd", { class: "mono" }, alert.tbs_sha256),
        el("dt", {}, "Certificate"), el("dd", {}, crtShLink(alert))),
      ackPart(alert)));
  }

  async function acknowledge(form, tbs, note) {
    if (!HEX64.test(tbs)) return;
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const body = note.trim() ? { note: note.trim() } : {};
      const alert = await api("POST", "/alerts/" + tbs + "/ack", body);
      const card = form.closest("li.alert");
      if (card) card.replaceWith(alertCard(alert));
      say("Acknowledged.");
    } catch (e) {
      button.disabled = false;
      say(e.message, true);
    }
  }

  async function loadAlerts(reset) {
    if (state.loading) return;
    state.loading = true;
    if (reset) state.cursor = null;
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (state.severity) query.set("severity", state.severity);
    if (state.domain) query.set("domain", state.domain);
    if (state.cursor) query.set("cursor", state.cursor);
    try {
      say("Loading alerts…");
      const page = await api("GET", "/alerts?" + query.toString());
      const list = $("alerts");
      if (reset) list.replaceChildren();
      for (const alert of page.items || []) list.append(alertCard(alert));
      state.cursor = page.next_cursor || null;
      $("alerts-more").hidden = !state.cursor;
      const shown = list.children.length;
      say(shown === 0 ? "No alerts." : shown + (shown === 1 ? " alert" : " alerts") + " shown.");
    } catch (e) {
      say(e.message, true);
    } finally {
      state.loading = false;
    }
  }

  function applyFilters(event) {
    event.preventDefault();
    state.severity = $("filter-severity").value;
    state.domain = $("filter-domain").value.trim();
    loadAlerts(true);
  }

  // ------------------------------------------------------------------ domains

  function entryState(d, now) {
    if (d.stuck) return ["stuck", "stuck since " + when(d.stuck_since) + " (" + d.stalled_runs + " polls without progress)"];
    if (d.rate_limited_until && Date.parse(d.rate_limited_until) > now) return ["rate-limited", "rate limited until " + when(d.rate_limited_until)];
    if (d.last_poll_succeeded === false) return ["error", "last poll failed"];
    if (!d.last_caught_up_at) return ["never", "never caught up"];
    if ((now - Date.parse(d.last_caught_up_at)) / 1000 > STALE_SECONDS) return ["stale", "stale"];
    return ["ok", d.canary ? "ok (canary)" : "ok"];
  }

  function warnings(status) {
    const out = [];
    if (!status.last_poll_succeeded) out.push("Not every entry's latest poll caught up without error.");
    for (const entry of status.stuck_entries || []) out.push("Stuck: " + entry + " (new certificates for it may not be seen).");
    const pending = status.pending_alerts || {};
    if (pending.count > 0) out.push((pending.capped ? "At least " : "") + pending.count + " alert(s) pending (grace period).");
    const deliveries = status.deliveries || {};
    if (deliveries.failed && deliveries.failed.count > 0) {
      out.push(deliveries.failed.count + " delivery(ies) failed in the last " + deliveries.failed_window_days + " days.");
    }
    if (deliveries.queued && deliveries.queued.count > 0) out.push(deliveries.queued.count + " delivery(ies) queued.");
    const coverage = status.coverage;
    if (coverage && coverage.max_lag_seconds > STALE_SECONDS) {
      out.push("Coverage: " + coverage.oldest_entry + " last caught up " + when(coverage.oldest_caught_up_at) + ".");
    }
    for (const canary of status.canaries || []) {
      if (canary.silent_seconds > CANARY_WINDOW_SECONDS) {
        out.push("Canary " + canary.value + " silent for " + duration(canary.silent_seconds) + ": the monitor may be blind.");
      }
    }
    for (const label of status.unscoped_push_tokens || []) out.push("Push token without a name scope: " + label + ".");
    const keys = status.unscoped_keys;
    if (keys && keys.count > 0) {
      out.push(keys.count + (keys.capped ? "+" : "") + " authorized key(s) without names (they authorize any name): give them dns_names.");
    }
    return out;
  }

  async function loadDomains() {
    try {
      say("Loading domains…");
      const [domains, status] = await Promise.all([api("GET", "/domains"), api("GET", "/status")]);
      const now = Date.now();
      const rows = (domains.items || []).map((d) => {
        const [kind, text] = entryState(d, now);
        return el("tr", { "data-domain": d.value, "data-state": kind },
          el("th", { scope: "row" }, d.value, d.canary ? " (canary)" : ""),
          el("td", { class: "state-" + kind }, text),
          el("td", {}, when(d.last_caught_up_at)),
          el("td", {}, when(d.last_polled_at)),
          el("td", {}, d.last_error || ""));
      });
      $("domains").tBodies[0].replaceChildren(...rows);
      const list = warnings(status);
      $("warnings").replaceChildren(...(list.length
        ? list.map((w) => el("li", {}, w))
        : [el("li", { class: "ok" }, "No warnings: every entry caught up, nothing pending or failed.")]));
      say(rows.length + (rows.length === 1 ? " domain." : " domains."));
    } catch (e) {
      say(e.message, true);
    }
  }

  // ------------------------------------------------------------------ views

  function currentView() {
    return location.hash === "#domains" ? "domains" : "alerts";
  }

  function showView() {
    const view = currentView();
    for (const name of ["alerts", "domains"]) {
      $("view-" + name).hidden = name !== view;
      $("tab-" + name).setAttribute("aria-pressed", String(name === view));
    }
  }

  function refresh() {
    if (!sessionStorage.getItem(TOKEN_KEY)) {
      say("Paste an admin token to start.");
      return;
    }
    if (currentView() === "domains") loadDomains();
    else loadAlerts(true);
  }

  function start() {
    $("token-form").addEventListener("submit", saveToken);
    $("token-forget").addEventListener("click", forgetToken);
    $("alert-filters").addEventListener("submit", applyFilters);
    $("alerts-more").addEventListener("click", () => loadAlerts(false));
    $("domains-refresh").addEventListener("click", loadDomains);
    $("tab-alerts").addEventListener("click", () => { location.hash = "#alerts"; });
    $("tab-domains").addEventListener("click", () => { location.hash = "#domains"; });
    window.addEventListener("hashchange", () => { showView(); refresh(); });
    showToken();
    showView();
    refresh();
  }

  start();
})();
