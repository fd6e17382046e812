/* AG Grid's code (1.3 MB; most pages have no grid) loads when a page first draws a grid, not with
   every page: the page leaves dash_ag_grid's bundle out and names it in <meta name="ioc-grid-bundle">
   (ioc/delivery.py). dash_ag_grid.AgGrid is this stand-in: it loads the bundle once, then draws the
   real grid with the same props inside a frame that keeps the grid's reserved height (its style's
   min-height, ioc.pages._common.grid_style) while AG Grid's own code is still arriving. Dash waits
   for it before running the grid's callbacks (_dashprivate_isLazyComponentReady, as for Dash's own
   lazy components). It stays the grid's component after the bundle has run, so a grid drawn before
   and after is one component type (React keeps it, it is never remounted). A grid the page hides
   (display: none; a phone shows the district's list of units instead) loads no code until shown. */
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
        script.onload = function () {
          real = window.dash_ag_grid;
          window.dash_ag_grid = Object.assign({}, real, { AgGrid: AgGrid });
          resolve(real);
        };
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
    var frame = React.useRef(null);
    React.useEffect(function () {
      if (module) { return undefined; }
      var draw = function () { load().then(function (m) { setModule(function () { return m; }); }); };
      var box = frame.current;
      if (!box || box.getClientRects().length || !window.ResizeObserver) { draw(); return undefined; }
      // a grid the page hides (a phone shows the list of units instead): its code when it is shown
      var shown = new window.ResizeObserver(function () {
        if (box.getClientRects().length) { shown.disconnect(); draw(); }
      });
      shown.observe(box);
      return function () { shown.disconnect(); };
    }, []);
    var reserved = props.style && props.style.minHeight;
    return React.createElement(
      "div",
      { className: "grid-frame", ref: frame, style: reserved ? { minHeight: reserved } : undefined },
      module ? React.createElement(module.AgGrid, props) : null
    );
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
