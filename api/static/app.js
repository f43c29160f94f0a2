/*
 * tillcast dashboard: one plain script, no build step, no dependencies (the page's
 * CSP allows scripts, styles and API calls from this origin only).
 *
 * Reads GET v1/branches, then GET v1/predict?branch_id&start&end&granularity for
 * the chosen branch and range, and draws a hand-written SVG chart (p50 line,
 * p10–p90 band, actual bars) plus weekly and daily tables. Hour labels come from
 * the local time and UTC offset written in each hour row (never the browser's
 * time zone), so 23- and 25-hour DST days are labelled as the branch lives them.
 *
 * Stable hooks for tests: data-testid attributes; chart points carry data-value
 * (the row's `sales`, empty when null), data-start and data-source; table cells
 * carry data-field and data-value; <body data-state> is loading|ready|error and
 * <main data-loaded> the query of the rendered answer.
 */
(function () {
  'use strict';

  var API = 'v1/';
  var DAY_MS = 86400000;
  var SVG_NS = 'http://www.w3.org/2000/svg';
  var DEFAULT_DAYS = 7;

  var state = {
    branches: [],
    branch: null,
    start: '',
    end: '',
    view: 'hourly',
    rangeIsDefault: true,
    data: null,
    dataKey: '',
    seq: 0,
    controller: null,
    timer: 0,
    focus: -1,
    chart: null,
  };

  var $ = function (id) {
    return document.getElementById(id);
  };

  // ------------------------------------------------------------ civil dates

  function parseDate(s) {
    var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s || '');
    if (!m) return null;
    var y = Number(m[1]);
    var mo = Number(m[2]) - 1;
    var d = Number(m[3]);
    var t = Date.UTC(y, mo, d);
    var back = new Date(t);
    if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo || back.getUTCDate() !== d) return null;
    return t;
  }

  function isoDate(t) {
    return new Date(t).toISOString().slice(0, 10);
  }

  function addDays(s, n) {
    return isoDate(parseDate(s) + n * DAY_MS);
  }

  function dayCount(a, b) {
    return Math.round((parseDate(b) - parseDate(a)) / DAY_MS) + 1;
  }

  /** yyyy-mm-dd of an instant in an IANA zone (falls back to UTC). */
  function localDate(instantMs, timeZone) {
    try {
      var parts = new Intl.DateTimeFormat('en-CA', {
        timeZone: timeZone,
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
      }).formatToParts(new Date(instantMs));
      var get = function (type) {
        return parts.filter(function (p) {
          return p.type === type;
        })[0].value;
      };
      return get('year') + '-' + get('month') + '-' + get('day');
    } catch {
      return isoDate(instantMs);
    }
  }

  /** The branch's default range: 7 days from the local day of its first open hour (or today). */
  function defaultRange(branch) {
    var tz = branch && branch.timezone;
    var from = Date.now();
    // The last closed hour; else the hour the latest run's data ended (a replayed history); else today.
    var anchor =
      branch && (branch.last_closed_hour || (branch.latest_forecast && branch.latest_forecast.data_through));
    var t = anchor ? Date.parse(anchor) : NaN;
    if (!isNaN(t)) from = t + 3600000;
    var start = localDate(from, tz);
    return { start: start, end: addDays(start, DEFAULT_DAYS - 1) };
  }

  // ------------------------------------------------------------ formatting

  var formats = {};
  function numberFormat(key, opts) {
    if (!formats[key]) {
      try {
        formats[key] = new Intl.NumberFormat(undefined, opts);
      } catch {
        var plain = new Intl.NumberFormat(undefined, {
          maximumFractionDigits: opts.maximumFractionDigits || 0,
        });
        var code = opts.currency ? ' ' + opts.currency : '';
        formats[key] = {
          format: function (v) {
            return plain.format(v) + code;
          },
        };
      }
    }
    return formats[key];
  }

  function currency() {
    return (state.data && state.data.branch.currency) || (state.branch && state.branch.currency) || 'EUR';
  }

  function money(v, digits) {
    if (v === null || v === undefined) return '—';
    var d = digits === undefined ? 0 : digits;
    var c = currency();
    return numberFormat('m' + c + d, {
      style: 'currency',
      currency: c,
      minimumFractionDigits: d,
      maximumFractionDigits: d,
    }).format(v);
  }

  function moneyCompact(v) {
    var c = currency();
    if (Math.abs(v) < 1000) return money(v, Math.abs(v) < 10 && v !== Math.round(v) ? 1 : 0);
    return numberFormat('mc' + c, {
      style: 'currency',
      currency: c,
      notation: 'compact',
      maximumFractionDigits: 1,
    }).format(v);
  }

  function orders(v) {
    if (v === null || v === undefined) return '—';
    var d = Math.abs(v) < 10 && v !== Math.round(v) ? 1 : 0;
    return numberFormat('o' + d, { maximumFractionDigits: d, minimumFractionDigits: 0 }).format(v);
  }

  /** 0 = Sunday .. 6 = Saturday, of a civil date. */
  function weekday(date) {
    var t = parseDate(date);
    return t === null ? -1 : new Date(t).getUTCDay();
  }

  function dayLabel(date, opts) {
    var t = parseDate(date);
    if (t === null) return date;
    var o = { timeZone: 'UTC' };
    for (var k in opts) o[k] = opts[k];
    try {
      return new Intl.DateTimeFormat(undefined, o).format(new Date(t));
    } catch {
      return date;
    }
  }

  function instantLabel(iso, timeZone) {
    var t = Date.parse(iso);
    if (isNaN(t)) return iso;
    var o = {
      year: 'numeric',
      month: 'short',
      day: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    };
    try {
      return new Intl.DateTimeFormat(undefined, Object.assign({ timeZone: timeZone }, o)).format(new Date(t));
    } catch {
      return (
        new Intl.DateTimeFormat(undefined, Object.assign({ timeZone: 'UTC' }, o)).format(new Date(t)) + ' UTC'
      );
    }
  }

  function ago(iso) {
    var t = Date.parse(iso);
    if (isNaN(t)) return '';
    var s = (t - Date.now()) / 1000;
    var units = [
      ['day', 86400],
      ['hour', 3600],
      ['minute', 60],
    ];
    try {
      var rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
      for (var i = 0; i < units.length; i++) {
        if (Math.abs(s) >= units[i][1] || i === units.length - 1)
          return rtf.format(Math.round(s / units[i][1]), units[i][0]);
      }
    } catch {
      return '';
    }
    return '';
  }

  /** Parts of an hour row's local start, e.g. 2021-03-28T03:00:00+01:00. */
  function hourParts(iso) {
    var off = iso.length > 19 ? iso.slice(19) : '';
    if (off === 'Z' || off === '') off = '+00:00';
    return {
      date: iso.slice(0, 10),
      hour: Number(iso.slice(11, 13)),
      hh: iso.slice(11, 13),
      mm: iso.slice(14, 16),
      offset: off,
    };
  }

  var SOURCE_LABEL = { actual: 'actual', forecast: 'forecast', mixed: 'mixed', missing: 'no data' };
  var SOURCE_HELP = {
    actual: 'real till totals (every hour closed)',
    forecast: 'forecast (no hour closed yet)',
    mixed: 'closed hours are actual, the rest forecast',
    missing: 'some hours have neither an actual nor a forecast',
  };

  // ------------------------------------------------------------ DOM helpers

  function h(tag, attrs, children) {
    var e = document.createElement(tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
  }

  function s(tag, attrs, parent) {
    var e = document.createElementNS(SVG_NS, tag);
    setAttrs(e, attrs);
    if (parent) parent.appendChild(e);
    return e;
  }

  function setAttrs(e, attrs) {
    if (!attrs) return;
    for (var k in attrs) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) continue;
      if (k === 'text') e.textContent = String(v);
      else e.setAttribute(k, String(v));
    }
  }

  function append(e, children) {
    if (children === null || children === undefined) return;
    if (!Array.isArray(children)) children = [children];
    children.forEach(function (c) {
      if (c === null || c === undefined || c === false) return;
      e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
  }

  function clear(e) {
    while (e.firstChild) e.removeChild(e.firstChild);
  }

  function r2(v) {
    return Math.round(v * 100) / 100;
  }

  // ------------------------------------------------------------ API

  function ApiError(status, code, message, retryAfter) {
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.message = message;
    this.retryAfter = retryAfter;
  }

  function fetchJson(url, signal) {
    return fetch(url, { signal: signal, headers: { Accept: 'application/json' } })
      .catch(function (err) {
        if (err && err.name === 'AbortError') throw err;
        throw new ApiError(
          0,
          'network_error',
          'Cannot reach the API (' + (err && err.message ? err.message : 'network error') + ').',
        );
      })
      .then(function (res) {
        return res.text().then(function (text) {
          var body = null;
          try {
            body = text ? JSON.parse(text) : null;
          } catch {
            body = null;
          }
          if (!res.ok) {
            var e = body && body.error;
            throw new ApiError(
              res.status,
              (e && e.code) || 'http_' + res.status,
              (e && e.message) || 'HTTP ' + res.status + ' ' + res.statusText,
              res.headers.get('Retry-After'),
            );
          }
          if (body === null)
            throw new ApiError(
              res.status,
              'bad_response',
              'The API answered with something that is not JSON.',
            );
          return body;
        });
      });
  }

  // ------------------------------------------------------------ status / errors

  function setPageState(s2) {
    document.body.setAttribute('data-state', s2);
  }

  function setStatus(text) {
    $('status').textContent = text;
  }

  function showError(err) {
    var box = $('error');
    clear(box);
    var title = 'The API answered with an error';
    if (err.code === 'no_forecast') title = 'No forecast yet';
    else if (err.code === 'network_error') title = 'The API cannot be reached';
    else if (err.status === 429) title = 'Too many requests';
    else if (err.status === 400) title = 'Please check the range';
    else if (err.status === 404) title = 'Not found';
    else if (err.status >= 500) title = 'The API is unavailable';
    append(box, [
      h('strong', { text: title }),
      h('span', { class: 'error-message', 'data-testid': 'error-message', text: err.message }),
      err.retryAfter
        ? h('span', { class: 'error-retry', text: 'Try again in ' + err.retryAfter + ' s.' })
        : null,
      err.status ? h('span', { class: 'error-code', text: '(' + err.status + ' ' + err.code + ')' }) : null,
    ]);
    box.setAttribute('data-code', err.code || '');
    box.hidden = false;
    $('results').hidden = true;
    $('missing').hidden = true;
    setStatus('');
    setPageState('error');
  }

  function clearError() {
    $('error').hidden = true;
    clear($('error'));
  }

  // ------------------------------------------------------------ controls

  function fillBranches() {
    var sel = $('branch');
    clear(sel);
    var list = state.branches.slice().sort(function (a, b) {
      return a.name.localeCompare(b.name) || a.id.localeCompare(b.id);
    });
    list.forEach(function (b) {
      var label = b.name + (b.latest_forecast ? '' : ' (no forecast yet)');
      sel.appendChild(
        h('option', { value: b.id, text: label, 'data-has-forecast': b.latest_forecast ? 'true' : 'false' }),
      );
    });
    sel.disabled = list.length === 0;
  }

  function branchById(id) {
    return (
      state.branches.filter(function (b) {
        return b.id === id;
      })[0] || null
    );
  }

  function renderBranchInfo() {
    var info = $('branch-info');
    clear(info);
    var b = state.branch;
    if (!b) return;
    var run = (state.data && state.data.branch.id === b.id && state.data.forecast) || b.latest_forecast;
    var tz = b.timezone;
    var parts = [h('span', { text: b.timezone + ' · ' + b.currency })];
    if (run) {
      parts.push(
        h('span', {
          'data-testid': 'generated-at',
          'data-value': run.generated_at,
          text:
            'forecast generated ' + instantLabel(run.generated_at, tz) + ' (' + ago(run.generated_at) + ')',
        }),
        h('span', {
          'data-testid': 'data-through',
          'data-value': run.data_through,
          text: 'data through ' + instantLabel(run.data_through, tz),
        }),
        h('span', { text: 'covers until ' + instantLabel(run.horizon_end, tz) }),
        h('span', { class: 'muted', text: 'model ' + run.model_version }),
      );
    } else {
      parts.push(h('span', { 'data-testid': 'generated-at', text: 'no forecast yet' }));
    }
    if (b.last_closed_hour)
      parts.push(h('span', { text: 'last closed hour ' + instantLabel(b.last_closed_hour, tz) }));
    parts.forEach(function (p, i) {
      if (i > 0) info.appendChild(document.createTextNode(' · '));
      info.appendChild(p);
    });
  }

  function setRange(start, end, isDefault) {
    state.start = start;
    state.end = end;
    state.rangeIsDefault = !!isDefault;
    $('start').value = start;
    $('end').value = end;
  }

  function readUrl() {
    var p = new URLSearchParams(location.search);
    return { branch: p.get('branch'), start: p.get('start'), end: p.get('end'), view: p.get('view') };
  }

  function writeUrl() {
    if (!state.branch) return;
    var p = new URLSearchParams();
    p.set('branch', state.branch.id);
    if (!state.rangeIsDefault) {
      p.set('start', state.start);
      p.set('end', state.end);
    }
    if (state.view !== 'hourly') p.set('view', state.view);
    try {
      history.replaceState(null, '', '?' + p.toString());
    } catch {
      /* e.g. a file: URL; not important */
    }
  }

  function onBranchChange() {
    var b = branchById($('branch').value);
    if (!b) return;
    state.branch = b;
    if (state.rangeIsDefault) {
      var r = defaultRange(b);
      setRange(r.start, r.end, true);
    }
    renderBranchInfo();
    scheduleLoad(0);
  }

  function onDateChange(which) {
    var start = $('start').value;
    var end = $('end').value;
    // Moving the start past the end keeps the range's length.
    if (
      which === 'start' &&
      parseDate(start) !== null &&
      parseDate(end) !== null &&
      parseDate(state.start) !== null &&
      end < start
    ) {
      var len =
        parseDate(state.end) !== null && state.end >= state.start
          ? dayCount(state.start, state.end)
          : DEFAULT_DAYS;
      end = addDays(start, len - 1);
      $('end').value = end;
    }
    state.start = start;
    state.end = end;
    state.rangeIsDefault = false;
    scheduleLoad(250);
  }

  function shiftRange(direction) {
    if (parseDate(state.start) === null || parseDate(state.end) === null || state.end < state.start) return;
    var len = dayCount(state.start, state.end);
    setRange(addDays(state.start, direction * len), addDays(state.end, direction * len), false);
    scheduleLoad(0);
  }

  function onViewChange() {
    var checked = document.querySelector('input[name="view"]:checked');
    state.view = checked ? checked.value : 'hourly';
    scheduleLoad(0);
  }

  // ------------------------------------------------------------ loading

  function scheduleLoad(delay) {
    clearTimeout(state.timer);
    state.timer = setTimeout(load, delay);
  }

  function load() {
    clearTimeout(state.timer);
    if (!state.branch) return;
    writeUrl();
    if (parseDate(state.start) === null || parseDate(state.end) === null) {
      abortInFlight();
      showError(new ApiError(0, 'invalid_range', 'Pick a start and an end date.'));
      return;
    }
    var rangeKey = [state.branch.id, state.start, state.end].join('|');
    var d = state.data;
    // Toggling the view re-uses the answer when it holds the needed breakdown.
    if (d && state.dataKey.split('#')[0] === rangeKey && (state.view === 'daily' ? d.daily : d.hourly)) {
      abortInFlight();
      render();
      return;
    }
    var q = new URLSearchParams();
    q.set('branch_id', state.branch.id);
    q.set('start', state.start);
    q.set('end', state.end);
    q.set('granularity', state.view === 'hourly' ? 'weekly,daily,hourly' : 'weekly,daily');
    abortInFlight();
    var controller = typeof AbortController === 'function' ? new AbortController() : null;
    state.controller = controller;
    var seq = ++state.seq;
    setPageState('loading');
    $('dashboard').setAttribute('aria-busy', 'true');
    setStatus('Loading ' + state.branch.name + ', ' + state.start + ' to ' + state.end + '…');
    fetchJson(API + 'predict?' + q.toString(), controller ? controller.signal : undefined)
      .then(function (body) {
        if (seq !== state.seq) return;
        state.data = body;
        state.dataKey = rangeKey + '#' + q.get('granularity');
        state.focus = -1;
        render();
      })
      .catch(function (err) {
        if (seq !== state.seq || (err && err.name === 'AbortError')) return;
        state.data = null;
        state.dataKey = '';
        $('dashboard').removeAttribute('data-loaded');
        showError(
          err instanceof ApiError
            ? err
            : new ApiError(0, 'client_error', String((err && err.message) || err)),
        );
      })
      .then(function () {
        if (seq === state.seq) $('dashboard').removeAttribute('aria-busy');
      });
  }

  function abortInFlight() {
    state.seq++;
    if (state.controller) state.controller.abort();
    state.controller = null;
  }

  // ------------------------------------------------------------ rendering

  function render() {
    var d = state.data;
    clearError();
    renderBranchInfo();
    renderMissing(d);
    renderSummary(d);
    $('results').hidden = false;
    renderChart();
    renderWeekly(d);
    renderDaily(d);
    var main = $('dashboard');
    main.setAttribute('data-loaded', [d.branch.id, d.range.start, d.range.end, state.view].join('|'));
    main.setAttribute('data-branch', d.branch.id);
    main.setAttribute('data-start', d.range.start);
    main.setAttribute('data-end', d.range.end);
    main.setAttribute('data-view', state.view);
    setStatus(
      'Showing ' +
        d.branch.name +
        ', ' +
        dayLabel(d.range.start, { day: 'numeric', month: 'short', year: 'numeric' }) +
        ' to ' +
        dayLabel(d.range.end, { day: 'numeric', month: 'short', year: 'numeric' }) +
        '.',
    );
    setPageState('ready');
  }

  /** Consecutive dates grouped: [[first, last], ...]. */
  function dateRuns(dates) {
    var runs = [];
    dates.forEach(function (dt) {
      var last = runs[runs.length - 1];
      if (last && addDays(last[1], 1) === dt) last[1] = dt;
      else runs.push([dt, dt]);
    });
    return runs;
  }

  function renderMissing(d) {
    var box = $('missing');
    clear(box);
    var missing = d.coverage.missing;
    if (!missing.length) {
      box.hidden = true;
      box.removeAttribute('data-dates');
      return;
    }
    var fmt = { weekday: 'short', day: 'numeric', month: 'short' };
    var text = dateRuns(missing)
      .map(function (r) {
        return r[0] === r[1] ? dayLabel(r[0], fmt) : dayLabel(r[0], fmt) + ' – ' + dayLabel(r[1], fmt);
      })
      .join(', ');
    var horizonDate = localDate(Date.parse(d.forecast.horizon_end) - 1, d.branch.timezone);
    var beyond = missing.filter(function (x) {
      return x >= horizonDate;
    }).length;
    var why =
      beyond === missing.length
        ? 'The forecast only reaches ' + instantLabel(d.forecast.horizon_end, d.branch.timezone) + '.'
        : beyond > 0
          ? 'Beyond the forecast horizon (' +
            instantLabel(d.forecast.horizon_end, d.branch.timezone) +
            ') or before the branch’s history.'
          : 'These hours have neither till data nor a forecast.';
    append(box, [
      h('strong', { text: 'No forecast for ' + text + '.' }),
      ' ',
      why +
        ' Totals that include these days are left empty (' +
        d.coverage.missing_hours +
        ' hours without numbers).',
    ]);
    box.setAttribute('data-dates', missing.join(','));
    box.hidden = false;
  }

  function renderSummary(d) {
    var t = d.totals;
    $('kpi-sales').textContent = money(t.sales);
    $('kpi-sales').setAttribute('data-value', t.sales === null ? '' : String(t.sales));
    $('kpi-sales-range').textContent =
      t.sales === null
        ? 'incomplete: some days have no numbers'
        : 'likely ' + money(t.sales_p10) + ' – ' + money(t.sales_p90);
    $('kpi-orders').textContent = orders(t.orders);
    $('kpi-orders').setAttribute('data-value', t.orders === null ? '' : String(t.orders));
    $('kpi-orders-range').textContent =
      t.orders === null ? '' : 'likely ' + orders(t.orders_p10) + ' – ' + orders(t.orders_p90);
    $('kpi-days').textContent = d.range.days + (d.range.days === 1 ? ' day' : ' days');
    $('kpi-source').textContent = SOURCE_HELP[t.source] || t.source;
    $('kpi-source').setAttribute('data-value', t.source);
  }

  function valueCell(field, v, text, extra) {
    var attrs = { class: 'num', 'data-field': field, 'data-value': v === null ? '' : String(v), text: text };
    for (var k in extra || {}) attrs[k] = extra[k];
    return h('td', attrs);
  }

  function rangeCell(r, fmt) {
    var td = h('td', {
      class: 'num range',
      'data-field': 'sales_range',
      'data-p10': r.sales_p10 === null ? '' : String(r.sales_p10),
      'data-p90': r.sales_p90 === null ? '' : String(r.sales_p90),
    });
    td.textContent =
      r.sales_p10 === null ? '—' : r.source === 'actual' ? '' : fmt(r.sales_p10) + ' – ' + fmt(r.sales_p90);
    return td;
  }

  function sourceCell(src) {
    return h(
      'td',
      { 'data-field': 'source', 'data-value': src },
      h('span', {
        class: 'badge src-' + src,
        title: SOURCE_HELP[src] || src,
        text: SOURCE_LABEL[src] || src,
      }),
    );
  }

  function renderWeekly(d) {
    var table = $('weekly-table');
    var body = table.tBodies[0];
    clear(body);
    (d.weekly || []).forEach(function (w) {
      var span =
        w.first_date === w.last_date
          ? dayLabel(w.first_date, { weekday: 'short', day: 'numeric', month: 'short' })
          : dayLabel(w.first_date, { day: 'numeric', month: 'short' }) +
            ' – ' +
            dayLabel(w.last_date, { day: 'numeric', month: 'short' });
      var week = h(
        'th',
        { scope: 'row', title: 'ISO week ' + w.iso_week + ', from Monday ' + w.week_start },
        [
          h('span', { class: 'date-main', text: 'Week ' + Number(w.iso_week.slice(6)) }),
          h('span', {
            class: 'note',
            'data-field': 'days',
            'data-value': String(w.days),
            text: span + (w.days < 7 ? ' · ' + w.days + (w.days === 1 ? ' day' : ' days') : ''),
          }),
        ],
      );
      body.appendChild(
        h(
          'tr',
          {
            'data-testid': 'weekly-row',
            'data-week-start': w.week_start,
            'data-iso-week': w.iso_week,
            'data-first-date': w.first_date,
            'data-last-date': w.last_date,
            class: 'src-row-' + w.source,
          },
          [
            week,
            valueCell('sales', w.sales, money(w.sales)),
            rangeCell(w, money),
            valueCell('orders', w.orders, orders(w.orders)),
            sourceCell(w.source),
          ],
        ),
      );
    });
    totalRow(table, d);
  }

  function renderDaily(d) {
    var table = $('daily-table');
    var body = table.tBodies[0];
    clear(body);
    (d.daily || []).forEach(function (r) {
      var notes = [];
      if (r.hours !== 24) notes.push(r.hours + ' h day (clock change)');
      if (r.missing_hours > 0 && r.missing_hours < r.hours)
        notes.push(r.missing_hours + ' h without numbers');
      var date = h('th', { scope: 'row' }, [
        h('span', {
          class: 'date-main',
          text: dayLabel(r.date, { weekday: 'short', day: 'numeric', month: 'short' }),
        }),
        notes.length ? h('span', { class: 'note', text: notes.join(', ') }) : null,
      ]);
      body.appendChild(
        h(
          'tr',
          {
            'data-testid': 'daily-row',
            'data-date': r.date,
            'data-hours': String(r.hours),
            class: 'src-row-' + r.source,
          },
          [
            date,
            valueCell('sales', r.sales, money(r.sales)),
            rangeCell(r, money),
            valueCell('orders', r.orders, orders(r.orders)),
            sourceCell(r.source),
          ],
        ),
      );
    });
    totalRow(table, d);
  }

  function totalRow(table, d) {
    var foot = table.tFoot;
    clear(foot);
    var t = d.totals;
    var cells = [
      h('th', { scope: 'row', text: 'Total, ' + d.range.days + (d.range.days === 1 ? ' day' : ' days') }),
    ];
    cells.push(
      valueCell('sales', t.sales, money(t.sales)),
      rangeCell(t, money),
      valueCell('orders', t.orders, orders(t.orders)),
      sourceCell(t.source),
    );
    foot.appendChild(h('tr', { 'data-testid': 'total-row' }, cells));
  }

  // ------------------------------------------------------------ chart

  function niceTicks(lo, hi) {
    if (!(hi > lo)) hi = lo + 1;
    var raw = (hi - lo) / 5;
    var p = Math.pow(10, Math.floor(Math.log10(raw)));
    var f = raw / p;
    var step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * p;
    var t0 = Math.floor(lo / step + 1e-9) * step;
    var t1 = Math.ceil(hi / step - 1e-9) * step;
    var out = [];
    for (var v = t0; v <= t1 + step / 2; v += step) out.push(Math.round(v / step) * step);
    return out;
  }

  function chartRows(d) {
    if (state.view === 'daily') {
      return (d.daily || []).map(function (r) {
        return {
          key: r.date,
          date: r.date,
          sales: r.sales,
          p10: r.sales_p10,
          p90: r.sales_p90,
          orders: r.orders,
          source: r.source,
          hours: r.hours,
          missingHours: r.missing_hours,
        };
      });
    }
    return (d.hourly || []).map(function (r) {
      var p = hourParts(r.start);
      return {
        key: r.start,
        date: p.date,
        hour: p.hour,
        hh: p.hh,
        mm: p.mm,
        offset: p.offset,
        sales: r.sales,
        p10: r.sales_p10,
        p90: r.sales_p90,
        orders: r.orders,
        ordersP10: r.orders_p10,
        ordersP90: r.orders_p90,
        source: r.source,
      };
    });
  }

  function isForecastLike(r) {
    return (r.source === 'forecast' || r.source === 'mixed') && r.sales !== null;
  }

  /** Index runs [a, b] where pred holds. */
  function segments(rows, pred) {
    var out = [];
    var a = -1;
    for (var i = 0; i <= rows.length; i++) {
      var ok = i < rows.length && pred(rows[i]);
      if (ok && a < 0) a = i;
      if (!ok && a >= 0) {
        out.push([a, i - 1]);
        a = -1;
      }
    }
    return out;
  }

  function renderLegend(rows, daily) {
    var legend = $('legend');
    clear(legend);
    var has = function (src) {
      return rows.some(function (r) {
        return r.source === src;
      });
    };
    var items = [
      ['actual', daily ? 'Actual (closed days)' : 'Actual (closed hours)', has('actual')],
      ['p50', 'Forecast (median, p50)', true],
      ['band', 'Likely range (p10–p90)', true],
      ['mixed', 'Part actual, part forecast', daily && has('mixed')],
      ['missing', 'No forecast', has('missing')],
    ];
    items.forEach(function (it) {
      if (!it[2]) return;
      legend.appendChild(
        h('li', { 'data-testid': 'legend-' + it[0] }, [
          h('span', { class: 'swatch swatch-' + it[0], 'aria-hidden': 'true' }),
          it[1],
        ]),
      );
    });
  }

  function renderChart() {
    var d = state.data;
    if (!d) return;
    var host = $('chart');
    var daily = state.view === 'daily';
    var rows = chartRows(d);
    var cur = d.branch.currency;
    $('chart-title').textContent =
      (daily ? 'Daily sales' : 'Hourly sales') +
      ' (' +
      cur +
      ')' +
      (daily ? '' : ', local time ' + d.branch.timezone);
    renderLegend(rows, daily);
    clear(host);
    host.appendChild(
      h('div', {
        id: 'chart-tip',
        class: 'tip',
        'data-testid': 'chart-tooltip',
        hidden: 'hidden',
        'aria-live': 'polite',
      }),
    );
    if (!rows.length) {
      host.appendChild(h('p', { class: 'empty', text: 'No rows to draw.' }));
      return;
    }

    var width = Math.max(320, Math.floor(host.clientWidth || 800));
    var height = width < 640 ? 260 : 330;
    var m = { top: 16, right: 16, bottom: daily ? 44 : 46, left: width < 640 ? 58 : 72 };
    var pw = width - m.left - m.right;
    var ph = height - m.top - m.bottom;
    var n = rows.length;
    var slot = pw / n;
    var x = function (i) {
      return m.left + (i + 0.5) * slot;
    };
    var lo = 0;
    var hi = 0;
    rows.forEach(function (r) {
      [r.sales, r.p10, r.p90].forEach(function (v) {
        if (v === null || v === undefined) return;
        if (v > hi) hi = v;
        if (v < lo) lo = v;
      });
    });
    var ticks = niceTicks(lo, hi);
    var y0 = ticks[0];
    var y1 = ticks[ticks.length - 1];
    var y = function (v) {
      return m.top + ph - ((v - y0) / (y1 - y0)) * ph;
    };

    var actualCount = rows.filter(function (r) {
      return r.source === 'actual';
    }).length;
    var missingCount = rows.filter(function (r) {
      return r.source === 'missing';
    }).length;
    var unit = daily ? 'days' : 'hours';
    var svg = s('svg', {
      width: width,
      height: height,
      viewBox: '0 0 ' + width + ' ' + height,
      role: 'img',
      'aria-labelledby': 'chart-title chart-desc',
      'data-testid': 'chart-svg',
      'data-view': state.view,
      'data-points': n,
      class: 'chart-svg',
    });
    s(
      'desc',
      {
        id: 'chart-desc',
        text:
          n +
          ' ' +
          unit +
          ': ' +
          actualCount +
          ' actual, ' +
          (n - actualCount - missingCount) +
          ' forecast, ' +
          missingCount +
          ' without numbers. Total sales ' +
          money(d.totals.sales) +
          '.',
      },
      svg,
    );
    var defs = s('defs', null, svg);
    var pat = s(
      'pattern',
      { id: 'hatch', width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' },
      defs,
    );
    s('rect', { width: 6, height: 6, class: 'hatch-bg' }, pat);
    s('line', { x1: 0, y1: 0, x2: 0, y2: 6, class: 'hatch-line' }, pat);
    s('rect', { x: m.left, y: m.top, width: pw, height: ph, class: 'plot-bg' }, svg);

    // No-data zones.
    var gMissing = s('g', { class: 'missing-zones' }, svg);
    segments(rows, function (r) {
      return r.source === 'missing';
    }).forEach(function (sg) {
      var x0 = m.left + sg[0] * slot;
      var w = (sg[1] - sg[0] + 1) * slot;
      s(
        'rect',
        {
          x: r2(x0),
          y: m.top,
          width: r2(w),
          height: ph,
          class: 'missing-zone',
          'data-testid': 'missing-zone',
          'data-from': rows[sg[0]].key,
          'data-to': rows[sg[1]].key,
        },
        gMissing,
      );
      if (w >= 70)
        s(
          'text',
          {
            x: r2(x0 + w / 2),
            y: m.top + 18,
            class: 'missing-label',
            'text-anchor': 'middle',
            text: 'no forecast',
          },
          gMissing,
        );
    });

    // Y grid and labels.
    var gGrid = s('g', { class: 'grid' }, svg);
    ticks.forEach(function (t) {
      var yy = r2(y(t));
      s(
        'line',
        { x1: m.left, x2: m.left + pw, y1: yy, y2: yy, class: t === 0 ? 'grid-line zero' : 'grid-line' },
        gGrid,
      );
      s(
        'text',
        {
          x: m.left - 8,
          y: yy,
          dy: '0.32em',
          'text-anchor': 'end',
          class: 'tick-label y-tick',
          text: moneyCompact(t),
        },
        gGrid,
      );
    });
    s(
      'text',
      {
        x: 0,
        y: 0,
        transform: 'translate(' + 14 + ' ' + (m.top + ph / 2) + ') rotate(-90)',
        'text-anchor': 'middle',
        class: 'axis-title',
        'data-testid': 'y-axis-title',
        text: 'Sales (' + cur + ')',
      },
      svg,
    );

    // X axis: days and hours, from the rows' own local dates/hours.
    var gX = s('g', { class: 'x-axis' }, svg);
    var base = m.top + ph;
    if (daily) {
      var every = Math.max(1, Math.ceil(58 / slot));
      rows.forEach(function (r, i) {
        // Dense ranges: label Mondays only (week starts), else every n-th day.
        if (every >= 4 ? weekday(r.date) !== 1 : i % every !== 0) return;
        s(
          'text',
          {
            x: r2(x(i)),
            y: base + 16,
            'text-anchor': 'middle',
            class: 'tick-label x-tick',
            text: dayLabel(r.date, { weekday: 'short' }),
          },
          gX,
        );
        s(
          'text',
          {
            x: r2(x(i)),
            y: base + 31,
            'text-anchor': 'middle',
            class: 'tick-label x-tick-date',
            'data-testid': 'x-day-label',
            'data-date': r.date,
            text: dayLabel(r.date, { day: 'numeric', month: 'short' }),
          },
          gX,
        );
      });
    } else {
      var days = [];
      rows.forEach(function (r, i) {
        if (i === 0 || r.date !== rows[i - 1].date) days.push([i, i]);
        else days[days.length - 1][1] = i;
      });
      var dayPx = pw / Math.max(1, days.length);
      // Label every day, every other day, or Mondays only, whatever fits.
      var dayEvery = dayPx >= 64 ? 1 : dayPx * 2 >= 64 ? 2 : 7;
      var firstMonday = -1;
      days.forEach(function (dd, di) {
        if (firstMonday < 0 && weekday(rows[dd[0]].date) === 1) firstMonday = di;
      });
      days.forEach(function (dd, di) {
        var xa = m.left + dd[0] * slot;
        var xb = m.left + (dd[1] + 1) * slot;
        var date = rows[dd[0]].date;
        if (dd[0] > 0)
          s(
            'line',
            {
              x1: r2(xa),
              x2: r2(xa),
              y1: m.top,
              y2: base + 36,
              class: weekday(date) === 1 ? 'day-sep week' : 'day-sep',
              'data-date': date,
            },
            gX,
          );
        var show =
          dayEvery === 1 ||
          (dayEvery === 2 && di % 2 === 0) ||
          (dayEvery === 7 &&
            (weekday(date) === 1 || (di === 0 && (firstMonday < 0 || firstMonday * dayPx >= 48))));
        if (!show) return;
        var fmt =
          dayEvery === 1 && xb - xa >= 84
            ? { weekday: 'short', day: 'numeric', month: 'short' }
            : { day: 'numeric', month: 'short' };
        var centred = dayEvery === 1;
        s(
          'text',
          {
            x: r2(centred ? (xa + xb) / 2 : xa + 3),
            y: base + 34,
            'text-anchor': centred ? 'middle' : 'start',
            class: 'tick-label x-tick-date',
            'data-testid': 'x-day-label',
            'data-date': date,
            text: dayLabel(date, fmt),
          },
          gX,
        );
      });
      var hourSteps = [1, 2, 3, 4, 6, 12];
      var hourStep = 0;
      for (var k = 0; k < hourSteps.length; k++) {
        if (slot * hourSteps[k] >= 24) {
          hourStep = hourSteps[k];
          break;
        }
      }
      var longHours = hourStep && slot * hourStep >= 42;
      if (hourStep) {
        rows.forEach(function (r, i) {
          if (r.hour % hourStep !== 0 || r.hour === 0) return;
          // The repeated hour of a fall-back day (e.g. 01:00 +01:00 then 01:00 +00:00): label it once when tight.
          if (i > 0 && rows[i - 1].hour === r.hour && rows[i - 1].date === r.date && slot < 30) return;
          var label = longHours ? r.hh + ':' + r.mm : r.hh;
          var xc = r2(m.left + i * slot);
          s('line', { x1: xc, x2: xc, y1: base, y2: base + 4, class: 'tick' }, gX);
          s(
            'text',
            {
              x: xc,
              y: base + 15,
              'text-anchor': 'middle',
              class: 'tick-label x-tick',
              'data-testid': 'x-hour-label',
              'data-start': r.key,
              text: label,
            },
            gX,
          );
        });
      }
    }
    s('line', { x1: m.left, x2: m.left + pw, y1: base, y2: base, class: 'axis-line' }, svg);

    // Actual bars.
    var gBars = s('g', { class: 'actual-bars' }, svg);
    var bw = slot < 2 ? slot : Math.max(1, slot * (daily ? 0.6 : 0.72));
    rows.forEach(function (r, i) {
      if (r.source !== 'actual' || r.sales === null) return;
      var ya = y(Math.max(0, r.sales));
      var yb = y(Math.min(0, r.sales));
      s(
        'rect',
        {
          x: r2(x(i) - bw / 2),
          y: r2(ya),
          width: r2(bw),
          height: r2(Math.max(0, yb - ya)),
          class: 'bar-actual',
          'data-testid': 'actual-bar',
          'data-start': r.key,
          'data-value': String(r.sales),
        },
        gBars,
      );
    });

    // p10–p90 band and p50 line over forecast (and mixed) rows.
    var gBand = s('g', { class: 'bands' }, svg);
    var gLine = s('g', { class: 'lines' }, svg);
    segments(rows, isForecastLike).forEach(function (sg) {
      var a = sg[0];
      var b = sg[1];
      var top = [];
      var bottom = [];
      var line = [];
      if (a === b) {
        var half = Math.max(2, slot * 0.35);
        var r0 = rows[a];
        var p10 = r0.p10 === null ? r0.sales : r0.p10;
        var p90 = r0.p90 === null ? r0.sales : r0.p90;
        top.push([x(a) - half, y(p90)], [x(a) + half, y(p90)]);
        bottom.push([x(a) + half, y(p10)], [x(a) - half, y(p10)]);
        line.push([x(a) - half, y(r0.sales)], [x(a) + half, y(r0.sales)]);
      } else {
        for (var i = a; i <= b; i++) {
          var r = rows[i];
          top.push([x(i), y(r.p90 === null ? r.sales : r.p90)]);
          line.push([x(i), y(r.sales)]);
        }
        for (var j = b; j >= a; j--) {
          var rj = rows[j];
          bottom.push([x(j), y(rj.p10 === null ? rj.sales : rj.p10)]);
        }
      }
      var pts = function (list) {
        return list
          .map(function (p, idx) {
            return (idx === 0 ? 'M' : 'L') + r2(p[0]) + ',' + r2(p[1]);
          })
          .join('');
      };
      s(
        'path',
        {
          d: pts(top.concat(bottom)) + 'Z',
          class: 'band',
          'data-testid': 'band',
          'data-from': rows[a].key,
          'data-to': rows[b].key,
        },
        gBand,
      );
      s(
        'path',
        {
          d: pts(line),
          class: 'line-p50',
          'data-testid': 'p50-line',
          'data-from': rows[a].key,
          'data-to': rows[b].key,
        },
        gLine,
      );
    });

    // One point per row (the numbers the test and the tooltip read).
    var showPoints = slot >= 9;
    var gPts = s(
      'g',
      { class: 'points' + (showPoints ? '' : ' points-hidden'), 'data-testid': 'p50-points' },
      svg,
    );
    rows.forEach(function (r, i) {
      s(
        'circle',
        {
          cx: r2(x(i)),
          cy: r2(r.sales === null ? base : y(r.sales)),
          r: r.sales === null ? 0 : Math.min(4, Math.max(2, slot * 0.12)),
          class: 'pt pt-' + r.source,
          'data-testid': 'p50-point',
          'data-index': String(i),
          'data-start': r.key,
          'data-source': r.source,
          'data-value': r.sales === null ? '' : String(r.sales),
          'data-p10': r.p10 === null ? '' : String(r.p10),
          'data-p90': r.p90 === null ? '' : String(r.p90),
        },
        gPts,
      );
    });

    // Crosshair + pointer overlay.
    var cross = s(
      'line',
      { x1: 0, x2: 0, y1: m.top, y2: base, class: 'crosshair', visibility: 'hidden' },
      svg,
    );
    var mark = s('circle', { cx: 0, cy: 0, r: 4.5, class: 'focus-dot', visibility: 'hidden' }, svg);
    var overlay = s('rect', { x: m.left, y: m.top, width: pw, height: ph, class: 'overlay' }, svg);
    host.insertBefore(svg, host.firstChild);

    state.chart = {
      rows: rows,
      x: x,
      y: y,
      slot: slot,
      m: m,
      width: width,
      cross: cross,
      mark: mark,
      daily: daily,
      base: base,
    };
    overlay.addEventListener('pointermove', function (ev) {
      var box = svg.getBoundingClientRect();
      var px = ((ev.clientX - box.left) * width) / box.width;
      var i = Math.floor((px - m.left) / slot);
      showFocus(Math.max(0, Math.min(n - 1, i)));
    });
    overlay.addEventListener('pointerleave', function () {
      if (document.activeElement !== host) hideFocus();
    });
    if (state.focus >= 0 && state.focus < n && document.activeElement === host) showFocus(state.focus);
  }

  function tipText(r, daily) {
    var when;
    if (daily)
      when =
        dayLabel(r.date, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' }) +
        (r.hours !== 24 ? ' (' + r.hours + ' h)' : '');
    else
      when =
        dayLabel(r.date, { weekday: 'short', day: 'numeric', month: 'short' }) +
        ' ' +
        r.hh +
        ':' +
        r.mm +
        ' (UTC' +
        r.offset +
        ')';
    var lines = [when];
    if (r.sales === null) {
      lines.push(
        'No forecast' +
          (daily && r.missingHours ? ' for ' + r.missingHours + ' of ' + r.hours + ' hours' : ''),
      );
    } else if (r.source === 'actual') {
      lines.push('Actual: ' + money(r.sales, 2) + ', ' + orders(r.orders) + ' orders');
    } else {
      lines.push(
        (r.source === 'mixed' ? 'Actual + forecast: ' : 'Forecast: ') +
          money(r.sales) +
          ', ' +
          orders(r.orders) +
          ' orders',
      );
      lines.push('Likely ' + money(r.p10) + ' – ' + money(r.p90));
    }
    return lines;
  }

  function showFocus(i) {
    var c = state.chart;
    if (!c || !c.rows[i]) return;
    state.focus = i;
    var r = c.rows[i];
    var cx = r2(c.x(i));
    c.cross.setAttribute('x1', cx);
    c.cross.setAttribute('x2', cx);
    c.cross.setAttribute('visibility', 'visible');
    if (r.sales !== null) {
      c.mark.setAttribute('cx', cx);
      c.mark.setAttribute('cy', r2(c.y(r.sales)));
      c.mark.setAttribute('class', 'focus-dot focus-' + r.source);
      c.mark.setAttribute('visibility', 'visible');
    } else {
      c.mark.setAttribute('visibility', 'hidden');
    }
    var tip = $('chart-tip');
    clear(tip);
    tipText(r, c.daily).forEach(function (line, k) {
      tip.appendChild(h(k === 0 ? 'strong' : 'span', { text: line }));
    });
    tip.setAttribute('data-index', String(i));
    tip.hidden = false;
    // Position beside the crosshair (CSSOM, allowed by the CSP; no inline style attribute).
    var host = $('chart');
    var svg = host.querySelector('svg');
    var scale = svg ? svg.getBoundingClientRect().width / c.width : 1;
    var left = cx * scale + 12;
    if (left + tip.offsetWidth > host.clientWidth - 4) left = cx * scale - 12 - tip.offsetWidth;
    tip.style.left = Math.max(0, left) + 'px';
    tip.style.top = c.m.top + 'px';
  }

  function hideFocus() {
    var c = state.chart;
    if (c) {
      c.cross.setAttribute('visibility', 'hidden');
      c.mark.setAttribute('visibility', 'hidden');
    }
    var tip = $('chart-tip');
    if (tip) tip.hidden = true;
  }

  function onChartKey(ev) {
    var c = state.chart;
    if (!c) return;
    var n = c.rows.length;
    var i = state.focus < 0 ? 0 : state.focus;
    var page = c.daily ? 7 : 24;
    var next = null;
    switch (ev.key) {
      case 'ArrowRight':
        next = state.focus < 0 ? 0 : i + 1;
        break;
      case 'ArrowLeft':
        next = state.focus < 0 ? n - 1 : i - 1;
        break;
      case 'PageDown':
        next = i + page;
        break;
      case 'PageUp':
        next = i - page;
        break;
      case 'Home':
        next = 0;
        break;
      case 'End':
        next = n - 1;
        break;
      case 'Escape':
        hideFocus();
        state.focus = -1;
        return;
      default:
        return;
    }
    ev.preventDefault();
    showFocus(Math.max(0, Math.min(n - 1, next)));
  }

  // ------------------------------------------------------------ start

  function init() {
    var url = readUrl();
    if (url.view === 'daily') {
      state.view = 'daily';
      $('view-daily').checked = true;
    }
    $('branch').addEventListener('change', onBranchChange);
    $('start').addEventListener('change', function () {
      onDateChange('start');
    });
    $('end').addEventListener('change', function () {
      onDateChange('end');
    });
    $('earlier').addEventListener('click', function () {
      shiftRange(-1);
    });
    $('later').addEventListener('click', function () {
      shiftRange(1);
    });
    $('next7').addEventListener('click', function () {
      if (!state.branch) return;
      var r = defaultRange(state.branch);
      setRange(r.start, r.end, true);
      scheduleLoad(0);
    });
    Array.prototype.forEach.call(document.querySelectorAll('input[name="view"]'), function (el) {
      el.addEventListener('change', onViewChange);
    });
    $('controls').addEventListener('submit', function (ev) {
      ev.preventDefault();
      scheduleLoad(0);
    });
    var chart = $('chart');
    chart.addEventListener('keydown', onChartKey);
    chart.addEventListener('blur', hideFocus);
    var lastWidth = 0;
    var redraw = function () {
      var w = chart.clientWidth;
      if (state.data && !$('results').hidden && Math.abs(w - lastWidth) > 4) {
        lastWidth = w;
        renderChart();
      }
    };
    if (typeof ResizeObserver === 'function') {
      new ResizeObserver(function () {
        requestAnimationFrame(redraw);
      }).observe(chart);
    } else {
      window.addEventListener('resize', redraw);
    }

    setStatus('Loading branches…');
    fetchJson(API + 'branches')
      .then(function (body) {
        state.branches = body.branches || [];
        fillBranches();
        if (!state.branches.length) {
          setStatus('');
          showError(new ApiError(0, 'no_branches', 'The API knows no branches yet.'));
          return;
        }
        var preferred =
          branchById(url.branch) ||
          state.branches
            .slice()
            .sort(function (a, b) {
              return a.name.localeCompare(b.name) || a.id.localeCompare(b.id);
            })
            .filter(function (b) {
              return b.latest_forecast;
            })[0] ||
          state.branches[0];
        state.branch = preferred;
        $('branch').value = preferred.id;
        if (parseDate(url.start) !== null && parseDate(url.end) !== null && url.branch === preferred.id)
          setRange(url.start, url.end, false);
        else {
          var r = defaultRange(preferred);
          setRange(r.start, r.end, true);
        }
        renderBranchInfo();
        load();
      })
      .catch(function (err) {
        showError(
          err instanceof ApiError
            ? err
            : new ApiError(0, 'client_error', String((err && err.message) || err)),
        );
      });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
