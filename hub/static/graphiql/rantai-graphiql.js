// Rantai's GraphiQL: the example tabs (each with its variables, so it runs on its first
// click), the Explorer plugin, and a "Kunci API" field whose key is kept in this browser's
// storage (shared with the dashboard) and sent as the Authorization header, never in a URL.
(function () {
  "use strict";

  var STORAGE = "rantai-key";

  function currentKey() {
    try { return window.localStorage.getItem(STORAGE) || ""; } catch (e) { return ""; }
  }

  function showWho() {
    var key = currentKey();
    document.getElementById("rantai-key-who").textContent =
      key ? "dengan kunci " + key.slice(0, 11) + "…" : "publik";
  }

  var form = document.getElementById("rantai-key");
  var input = document.getElementById("rantai-key-input");
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var key = input.value.trim();
    input.value = "";
    if (key) window.localStorage.setItem(STORAGE, key);
    else window.localStorage.removeItem(STORAGE);
    showWho();
  });
  document.getElementById("rantai-key-clear").addEventListener("click", function () {
    window.localStorage.removeItem(STORAGE);
    showWho();
  });
  showWho();

  var tabs = [];
  try {
    var parsed = JSON.parse(document.getElementById("rantai-tabs").textContent);
    if (Array.isArray(parsed)) tabs = parsed;
  } catch (e) {
    console.error("Rantai: invalid default tabs JSON", e);
  }
  tabs = tabs
    .filter(function (t) { return t && typeof t.query === "string"; })
    .map(function (t) {
      return { query: t.query, variables: typeof t.variables === "string" ? t.variables : "" };
    });

  // GraphiQL can send the operation name of the tab it showed before (its first run after
  // switching tabs did): a name the document does not define is dropped, so the one
  // operation of the document runs.
  function ownOperation(body) {
    try {
      var params = JSON.parse(body);
      var name = params.operationName;
      if (name && typeof params.query === "string") {
        var defined = new RegExp("\\b(query|mutation|subscription)\\s+" + name + "\\b");
        if (!defined.test(params.query)) {
          delete params.operationName;
          return JSON.stringify(params);
        }
      }
    } catch (e) { /* not JSON: sent as it is */ }
    return body;
  }

  // Every request carries the key as it is now: changing it needs no reload.
  function keyedFetch(url, init) {
    var options = Object.assign({}, init || {});
    if (typeof options.body === "string") options.body = ownOperation(options.body);
    var headers = Object.assign({}, options.headers || {});
    var key = currentKey();
    if (key) headers.Authorization = "Bearer " + key;
    options.headers = headers;
    return window.fetch(url, options);
  }

  // Subscriptions run over this page's own WebSocket endpoint (graphql-transport-ws), with
  // the key as it is when the subscription starts, sent in connection_init.
  var wsUrl = (window.location.protocol === "https:" ? "wss://" : "ws://") +
    window.location.host + window.location.pathname;
  function fetcher(params, options) {
    var key = currentKey();
    return GraphiQL.createFetcher({
      url: window.location.pathname,
      fetch: keyedFetch,
      subscriptionUrl: wsUrl,
      wsConnectionParams: key ? { Authorization: "Bearer " + key } : {},
    })(params, options);
  }

  var props = {
    fetcher: fetcher,
    plugins: [GraphiQLPluginExplorer.explorerPlugin()],
  };
  if (tabs.length > 0) {
    props.defaultTabs = tabs;
    // The first tab's editors are filled from these (GraphiQL fills them from `query` and
    // `variables`, not from the first default tab: its Variables pane stayed empty).
    props.query = tabs[0].query;
    props.variables = tabs[0].variables;
  }
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, props));
})();
