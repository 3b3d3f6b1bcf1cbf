/* Studio: plain JavaScript, no build step. Talks to the documented REST API (/docs, "studio") with the console's
 * session cookie + X-CSRF-Token. Text is inserted with textContent; the only HTML inserted is the answer preview,
 * which the hub renders from Markdown with raw HTML disabled (core/markdown.py). */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var S = { me: null, csrf: null, languages: ["en"], def: "en", status: null, intents: [], faq: null, responses: null,
            pollTimer: null, statusTimer: null, previewTimer: null, faqCurrent: null, route: null };

  // -- small DOM helpers ---------------------------------------------------------------------------
  function el(tag, attrs, children) {
    var n = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "text") n.textContent = v;
      else if (k === "class") n.className = v;
      else if (k.slice(0, 2) === "on") n.addEventListener(k.slice(2), v);
      else if (k === "value") n.value = v;
      else n.setAttribute(k, v === true ? "" : v);
    });
    (children || []).forEach(function (c) { if (c) n.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return n;
  }
  function clear(n) { n.textContent = ""; return n; }
  function langName(code) {
    try { return new Intl.DisplayNames(["en"], { type: "language" }).of(code) || code; } catch (e) { return code; }
  }
  function when(iso) { if (!iso) return ""; var d = new Date(iso); return d.toLocaleString(); }
  function pct(x) { return x == null ? "—" : (x * 100).toFixed(1) + " %"; }
  function flash(text, bad) {
    var f = $("flash"); f.textContent = text; f.hidden = !text; f.className = "flash" + (bad ? " bad" : "");
    clearTimeout(flash.t); if (text) flash.t = setTimeout(function () { f.hidden = true; }, bad ? 9000 : 4000);
  }

  // -- HTTP ------------------------------------------------------------------------------------------
  function api(method, path, body) {
    var headers = { "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && S.csrf) headers["X-CSRF-Token"] = S.csrf;
    return fetch(path, { method: method, headers: headers, credentials: "same-origin",
                         body: body === undefined ? undefined : JSON.stringify(body) })
      .then(function (r) {
        return r.text().then(function (t) {
          var data = null; try { data = t ? JSON.parse(t) : null; } catch (e) { data = { detail: t }; }
          if (r.status === 401 && path !== "/api/auth/login") { showLogin(); }
          if (!r.ok) {
            var msg = data && data.detail; if (typeof msg !== "string") msg = "HTTP " + r.status;
            var err = new Error(msg); err.status = r.status; err.data = data || {}; throw err;
          }
          return data;
        });
      });
  }
  function q(s) { return encodeURIComponent(s); }

  // -- field problems ------------------------------------------------------------------------------------
  function clearProblems(box) { box.querySelectorAll("[data-error-for]").forEach(function (p) { p.textContent = ""; }); }
  function showProblems(box, err) {
    clearProblems(box);
    var problems = (err.data && err.data.problems) || [];
    var general = box.querySelector('[data-error-for=""]');
    if (!problems.length && general) { general.textContent = err.message; return; }
    problems.forEach(function (p) {
      var target = box.querySelector('[data-error-for="' + p.field + '"]') ||
                   box.querySelector('[data-error-for="' + String(p.field).split(".")[0] + '"]') || general;
      if (target) target.textContent = (target.textContent ? target.textContent + " " : "") + p.message;
      else flash(p.message, true);
    });
  }
  function fieldError(name) { return el("p", { class: "error field-error", "data-error-for": name, role: "alert" }); }

  // -- conflict view -----------------------------------------------------------------------------------
  // opts: {render(value) → node, keep(version), take()}
  function conflict(err, opts) {
    var d = err.data || {};
    $("conflict-text").textContent = err.message;
    $("conflict-theirs-title").textContent = d.changed_by ? "Saved by " + d.changed_by + (d.changed_at ? ", " + when(d.changed_at) : "")
                                                          : "The version in the file now";
    clear($("conflict-yours")).appendChild(opts.render(d.yours, d.theirs));
    clear($("conflict-theirs")).appendChild(opts.render(d.theirs, d.yours));
    var dlg = $("conflict");
    $("conflict-keep").hidden = !opts.keep || d.theirs === null;
    $("conflict-take").hidden = !opts.take;
    $("conflict-keep").onclick = function () { dlg.close(); opts.keep(d.version); };
    $("conflict-take").onclick = function () { dlg.close(); opts.take(); };
    $("conflict-cancel").onclick = function () { dlg.close(); };
    dlg.showModal();
  }
  function fieldsView(value, other) {
    if (value === null || value === undefined) return el("p", { class: "muted", text: "(deleted)" });
    if (Array.isArray(value)) {
      return el("ul", { class: "plain" }, value.map(function (v) {
        var text = typeof v === "string" ? v : (langName(v.language) + ": " + v.text);
        var otherText = (other || []).map(function (o) { return typeof o === "string" ? o : (langName(o.language) + ": " + o.text); });
        return el("li", { class: otherText.indexOf(text) < 0 ? "changed" : "", text: text });
      }));
    }
    if (typeof value === "object") {
      var dl = el("dl", { class: "fields" });
      Object.keys(value).forEach(function (k) {
        if (k === "id" || k === "language" || k === "op") return;
        var v = value[k], shown = Array.isArray(v) ? v.map(function (x) { return typeof x === "string" ? x : (x.title + " → " + x.url); }).join("\n") : String(v);
        var changed = other && JSON.stringify(other[k]) !== JSON.stringify(v);
        dl.appendChild(el("dt", { text: k }));
        dl.appendChild(el("dd", { class: changed ? "changed" : "", text: shown }));
      });
      return dl;
    }
    return el("p", { text: String(value) });
  }

  // -- history -----------------------------------------------------------------------------------------
  function showHistory(key, title, after) {
    $("history-title").textContent = "History: " + title;
    var list = clear($("history-list"));
    list.appendChild(el("li", { class: "muted", text: "Loading…" }));
    $("history").showModal();
    $("history-close").onclick = function () { $("history").close(); };
    api("GET", "/api/studio/history?key=" + q(key)).then(function (d) {
      clear(list);
      if (!d.revisions.length) { list.appendChild(el("li", { class: "muted", text: "No change was made in the studio yet." })); return; }
      d.revisions.forEach(function (r) {
        var item = r.items[0] || {};
        var revert = el("button", { type: "button", text: "Revert", title: "Undo this change (a new revision)", onclick: function () {
          api("POST", "/api/studio/revert", { revision: r.id, key: key }).then(function (res) {
            $("history").close(); flash("Reverted: " + r.summary); if (after) after(res);
          }).catch(function (err) {
            if (err.status === 409) {
              $("history").close();
              conflict(err, { render: fieldsView, keep: function () {
                api("POST", "/api/studio/revert", { revision: r.id, key: key, force: true }).then(function (res) {
                  flash("Reverted: " + r.summary); if (after) after(res);
                }).catch(function (e2) { flash(e2.message, true); });
              } });
            } else flash(err.message, true);
          });
        } });
        list.appendChild(el("li", {}, [
          el("div", { class: "h-head" }, [el("strong", { text: r.author_name }), " · " + when(r.created_at) +
            (r.commit ? " · commit " + r.commit.slice(0, 8) : "") + (r.reverts ? " · reverts #" + r.reverts : ""), revert]),
          el("div", { text: r.summary }),
          el("div", { class: "compare small" }, [
            el("div", {}, [el("h4", { text: "Before" }), fieldsView(item.before, item.after)]),
            el("div", {}, [el("h4", { text: "After" }), fieldsView(item.after, item.before)])])
        ]));
      });
    }).catch(function (err) { clear(list).appendChild(el("li", { class: "error", text: err.message })); });
  }

  function confirmBox(title, text, items, yes) {
    $("confirm-title").textContent = title; $("confirm-text").textContent = text;
    var list = clear($("confirm-list"));
    (items || []).forEach(function (i) { list.appendChild(el("li", { text: i })); });
    $("confirm-yes").onclick = function () { $("confirm").close(); yes(); };
    $("confirm-no").onclick = function () { $("confirm").close(); };
    $("confirm").showModal();
  }

  // -- login ---------------------------------------------------------------------------------------------
  function showLogin() {
    stopTimers();
    $("app").hidden = true; $("denied").hidden = true; $("login").hidden = false; $("login-email").focus();
  }
  $("login-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    $("login-error").textContent = "";
    api("POST", "/api/auth/login", { email: $("login-email").value, password: $("login-password").value })
      .then(function (d) { S.csrf = d.csrf_token; $("login-password").value = ""; return api("GET", "/api/auth/me"); })
      .then(start)
      .catch(function (e) { $("login-error").textContent = e.message; });
  });
  function logout() { api("POST", "/api/auth/logout").finally(function () { S.csrf = null; showLogin(); }); }
  $("logout").addEventListener("click", logout);
  $("denied-logout").addEventListener("click", logout);

  function start(me) {
    S.me = me.actor; S.csrf = me.csrf_token;
    if (S.me.role !== "editor" && S.me.role !== "admin") {
      $("login").hidden = true; $("denied").hidden = false;
      $("denied-text").textContent = "You are logged in as " + S.me.display_name + ", an agent account. The studio is for " +
        "editors and admins: ask an admin to give your account the editor role.";
      return;
    }
    $("me").textContent = S.me.display_name + " (" + S.me.role + ")";
    $("nav-audit").hidden = S.me.role !== "admin";
    $("login").hidden = true; $("app").hidden = false;
    refreshStatus().then(function () { route(); });
    S.statusTimer = setInterval(function () { if (!S.pollTimer) refreshStatus(); }, 5000);
  }
  function stopTimers() { clearInterval(S.statusTimer); clearTimeout(S.pollTimer); S.pollTimer = null; }

  // -- routing -----------------------------------------------------------------------------------------------
  function parseHash() {
    var h = location.hash.replace(/^#\/?/, ""), qs = "", i = h.indexOf("?");
    if (i >= 0) { qs = h.slice(i + 1); h = h.slice(0, i); }
    var parts = h.split("/").map(decodeURIComponent), params = {};
    qs.split("&").forEach(function (kv) { if (kv) { var p = kv.split("="); params[decodeURIComponent(p[0])] = decodeURIComponent(p[1] || ""); } });
    return { view: parts[0] || "intents", arg: parts[1] || null, params: params };
  }
  function route() {
    var r = parseHash(), previous = S.route; S.route = r;
    var fresh = !previous || previous.view !== r.view;  // lists load when their page opens (and after saves)
    ["intents", "responses", "faq", "gaps", "publish", "audit"].forEach(function (v) {
      $("view-" + v).hidden = v !== r.view;
      var link = document.querySelector('[data-nav="' + v + '"]'); if (link) link.classList.toggle("on", v === r.view);
    });
    document.title = "Studio · " + ({ intents: "Intents", responses: "Responses", faq: "FAQ", gaps: "Language gaps",
                                      publish: "Publish", audit: "Audit log" }[r.view] || "");
    var ready = function (load) { return fresh ? load() : Promise.resolve(); };
    if (r.view === "intents") { ready(loadIntents).then(function () { if (r.arg === "new") newIntentForm(); else if (r.arg) openIntent(r.arg, r.params.lang, r.params.text); }); }
    else if (r.view === "responses") { ready(loadResponses).then(function () { if (r.arg) openResponse(r.arg, r.params.add); }); }
    else if (r.view === "faq") { ready(loadFaq).then(function () { if (r.arg === "new") newFaqForm(); else if (r.arg) openFaq(r.arg, r.params.lang); }); }
    else if (r.view === "gaps") loadGaps();
    else if (r.view === "publish") renderPublish();
    else if (r.view === "audit") loadAudit();
  }
  window.addEventListener("hashchange", route);

  function languageSelect(id, value, only) {
    var sel = el("select", { id: id || null, "aria-label": "Language" });
    (only || S.languages).forEach(function (l) { sel.appendChild(el("option", { value: l, text: langName(l) + " (" + l + ")" })); });
    sel.value = value || S.def;
    return sel;
  }

  // =================================================================================================
  // Intents
  // =================================================================================================
  function loadIntents() {
    return api("GET", "/api/studio/intents").then(function (d) {
      S.intents = d.intents;
      var head = clear($("intent-head"));
      head.appendChild(el("th", { text: "Intent" }));
      d.languages.forEach(function (l) { head.appendChild(el("th", { text: l, title: langName(l) })); });
      head.appendChild(el("th", { text: "" }));
      var rows = clear($("intent-rows"));
      d.intents.forEach(function (i) {
        var warn = i.problems.filter(function (p) { return p.level === "error"; }).length ? "error" : i.problems.length ? "warning" : "";
        var tr = el("tr", { "data-intent": i.name, tabindex: "0", class: S.route && S.route.arg === i.name ? "sel" : "",
                            onclick: function () { location.hash = "#/intents/" + q(i.name); },
                            onkeydown: function (e) { if (e.key === "Enter") location.hash = "#/intents/" + q(i.name); } });
        tr.appendChild(el("td", { class: "name", text: i.name }));
        d.languages.forEach(function (l) {
          var n = i.counts[l] || 0;
          tr.appendChild(el("td", { class: "num" + (n < 10 ? " thin" : ""), text: String(n), title: n + " " + langName(l) + " examples" }));
        });
        tr.appendChild(el("td", { class: "flag " + warn, title: i.problems.map(function (p) { return p.message; }).join("\n"),
                                   text: warn ? (warn === "error" ? "✖" : "⚠") : "" }));
        rows.appendChild(tr);
      });
    }).catch(function (e) { flash(e.message, true); });
  }

  var searchTimer = null;
  $("example-search").addEventListener("input", function () {
    clearTimeout(searchTimer);
    var text = this.value.trim(), box = $("search-results");
    if (!text) { box.hidden = true; $("intent-table").hidden = false; return; }
    searchTimer = setTimeout(function () {
      api("GET", "/api/studio/examples?q=" + q(text)).then(function (d) {
        clear(box); box.hidden = false; $("intent-table").hidden = true;
        if (!d.hits.length) box.appendChild(el("li", { class: "muted", text: "No example contains “" + text + "”." }));
        d.hits.forEach(function (h) {
          box.appendChild(el("li", { tabindex: "0", onclick: function () { location.hash = "#/intents/" + q(h.intent) + "?lang=" + h.language + "&text=" + q(h.text); } }, [
            el("span", { class: "badge", text: h.language }), " ", el("span", { text: h.text }), el("span", { class: "muted", text: "  " + h.intent })]));
        });
      }).catch(function (e) { flash(e.message, true); });
    }, 250);
  });
  $("new-intent-btn").addEventListener("click", function () { location.hash = "#/intents/new"; });

  function openIntent(name, lang, highlight) {
    return api("GET", "/api/studio/intents/" + q(name)).then(function (d) {
      var box = clear($("intent-detail"));
      lang = lang && d.languages[lang] ? lang : S.def;
      document.querySelectorAll("#intent-rows tr").forEach(function (tr) { tr.classList.toggle("sel", tr.dataset.intent === name); });
      var refs = d.references || { updated: [], blocking: [] };
      box.appendChild(el("div", { class: "detail-head" }, [
        el("h2", { text: name }),
        el("div", { class: "actions" }, [
          el("button", { type: "button", text: "Rename", disabled: d.protected, onclick: function () { renameForm(name, refs); } }),
          el("button", { type: "button", text: "Delete", disabled: d.protected, onclick: function () { deleteIntent(name); } })])]));
      if (refs.updated.length || refs.blocking.length) {
        box.appendChild(el("p", { class: "muted small", text: "Used in " + refs.updated.concat(refs.blocking).join(", ") }));
      }
      if (d.read_only_files.length) box.appendChild(el("p", { class: "warn", text: "Examples in " + d.read_only_files.join(", ") + " are written as a list: edit them in the file." }));
      var tabs = el("div", { class: "lang-tabs", role: "tablist" });
      S.languages.forEach(function (l) {
        var n = d.languages[l].examples.length;
        tabs.appendChild(el("button", { type: "button", role: "tab", "aria-selected": l === lang ? "true" : "false", "data-lang": l,
          class: n < 10 ? "thin" : "", text: langName(l) + " · " + n,
          onclick: function () { location.hash = "#/intents/" + q(name) + "?lang=" + l; } }));
      });
      box.appendChild(tabs);
      var info = d.languages[lang];
      var add = el("form", { class: "add-example", id: "add-example" }, [
        el("input", { id: "new-example", type: "text", placeholder: "Add " + langName(lang) + " example: how a customer says it", "aria-label": "New " + langName(lang) + " example", maxlength: "500" }),
        el("button", { type: "submit", class: "primary", text: "Add" }), fieldError("text")]);
      add.addEventListener("submit", function (ev) {
        ev.preventDefault();
        var text = $("new-example").value;
        api("POST", "/api/studio/intents/" + q(name) + "/examples", { language: lang, text: text, base: info.version })
          .then(function (res) { flash("Added: " + text + warnings(res)); loadIntents(); openIntent(name, lang, text.trim()); })
          .catch(function (err) { intentError(err, add, name, lang, { op: "add", text: text }); });
      });
      box.appendChild(add);
      box.appendChild(el("div", { class: "row small" }, [
        el("span", { class: "muted", text: info.examples.length + " " + langName(lang) + " examples" }),
        el("button", { type: "button", class: "link", text: "History", onclick: function () {
          showHistory(info.key, name + " (" + langName(lang) + ")", function () { loadIntents(); openIntent(name, lang); }); } })]));
      var list = el("ul", { class: "examples", id: "examples" });
      info.examples.slice().reverse().forEach(function (text) { list.appendChild(exampleRow(name, lang, text, info.version, text === highlight)); });
      box.appendChild(list);
      var hl = list.querySelector(".hl"); if (hl) hl.scrollIntoView({ block: "center" });
    }).catch(function (e) { clear($("intent-detail")).appendChild(el("p", { class: "error", text: e.message })); });
  }
  function warnings(res) {
    return res && res.warnings && res.warnings.length ? " (note: " + res.warnings.map(function (w) { return w.message; }).join("; ") + ")" : "";
  }
  function intentError(err, form, name, lang, yours) {
    if (err.status === 409) {
      conflict(err, { render: fieldsView, take: function () { openIntent(name, lang); } });
    } else showProblems(form, err);
  }
  function exampleRow(name, lang, text, version, highlight) {
    var li = el("li", { class: highlight ? "hl" : "", "data-text": text });
    var label = el("span", { class: "ex", text: text });
    var edit = el("button", { type: "button", class: "small", text: "Edit", onclick: function () {
      var input = el("input", { type: "text", value: text, "aria-label": "Example", maxlength: "500" });
      var err = fieldError("text");
      var form = el("form", { class: "inline" }, [input, el("button", { type: "submit", class: "primary small", text: "Save" }),
        el("button", { type: "button", class: "small", text: "Cancel", onclick: function () { openIntent(name, lang); } }), err]);
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        api("PUT", "/api/studio/intents/" + q(name) + "/examples", { language: lang, old: text, new: input.value, base: version })
          .then(function () { flash("Saved"); loadIntents(); openIntent(name, lang, input.value.trim()); })
          .catch(function (e) { intentError(e, form, name, lang); });
      });
      clear(li).appendChild(form); input.focus();
    } });
    var move = el("button", { type: "button", class: "small", text: "Move", onclick: function () {
      var sel = el("select", { "aria-label": "Move to intent" }, S.intents.filter(function (i) { return i.name !== name; })
        .map(function (i) { return el("option", { value: i.name, text: i.name }); }));
      var err = fieldError("to_intent");
      var form = el("form", { class: "inline" }, [el("span", { text: text + " → " }), sel,
        el("button", { type: "submit", class: "primary small", text: "Move" }),
        el("button", { type: "button", class: "small", text: "Cancel", onclick: function () { openIntent(name, lang); } }), err]);
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        api("POST", "/api/studio/intents/" + q(name) + "/examples/move", { language: lang, text: text, to_intent: sel.value, base: version })
          .then(function () { flash("Moved to " + sel.value); loadIntents(); openIntent(name, lang); })
          .catch(function (e) { intentError(e, form, name, lang); });
      });
      clear(li).appendChild(form);
    } });
    var del = el("button", { type: "button", class: "small", text: "Delete", onclick: function () {
      api("POST", "/api/studio/intents/" + q(name) + "/examples/delete", { language: lang, text: text, base: version })
        .then(function () { flash("Removed: " + text); loadIntents(); openIntent(name, lang); })
        .catch(function (e) { if (e.status === 409) intentError(e, li, name, lang); else flash(e.message, true); });
    } });
    li.appendChild(label); li.appendChild(el("span", { class: "row-actions" }, [edit, move, del]));
    return li;
  }
  function renameForm(name, refs) {
    var box = $("intent-detail");
    var input = el("input", { type: "text", value: name, "aria-label": "New name", id: "rename-input" });
    var form = el("form", { class: "box" }, [el("h3", { text: "Rename " + name }),
      el("p", { class: "muted small", text: "The examples, rules, stories, the domain and the held-out examples follow. " +
        (refs.blocking.length ? "Code names it too (" + refs.blocking.join(", ") + "): a developer must rename it there first." : "") }),
      input, el("button", { type: "submit", class: "primary", text: "Rename" }), fieldError("name"), fieldError("")]);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      api("POST", "/api/studio/intents/" + q(name) + "/rename", { new_name: input.value })
        .then(function () { flash("Renamed to " + input.value); location.hash = "#/intents/" + q(input.value.trim()); })
        .catch(function (e) { showProblems(form, e); });
    });
    box.insertBefore(form, box.children[1] || null); input.focus(); input.select();
  }
  function deleteIntent(name) {
    confirmBox("Delete intent " + name + "?", "Its examples in every language are removed and it leaves the domain.", [], function () {
      api("DELETE", "/api/studio/intents/" + q(name)).then(function () { flash("Deleted " + name); location.hash = "#/intents"; })
        .catch(function (e) { flash(e.message, true); });
    });
  }
  function newIntentForm() {
    var box = clear($("intent-detail"));
    var name = el("input", { id: "new-intent-name", type: "text", placeholder: "e.g. gift_cards", "aria-label": "Intent name" });
    var areas = {};
    var form = el("form", { class: "stack", id: "new-intent-form" }, [el("h2", { text: "New intent" }),
      el("label", {}, ["Name", name]), fieldError("name")]);
    S.languages.forEach(function (l) {
      areas[l] = el("textarea", { rows: "4", placeholder: "One example per line", "aria-label": langName(l) + " examples" });
      form.appendChild(el("label", {}, [langName(l) + " examples", areas[l]]));
      form.appendChild(fieldError("examples." + l));
    });
    form.appendChild(fieldError("examples")); form.appendChild(fieldError("text")); form.appendChild(fieldError(""));
    form.appendChild(el("button", { type: "submit", class: "primary", text: "Create" }));
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var examples = {};
      S.languages.forEach(function (l) { examples[l] = areas[l].value.split("\n").map(function (s) { return s.trim(); }).filter(Boolean); });
      api("POST", "/api/studio/intents", { name: name.value.trim(), examples: examples })
        .then(function () { flash("Created " + name.value); location.hash = "#/intents/" + q(name.value.trim()); })
        .catch(function (e) { showProblems(form, e); });
    });
    box.appendChild(form); name.focus();
  }

  // =================================================================================================
  // Responses
  // =================================================================================================
  function loadResponses() {
    return api("GET", "/api/studio/responses").then(function (d) { S.responses = d.responses; renderResponseList(); })
      .catch(function (e) { flash(e.message, true); });
  }
  function renderResponseList() {
    var filter = $("response-filter").value.toLowerCase(), list = clear($("response-list"));
    S.responses.filter(function (r) { return !filter || r.name.indexOf(filter) >= 0 || r.preview.toLowerCase().indexOf(filter) >= 0; })
      .forEach(function (r) {
        list.appendChild(el("li", { tabindex: "0", "data-name": r.name, class: S.route && S.route.arg === r.name ? "sel" : "", onclick: function () { location.hash = "#/responses/" + q(r.name); } }, [
          el("div", { class: "name", text: r.name }), el("div", { class: "muted small clip", text: r.preview }),
          el("div", { class: "chips" }, S.languages.map(function (l) {
            return el("span", { class: "chip" + (r.languages.indexOf(l) < 0 ? " missing" : ""), text: l,
                                title: r.languages.indexOf(l) < 0 ? "no " + langName(l) + " variation" : langName(l) });
          }))]));
      });
  }
  $("response-filter").addEventListener("input", renderResponseList);

  function openResponse(name, addLang) {
    return api("GET", "/api/studio/responses/" + q(name)).then(function (d) {
      document.querySelectorAll("#response-list li").forEach(function (li) { li.classList.toggle("sel", li.dataset.name === name); });
      renderResponse(d, addLang);
    })
      .catch(function (e) { clear($("response-detail")).appendChild(el("p", { class: "error", text: e.message })); });
  }
  function renderResponse(d, addLang, draft) {
    var box = clear($("response-detail"));
    var variations = draft || d.variations.map(function (v) { return JSON.parse(JSON.stringify(v)); });
    if (addLang && !draft && !variations.some(function (v) { return v.language === addLang; })) {
      var ref = variations.find(function (v) { return v.language === S.def; }) || variations[0] || { buttons: [] };
      variations.push({ language: addLang, text: "", buttons: (ref.buttons || []).map(function (b) { return { title: "", payload: b.payload }; }), reference: ref.text });
    }
    var form = el("form", { class: "stack", id: "response-form" });
    form.appendChild(el("div", { class: "detail-head" }, [el("h2", { text: d.name }), el("div", { class: "actions" }, [
      el("button", { type: "button", text: "History", onclick: function () { showHistory("response:" + d.name, d.name, function () { openResponse(d.name); }); } })])]));
    form.appendChild(el("p", { class: "muted small", text: "The bot picks the variation of the customer's language (several of one language: one at random); " +
                                                         "the " + langName(S.def) + " one is the fallback." }));
    variations.forEach(function (v, i) {
      var card = el("fieldset", { class: "variation", "data-index": String(i) });
      var lang = languageSelect(null, v.language);
      lang.addEventListener("change", function () { v.language = lang.value; });
      var text = el("textarea", { rows: "3", "aria-label": "Text", value: v.text || "", placeholder: v.reference ? "Translate: " + v.reference : "" });
      text.value = v.text || "";
      text.addEventListener("input", function () { v.text = text.value; });
      card.appendChild(el("legend", {}, [lang, el("button", { type: "button", class: "small", text: "Remove variation", onclick: function () {
        variations.splice(i, 1); renderResponse(d, null, variations); } })]));
      if (v.reference) card.appendChild(el("p", { class: "muted small", text: langName(S.def) + ": " + v.reference }));
      card.appendChild(text); card.appendChild(fieldError("variations." + i + ".text")); card.appendChild(fieldError("variations." + i + ".language"));
      var buttons = el("div", { class: "buttons-edit" });
      (v.buttons || []).forEach(function (b, j) {
        var title = el("input", { type: "text", value: b.title, placeholder: "Button title", "aria-label": "Button title" });
        var payload = el("input", { type: "text", value: b.payload, placeholder: "/request_human", "aria-label": "Button payload" });
        title.addEventListener("input", function () { b.title = title.value; });
        payload.addEventListener("input", function () { b.payload = payload.value; });
        buttons.appendChild(el("div", { class: "button-row" }, [title, payload, el("button", { type: "button", class: "small", text: "✕", title: "Remove button",
          onclick: function () { v.buttons.splice(j, 1); renderResponse(d, null, variations); } }),
          fieldError("variations." + i + ".buttons." + j + ".title"), fieldError("variations." + i + ".buttons." + j + ".payload")]));
      });
      buttons.appendChild(el("button", { type: "button", class: "small link", text: "+ button", onclick: function () {
        v.buttons = v.buttons || []; v.buttons.push({ title: "", payload: "" }); renderResponse(d, null, variations); } }));
      card.appendChild(buttons);
      form.appendChild(card);
    });
    var addSel = languageSelect(null, addLang || S.def);
    form.appendChild(el("div", { class: "row" }, [el("button", { type: "button", text: "+ Add a variation in", onclick: function () {
      variations.push({ language: addSel.value, text: "", buttons: [] }); renderResponse(d, null, variations); } }), addSel]));
    form.appendChild(fieldError("variations")); form.appendChild(fieldError(""));
    form.appendChild(el("button", { type: "submit", class: "primary", text: "Save" }));
    form.addEventListener("submit", function (ev) {
      ev.preventDefault(); save(d.version);
    });
    function save(base) {
      var body = variations.map(function (v) { var o = { language: v.language, text: v.text, buttons: v.buttons || [] };
        if (typeof v.index === "number") o.index = v.index; return o; });
      api("PUT", "/api/studio/responses/" + q(d.name), { variations: body, base: base })
        .then(function (res) { flash("Saved " + d.name); loadResponses(); renderResponse(res.item); })
        .catch(function (err) {
          if (err.status === 409) conflict(err, { render: fieldsView, keep: function (v) { save(v); }, take: function () { openResponse(d.name); } });
          else showProblems(form, err);
        });
    }
    box.appendChild(form);
    var firstEmpty = form.querySelector("textarea:placeholder-shown"); if (addLang && firstEmpty) firstEmpty.focus();
  }

  // =================================================================================================
  // FAQ
  // =================================================================================================
  function loadFaq() {
    return api("GET", "/api/studio/faq").then(function (d) { S.faq = d; renderFaqList(); }).catch(function (e) { flash(e.message, true); });
  }
  function renderFaqList() {
    var filter = $("faq-filter").value.toLowerCase(), list = clear($("faq-list")), topic = null;
    S.faq.entries.forEach(function (e) {
      var main = e.versions[S.def] || e.versions[Object.keys(e.versions)[0]];
      var hay = (e.id + " " + Object.keys(e.versions).map(function (l) { return e.versions[l].question; }).join(" ")).toLowerCase();
      if (filter && hay.indexOf(filter) < 0) return;
      if (e.topic !== topic) { topic = e.topic; list.appendChild(el("li", { class: "group", text: topic })); }
      list.appendChild(el("li", { tabindex: "0", "data-id": e.id, class: S.route && S.route.arg === e.id ? "sel" : "", onclick: function () { location.hash = "#/faq/" + q(e.id); } }, [
        el("div", { class: "name", text: main ? main.question : e.id }), el("div", { class: "muted small", text: e.id }),
        el("div", { class: "chips" }, S.languages.map(function (l) {
          var missing = !e.versions[l];
          return el("a", { class: "chip" + (missing ? " missing" : ""), href: "#/faq/" + q(e.id) + "?lang=" + l, text: (missing ? "+" : "") + l,
                           title: missing ? "add the " + langName(l) + " version" : langName(l), onclick: function (ev) { ev.stopPropagation(); } });
        }))]));
    });
  }
  $("faq-filter").addEventListener("input", renderFaqList);
  $("new-faq-btn").addEventListener("click", function () { location.hash = "#/faq/new"; });

  function openFaq(id, lang) {
    return api("GET", "/api/studio/faq/" + q(id)).then(function (d) {
      S.faqCurrent = d;
      lang = lang || (d.versions[S.def] ? S.def : Object.keys(d.versions)[0]);
      document.querySelectorAll("#faq-list li[data-id]").forEach(function (li) { li.classList.toggle("sel", li.dataset.id === id); });
      renderFaqForm(d, lang);
    }).catch(function (e) { clear($("faq-detail")).appendChild(el("p", { class: "error", text: e.message })); });
  }
  function newFaqForm() { S.faqCurrent = null; renderFaqForm(null, S.def); }

  function renderFaqForm(d, lang, draft) {
    var box = clear($("faq-detail"));
    var existing = d && d.versions[lang];
    var reference = d && !existing ? (d.versions[S.def] || d.versions[Object.keys(d.versions)[0]]) : null;
    var v = draft || existing || { question: "", phrasings: [], answer: "", links: (reference && reference.links || []).map(function (l) { return { title: l.title, url: l.url }; }),
                                   tags: reference ? reference.tags || [] : [], team: reference ? reference.team || "" : "" };
    var head = el("div", { class: "detail-head" }, [el("h2", { text: d ? d.id : "New FAQ entry" })]);
    if (d) {
      head.appendChild(el("div", { class: "actions" }, [
        el("button", { type: "button", text: "History", disabled: !existing, onclick: function () {
          showHistory("faq:" + d.id + ":" + lang, d.id + " (" + langName(lang) + ")", function () { loadFaq(); openFaq(d.id, lang); }); } }),
        el("button", { type: "button", text: "Delete " + langName(lang), disabled: !existing, onclick: function () {
          confirmBox("Delete the " + langName(lang) + " version of " + d.id + "?", "Customers writing in " + langName(lang) +
                     " then get another language's version.", [], function () {
            api("DELETE", "/api/studio/faq/" + q(d.id) + "/" + lang + "?base=" + q(existing.version))
              .then(function () { flash("Deleted"); loadFaq(); location.hash = "#/faq/" + q(d.id); })
              .catch(function (e) { flash(e.message, true); });
          }); } })]));
    }
    box.appendChild(head);
    if (d) {
      var tabs = el("div", { class: "lang-tabs", role: "tablist" });
      S.languages.forEach(function (l) {
        tabs.appendChild(el("button", { type: "button", role: "tab", "aria-selected": l === lang ? "true" : "false", "data-lang": l,
          class: d.versions[l] ? "" : "missing", text: (d.versions[l] ? "" : "+ ") + langName(l),
          onclick: function () { location.hash = "#/faq/" + q(d.id) + "?lang=" + l; } }));
      });
      box.appendChild(tabs);
    }
    var form = el("form", { class: "stack", id: "faq-form" });
    var idInput = null, langSel = null, topicSel = null;
    if (!d) {
      idInput = el("input", { id: "faq-id", type: "text", placeholder: "e.g. gift-wrap (never change it later)", "aria-label": "Entry id" });
      langSel = languageSelect("faq-language", lang);
      topicSel = el("select", { id: "faq-topic", "aria-label": "Topic" }, S.faq.topics.map(function (t) { return el("option", { value: t, text: t }); }));
      form.appendChild(el("div", { class: "row" }, [el("label", {}, ["Id", idInput]), el("label", {}, ["Language", langSel]), el("label", {}, ["Topic", topicSel])]));
      form.appendChild(fieldError("id")); form.appendChild(fieldError("topic")); form.appendChild(fieldError("language"));
    } else if (!existing) {
      form.appendChild(el("p", { class: "note", text: "No " + langName(lang) + " version yet: customers writing " + langName(lang) +
        " get the " + langName(reference.language || S.def) + " one. Translate it below." }));
      form.appendChild(el("details", { open: true }, [el("summary", { text: langName(S.def) + " version, for reference" }),
        el("p", { class: "ref", text: reference.question }), el("pre", { class: "ref", text: reference.answer })]));
    }
    var question = el("input", { id: "faq-question", type: "text", value: v.question || "", "aria-label": "Question" });
    var phrasings = el("textarea", { id: "faq-phrasings", rows: "4", "aria-label": "Other ways customers ask", placeholder: "One per line" });
    phrasings.value = (v.phrasings || []).join("\n");
    var answer = el("textarea", { id: "faq-answer", rows: "8", "aria-label": "Answer (Markdown)" });
    answer.value = v.answer || "";
    var links = el("div", { class: "links-edit", id: "faq-links" });
    var tags = el("input", { id: "faq-tags", type: "text", value: (v.tags || []).join(", "), "aria-label": "Tags" });
    var team = el("input", { id: "faq-team", type: "text", value: v.team || "", "aria-label": "Team" });
    var linkRows = (v.links || []).map(function (l) { return { title: l.title, url: l.url }; });
    function renderLinks() {
      clear(links);
      linkRows.forEach(function (l, i) {
        var t = el("input", { type: "text", value: l.title, placeholder: "Title", "aria-label": "Link title" });
        var u = el("input", { type: "text", value: l.url, placeholder: "https://…", "aria-label": "Link URL" });
        t.addEventListener("input", function () { l.title = t.value; schedulePreview(); });
        u.addEventListener("input", function () { l.url = u.value; schedulePreview(); });
        links.appendChild(el("div", { class: "button-row" }, [t, u, el("button", { type: "button", class: "small", text: "✕", title: "Remove link",
          onclick: function () { linkRows.splice(i, 1); renderLinks(); schedulePreview(); } })]));
      });
      links.appendChild(el("button", { type: "button", class: "small link", text: "+ link", onclick: function () { linkRows.push({ title: "", url: "" }); renderLinks(); } }));
    }
    renderLinks();
    form.appendChild(el("label", {}, ["Question", question])); form.appendChild(fieldError("question"));
    form.appendChild(el("label", {}, ["Other ways customers ask it (one per line)", phrasings])); form.appendChild(fieldError("phrasings"));
    form.appendChild(el("label", {}, ["Answer (Markdown: **bold**, lists, [links](https://…))", answer])); form.appendChild(fieldError("answer"));
    form.appendChild(el("div", { class: "label" }, ["Links shown under the answer", links])); form.appendChild(fieldError("links"));
    form.appendChild(el("div", { class: "row" }, [el("label", {}, ["Tags (comma separated)", tags]), el("label", {}, ["Team", team])]));
    form.appendChild(fieldError("tags")); form.appendChild(fieldError("team")); form.appendChild(fieldError("entry")); form.appendChild(fieldError(""));
    form.appendChild(el("button", { type: "submit", class: "primary", id: "faq-save", text: existing ? "Save" : "Create" }));
    function collect() {
      return { question: question.value, answer: answer.value,
               phrasings: phrasings.value.split("\n").map(function (s) { return s.trim(); }).filter(Boolean),
               links: linkRows.filter(function (l) { return l.title || l.url; }),
               tags: tags.value.split(",").map(function (s) { return s.trim(); }).filter(Boolean),
               team: team.value.trim() || null };
    }
    function save(base) {
      var fields = collect(), id = d ? d.id : idInput.value.trim(), language = d ? lang : langSel.value;
      fields.base = base; fields.topic = d ? (existing ? null : d.topic) : topicSel.value;
      if (!id) { showProblems(form, { message: "", data: { problems: [{ field: "id", message: "give the entry an id" }] } }); return; }
      api("PUT", "/api/studio/faq/" + q(id) + "/" + language, fields)
        .then(function () { flash("Saved " + id + " (" + langName(language) + ")"); loadFaq(); location.hash = "#/faq/" + q(id) + "?lang=" + language; openFaq(id, language); })
        .catch(function (err) {
          if (err.status === 409) {
            conflict(err, { render: fieldsView, keep: function (version) { save(version); },
                            take: function () { openFaq(id, language); } });
          } else showProblems(form, err);
        });
    }
    form.addEventListener("submit", function (ev) { ev.preventDefault(); save(existing ? existing.version : null); });
    [answer].forEach(function (n) { n.addEventListener("input", schedulePreview); });
    box.appendChild(form);
    function schedulePreview() {
      clearTimeout(S.previewTimer);
      S.previewTimer = setTimeout(function () { preview(answer.value, linkRows); }, 250);
    }
    preview(answer.value, linkRows);
    $("try-language").value = lang;
  }
  function preview(answer, links) {
    api("POST", "/api/studio/preview", { answer: answer, links: links.filter(function (l) { return l.url; }) }).then(function (p) {
      $("pv-web").innerHTML = p.web;  // safe: Markdown rendered by the hub with raw HTML disabled
      $("pv-telegram").innerHTML = p.telegram.replace(/\n/g, "<br>");  // Telegram's HTML subset, escaped by the hub
      $("pv-whatsapp").textContent = p.whatsapp;
      $("pv-sms").textContent = p.sms;
      $("pv-sms-info").textContent = p.sms ? p.characters + " characters, " + p.sms_segments + " SMS" : "";
    }).catch(function () {});
  }

  $("try-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var box = clear($("try-result"));
    box.appendChild(el("p", { class: "muted", text: "Asking the live index… (the first question loads it: a few seconds)" }));
    api("POST", "/api/studio/try", { text: $("try-text").value, language: $("try-language").value }).then(function (r) {
      clear(box);
      var top = r.hits[0], what;
      if (r.decision === "answer") what = "Answers with “" + top.question + "”";
      else if (r.decision === "choices") what = "Offers " + r.hits.filter(function (h) { return h.chosen; }).length + " choices";
      else what = "Hands the customer to a person (nothing scores " + r.thresholds.suggest + " or more)";
      box.appendChild(el("p", { class: "decision " + r.decision, text: what }));
      if (r.nlu && r.nlu.intent) box.appendChild(el("p", { class: "muted small", text: "Rasa reads it as " + r.nlu.intent + " (" + Number(r.nlu.confidence).toFixed(2) + ")" }));
      var ul = el("ol", { class: "hits" });
      r.hits.forEach(function (h) {
        var bar = el("span", { class: "bar" }); bar.style.width = Math.max(0, Math.min(100, h.score * 100)) + "%";
        ul.appendChild(el("li", { class: h.chosen ? "chosen" : "" }, [
          el("div", {}, [el("a", { href: "#/faq/" + q(h.entry_id) + "?lang=" + h.language, text: h.question }), el("span", { class: "badge", text: h.language })]),
          el("div", { class: "score" }, [el("span", { class: "track" }, [bar]), " " + h.score.toFixed(3)]),
          el("div", { class: "muted small", text: "matched: " + h.matched })]));
      });
      box.appendChild(ul);
      box.appendChild(el("p", { class: "muted small", text: "Answer at ≥ " + r.thresholds.answer + ", choices at ≥ " + r.thresholds.suggest +
        " · index " + r.index.version }));
    }).catch(function (e) { clear(box).appendChild(el("p", { class: "error", text: e.message })); });
  });

  // =================================================================================================
  // Language gaps
  // =================================================================================================
  function loadGaps() {
    var body = $("gaps-body");
    api("GET", "/api/studio/gaps").then(function (g) {
      clear(body);
      var sections = [
        ["intents", "Intents with fewer than " + g.min_examples + " examples in a language", function (name, l) { return "#/intents/" + q(name) + "?lang=" + l; },
         function (name, l) { return (g.intents[name] || {})[l] || 0; }],
        ["responses", "Responses without a variation in a language", function (name, l) { return "#/responses/" + q(name) + "?add=" + l; }, null],
        ["entries", "FAQ entries without a version in a language", function (name, l) { return "#/faq/" + q(name) + "?lang=" + l; }, null]];
      sections.forEach(function (s) {
        var missing = g.missing[s[0]], names = Object.keys(missing);
        var sec = el("section", { class: "box gap", "data-kind": s[0] }, [el("h3", { text: s[1] + " (" + names.length + ")" })]);
        if (!names.length) sec.appendChild(el("p", { class: "ok", text: "None: complete in " + g.languages.join(", ") + "." }));
        var ul = el("ul", { class: "gap-list" });
        names.forEach(function (name) {
          ul.appendChild(el("li", {}, [el("span", { class: "name", text: name })].concat(missing[name].map(function (l) {
            return el("a", { class: "chip missing", href: s[2](name, l), text: l + (s[3] ? " · " + s[3](name, l) : ""), title: "open the " + langName(l) + " part" });
          }))));
        });
        sec.appendChild(ul); body.appendChild(sec);
      });
    }).catch(function (e) { clear(body).appendChild(el("p", { class: "error", text: e.message })); });
  }

  // =================================================================================================
  // Publish
  // =================================================================================================
  function refreshStatus() {
    return api("GET", "/api/studio/status").then(function (st) {
      S.status = st; S.languages = st.languages; S.def = st.default_language;
      var sel = $("try-language"); if (!sel.options.length) S.languages.forEach(function (l) { sel.appendChild(el("option", { value: l, text: l })); });
      var run = st.run, badge = $("live-badge");
      if (run && run.state === "running") {
        var active = run.stages.filter(function (s) { return s.state === "running"; })[0];
        badge.textContent = "Publishing… " + (active ? active.title.charAt(0).toLowerCase() + active.title.slice(1) : "");
        badge.className = "live-badge busy";
      } else {
        badge.textContent = "Live: " + st.live.id + (st.pending.length ? " · " + st.pending.length + " change" + (st.pending.length > 1 ? "s" : "") + " waiting" : " · up to date");
        badge.className = "live-badge" + (st.pending.length ? " pending" : "");
      }
      $("publish-top").disabled = st.busy;
      if (S.route && S.route.view === "publish") renderPublishBody();
      if (run && run.state === "running") schedulePoll();
      return st;
    }).catch(function () {});
  }
  function schedulePoll() {
    clearTimeout(S.pollTimer);
    S.pollTimer = setTimeout(function () { S.pollTimer = null; refreshStatus(); }, 700);
  }
  function renderPublish() { refreshStatus(); }
  function renderPublishBody() {
    var st = S.status; if (!st) return;
    var live = st.live, card = clear($("live-card"));
    card.appendChild(el("p", {}, [el("strong", { text: live.id }), " · " + when(live.created_at) + " · " + live.author_name]));
    card.appendChild(el("p", { class: "muted", text: live.summary }));
    (live.notes || []).forEach(function (n) { card.appendChild(el("p", { class: "note small", text: n })); });
    card.appendChild(el("p", { class: "muted small", text: "Rasa: " + st.replicas.map(function (r) { return r.ok ? r.model_file : "unreachable"; }).join(", ") +
      (st.kb ? " · knowledge base " + st.kb.version + " (" + st.kb.entries + " entries)" : "") }));
    var pending = clear($("pending"));
    if (!st.pending.length) pending.appendChild(el("li", { class: "muted", text: "Nothing: the live bot has every saved change." }));
    st.pending.slice(0, 30).forEach(function (r) { pending.appendChild(el("li", {}, [el("span", { text: r.summary }), el("span", { class: "muted small", text: " — " + r.author_name + ", " + when(r.created_at) })])); });
    $("publish-btn").disabled = st.busy; $("check-btn").disabled = st.busy;
    $("cancel-btn").hidden = !(st.run && st.run.state === "running");
    renderRun(st.run);
    var rows = clear($("releases"));
    st.releases.forEach(function (r) {
      rows.appendChild(el("tr", { class: r.live ? "live" : "" }, [el("td", { text: r.id + (r.live ? " (live)" : "") }), el("td", { text: when(r.created_at) }),
        el("td", { text: r.author_name }), el("td", { text: r.summary }), el("td", { text: { adopted: "started", full: "model + KB", kb: "FAQ only", rollback: "rollback" }[r.kind] || r.kind }),
        el("td", {}, [r.can_roll_back ? el("button", { type: "button", class: "small", text: "Roll back to this", onclick: function () { rollback(r); } }) : null])]));
    });
  }
  function renderRun(run) {
    var box = clear($("run"));
    if (!run) { box.appendChild(el("p", { class: "muted", text: "Nothing was published since the hub started." })); return; }
    var title = { running: "Publishing…", live: "Live", unchanged: "Nothing to publish", refused: "Refused by the evaluation gate",
                  failed: "Failed: the live bot is unchanged", cancelled: "Stopped: the live bot is unchanged", passed: "Check passed" }[run.state] || run.state;
    box.appendChild(el("p", { class: "run-state " + run.state, id: "run-state", text: title + (run.release ? ": " + run.release : "") + " · " + run.seconds + " s" }));
    if (run.error) box.appendChild(el("p", { class: run.state === "refused" ? "warn" : "error", id: "run-error", text: run.error }));
    var ol = el("ol", { class: "stages" });
    run.stages.forEach(function (s) {
      var li = el("li", { class: "stage " + s.state, "data-stage": s.name }, [
        el("span", { class: "st", text: { pending: "○", running: "◔", done: "✔", skipped: "–", failed: "✖" }[s.state] || "" }),
        el("span", { class: "t", text: s.title }), el("span", { class: "muted small", text: s.seconds != null ? " " + s.seconds + " s" : "" }),
        el("div", { class: "d small", text: s.detail || "" })]);
      if (s.progress != null && s.state === "running") {
        var bar = el("span", { class: "bar" }); bar.style.width = Math.round(s.progress * 100) + "%";
        li.appendChild(el("div", { class: "progress", role: "progressbar", "aria-valuenow": String(Math.round(s.progress * 100)), "aria-valuemin": "0", "aria-valuemax": "100" }, [bar]));
      }
      ol.appendChild(li);
    });
    box.appendChild(ol);
    if (run.gate && run.gate.checks && run.gate.checks.length) {
      var t = el("table", { class: "grid gate", id: "gate-table" }, [el("thead", {}, [el("tr", {}, ["Measure", "Live", "New", "Change", ""].map(function (h) { return el("th", { text: h }); }))])]);
      var tb = el("tbody");
      run.gate.checks.forEach(function (c) {
        tb.appendChild(el("tr", { class: c.passed ? "" : "bad" }, [el("td", { text: c.title }), el("td", { text: pct(c.live) }), el("td", { text: pct(c.candidate) }),
          el("td", { text: (c.drop > 0 ? "−" : "+") + Math.abs(c.drop * 100).toFixed(1) + " points" }), el("td", { text: c.passed ? "ok" : "too low" })]));
      });
      t.appendChild(tb); box.appendChild(t);
      box.appendChild(el("p", { class: "muted small", text: "A drop of more than " + (run.gate.margin * 100).toFixed(1) + " points refuses the new model." }));
      if (run.gate.worse.length) {
        box.appendChild(el("h4", { text: "Intents that got worse" }));
        var ul = el("ul", { class: "worse", id: "worse" });
        run.gate.worse.slice(0, 12).forEach(function (w) {
          ul.appendChild(el("li", {}, [el("a", { href: "#/intents/" + q(w.intent), text: w.intent }),
            " — " + w.title + ": " + pct(w.live) + " → " + (w.removed ? "removed" : pct(w.candidate)) + (w.messages ? " (" + w.messages + " messages)" : "")]));
        });
        box.appendChild(ul);
      }
    }
    if (run.log && run.log.length) {
      box.appendChild(el("details", {}, [el("summary", { text: "Log" }), el("pre", { class: "log", text: run.log.join("\n") })]));
    }
  }
  function publish(checkOnly) {
    var message = $("publish-message").value;
    api("POST", "/api/studio/publish", { message: message, check_only: !!checkOnly }).then(function () {
      $("publish-message").value = ""; flash(checkOnly ? "Checking…" : "Publishing…");
      if (!S.route || S.route.view !== "publish") location.hash = "#/publish"; else refreshStatus();
    }).catch(function (e) { flash(e.message, true); });
  }
  $("publish-form").addEventListener("submit", function (ev) { ev.preventDefault(); publish(false); });
  $("check-btn").addEventListener("click", function () { publish(true); });
  $("publish-top").addEventListener("click", function () { publish(false); });
  $("cancel-btn").addEventListener("click", function () { api("POST", "/api/studio/publish/cancel").then(refreshStatus); });
  function rollback(r) {
    confirmBox("Roll back to " + r.id + "?", "The bot and the content files go back to " + r.id + " (" + r.summary + "). " +
      "Later changes are undone as a new revision: you can revert it from each item's history.", [], function () {
      api("POST", "/api/studio/releases/" + q(r.id) + "/rollback").then(function (res) {
        flash(res.run.state === "live" ? "Rolled back to " + r.id : "Rollback failed: " + res.run.error, res.run.state !== "live"); refreshStatus();
      }).catch(function (e) { flash(e.message, true); });
    });
  }

  // =================================================================================================
  // Audit
  // =================================================================================================
  function loadAudit() {
    api("GET", "/api/studio/audit").then(function (d) {
      var rows = clear($("audit-rows"));
      d.entries.forEach(function (e) {
        rows.appendChild(el("tr", { class: "a-" + e.action }, [el("td", { text: when(e.at) }), el("td", { text: e.actor_name }),
          el("td", { text: e.action.replace(/_/g, " ") }), el("td", { text: e.summary }),
          el("td", { text: e.revision_id ? "#" + e.revision_id + (e.details && e.details.commit ? " · " + e.details.commit.slice(0, 8) : "") : "" }),
          el("td", { text: e.release || "" })]));
      });
    }).catch(function (e) { flash(e.message, true); });
  }

  // -- boot ----------------------------------------------------------------------------------------------
  api("GET", "/api/auth/me").then(start).catch(function () { showLogin(); });
})();
