// coldcase report: histogram, filterable/sortable virtual timeline table,
// finding links, and a self-test (open the page with #selftest).
//
// Evidence strings only ever reach the DOM through textContent and title,
// never innerHTML.
(function () {
  'use strict';

  var errors = [];
  window.addEventListener('error', function (e) {
    errors.push(String(e.message || e.type) + (e.lineno ? ' @' + e.lineno : ''));
  });
  var consoleError = console.error;
  console.error = function () {
    errors.push(Array.prototype.join.call(arguments, ' '));
    return consoleError.apply(console, arguments);
  };

  // Event columns in the JSON block (see report.go).
  var T = 0, DESC = 1, MSG = 2, SRC = 3, USER = 4, HOST = 5, IP = 6, PATH = 7, EVID = 8;
  // Table columns: label and event column.
  var COLS = [
    ['Time (UTC)', T], ['Description', DESC], ['Source', SRC], ['User', USER],
    ['IP', IP], ['Path', PATH], ['Message', MSG]
  ];
  var ROWH = 22;

  function $(id) { return document.getElementById(id); }

  var EV = JSON.parse($('events').textContent);
  var META = JSON.parse($('meta').textContent);
  $('events').textContent = ''; // the parsed copy is enough; free the text

  // Control characters and bidi overrides become visible, as in the
  // terminal and in the rest of the page.
  var ctrl = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\\]/g;
  function show(s) {
    if (typeof s !== 'string') return s == null ? '' : String(s);
    return s.replace(ctrl, function (c) {
      var n = c.charCodeAt(0);
      if (c === '\\') return '\\\\';
      if (c === '\t') return '\\t';
      if (c === '\n') return '\\n';
      if (n < 0x100) return '\\x' + (n < 16 ? '0' : '') + n.toString(16);
      return '\\u{' + n.toString(16).toUpperCase() + '}';
    });
  }

  function pad(n, w) { n = String(n); while (n.length < w) n = '0' + n; return n; }
  // fmt formats µs since the epoch as "2006-01-02 15:04:05.000000".
  function fmt(us) {
    var ms = Math.floor(us / 1000);
    var d = new Date(ms);
    if (isNaN(d.getTime())) return String(us);
    var micro = us - ms * 1000;
    var y = d.getUTCFullYear();
    return (y < 0 ? '-' + pad(-y, 4) : pad(y, 4)) + '-' + pad(d.getUTCMonth() + 1, 2) + '-' + pad(d.getUTCDate(), 2) +
      ' ' + pad(d.getUTCHours(), 2) + ':' + pad(d.getUTCMinutes(), 2) + ':' + pad(d.getUTCSeconds(), 2) +
      '.' + pad(d.getUTCMilliseconds(), 3) + pad(micro, 3);
  }

  // --- state --------------------------------------------------------------
  var st = {
    q: '', src: '',
    ev: '',                      // exact evidence reference, from a finding's evidence link
    lo: null, hi: null,          // time window from the histogram, µs inclusive
    sortCol: T, sortDir: 1,
    order: null,                 // all event indices in sort order
    qs: null,                    // order filtered by text and source
    view: null,                  // qs within the time window: the table rows
    sel: -1,                     // selected event index
    hit: -1                      // event a finding link jumped to
  };
  var hay = null; // lower-cased text per event, built on first text filter

  var tmin = Infinity, tmax = -Infinity;
  for (var i = 0; i < EV.length; i++) {
    var t = EV[i][T];
    if (t < tmin) tmin = t;
    if (t > tmax) tmax = t;
  }
  st.order = new Int32Array(EV.length);
  for (i = 0; i < EV.length; i++) st.order[i] = i;

  // --- filtering and sorting ----------------------------------------------
  function buildHay() {
    hay = new Array(EV.length);
    for (var i = 0; i < EV.length; i++) {
      var e = EV[i];
      hay[i] = (e[MSG] + '\u0001' + e[PATH] + '\u0001' + e[USER] + '\u0001' + e[IP] + '\u0001' + e[EVID]).toLowerCase();
    }
  }

  function filterQS() {
    var q = st.q.toLowerCase(), src = st.src, evref = st.ev, o = st.order;
    if (q && !hay) buildHay();
    var out = new Int32Array(o.length), n = 0;
    for (var k = 0; k < o.length; k++) {
      var i = o[k];
      if (src && EV[i][SRC] !== src) continue;
      if (evref && EV[i][EVID] !== evref) continue;
      if (q && hay[i].indexOf(q) < 0) continue;
      out[n++] = i;
    }
    st.qs = out.subarray(0, n);
  }

  function filterWindow() {
    if (st.lo === null) { st.view = st.qs; return; }
    var lo = st.lo, hi = st.hi, qs = st.qs;
    var out = new Int32Array(qs.length), n = 0;
    for (var k = 0; k < qs.length; k++) {
      var t = EV[qs[k]][T];
      if (t >= lo && t <= hi) out[n++] = qs[k];
    }
    st.view = out.subarray(0, n);
  }

  function sortOrder() {
    var c = st.sortCol, dir = st.sortDir;
    var a = Array.prototype.slice.call(st.order);
    a.sort(function (x, y) {
      var u = EV[x][c], v = EV[y][c];
      if (u < v) return -dir;
      if (u > v) return dir;
      return x - y; // stable: original (time) order breaks ties
    });
    st.order = Int32Array.from(a);
  }

  function refresh(keepScroll) {
    filterQS();
    filterWindow();
    drawHist();
    updateTable(keepScroll);
  }

  // --- histogram ----------------------------------------------------------
  var canvas = $('hist'), bins = null, dom = [0, 0], drag = null;

  function domain() {
    if (st.lo !== null) return [st.lo, st.hi];
    if (!EV.length) return [0, 1];
    if (tmin === tmax) return [tmin - 1, tmax + 1];
    return [tmin, tmax];
  }

  function drawHist() {
    var dpr = window.devicePixelRatio || 1;
    var w = canvas.clientWidth || 800, h = canvas.clientHeight || 140;
    if (canvas.width !== Math.round(w * dpr)) canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    var g = canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    dom = domain();
    var nb = Math.max(10, Math.min(240, Math.floor(w / 5)));
    bins = new Float64Array(nb);
    var span = dom[1] - dom[0], qs = st.qs, max = 0;
    for (var k = 0; k < qs.length; k++) {
      var t = EV[qs[k]][T];
      if (t < dom[0] || t > dom[1]) continue;
      var b = Math.min(nb - 1, Math.floor((t - dom[0]) / span * nb));
      bins[b]++;
    }
    for (k = 0; k < nb; k++) if (bins[k] > max) max = bins[k];
    var top = 4, base = h - 22, bw = w / nb;
    g.fillStyle = '#f5f7f9';
    g.fillRect(0, top, w, base - top);
    g.fillStyle = '#1f5fa8';
    for (k = 0; k < nb; k++) {
      if (!bins[k]) continue;
      // A log scale keeps one busy second from flattening the rest.
      var bh = Math.max(1, (base - top) * Math.log(1 + bins[k]) / Math.log(1 + max));
      g.fillRect(k * bw + 0.5, base - bh, Math.max(1, bw - 1), bh);
    }
    if (st.hit >= 0) {
      var ht = EV[st.hit][T];
      if (ht >= dom[0] && ht <= dom[1]) {
        g.fillStyle = '#b3261e';
        g.fillRect((ht - dom[0]) / span * w - 1, top, 2, base - top);
      }
    }
    g.fillStyle = '#5a6270';
    g.font = '11px ui-monospace, "DejaVu Sans Mono", monospace';
    g.textBaseline = 'top';
    g.textAlign = 'left';
    g.fillText(fmt(dom[0]).slice(0, 19), 2, base + 5);
    g.textAlign = 'right';
    g.fillText(fmt(dom[1]).slice(0, 19), w - 2, base + 5);
    g.textAlign = 'center';
    if (w > 700) g.fillText(fmt((dom[0] + dom[1]) / 2).slice(0, 19), w / 2, base + 5);
    g.textAlign = 'left';
    g.fillText('max ' + max + '/bin', 4, top + 2);
    if (drag && Math.abs(drag.x1 - drag.x0) > 1) {
      g.fillStyle = 'rgba(194,94,0,0.25)';
      g.fillRect(Math.min(drag.x0, drag.x1), top, Math.abs(drag.x1 - drag.x0), base - top);
    }
    var info = (st.lo === null ? 'All times' : 'Window ' + fmt(st.lo) + ' … ' + fmt(st.hi)) +
      ' · bin ' + human(span / nb);
    $('histinfo').textContent = info;
    $('reset').disabled = st.lo === null;
  }

  function human(us) {
    var s = us / 1e6;
    if (s < 1) return (us / 1000).toFixed(1) + ' ms';
    if (s < 120) return s.toFixed(1) + ' s';
    if (s < 7200) return (s / 60).toFixed(1) + ' min';
    if (s < 172800) return (s / 3600).toFixed(1) + ' h';
    return (s / 86400).toFixed(1) + ' days';
  }

  function xToTime(x) {
    var w = canvas.clientWidth || 800;
    return dom[0] + (dom[1] - dom[0]) * Math.max(0, Math.min(1, x / w));
  }

  function setWindow(lo, hi) {
    if (lo === null) { st.lo = st.hi = null; } else {
      if (hi < lo) { var x = lo; lo = hi; hi = x; }
      st.lo = Math.floor(lo); st.hi = Math.max(Math.ceil(hi), st.lo + 1);
    }
    filterWindow();
    drawHist();
    updateTable(false);
  }

  function localX(ev) { return ev.clientX - canvas.getBoundingClientRect().left; }
  canvas.addEventListener('mousedown', function (ev) {
    drag = { x0: localX(ev), x1: localX(ev) };
    ev.preventDefault();
  });
  window.addEventListener('mousemove', function (ev) {
    if (!drag) return;
    drag.x1 = localX(ev);
    drawHist();
  });
  window.addEventListener('mouseup', function (ev) {
    if (!drag) return;
    var d = drag;
    drag = null;
    d.x1 = localX(ev);
    if (Math.abs(d.x1 - d.x0) > 3) {
      setWindow(xToTime(Math.min(d.x0, d.x1)), xToTime(Math.max(d.x0, d.x1)));
    } else if (bins) {
      // A click zooms to the bar under it.
      var w = canvas.clientWidth || 800, b = Math.floor(d.x0 / w * bins.length);
      if (b >= 0 && b < bins.length && bins[b]) {
        var span = dom[1] - dom[0];
        setWindow(dom[0] + span * b / bins.length, dom[0] + span * (b + 1) / bins.length);
      } else {
        drawHist();
      }
    }
  });
  $('reset').addEventListener('click', function () { setWindow(null); });
  window.addEventListener('resize', function () { drawHist(); render(); });

  // --- the virtual table --------------------------------------------------
  var thead = $('thead'), scroller = $('tscroll'), spacer = $('tspacer'), rowsEl = $('trows');
  COLS.forEach(function (c, k) {
    var d = document.createElement('div');
    d.textContent = c[0];
    d.setAttribute('role', 'columnheader');
    d.dataset.col = k;
    d.title = 'Sort by ' + c[0];
    d.tabIndex = 0;
    d.addEventListener('click', function () { sortBy(c[1], st.sortCol === c[1] ? -st.sortDir : 1); });
    d.addEventListener('keydown', function (ev) {
      if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); d.click(); }
    });
    thead.appendChild(d);
  });

  function markSort() {
    for (var k = 0; k < thead.children.length; k++) {
      var c = COLS[k][1];
      thead.children[k].setAttribute('aria-sort', c === st.sortCol ? (st.sortDir > 0 ? 'ascending' : 'descending') : 'none');
    }
  }

  function sortBy(col, dir) {
    st.sortCol = col;
    st.sortDir = dir;
    sortOrder();
    markSort();
    filterQS();
    filterWindow();
    updateTable(false);
  }

  var pool = [];
  function rowEl(k) {
    while (pool.length <= k) {
      var r = document.createElement('div');
      r.className = 'trow';
      r.setAttribute('role', 'row');
      for (var c = 0; c < COLS.length; c++) {
        var cell = document.createElement('div');
        cell.className = 'c' + c;
        r.appendChild(cell);
      }
      r.addEventListener('click', onRowClick);
      pool.push(r);
    }
    return pool[k];
  }

  function render() {
    var v = st.view, h = scroller.clientHeight || 600;
    var first = Math.max(0, Math.floor(scroller.scrollTop / ROWH) - 4);
    var n = Math.min(v.length - first, Math.ceil(h / ROWH) + 8);
    if (n < 0) n = 0;
    rowsEl.style.transform = 'translateY(' + first * ROWH + 'px)';
    for (var k = 0; k < n; k++) {
      var r = rowEl(k), i = v[first + k], e = EV[i];
      r.dataset.i = i;
      r.className = 'trow' + ((first + k) % 2 ? ' odd' : '') + (i === st.sel ? ' sel' : '') + (i === st.hit ? ' hit' : '');
      for (var c = 0; c < COLS.length; c++) {
        var val = COLS[c][1] === T ? fmt(e[T]) : show(e[COLS[c][1]]);
        var cell = r.children[c];
        if (cell.textContent !== val) cell.textContent = val;
      }
      r.title = show(e[EVID]);
      if (r.parentNode !== rowsEl) rowsEl.appendChild(r);
    }
    while (rowsEl.children.length > n) rowsEl.removeChild(rowsEl.lastChild);
  }

  function updateTable(keepScroll) {
    spacer.style.height = st.view.length * ROWH + 'px';
    if (!keepScroll) scroller.scrollTop = 0;
    var txt = st.view.length.toLocaleString('en') + ' of ' + EV.length.toLocaleString('en') + ' events';
    $('rowcount').textContent = txt;
    render();
  }

  var raf = 0;
  scroller.addEventListener('scroll', function () {
    if (raf) return;
    raf = requestAnimationFrame(function () { raf = 0; render(); });
  });

  function onRowClick() {
    var i = +this.dataset.i;
    st.sel = i;
    var e = EV[i], box = $('detail');
    box.textContent = [
      'time       ' + fmt(e[T]) + ' UTC',
      'what       ' + show(e[DESC]),
      'source     ' + show(e[SRC]),
      'user       ' + show(e[USER]),
      'host       ' + show(e[HOST]),
      'ip         ' + show(e[IP]),
      'path       ' + show(e[PATH]),
      'evidence   ' + show(e[EVID]),
      'message    ' + show(e[MSG])
    ].join('\n');
    box.hidden = false;
    render();
  }

  // --- filters ------------------------------------------------------------
  var qIn = $('q'), srcSel = $('src'), qTimer = 0;
  var sources = {};
  for (i = 0; i < EV.length; i++) sources[EV[i][SRC]] = (sources[EV[i][SRC]] || 0) + 1;
  Object.keys(sources).sort().forEach(function (s) {
    var o = document.createElement('option');
    o.value = s;
    o.textContent = show(s) + ' (' + sources[s] + ')';
    srcSel.appendChild(o);
  });
  qIn.addEventListener('input', function () {
    clearTimeout(qTimer);
    qTimer = setTimeout(function () { setQuery(qIn.value); }, 120);
  });
  srcSel.addEventListener('change', function () { setSource(srcSel.value); });

  function setQuery(q) { qIn.value = q; st.q = q; st.hit = -1; refresh(false); }
  function setSource(s) { srcSel.value = s; st.src = s; refresh(false); }

  // scrollToTime scrolls the table (in time order) to the first row at or
  // after t, or the last row before it, and marks it.
  function scrollToTime(t) {
    var v = st.view, lo = 0, hi = v.length;
    while (lo < hi) {
      var mid = (lo + hi) >> 1;
      if (EV[v[mid]][T] < t) lo = mid + 1; else hi = mid;
    }
    if (lo >= v.length) lo = v.length - 1;
    if (lo < 0) return -1;
    st.hit = v[lo];
    scroller.scrollTop = Math.max(0, lo - 3) * ROWH;
    render();
    drawHist();
    return lo;
  }

  // A finding's link shows its events: filtered by the IP, path or user it
  // names, in time order, scrolled to its time. Its evidence links show
  // the events read from exactly that place (file and line or inode).
  function showEvents(q, evref, t) {
    st.q = q; qIn.value = q;
    st.ev = evref;
    $('evtext').textContent = show(evref);
    $('evfilter').hidden = !evref;
    st.src = ''; srcSel.value = '';
    st.lo = st.hi = null;
    st.hit = -1;
    if (st.sortCol !== T || st.sortDir !== 1) { st.sortCol = T; st.sortDir = 1; sortOrder(); markSort(); }
    refresh(false);
    if (t) scrollToTime(t);
    $('timeline').scrollIntoView();
  }
  Array.prototype.forEach.call(document.querySelectorAll('a.events-link'), function (a) {
    a.addEventListener('click', function (ev) {
      ev.preventDefault();
      showEvents(a.getAttribute('data-q') || '', '', +(a.getAttribute('data-t') || 0));
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll('a.ev-link'), function (a) {
    a.addEventListener('click', function (ev) {
      ev.preventDefault();
      showEvents('', a.getAttribute('data-ev') || '', 0);
    });
  });
  $('evclear').addEventListener('click', function () {
    st.ev = '';
    $('evfilter').hidden = true;
    refresh(true);
  });

  // --- start --------------------------------------------------------------
  if (META.total > META.embedded) {
    var which = META.skipped > 0 ? 'latest' : 'first';
    $('capnote').textContent = 'This page holds the ' + which + ' ' + META.embedded.toLocaleString('en') + ' of ' +
      META.total.toLocaleString('en') + ' events (' + META.first + ' … ' + META.last + '); the limit is ' +
      META.max.toLocaleString('en') + ' events a page. timeline.jsonl and timeline.csv beside it hold every event.';
    $('capnote').hidden = false;
  }
  if (META.error) {
    $('capnote').textContent += ' Reading the timeline stopped early: ' + show(META.error);
    $('capnote').hidden = false;
  }
  markSort();
  refresh(false);

  function applyView(v) {
    st.q = v.q || ''; qIn.value = st.q;
    st.src = v.src || ''; srcSel.value = st.src;
    st.lo = st.hi = null;
    if (v.lo && v.hi && isFinite(+v.lo) && isFinite(+v.hi)) { st.lo = +v.lo; st.hi = Math.max(+v.hi, st.lo + 1); }
    refresh(false);
  }

  // --- self-test ----------------------------------------------------------
  // #selftest&q=TEXT&src=SOURCE&lo=µs&hi=µs runs the page's own functions
  // and writes what they did, as JSON, into the hidden selftest element for a
  // headless browser test to read back with --dump-dom.
  function selftest(p) {
    var r = { total: EV.length, meta: META, initialRows: st.view.length };
    // Nothing from the evidence may have become markup or run.
    r.pwned = !!window.pwned;
    r.injectedNodes = document.querySelectorAll('img, svg, iframe, h2#pwn').length;
    function sorted(col, dir) {
      var v = st.view;
      for (var k = 1; k < v.length; k++) {
        var a = EV[v[k - 1]][col], b = EV[v[k]][col];
        if (dir > 0 ? a > b : a < b) return false;
      }
      return true;
    }
    var t0 = performance.now();
    setQuery(p.q || '');
    r.filterMs = performance.now() - t0;
    r.queryRows = st.view.length;
    r.domRows = rowsEl.children.length;
    thead.children[6].click(); // message, ascending
    r.msgAscSorted = sorted(MSG, 1);
    r.msgFirst = st.view.length ? EV[st.view[0]][MSG] : null;
    thead.children[6].click(); // message, descending
    r.msgDescSorted = sorted(MSG, -1);
    r.msgDescFirst = st.view.length ? EV[st.view[0]][MSG] : null;
    setQuery('');
    t0 = performance.now();
    thead.children[6].click(); // every row by message
    r.sortAllMs = performance.now() - t0;
    setQuery(p.q || '');
    thead.children[0].click(); // time, ascending
    r.timeSorted = sorted(T, 1);
    r.firstRowText = rowsEl.children.length ? rowsEl.children[0].children[6].textContent : null;
    setQuery('');
    setSource(p.src || '');
    r.sourceRows = st.view.length;
    setSource('');
    if (p.lo) {
      setWindow(+p.lo, +p.hi);
      r.windowRows = st.view.length;
      var sum = 0;
      for (var k = 0; k < bins.length; k++) sum += bins[k];
      r.windowHistSum = sum;
    }
    // Drag across the middle half of the histogram like a user would.
    setWindow(null);
    var rect = canvas.getBoundingClientRect(), y = rect.top + 50;
    canvas.dispatchEvent(new MouseEvent('mousedown', { clientX: rect.left + rect.width / 4, clientY: y, bubbles: true }));
    window.dispatchEvent(new MouseEvent('mousemove', { clientX: rect.left + rect.width / 2, clientY: y, bubbles: true }));
    window.dispatchEvent(new MouseEvent('mouseup', { clientX: rect.left + rect.width * 3 / 4, clientY: y, bubbles: true }));
    r.dragWindow = [st.lo, st.hi];
    r.dragRows = st.view.length;
    var inWin = 0;
    for (k = 0; k < EV.length; k++) if (EV[k][T] >= st.lo && EV[k][T] <= st.hi) inWin++;
    r.dragExpected = inWin;
    $('reset').click();
    r.resetRows = st.view.length;
    // Scroll to the end: the last row must be rendered.
    scroller.scrollTop = scroller.scrollHeight;
    render();
    var last = rowsEl.lastChild;
    r.lastRendered = last ? +last.dataset.i : -1;
    r.domRowsAtEnd = rowsEl.children.length;
    // A hostile string shows with its control characters made visible.
    setQuery('gnp.exe');
    r.hostileVisible = rowsEl.children.length ? rowsEl.children[0].children[6].textContent : null;
    // Follow the first evidence link, then the first finding link.
    var evl = document.querySelector('a.ev-link');
    if (evl) {
      evl.click();
      r.evRef = st.ev;
      r.evRows = st.view.length;
      $('evclear').click();
      r.evClearedRows = st.view.length;
    }
    var link = document.querySelector('a.events-link');
    if (link) {
      link.click();
      r.linkQuery = qIn.value;
      r.linkRows = st.view.length;
      r.linkHitTime = st.hit >= 0 ? EV[st.hit][T] : null;
      r.linkAllMatch = true;
      var lq = qIn.value.toLowerCase();
      if (!hay) buildHay();
      for (k = 0; k < st.view.length; k++) if (hay[st.view[k]].indexOf(lq) < 0) r.linkAllMatch = false;
    }
    // A view from the address: text, source and window at once.
    applyView({ q: p.q, src: p.src, lo: p.lo, hi: p.hi });
    r.viewRows = st.view.length;
    applyView({});
    // Nothing was fetched: the page is self-contained.
    r.resources = performance.getEntriesByType('resource').length;
    r.errors = errors;
    r.done = true;
    // Headless screenshots of a scrolled page come out blank: go back up.
    window.scrollTo(0, 0);
    var out = $('selftest');
    out.textContent = JSON.stringify(r);
  }
  // The address can carry a view: report.html#q=203.0.113.66&src=auth&lo=µs&hi=µs
  // (times in µs since the epoch), to hand a colleague the same rows.
  var p = {};
  location.hash.slice(1).split('&').forEach(function (kv) {
    var k = kv.indexOf('=');
    if (k > 0) {
      try { p[decodeURIComponent(kv.slice(0, k))] = decodeURIComponent(kv.slice(k + 1)); } catch (e) { /* not ours */ }
    }
  });
  if (location.hash.indexOf('#selftest') === 0) {
    try { selftest(p); } catch (e) {
      errors.push('selftest: ' + e + (e.stack ? ' ' + e.stack : ''));
      $('selftest').textContent = JSON.stringify({ errors: errors, done: false });
    }
  } else if (p.q || p.src || p.lo) {
    applyView(p);
  }
})();
