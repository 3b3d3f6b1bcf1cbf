/* The agent API from the console's pages: JSON in and out, the session cookie, the X-CSRF-Token header on
 * state-changing requests, and errors as Error objects carrying the API's detail and the HTTP status. */
(function () {
  "use strict";
  window.SupportApi = {
    client: function (csrf, onStatus) {
      return function api(method, path, body) {
        var headers = { "Accept": "application/json" };
        if (body !== undefined) headers["Content-Type"] = "application/json";
        if (method !== "GET" && csrf()) headers["X-CSRF-Token"] = csrf();
        return fetch(path, { method: method, headers: headers, credentials: "same-origin",
                             body: body === undefined ? undefined : JSON.stringify(body) })
          .then(function (r) {
            return r.text().then(function (t) {
              var data = null; try { data = t ? JSON.parse(t) : null; } catch (e) { data = { detail: t }; }
              if (onStatus) onStatus(r.status, path);
              if (!r.ok) {
                var detail = data && data.detail;
                if (Array.isArray(detail)) detail = detail.map(function (d) { return d.msg; }).join("; ");
                var err = new Error(detail || ("HTTP " + r.status)); err.status = r.status; throw err;
              }
              return data;
            });
          });
      };
    }
  };
})();
