// Starts GraphiQL from the page's JSON config (no inline script: the page's CSP allows only
// scripts from this origin). `?q=` and `?variables=` prefill the editors; `?query=` is taken
// by /graphql itself (a GET query), so the IDE uses `q` like Strawberry's own page.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("ide-config").textContent);
  var params = new URLSearchParams(window.location.search);
  var endpoint = new URL(config.endpoint, window.location.href);
  // Subscriptions go over graphql-transport-ws on the same path; GraphiQL sends the Headers
  // editor's entries as the connection_init payload, which is how the server authenticates them.
  var socket = new URL(endpoint.href);
  socket.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";
  var fetcher = GraphiQL.createFetcher({ url: endpoint.href, subscriptionUrl: socket.href });
  var props = {
    fetcher: fetcher,
    defaultQuery: config.defaultQuery,
    defaultHeaders: config.defaultHeaders || undefined,
    defaultEditorToolsVisibility: config.defaultHeaders ? "headers" : true,
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: false,
    inputValueDeprecation: true,
  };
  if (params.get("q")) props.query = params.get("q");
  if (params.get("variables")) props.variables = params.get("variables");
  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(GraphiQL, props));
})();
