// Talking to the API: the bearer token (this tab only), JSON requests with problem+json errors, and
// the live stream of findings and host summaries.
//
// The stream is read with fetch() rather than EventSource: EventSource cannot send an Authorization
// header, and the API takes the token from that header only (a token in a URL ends up in logs).

const TOKEN_KEY = 'lockline.token';

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** A failed request: the HTTP status (0: no answer), the API's error code and its words, and what we were doing. */
export class ApiError extends Error {
  constructor(status, code, detail, what) {
    super(`${what ? `${what}: ` : ''}${detail}${status ? ` (HTTP ${status}${code ? ` ${code}` : ''})` : ''}`);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.what = what;
  }
}

let unauthorized = () => {};
/** What to do when the API refuses the token (401): main.js asks for another. */
export function onUnauthorized(fn) {
  unauthorized = fn;
}

async function problemOf(res) {
  try {
    const body = await res.json();
    return { code: body.code ?? '', detail: body.detail ?? body.title ?? res.statusText };
  } catch {
    return { code: '', detail: res.statusText || 'no detail' };
  }
}

/**
 * GET a JSON route. `what` names the request in error messages ("load host-004's tree").
 * Aborts with the signal's reason (an AbortError): callers that abort ignore it.
 */
export async function getJson(path, { signal, what } = {}) {
  let res;
  try {
    res = await fetch(path, { headers: { authorization: `Bearer ${getToken() ?? ''}`, accept: 'application/json' }, signal });
  } catch (err) {
    if (err?.name === 'AbortError') throw err;
    throw new ApiError(0, 'NETWORK', `the API did not answer (${err?.message ?? err})`, what);
  }
  if (!res.ok) {
    const { code, detail } = await problemOf(res);
    const error = new ApiError(res.status, code, detail, what);
    if (res.status === 401) unauthorized(error);
    throw error;
  }
  return res.json();
}

export const isAbort = (err) => err?.name === 'AbortError';

/**
 * The API's server-sent events (GET /v1/stream), read with fetch and parsed here; resumes after a
 * drop with Last-Event-ID, so nothing is missed. `onEvent(type, data)` gets `finding` and `host`
 * events; `onStatus(state, detail)` gets 'connecting', 'live', 'retrying' or 'stopped'.
 */
export function openStream({ onEvent, onStatus }) {
  let lastEventId;
  let retryMs = 2000;
  let attempt = 0;
  let stopped = false;
  let controller;
  let retryTimer;
  // The server writes a comment every 15 s: a stream silent for 45 s is dead, whatever TCP says.
  const SILENCE_MS = 45_000;

  const connect = async () => {
    if (stopped) return;
    controller = new AbortController();
    const own = controller;
    let watchdog;
    const feed = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => own.abort(new DOMException('the stream went silent', 'AbortError')), SILENCE_MS);
    };
    onStatus(attempt === 0 ? 'connecting' : 'retrying', attempt === 0 ? '' : `attempt ${attempt + 1}`);
    try {
      feed();
      const headers = { authorization: `Bearer ${getToken() ?? ''}`, accept: 'text/event-stream' };
      if (lastEventId) headers['last-event-id'] = lastEventId;
      const res = await fetch('/v1/stream', { headers, signal: own.signal, cache: 'no-store' });
      if (!res.ok) {
        const { code, detail } = await problemOf(res);
        const error = new ApiError(res.status, code, detail, 'open the live stream');
        if (res.status === 401 || res.status === 403) {
          stopped = true;
          clearTimeout(watchdog);
          onStatus('stopped', error.message);
          if (res.status === 401) unauthorized(error);
          return;
        }
        throw error;
      }
      attempt = 0;
      onStatus('live', '');
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        feed();
        buffer += value.replace(/\r\n?/g, '\n');
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          dispatch(block);
        }
      }
      clearTimeout(watchdog);
      throw new Error('the API closed the stream');
    } catch (err) {
      clearTimeout(watchdog);
      if (stopped) return;
      attempt++;
      // 2 s, then longer and longer, up to 30 s, while the API stays away.
      const delay = Math.min(30_000, retryMs * 2 ** Math.min(attempt - 1, 4));
      onStatus('retrying', `${err?.message ?? err}; again in ${Math.round(delay / 1000)} s`);
      retryTimer = setTimeout(connect, delay);
    }
  };

  const dispatch = (block) => {
    let type = 'message';
    let data = '';
    let id;
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') type = value;
      else if (field === 'data') data += data ? `\n${value}` : value;
      else if (field === 'id') id = value;
      else if (field === 'retry' && /^\d+$/.test(value)) retryMs = Number(value);
    }
    if (id !== undefined) lastEventId = id;
    if (!data) return;
    let parsed;
    try {
      parsed = JSON.parse(data);
    } catch {
      return;
    }
    onEvent(type, parsed);
  };

  void connect();
  return {
    close() {
      stopped = true;
      clearTimeout(retryTimer);
      controller?.abort();
      onStatus('stopped', '');
    },
  };
}
