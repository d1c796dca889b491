/* SPDX-License-Identifier: MIT */
/* window.ddClient for extension pages served by dext: the hybrid v0 + v1 client of
 * @docker/extension-api-client-types 0.4.2. dext inlines this file first in <head>,
 * right after window.__dextConfig, so it exists before any extension script runs.
 * Every call goes to dext's own origin with the per-run secret (docs/design/http-api.md). */
(function () {
  'use strict';

  var cfg = window.__dextConfig || {};
  var ext = cfg.extension || {};
  var hostInfo = cfg.host || {};
  var secret = cfg.secret || '';

  /* The secret came in the page's address: take it out of the visible URL before the
   * extension can read or share it (a cookie now carries it for the page's files). */
  try {
    var here = new URL(window.location.href);
    if (here.searchParams.has('dext-secret')) {
      here.searchParams.delete('dext-secret');
      window.history.replaceState(window.history.state, '', here.pathname + here.search + here.hash);
    }
  } catch (e) { /* an opaque origin: nothing to clean */ }

  /* Callbacks belong to the extension: an exception there must not break dext's code. */
  function safeCall(fn) {
    if (typeof fn !== 'function') return;
    try {
      fn.apply(null, Array.prototype.slice.call(arguments, 1));
    } catch (e) {
      console.error('dext: an extension callback threw', e);
    }
  }

  function isRawBody(d) {
    return typeof d === 'string' || d instanceof ArrayBuffer || ArrayBuffer.isView(d) ||
      (typeof Blob !== 'undefined' && d instanceof Blob) ||
      (typeof FormData !== 'undefined' && d instanceof FormData) ||
      (typeof URLSearchParams !== 'undefined' && d instanceof URLSearchParams);
  }

  function parseBody(text) {
    if (text === '') return '';
    try {
      return JSON.parse(text);
    } catch (e) {
      return text;
    }
  }

  /* An answer that dext itself gave (X-Dext-Error): an Error with dext's reason. */
  function dextError(res, text) {
    var msg = text;
    try {
      msg = JSON.parse(text).error || text;
    } catch (e) { /* not JSON: keep the text */ }
    return new Error(msg || ('dext answered ' + res.status));
  }

  /* ---- extension.vm.service and the v0 backend ---- */

  async function serviceRequest(method, url, headers, data) {
    /* Only paths on the backend: anything else has no meaning on its socket. */
    if (typeof url !== 'string' || url.charAt(0) !== '/') {
      throw new TypeError('vm.service: the url must be a path starting with "/", such as "/hello"');
    }
    /** @type {Record<string, string>} */
    var h = {};
    var names = [];
    var hasType = false;
    Object.keys(headers || {}).forEach(function (k) {
      var v = headers[k];
      /* dext's own headers are not the caller's to set (and the relay drops them). */
      if (v === undefined || v === null || /^x-dext-/i.test(k)) return;
      h[k] = String(v);
      names.push(k.toLowerCase());
      if (k.toLowerCase() === 'content-type') hasType = true;
    });
    var body;
    if (data !== undefined && data !== null && method !== 'GET' && method !== 'HEAD') {
      if (isRawBody(data)) {
        body = data;
      } else {
        body = JSON.stringify(data);
        if (!hasType) {
          h['Content-Type'] = 'application/json';
          names.push('content-type');
        }
      }
    }
    h['X-Dext-Secret'] = secret;
    h['X-Dext-Headers'] = names.join(',');
    var res;
    try {
      res = await fetch('/__dext/vm/service' + url, { method: method, headers: h, body: body, cache: 'no-store' });
    } catch (e) {
      throw new Error('dext is unreachable (' + ((e && e.message) || e) + ')');
    }
    var text = method === 'HEAD' ? '' : await res.text();
    if (res.headers.get('X-Dext-Error')) throw dextError(res, text);
    var parsed = parseBody(text);
    if (!res.ok) {
      var err = {
        name: res.statusText || String(res.status),
        message: text || res.statusText || ('HTTP ' + res.status),
        statusCode: res.status,
      };
      if (text !== '' && parsed !== text) err.data = parsed;
      throw err;
    }
    return parsed;
  }

  var httpService = {
    get: (url) => serviceRequest('GET', url),
    post: (url, data) => serviceRequest('POST', url, {}, data),
    put: (url, data) => serviceRequest('PUT', url, {}, data),
    patch: (url, data) => serviceRequest('PATCH', url, {}, data),
    delete: (url) => serviceRequest('DELETE', url),
    head: (url) => serviceRequest('HEAD', url),
    request: function (config) {
      var c = config || {};
      return serviceRequest(String(c.method || 'GET').toUpperCase(), c.url, c.headers, c.data);
    },
  };

  /* ---- dext's JSON API (exec, docker, dialogs, navigation) ---- */

  async function api(path, payload) {
    var res;
    try {
      res = await fetch('/__dext/' + path, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Dext-Secret': secret },
        body: JSON.stringify(payload === undefined ? {} : payload),
      });
    } catch (e) {
      throw new Error('dext is unreachable (' + ((e && e.message) || e) + ')');
    }
    var text = await res.text();
    if (!res.ok || res.headers.get('X-Dext-Error')) throw dextError(res, text);
    return parseBody(text);
  }

  /* stdout split into lines: "\r\n" accepted, one trailing empty line dropped. */
  function splitLines(s) {
    var lines = String(s).split(/\r?\n/);
    if (lines.length && lines[lines.length - 1] === '') lines.pop();
    return lines;
  }

  /* An ExecResult: the raw fields plus lines(), parseJsonLines(), parseJsonObject()
   * (non-enumerable, so the result still serialises to its fields alone). */
  function makeExecResult(raw) {
    var r = raw || {};
    var result = {
      cmd: r.cmd, killed: r.killed, signal: r.signal, code: r.code,
      stdout: r.stdout === undefined || r.stdout === null ? '' : String(r.stdout),
      stderr: r.stderr === undefined || r.stderr === null ? '' : String(r.stderr),
    };
    Object.defineProperties(result, {
      lines: { value: function () { return splitLines(this.stdout); } },
      parseJsonLines: {
        value: function () {
          return splitLines(this.stdout)
            .filter((l) => l.trim() !== '')
            .map((l) => JSON.parse(l));
        },
      },
      parseJsonObject: { value: function () { return JSON.parse(this.stdout); } },
    });
    return result;
  }

  function toArgs(args) {
    if (args === undefined || args === null) return [];
    if (!Array.isArray(args)) throw new TypeError('exec: args must be an array of strings');
    return args.map(String);
  }

  /* ---- streaming exec: one event connection per page carries every stream ---- */

  var session = null;      /* Promise of the session id, while the connection lives */
  var streams = new Map(); /* stream id -> handler */
  var nextStreamId = 1;

  function openSession() {
    return new Promise(function (resolve, reject) {
      var settled = false;
      fetch('/__dext/events', { headers: { 'X-Dext-Secret': secret }, cache: 'no-store' }).then(async function (res) {
        if (!res.ok) throw dextError(res, await res.text());
        var reader = res.body.getReader();
        var buf = new Uint8Array(0);
        for (;;) {
          var chunk = await reader.read();
          if (chunk.done) break;
          var joined = new Uint8Array(buf.length + chunk.value.length);
          joined.set(buf, 0);
          joined.set(chunk.value, buf.length);
          buf = joined;
          var off = 0;
          while (buf.length - off >= 9) {
            var view = new DataView(buf.buffer, buf.byteOffset + off, 9);
            var id = view.getUint32(0);
            var kind = view.getUint8(4);
            var len = view.getUint32(5);
            if (buf.length - off - 9 < len) break;
            var payload = buf.subarray(off + 9, off + 9 + len);
            off += 9 + len;
            if (kind === 0) {
              settled = true;
              resolve(new TextDecoder().decode(payload));
            } else if (kind === 5 && id === 0) {
              /* The UI changed on disk (dext run) or moved to a dev server. */
              window.location.reload();
            } else {
              var h = streams.get(id);
              if (h) h.frame(kind, payload);
            }
          }
          buf = buf.slice(off);
        }
        throw new Error('dext closed the event connection');
      }).catch(function (e) {
        session = null;
        if (!settled) reject(e);
        /* Every stream still open learns that its output is lost. */
        streams.forEach(function (h) { h.lost(e); });
        streams.clear();
      });
    });
  }

  function getSession() {
    if (!session) session = openSession();
    return session;
  }

  /* A streaming exec: returns an ExecProcess at once; events go to the callbacks. */
  function spawnStream(scope, extra, cmd, args, options) {
    var cb = options.stream || {};
    var split = !!cb.splitOutputLines;
    var id = nextStreamId++;
    var closed = false; /* close() was called: no callback any more */
    var ended = false;  /* onClose or a final onError has been made */
    var decoders = { 1: new TextDecoder(), 2: new TextDecoder() };
    var partial = { 1: '', 2: '' };
    var sessionId = null;
    var started;

    function emit(fd, text) {
      if (closed || text === '') return;
      if (!split) {
        safeCall(cb.onOutput, fd === 1 ? { stdout: text } : { stderr: text });
        return;
      }
      var lines = (partial[fd] + text).split('\n');
      partial[fd] = lines.pop();
      lines.forEach(function (l) {
        if (l.endsWith('\r')) l = l.slice(0, -1);
        safeCall(cb.onOutput, fd === 1 ? { stdout: l } : { stderr: l });
      });
    }

    function finish() {
      streams.delete(id);
      [1, 2].forEach(function (fd) {
        emit(fd, decoders[fd].decode());
        if (split && partial[fd] !== '') {
          var last = partial[fd];
          partial[fd] = '';
          if (!closed) safeCall(cb.onOutput, fd === 1 ? { stdout: last } : { stderr: last });
        }
      });
    }

    /* The stream is over with an error; it is reported once, whoever notices first. */
    function fail(e) {
      streams.delete(id);
      if (closed || ended) return;
      ended = true;
      safeCall(cb.onError, e);
    }

    var handler = {
      frame: function (kind, payload) {
        if (kind === 1 || kind === 2) {
          emit(kind, decoders[kind].decode(payload, { stream: true }));
        } else if (kind === 3) {
          var st = JSON.parse(new TextDecoder().decode(payload));
          finish();
          if (closed || ended) return;
          ended = true;
          if (st.signal) {
            var err = Object.assign(new Error('the process was killed by ' + st.signal), { signal: st.signal });
            safeCall(cb.onError, err);
            safeCall(cb.onClose, -1);
          } else {
            safeCall(cb.onClose, st.code);
          }
        } else if (kind === 4) {
          finish();
          fail(new Error(new TextDecoder().decode(payload)));
        }
      },
      lost: fail,
    };
    streams.set(id, handler);

    started = getSession().then(function (sid) {
      sessionId = sid;
      if (closed) return null;
      return api('exec/stream', Object.assign({
        session: sid, id: id, scope: scope, cmd: String(cmd), args: toArgs(args),
        cwd: options.cwd, env: options.env,
      }, extra));
    }).catch(fail);

    return {
      close: function () {
        if (closed) return;
        closed = true;
        /* After close() no callback is made; the process group ends. The close
         * goes out once the start has been answered, so it cannot overtake it. */
        started.then(function () {
          if (sessionId) return api('exec/close', { session: sessionId, id: id });
          return null;
        }).catch(function () {});
      },
    };
  }

  /* Overloaded like the published Exec type: a stream option gives a process handle,
   * otherwise a promise of the result. */
  /** @returns {DextExec} */
  function makeExec(scope, extra) {
    return /** @type {DextExec} */ (function exec(cmd, args, options) {
      if (options && typeof options === 'object' && 'stream' in options) {
        return spawnStream(scope, extra || {}, cmd, args, options);
      }
      var payload;
      try {
        payload = Object.assign({
          scope: scope, cmd: String(cmd), args: toArgs(args),
          cwd: options && options.cwd, env: options && options.env,
        }, extra || {});
      } catch (e) {
        return Promise.reject(e);
      }
      return api('exec', payload).then(function (raw) {
        var result = makeExecResult(raw);
        if (typeof result.code === 'number' && result.code !== 0) throw result;
        if (result.signal) throw result;
        return result;
      });
    });
  }

  /* v0 spawn*: (data, error) callbacks over the v1 stream events. */
  function v0Spawn(exec, cmd, args, callback) {
    exec(cmd, args, {
      stream: {
        onOutput: function (d) { safeCall(callback, d, null); },
        onError: function (e) { safeCall(callback, {}, e); },
        onClose: function (code) { safeCall(callback, { code: code }, null); },
      },
    });
  }

  /* ---- toasts, shown in the page, in a shadow root the page's CSS cannot reach ---- */

  var toastHost = null;
  var toastStack = null;

  function toastContainer() {
    if (!toastHost) {
      /* A tag of dext's own, styled inline with !important: no page rule (div, body > *)
       * can hide or move it; everything else lives in the shadow root. */
      toastHost = document.createElement('dext-toasts');
      toastHost.id = 'dext-toasts';
      toastHost.setAttribute('style', 'all:initial!important');
      var shadow = toastHost.attachShadow({ mode: 'open' });
      var style = document.createElement('style');
      style.textContent =
        '.stack{position:fixed;right:16px;bottom:16px;z-index:2147483647;display:flex;' +
        'flex-direction:column;gap:8px;max-width:min(420px,calc(100vw - 32px));' +
        'font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}' +
        '.toast{padding:10px 14px;border-radius:6px;color:#fff;cursor:pointer;' +
        'box-shadow:0 4px 14px rgba(0,0,0,.25);white-space:pre-wrap;word-break:break-word}' +
        '.success{background:#1f7a3f}.warning{background:#a35c00}.error{background:#b3261e}';
      toastStack = document.createElement('div');
      toastStack.className = 'stack';
      toastStack.setAttribute('role', 'status');
      toastStack.setAttribute('aria-live', 'polite');
      shadow.appendChild(style);
      shadow.appendChild(toastStack);
    }
    /* Created on first use, and put back if the page replaced the body since. */
    if (!toastHost.isConnected) (document.body || document.documentElement).appendChild(toastHost);
    return toastStack;
  }

  function showToast(kind, message) {
    var show = function () {
      var t = document.createElement('div');
      t.className = 'toast ' + kind;
      t.setAttribute('data-dext-toast', kind);
      t.textContent = String(message);
      t.addEventListener('click', function () { t.remove(); });
      toastContainer().appendChild(t);
      setTimeout(function () { t.remove(); }, 5000);
    };
    if (document.body) show();
    else document.addEventListener('DOMContentLoaded', show, { once: true });
  }

  var toast = {
    success: function (msg) { showToast('success', msg); },
    warning: function (msg) { showToast('warning', msg); },
    error: function (msg) { showToast('error', msg); },
  };

  /* ---- host ---- */

  function openExternal(url) {
    var u;
    try {
      u = new URL(String(url));
    } catch (e) {
      throw new Error('openExternal: not a URL: ' + url);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new Error('openExternal: only http and https URLs can be opened, not ' + u.protocol);
    }
    window.open(u.href, '_blank', 'noopener,noreferrer');
  }

  /* ---- navigation ---- */

  /* dext's own pages (the file chooser, the views) are shown over the extension in a
   * frame from dext's origin: the extension can neither read nor drive them. */
  var overlay = null;

  function closeOverlay() {
    if (overlay) overlay.remove();
    overlay = null;
  }

  function showOverlay(url, closable) {
    closeOverlay();
    var host = document.createElement('dext-overlay');
    host.setAttribute('style', 'all:initial!important');
    var shadow = host.attachShadow({ mode: 'open' });
    var style = document.createElement('style');
    style.textContent =
      '.back{position:fixed;inset:0;z-index:2147483646;background:rgba(0,0,0,.45);display:flex;' +
      'align-items:center;justify-content:center}' +
      '.box{position:relative;width:min(' + (closable ? '1100px' : '720px') + ',calc(100vw - 32px));' +
      'height:min(' + (closable ? '800px' : '520px') + ',calc(100vh - 32px));border-radius:8px;overflow:hidden;' +
      'box-shadow:0 10px 40px rgba(0,0,0,.4);background:#fff}' +
      'iframe{border:0;width:100%;height:100%;display:block}' +
      '.close{position:absolute;top:6px;right:8px;z-index:1;font:16px system-ui,sans-serif;border:0;' +
      'border-radius:4px;padding:2px 9px;cursor:pointer;background:rgba(0,0,0,.08)}';
    var back = document.createElement('div');
    back.className = 'back';
    var box = document.createElement('div');
    box.className = 'box';
    var frame = document.createElement('iframe');
    frame.setAttribute('referrerpolicy', 'no-referrer');
    frame.setAttribute('data-dext-frame', closable ? 'view' : 'chooser');
    frame.src = url;
    if (closable) {
      var close = document.createElement('button');
      close.className = 'close';
      close.type = 'button';
      close.setAttribute('aria-label', 'Close');
      close.textContent = '×';
      close.addEventListener('click', closeOverlay);
      box.appendChild(close);
    }
    box.appendChild(frame);
    back.appendChild(box);
    shadow.appendChild(style);
    shadow.appendChild(back);
    (document.body || document.documentElement).appendChild(host);
    overlay = host;
    return host;
  }

  async function showOpenDialog(props) {
    var opened = await api('dialog/open', props || {});
    var shown = showOverlay(opened.url, false);
    try {
      var r = await api('dialog/wait', { id: opened.id });
      return { canceled: !!r.canceled, filePaths: Array.isArray(r.filePaths) ? r.filePaths : [] };
    } finally {
      if (overlay === shown) closeOverlay();
    }
  }

  function navigate(view, params) {
    return api('navigate', Object.assign({ view: view }, params || {})).then(function (r) {
      showOverlay(r.url, true);
    });
  }

  var navigateIntents = {
    viewContainers: () => navigate('containers'),
    viewContainer: (id) => navigate('container', { id: id }),
    viewContainerLogs: (id) => navigate('container-logs', { id: id }),
    viewContainerInspect: (id) => navigate('container-inspect', { id: id }),
    viewContainerStats: (id) => navigate('container-stats', { id: id }),
    viewContainerTerminal: (id) => navigate('container-terminal', { id: id }),
    viewImages: () => navigate('images'),
    viewImage: (id, tag) => navigate('image', { id: id, tag: tag }),
    viewVolumes: () => navigate('volumes'),
    viewVolume: (name) => navigate('volume', { id: name }),
    /* Dev Environments left Docker Desktop; old bundles still call this. */
    viewDevEnvironments: () => Promise.resolve(),
  };

  /* ---- the theme globals read by @docker/docker-mui-theme ---- */

  /* dext's own palettes (a Docker-like blue primary): [main, light, dark, contrastText]. */
  var COLOURS = {
    light: {
      primary: ['#1f5fd6', '#4f82e4', '#15449d', '#fff'],
      secondary: ['#6b3fc4', '#8d69d4', '#4b2b8c', '#fff'],
      error: ['#c62f24', '#d9594f', '#8f1f18', '#fff'],
      warning: ['#b86a00', '#d18a2c', '#7f4900', '#fff'],
      info: ['#11709f', '#3f8fb8', '#0b4f71', '#fff'],
      success: ['#1d7f45', '#479b69', '#135a30', '#fff'],
      background: { default: '#f5f6f8', paper: '#fff' },
      text: { primary: '#1a1d23', secondary: '#4f5663', disabled: '#9aa1ad' },
      divider: 'rgba(0,0,0,0.12)',
    },
    dark: {
      primary: ['#5b8def', '#85abf3', '#3a6ad0', '#0b1020'],
      secondary: ['#b48cf2', '#cdb1f7', '#8b62cc', '#120b1f'],
      error: ['#f2766b', '#f69d95', '#c9544a', '#1f0705'],
      warning: ['#f0b35b', '#f5cb8b', '#c58d36', '#1f1405'],
      info: ['#5fb7e8', '#8bcdef', '#3c92c2', '#04141f'],
      success: ['#5ccf8a', '#8adfab', '#3ba868', '#04170b'],
      background: { default: '#16181d', paper: '#1f232a' },
      text: { primary: '#e8eaef', secondary: '#a9b0bd', disabled: '#6b7280' },
      divider: 'rgba(255,255,255,0.12)',
    },
  };

  /* palette.docker, which extensions read as theme.palette.docker.grey[300] and so on:
   * six ramps of eight shades, 100 to 800, each a [hue, saturation] in HSL. In light
   * mode 100 is the lightest, in dark mode the darkest, so a shade keeps its contrast
   * with the background in both. */
  var RAMPS = { amber: [36, 88], blue: [216, 76], green: [158, 58], grey: [212, 14], red: [4, 70], violet: [264, 58] };

  function hslHex(h, s, l) {
    s /= 100; l /= 100;
    var a = s * Math.min(l, 1 - l);
    function ch(n) {
      var k = (n + h / 30) % 12;
      var v = l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
      return ('0' + Math.round(v * 255).toString(16)).slice(-2);
    }
    return '#' + ch(0) + ch(8) + ch(4);
  }

  function dockerPalette(mode) {
    var out = {};
    Object.keys(RAMPS).forEach(function (name) {
      var shades = {};
      for (var i = 0; i < 8; i++) {
        var l = mode === 'light' ? 94 - i * 10 : 14 + i * 10;
        shades[String((i + 1) * 100)] = hslHex(RAMPS[name][0], RAMPS[name][1], l);
      }
      out[name] = shades;
    });
    return out;
  }

  /* MUI ThemeOptions for one mode; a fresh object each call, so a theme library that
   * mutates its input cannot change the other global. */
  function themeOptions(mode) {
    var c = COLOURS[mode];
    var p = { mode: mode, docker: dockerPalette(mode) };
    Object.keys(c).forEach(function (k) {
      var v = c[k];
      p[k] = typeof v === 'string' ? v
        : Array.isArray(v) ? { main: v[0], light: v[1], dark: v[2], contrastText: v[3] } : Object.assign({}, v);
    });
    return {
      palette: p,
      typography: { fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif' },
      shape: { borderRadius: 6 },
    };
  }

  /* v0's void navigation calls report failures on the console only. */
  function quiet(promise) {
    promise.catch(function (e) { console.warn('dext:', (e && e.message) || e); });
  }

  window.__ddMuiV5Themes = { light: themeOptions('light'), dark: themeOptions('dark') };
  window.__ddMuiV6Themes = { light: themeOptions('light'), dark: themeOptions('dark') };

  /* ---- the client ---- */

  var vmExec = makeExec('vm');
  var hostExec = makeExec('host');
  var dockerExec = makeExec('docker');

  var extension = { image: ext.image || '' };
  if (ext.hasVm) {
    extension.vm = { cli: { exec: vmExec } };
    if (ext.hasService) extension.vm.service = httpService;
  }
  if (ext.hasHost) extension.host = { cli: { exec: hostExec } };

  var docker = {
    cli: { exec: dockerExec },
    listContainers: (options) => api('docker/containers', options || {}),
    listImages: (options) => api('docker/images', options || {}),
  };

  var client = {
    extension: extension,
    desktopUI: {
      toast: toast,
      dialog: { showOpenDialog: showOpenDialog },
      navigate: navigateIntents,
    },
    host: {
      openExternal: openExternal,
      platform: hostInfo.platform || 'linux',
      arch: hostInfo.arch || '',
      hostname: hostInfo.hostname || '',
    },
    docker: docker,

    /* v0, kept for old extensions: each maps onto a v1 call. */
    backend: ext.hasVm ? Object.assign({}, httpService, {
      execInContainer: function (container, cmdline) {
        return makeExec('container', { container: String(container) })(String(cmdline), []);
      },
      execInVMExtension: (cmdline) => vmExec(String(cmdline), []),
      spawnInVMExtension: function (cmd, args, callback) { v0Spawn(vmExec, cmd, args, callback); },
    }) : undefined,
    toastSuccess: toast.success,
    toastWarning: toast.warning,
    toastError: toast.error,
    openExternal: openExternal,
    listContainers: docker.listContainers,
    listImages: docker.listImages,
    execHostCmd: (cmdline) => hostExec(String(cmdline), []),
    spawnHostCmd: function (cmd, args, callback) { v0Spawn(hostExec, cmd, args, callback); },
    execDockerCmd: function (cmd) { return dockerExec(String(cmd), Array.prototype.slice.call(arguments, 1)); },
    spawnDockerCmd: function (cmd, args, callback) { v0Spawn(dockerExec, cmd, args, callback); },
    navigateToContainers: function () { quiet(navigateIntents.viewContainers()); },
    navigateToContainer: navigateIntents.viewContainer,
    navigateToContainerLogs: navigateIntents.viewContainerLogs,
    navigateToContainerInspect: navigateIntents.viewContainerInspect,
    navigateToContainerStats: navigateIntents.viewContainerStats,
    navigateToImages: function () { quiet(navigateIntents.viewImages()); },
    navigateToImage: navigateIntents.viewImage,
    navigateToVolumes: function () { quiet(navigateIntents.viewVolumes()); },
    navigateToVolume: function (volume) { quiet(navigateIntents.viewVolume(volume)); },
    navigateToDevEnvironments: function () { navigateIntents.viewDevEnvironments(); },
  };

  window.ddClient = client;

  /* localStorage belongs to one install: a page of an earlier install of an
   * extension (or of another extension that had this port) is wiped. */
  if (cfg.installId) {
    try {
      var KEY = '__dext_install_id';
      var seen = window.localStorage.getItem(KEY);
      if (seen !== null && seen !== cfg.installId) {
        window.localStorage.clear();
        window.sessionStorage.clear();
      }
      if (seen !== cfg.installId) window.localStorage.setItem(KEY, cfg.installId);
    } catch (e) { /* storage disabled: nothing to keep apart */ }
  }

  /* The event connection tells the page when to reload (dext run, dev ui-source). */
  if (cfg.reload) getSession().catch(function () {});
})();
