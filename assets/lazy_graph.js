/* A page's graphs are drawn one at a time after its first paint, those in the window first, not
   all in the task that draws the page: dcc.Graph is this stand-in, which holds the graph's box
   (its id, class and style, marked dash-graph--pending like dcc's own pending graph) until its
   turn, then draws dcc's graph with the same props. One graph is drawn per frame, so no single
   task draws them all; the first one loads Plotly's code (assets/lazy_plotly.js) and the others
   wait for it, or they would all be drawn in one long task when it arrives. Graphs outside the
   window follow when the browser is idle; on a phone (a narrow window) only when scrolled near
   them, so what is below the first screen costs nothing before it is looked at. A graph keeps
   its stand-in once drawn (React never remounts it; callbacks update it as before). */
(function () {
  "use strict";
  var phone = window.matchMedia("(max-width: 600px)");
  var queue = []; // the stand-ins waiting for their turn, in the order they were mounted
  var released = 0;
  var scheduled = false;

  function onScreen(node, margin) {
    var r = node.getBoundingClientRect();
    var h = window.innerHeight;
    return r.bottom > -margin * h && r.top < h + margin * h;
  }

  function schedule(idle) {
    if (scheduled || !queue.length) { return; }
    scheduled = true;
    var run = function () { scheduled = false; drawNext(idle); };
    if (idle && window.requestIdleCallback) {
      window.requestIdleCallback(run, { timeout: 3000 });
    } else {
      window.requestAnimationFrame(function () { setTimeout(run, 0); });
    }
  }

  function drawNext(idle) {
    queue = queue.filter(function (item) { return item.node && item.node.isConnected; });
    if (!queue.length) { return; }
    if (released && !window.Plotly) { // the first graph is still loading Plotly's code
      setTimeout(function () { schedule(false); }, 50);
      return;
    }
    var index = -1;
    for (var i = 0; i < queue.length && index < 0; i++) {
      if (onScreen(queue[i].node, phone.matches ? 0.5 : 0)) { index = i; }
    }
    if (index < 0) {
      if (phone.matches) { return; } // the next scroll brings the next graphs
      if (!idle) { schedule(true); return; }
      index = 0;
    }
    var item = queue.splice(index, 1)[0];
    released += 1;
    item.draw();
    schedule(false);
  }

  window.addEventListener("scroll", function () { schedule(false); }, { passive: true });
  window.addEventListener("resize", function () { schedule(false); }, { passive: true });

  /* Room for a vertical axis's tick labels before the first draw. Plotly draws a graph, then
     finds that the labels of an axis with automargin need a wider margin, and draws it all again
     (explore's ranking: both draws in the one long task of its first paint). An axis whose labels
     are given (ticktext: a ranking's names and values) is measured here with the same font, and
     the margin starts as wide as the labels need (a few pixels more: the second draw is only
     skipped, automargin still grows a margin that is short). Other axes are left to Plotly. */
  var SLACK = 14; // px: Plotly's own offset of a label from its axis (~11 px) and a few for rounding
  var PLOTLY_FONT = '"Open Sans", verdana, arial, sans-serif';
  var measure = null;

  function widest(texts, font) {
    measure = measure || document.createElement("canvas").getContext("2d");
    measure.font = (font.weight || "normal") + " " + (font.size || 12) + "px " + (font.family || PLOTLY_FONT);
    var most = 0;
    for (var i = 0; i < texts.length; i++) {
      var text = String(texts[i] == null ? "" : texts[i]);
      if (text.indexOf("<") >= 0) { return -1; } // Plotly's markup: not measured here
      most = Math.max(most, measure.measureText(text).width);
    }
    return most;
  }

  function withTickRoom(figure, width) {
    var layout = figure && figure.layout;
    if (!layout || !width) { return figure; }
    var margin = Object.assign({}, layout.margin);
    var changed = false;
    Object.keys(layout).forEach(function (key) {
      var axis = layout[key];
      if (!/^yaxis\d*$/.test(key) || !axis || axis.automargin !== true || !Array.isArray(axis.ticktext)
          || axis.visible === false || axis.showticklabels === false || axis.ticklabelposition) { return; }
      var labels = widest(axis.ticktext, Object.assign({}, layout.font, axis.tickfont));
      if (labels < 0) { return; }
      var side = axis.side === "right" ? "r" : "l";
      var ticks = axis.ticks === "outside" || axis.ticks === undefined && axis.showline ? (axis.ticklen == null ? 5 : axis.ticklen) : 0;
      var room = Math.ceil(labels) + ticks + SLACK;
      if (room > (margin[side] == null ? 80 : margin[side])) { margin[side] = room; changed = true; }
    });
    // labels too wide for the graph (a school's name on a phone): Plotly's automargin shares the
    // width out and keeps a plot of at least minreducedwidth; a margin given here would not
    var plot = width - (margin.l == null ? 80 : margin.l) - (margin.r == null ? 80 : margin.r);
    if (!changed || !(plot >= (layout.minreducedwidth || 64))) { return figure; }
    return Object.assign({}, figure, { layout: Object.assign({}, layout, { margin: margin }) });
  }

  function standIn(Real) {
    var React = window.React;
    function Graph(props) {
      var state = React.useState(false);
      var drawn = state[0];
      var setDrawn = state[1];
      var box = React.useRef(null);
      var width = React.useRef(0); // the stand-in's width when its turn came: the graph's
      // the same object for the same figure: dcc.Graph draws again when its figure prop changes
      var figure = React.useMemo(function () {
        return drawn ? withTickRoom(props.figure, width.current) : props.figure;
      }, [props.figure, drawn]);
      React.useEffect(function () {
        if (drawn) { return undefined; }
        var item = {
          node: box.current,
          draw: function () { width.current = box.current.getBoundingClientRect().width; setDrawn(true); },
        };
        queue.push(item);
        schedule(false);
        return function () {
          var at = queue.indexOf(item);
          if (at >= 0) { queue.splice(at, 1); }
        };
      }, []);
      if (drawn) { return React.createElement(Real, figure === props.figure ? props : Object.assign({}, props, { figure: figure })); }
      return React.createElement("div", {
        id: typeof props.id === "string" ? props.id : undefined,
        ref: box,
        className: "dash-graph dash-graph--pending" + (props.className ? " " + props.className : ""),
        style: props.style,
      });
    }
    // what Dash's renderer reads of a component type: its defaults, persistence, readiness
    Object.getOwnPropertyNames(Real).forEach(function (name) {
      if (name === "length" || name === "name" || name === "prototype" || name === "caller" || name === "arguments") { return; }
      if (name === "_dashprivate_isLazyComponentReady") {
        Object.defineProperty(Graph, name, { get: function () { return Real[name]; } });
        return;
      }
      Graph[name] = Real[name];
    });
    return Graph;
  }

  function install() {
    // dcc's exports are read-only: Dash's renderer finds components through window's namespace
    var dcc = window.dash_core_components;
    if (dcc && dcc.Graph && !dcc.Graph.iocStandIn) {
      var Graph = standIn(dcc.Graph);
      Graph.iocStandIn = true;
      window.dash_core_components = Object.assign({}, dcc, { Graph: Graph });
    }
  }

  // dcc's bundle comes after the assets in the page; Dash's renderer draws the layout later
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", install);
  } else {
    install();
  }
})();
