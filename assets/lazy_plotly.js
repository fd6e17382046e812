/* Plotly's code (1.2 MB, 0.4 MB compressed) is not a script of the page: downloaded and run before
   Dash's renderer, it held up the page's first content (on a phone, seconds). dcc.Graph loads
   plotly.js by itself when it first draws and window.Plotly is not yet defined, from
   window._dashPlotlyJSURL, one script for all the page's graphs; Dash's renderer sets that URL
   to dcc's full bundle (4.6 MB). Here it is fixed to the product's own bundle, named in
   <meta name="ioc-plotly-bundle"> (ioc/delivery.py), and the renderer's assignment is ignored. */
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="ioc-plotly-bundle"]');
  if (!meta || window.Plotly) { return; }
  Object.defineProperty(window, "_dashPlotlyJSURL", {
    configurable: false,
    get: function () { return meta.content; },
    set: function () { /* the renderer's full bundle: not loaded */ }
  });
})();
