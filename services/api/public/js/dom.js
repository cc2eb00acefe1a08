// A few helpers to build DOM without a framework. Text always goes in as text (never as HTML): what
// the API sends — comms, messages, paths — is data from hosts, not markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * h('a', { href: '#/', class: 'x', onclick: fn, 'aria-label': '…' }, 'text', child, …)
 * Props: `class`, `text`, `on<event>` handlers, `dataset` (an object), `style` (an object); a name
 * the element has as a property (`href`, `value`, `hidden`) is set as one, any other (`aria-*`,
 * `tabindex`, `for`, `inputmode`) as an attribute. Null, undefined and false props and children are
 * skipped.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) applyProps(el, props);
  append(el, children);
  return el;
}

/** The same for SVG elements: every prop is an attribute. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  if (attrs) for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null && v !== false) el.setAttribute(k, String(v));
  append(el, children);
  return el;
}

function applyProps(el, props) {
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'style') Object.assign(el.style, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key.includes('-') || !(key in el)) el.setAttribute(key, value === true ? '' : String(value));
    else el[key] = value;
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces every child of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** Sets textContent only when it changed (no layout work for an unchanged cell). */
export function setText(el, text) {
  const t = String(text);
  if (el.textContent !== t) el.textContent = t;
}

/** Calls fn at most once per animation frame, with the latest arguments. */
export function perFrame(fn) {
  let scheduled = false;
  let args = [];
  return (...a) => {
    args = a;
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      fn(...args);
    });
  };
}

/** Calls fn once `ms` have passed without another call. */
export function debounce(fn, ms) {
  let timer;
  const d = (...a) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...a), ms);
  };
  d.cancel = () => clearTimeout(timer);
  return d;
}
