/* AG Grid's code (1.3 MB; most pages have no grid) loads when a page first draws a grid, not with
   every page: the page leaves dash_ag_grid's bundle out and names it in <meta name="ioc-grid-bundle">
   (ioc/delivery.py). Until the bundle has run, dash_ag_grid.AgGrid is this stand-in: it loads the
   bundle, then draws the real grid with the same props; Dash waits for it before running the
   grid's callbacks (_dashprivate_isLazyComponentReady, as for Dash's own lazy components). The
   bundle replaces window.dash_ag_grid when it runs, so later grids are the real one directly. */
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="ioc-grid-bundle"]');
  if (!meta || window.dash_ag_grid) { return; }
  var React = window.React;
  var loading = null;
  var real = null;

  function load() {
    if (!loading) {
      loading = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = meta.content;
        script.async = true;
        script.onload = function () { real = window.dash_ag_grid; resolve(real); };
        script.onerror = function () { loading = null; reject(new Error("AG Grid's code did not load: " + meta.content)); };
        document.head.appendChild(script);
      });
    }
    return loading;
  }

  function AgGrid(props) {
    var state = React.useState(real);
    var module = state[0] || real;
    var setModule = state[1];
    React.useEffect(function () {
      if (!module) { load().then(function (m) { setModule(function () { return m; }); }); }
    }, []);
    if (module) { return React.createElement(module.AgGrid, props); }
    return React.createElement("div", { id: props.id, className: props.className, style: props.style });
  }

  AgGrid.dashRenderType = true;
  AgGrid.dashPersistence = { persisted_props: ["selectedRows"], persistence_type: "local" };
  Object.defineProperty(AgGrid, "_dashprivate_isLazyComponentReady", {
    get: function () {
      if (real) { return real.AgGrid._dashprivate_isLazyComponentReady; }
      return load().then(function (m) { return m.AgGrid._dashprivate_isLazyComponentReady; });
    }
  });
  window.dash_ag_grid = { AgGrid: AgGrid };
})();
