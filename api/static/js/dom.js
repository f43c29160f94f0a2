// @ts-check
/** Small DOM builders: elements with attributes and children, SVG elements, lookups by id. */

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * Attribute values; `text` sets the text content; null, undefined and false are left out.
 * @typedef {Record<string, string | number | boolean | null | undefined>} Attrs
 * @typedef {Node | string | null | undefined | false} Child
 */

/**
 * The page's element with this id, which index.html always has.
 * @template {HTMLElement} T
 * @param {string} id
 * @param {new () => T} type the element's class, checked
 * @returns {T}
 */
export function byId(id, type) {
  const e = document.getElementById(id);
  if (!(e instanceof type)) throw new Error(`#${id} is missing from the page or not a ${type.name}`);
  return e;
}

/**
 * @param {string} tag
 * @param {Attrs | null} [attrs]
 * @param {Child | Child[]} [children]
 * @returns {HTMLElement}
 */
export function h(tag, attrs, children) {
  const e = document.createElement(tag);
  setAttrs(e, attrs);
  append(e, children);
  return e;
}

/**
 * An SVG element, appended to `parent` when given.
 * @param {string} tag
 * @param {Attrs | null} [attrs]
 * @param {Element} [parent]
 * @returns {SVGElement}
 */
export function svgEl(tag, attrs, parent) {
  const e = document.createElementNS(SVG_NS, tag);
  setAttrs(e, attrs);
  if (parent) parent.appendChild(e);
  return e;
}

/** @param {Element} e @param {Attrs | null | undefined} attrs */
function setAttrs(e, attrs) {
  if (!attrs) return;
  for (const k in attrs) {
    const v = attrs[k];
    if (v === null || v === undefined || v === false) continue;
    if (k === 'text') e.textContent = String(v);
    else e.setAttribute(k, String(v));
  }
}

/** @param {Element} e @param {Child | Child[]} [children] */
export function append(e, children) {
  if (children === null || children === undefined) return;
  const list = Array.isArray(children) ? children : [children];
  list.forEach((c) => {
    if (c === null || c === undefined || c === false) return;
    e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  });
}

/** @param {Element} e */
export function clear(e) {
  while (e.firstChild) e.removeChild(e.firstChild);
}
