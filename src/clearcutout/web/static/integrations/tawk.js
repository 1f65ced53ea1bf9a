// Tawk.to chat loader (served from our origin, so the CSP needs no 'unsafe-inline').
// Only included when the operator configured Tawk.to (Settings.integrations).
(function () {
  "use strict";
  var me = document.currentScript;
  var property = me && me.dataset.property;
  var widget = (me && me.dataset.widget) || "default";
  if (!property) { return; }
  window.Tawk_API = window.Tawk_API || {};
  window.Tawk_LoadStart = new Date();
  var script = document.createElement("script");
  script.async = true;
  script.src = "https://embed.tawk.to/" + encodeURIComponent(property) + "/" + encodeURIComponent(widget);
  script.charset = "UTF-8";
  script.setAttribute("crossorigin", "*");
  document.head.appendChild(script);
})();
