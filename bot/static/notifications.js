/* Notifications page of the agent console: send a template to customers now or later, follow what was sent,
 * and (editors, admins) edit templates. Plain JavaScript over the documented API (/docs, "notifications"); the
 * session cookie + X-CSRF-Token as in console.js. All text is inserted with textContent. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var LANGUAGES = ["en", "it", "zh", "ro"];
  var S = { csrf: null, me: null, templates: [], timer: null };

  var api = SupportApi.client(function () { return S.csrf; }, function (status) {
    if (status === 401) location.href = "/console";  // log in there
  });
  function el(tag, text, cls) { var e = document.createElement(tag); if (text != null) e.textContent = text; if (cls) e.className = cls; return e; }

  // -- templates -------------------------------------------------------------------------------------
  function loadTemplates(select) {
    return api("GET", "/api/notifications/templates").then(function (d) {
      S.templates = d.templates;
      var sel = $("template"); sel.textContent = "";
      d.templates.forEach(function (t) { var o = el("option", t.name); o.value = t.key; sel.appendChild(o); });
      var free = el("option", "A one-off message (no template)"); free.value = ""; sel.appendChild(free);
      if (select) sel.value = select;
      showTemplate();
    });
  }
  function current() { return S.templates.find(function (t) { return t.key === $("template").value; }) || null; }
  function showTemplate() {
    var t = current(), box = $("params");
    box.textContent = ""; box.appendChild(el("legend", "Details"));
    $("template-description").textContent = t ? (t.description || "") : "Write the message yourself (Markdown).";
    if (!t) {
      var l = el("label", "Message"), ta = el("textarea"); ta.id = "free-text"; ta.rows = 3; ta.required = true;
      ta.addEventListener("input", preview); l.appendChild(ta); box.appendChild(l);
    } else {
      t.parameters.forEach(function (p) {
        var l = el("label", p.replace(/_/g, " ")), input = el("input"); input.dataset.param = p; input.required = true;
        input.addEventListener("input", preview); l.appendChild(input); box.appendChild(l);
      });
    }
    var langs = $("preview-language"); langs.textContent = "";
    (t ? Object.keys(t.variants) : ["en"]).forEach(function (code) { var o = el("option", code); o.value = code; langs.appendChild(o); });
    preview();
    if (t && !$("templates-card").hidden) editTemplate(t);
  }
  function params() {
    var out = {};
    document.querySelectorAll("#params input[data-param]").forEach(function (i) { if (i.value.trim()) out[i.dataset.param] = i.value.trim(); });
    return out;
  }
  function preview() {
    var t = current(), text;
    if (!t) { text = ($("free-text") || {}).value || ""; }
    else {
      var values = params();
      text = (t.variants[$("preview-language").value] || "").replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, function (m, name) {
        return values[name] || "{" + name + "}";
      });
    }
    $("preview").textContent = text.replace(/\*\*(.+?)\*\*/g, "$1");
  }
  $("template").addEventListener("change", showTemplate);
  $("preview-language").addEventListener("change", preview);

  // -- sending ---------------------------------------------------------------------------------------
  function recipients() {
    return $("recipients").value.split(/\n+/).map(function (line) { return line.trim(); }).filter(Boolean).map(function (line) {
      var parts = line.split(/[\s,;]+/);
      return { channel: parts[0].toLowerCase(), customer: parts.slice(1).join(" ") };
    });
  }
  $("send-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    $("send-error").textContent = ""; $("send-result").textContent = "";
    var t = current(), later = document.querySelector("input[name=when]:checked").value === "later";
    var body = { recipients: recipients(), reply_to: $("reply-to-me").checked ? "agent" : "bot" };
    if (t) { body.template = t.key; body.params = params(); } else { body.text = $("free-text").value; }
    if (later) {
      if (!$("send-at").value) { $("send-error").textContent = "Choose when to send it."; return; }
      body.send_at = new Date($("send-at").value).toISOString();  // the browser's local time, as UTC
    }
    api("POST", "/api/notifications", body).then(function (d) {
      var states = {};
      d.notifications.forEach(function (n) { states[n.state] = (states[n.state] || 0) + 1; });
      var summary = Object.keys(states).map(function (k) { return states[k] + " " + k; }).join(", ") || "nothing sent";
      $("send-result").textContent = summary + (d.refused.length ? " · refused: " + d.refused.map(function (r) {
        return (r.customer || r.conversation_id || "?") + " (" + r.error + ")"; }).join("; ") : "") +
        (d.warnings.length ? " · " + d.warnings.join("; ") : "");
      refresh();
    }).catch(function (e) { $("send-error").textContent = e.message; });
  });

  // -- what was sent ---------------------------------------------------------------------------------
  function refresh() {
    api("GET", "/api/notifications?limit=50").then(function (d) {
      var body = $("sent").querySelector("tbody"); body.textContent = "";
      if (!d.notifications.length) { var tr = el("tr"); var td = el("td", "Nothing sent yet."); td.colSpan = 6; tr.appendChild(td); body.appendChild(tr); }
      d.notifications.forEach(function (n) {
        var tr = el("tr");
        tr.appendChild(el("td", new Date(n.send_at).toLocaleString()));
        tr.appendChild(el("td", n.template || "(text)"));
        tr.appendChild(el("td", n.channel));
        tr.appendChild(el("td", n.customer));
        var status = n.state === "sent" && n.delivery_status ? n.delivery_status : n.state;
        var st = el("td", null); st.appendChild(el("span", status, "state " + status));
        if (n.error) st.appendChild(el("div", n.error, "hint"));
        tr.appendChild(st);
        var act = el("td");
        if (n.state === "scheduled") {
          var b = el("button", "Cancel"); b.type = "button";
          b.addEventListener("click", function () { api("POST", "/api/notifications/" + n.id + "/cancel").then(refresh).catch(function (e) { alert(e.message); }); });
          act.appendChild(b);
        } else if (n.conversation_id) {
          var a = el("a", "Conversation"); a.href = "/console#" + n.conversation_id; act.appendChild(a);
        }
        tr.appendChild(act);
        body.appendChild(tr);
      });
    }).catch(function () {});
  }

  // -- editing templates (editors and admins) --------------------------------------------------------
  function variantsBox(t) {
    var box = $("t-variants"); box.textContent = "";
    LANGUAGES.concat(Object.keys((t && t.variants) || {}).filter(function (c) { return LANGUAGES.indexOf(c) < 0; })).forEach(function (code) {
      var wrap = el("fieldset"); wrap.appendChild(el("legend", code));
      var text = el("textarea"); text.rows = 2; text.dataset.lang = code; text.placeholder = "Text in " + code + " (Markdown, {parameters})";
      text.value = (t && t.variants[code]) || ""; wrap.appendChild(text);
      var sid = el("input"); sid.dataset.twilio = code; sid.placeholder = "WhatsApp via Twilio: Content SID (HX…)";
      sid.value = (t && t.channels.twilio && t.channels.twilio[code] && t.channels.twilio[code].content_sid) || "";
      var meta = el("input"); meta.dataset.meta = code; meta.placeholder = "WhatsApp Cloud: approved template name";
      meta.value = (t && t.channels.whatsapp_cloud && t.channels.whatsapp_cloud[code] && t.channels.whatsapp_cloud[code].name) || "";
      wrap.appendChild(sid); wrap.appendChild(meta);
      box.appendChild(wrap);
    });
  }
  function editTemplate(t) {
    $("t-key").value = t ? t.key : ""; $("t-name").value = t ? t.name : "";
    $("t-params").value = t ? t.parameters.join(", ") : "";
    $("t-tag").value = (t && t.channels.messenger && t.channels.messenger.tag) || "";
    variantsBox(t);
  }
  $("template-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    $("template-error").textContent = "";
    var parameters = $("t-params").value.split(/[\s,]+/).filter(Boolean);
    var body = { name: $("t-name").value, parameters: parameters, variants: {}, channels: { twilio: {}, whatsapp_cloud: {} } };
    document.querySelectorAll("#t-variants textarea").forEach(function (ta) { if (ta.value.trim()) body.variants[ta.dataset.lang] = ta.value; });
    document.querySelectorAll("#t-variants input[data-twilio]").forEach(function (i) {
      if (i.value.trim()) body.channels.twilio[i.dataset.twilio] = { content_sid: i.value.trim(), variables: parameters };
    });
    document.querySelectorAll("#t-variants input[data-meta]").forEach(function (i) {
      if (i.value.trim()) body.channels.whatsapp_cloud[i.dataset.meta] = { name: i.value.trim(), language: i.dataset.meta, parameters: parameters };
    });
    if ($("t-tag").value) body.channels.messenger = { tag: $("t-tag").value };
    var key = $("t-key").value.trim();
    api("PUT", "/api/notifications/templates/" + encodeURIComponent(key), body)
      .then(function () { return loadTemplates(key); })
      .catch(function (e) { $("template-error").textContent = e.message; });
  });

  // -- start -----------------------------------------------------------------------------------------
  api("GET", "/api/auth/me").then(function (me) {
    S.me = me.actor; S.csrf = me.csrf_token;
    $("me").textContent = S.me.display_name + " (" + S.me.role + ")";
    var editor = S.me.role === "editor" || S.me.role === "admin";
    $("templates-card").hidden = !editor;
    var wanted = new URLSearchParams(location.search).get("to");
    if (wanted) $("recipients").value = wanted.replace(/:/, " ");
    return loadTemplates().then(function () { if (editor) editTemplate(current()); });
  }).then(function () { refresh(); S.timer = setInterval(refresh, 5000); })
    .catch(function () { location.href = "/console"; });
})();
