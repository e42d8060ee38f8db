// HallMonitor dashboard: live updates over server-sent events (/events).
// Loaded with "defer" from every signed-in page; no inline scripts (CSP default-src 'self').
(function () {
  "use strict";

  var body = document.body;
  var status = document.getElementById("live-status");
  var page = body.getAttribute("data-page");

  function setLive(state, text) {
    body.setAttribute("data-live", state);
    if (status) { status.textContent = text; }
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function fmtTime(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) { return ""; }
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }

  function setText(row, field, text) {
    var el = row.querySelector('[data-f="' + field + '"]');
    if (el) { el.textContent = text; }
    return el;
  }

  // buildRow fills a clone of the server-rendered prototype row with alert a.
  function buildRow(a) {
    var tpl = document.getElementById("alert-row-template");
    if (!tpl) { return null; }
    var row = tpl.content.firstElementChild.cloneNode(true);
    var id = a.id;
    row.id = "alert-" + id;
    row.setAttribute("data-id", id);
    row.setAttribute("data-state", a.state);
    row.className = "sev-" + a.severity + " state-" + a.state + " fresh";
    row.querySelectorAll("[id],[for],form,a").forEach(function (el) {
      ["id", "for", "action", "href"].forEach(function (attr) {
        var v = el.getAttribute(attr);
        if (v) { el.setAttribute(attr, v.split("__ID__").join(id)); }
      });
    });
    var opened = row.querySelector('[data-f="opened"]');
    opened.textContent = "";
    var t = document.createElement("time");
    t.setAttribute("datetime", a.opened_at);
    t.textContent = fmtTime(a.opened_at);
    opened.appendChild(t);
    if (a.closed_at) {
      var c = document.createElement("span");
      c.className = "closed";
      c.textContent = " – left " + fmtTime(a.closed_at);
      opened.appendChild(c);
    }
    var sev = document.createElement("span");
    sev.className = "badge sev";
    sev.textContent = a.severity;
    setText(row, "severity", "").appendChild(sev);
    var st = document.createElement("span");
    st.className = "badge state";
    st.textContent = a.state;
    var stCell = setText(row, "state", "");
    stCell.appendChild(st);
    if (a.outcome) { stCell.appendChild(document.createTextNode(" (" + a.outcome + ")")); }
    if (a.acknowledged_by) {
      var by = document.createElement("span");
      by.className = "by";
      by.textContent = " by " + a.acknowledged_by;
      stCell.appendChild(by);
    }
    var dev = a.device || {};
    var devCell = setText(row, "device", (dev.kind || "") + " · " + (dev.os || "") + " · ");
    var code = document.createElement("code");
    code.textContent = dev.mac || "";
    devCell.appendChild(code);
    if (dev.role) { devCell.appendChild(document.createTextNode(" · " + dev.role)); }
    setText(row, "zone", a.zone || "");
    setText(row, "rule", a.rule || "");
    setText(row, "clauses", (a.clauses || []).join(", "));
    setText(row, "reason", a.reason || "");

    var actions = row.querySelector(".actions");
    if (a.state !== "new") {
      var ack = row.querySelector('[data-form="ack"]');
      if (ack) { ack.remove(); }
    }
    if (a.state === "resolved" && actions) {
      actions.textContent = "";
      if (a.acknowledged_by) { actions.appendChild(document.createTextNode("Ack: " + a.acknowledged_by + " ")); }
      if (a.resolved_by) { actions.appendChild(document.createTextNode("Resolved: " + a.resolved_by)); }
    }
    return row;
  }

  function showAlert(a, isNew) {
    var tbody = document.getElementById("alert-rows");
    var table = document.getElementById("alerts-table");
    if (!tbody || !table || !a || !a.id) { return; }
    var filter = table.getAttribute("data-filter") || "";
    var row = buildRow(a);
    if (!row) { return; }
    var existing = document.getElementById("alert-" + a.id);
    if (existing) {
      if (filter && filter !== a.state) { existing.remove(); return; }
      // Keep what the user is typing: only replace rows whose forms are untouched.
      if (existing.contains(document.activeElement)) { return; }
      existing.replaceWith(row);
      return;
    }
    if (filter && filter !== a.state) { return; }
    var empty = document.getElementById("no-alerts");
    if (empty) { empty.remove(); }
    tbody.insertBefore(row, tbody.firstElementChild);
    if (isNew) { notify(a); }
  }

  function notify(a) {
    if (!("Notification" in window) || Notification.permission !== "granted") { return; }
    try {
      var dev = a.device || {};
      new Notification("HallMonitor alert: " + (a.severity || ""), {
        body: (a.reason || "") + (a.zone ? " (" + a.zone + ")" : "") + (dev.mac ? " " + dev.mac : ""),
        tag: a.id
      });
    } catch (e) { /* notifications unavailable in this context */ }
  }

  var notifyButton = document.getElementById("notify-enable");
  if (notifyButton && "Notification" in window && Notification.permission === "default" && document.getElementById("alert-rows")) {
    notifyButton.hidden = false;
    notifyButton.addEventListener("click", function () {
      Notification.requestPermission().then(function () { notifyButton.hidden = true; });
    });
  }

  if (!("EventSource" in window)) {
    setLive("unsupported", "This browser cannot show live updates: reload the page to see new alerts.");
    return;
  }
  // catchUp fetches recent alerts after a reconnect, so that nothing opened while
  // the stream was down is missing from the table.
  function catchUp() {
    if (page !== "alerts" || !window.fetch) { return; }
    fetch("/api/v1/alerts?limit=50", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (list) {
        for (var i = list.length - 1; i >= 0; i--) { showAlert(list[i], false); }
      })
      .catch(function () { /* the next reconnect tries again */ });
  }

  var dropped = false;
  var es = new EventSource("/events");
  es.addEventListener("open", function () {
    setLive("open", "Live updates on.");
    if (dropped) { dropped = false; catchUp(); }
  });
  es.addEventListener("error", function () {
    dropped = true;
    if (es.readyState === EventSource.CLOSED) {
      setLive("closed", "Live updates stopped: reload the page (you may need to log in again).");
    } else {
      setLive("reconnecting", "Live updates interrupted: reconnecting…");
    }
  });

  function onAlert(isNew) {
    return function (msg) {
      var ev;
      try { ev = JSON.parse(msg.data); } catch (e) { return; }
      if (page === "alerts") { showAlert(ev.alert, isNew); }
    };
  }
  es.addEventListener("alert.opened", onAlert(true));
  es.addEventListener("alert.updated", onAlert(false));
  es.addEventListener("alert.closed", onAlert(false));
  es.addEventListener("device.updated", function () {
    var changed = document.getElementById(page + "-changed");
    if ((page === "devices" || page === "zones") && changed) { changed.hidden = false; }
  });
})();
