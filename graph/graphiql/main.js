// Mounts GraphiQL over grantql's API. The page keeps no secret: headers
// (where the bearer token goes) are never written to the browser's storage,
// whatever GraphiQL's own setting says, so a token typed in the headers
// pane is gone when the tab closes.
"use strict";
(function () {
  // withoutHeaders returns value with every "headers" property removed, at
  // any depth: GraphiQL stores headers on their own, in each tab's state
  // and in its history.
  function withoutHeaders(value) {
    if (Array.isArray(value)) return value.map(withoutHeaders);
    if (value === null || typeof value !== "object") return value;
    var out = {};
    Object.keys(value).forEach(function (k) {
      if (k !== "headers") out[k] = withoutHeaders(value[k]);
    });
    return out;
  }

  // headerlessStorage is localStorage for everything but headers.
  var headerlessStorage = {
    getItem: function (key) { return window.localStorage.getItem(key); },
    removeItem: function (key) { window.localStorage.removeItem(key); },
    clear: function () { window.localStorage.clear(); },
    get length() { return window.localStorage.length; },
    setItem: function (key, value) {
      if (/headers$/i.test(key)) {
        window.localStorage.removeItem(key);
        return;
      }
      var parsed;
      try {
        parsed = JSON.parse(value);
      } catch (e) {
        window.localStorage.setItem(key, value);
        return;
      }
      window.localStorage.setItem(key, JSON.stringify(withoutHeaders(parsed)));
    },
  };

  // The API is beside this page: /graphql under /.
  var url = new URL("graphql", window.location.href).href;
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: GraphiQL.createFetcher({ url: url }),
      shouldPersistHeaders: false,
      // No switch in the settings to turn it on.
      showPersistHeadersSettings: false,
      storage: headerlessStorage,
      defaultEditorToolsVisibility: "headers",
    })
  );
})();
