/* The one JSON-over-HTTP helper of the console pages: the session cookie, the CSRF header on state changes, the
 * API's error detail as the Error's message, and a callback when the session is gone (401). */
(function () {
  "use strict";
  window.supportApi = function (csrf, onUnauthorized) {
    return function api(method, path, body) {
      var headers = { "Accept": "application/json" };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      if (method !== "GET" && csrf()) headers["X-CSRF-Token"] = csrf();
      return fetch(path, { method: method, headers: headers, credentials: "same-origin",
                           body: body === undefined ? undefined : JSON.stringify(body) })
        .then(function (r) {
          return r.text().then(function (t) {
            var data = null; try { data = t ? JSON.parse(t) : null; } catch (e) { data = { detail: t }; }
            if (r.status === 401 && path !== "/api/auth/login") onUnauthorized();
            if (!r.ok) { var err = new Error((data && data.detail) || ("HTTP " + r.status)); err.status = r.status; throw err; }
            return data;
          });
        });
    };
  };
})();
