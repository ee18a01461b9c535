/**
 * Small DOM helpers for updating in place: a refresh changes only the text and attributes
 * that differ and moves only the rows that moved, so nothing flickers and focus, selection
 * and open menus survive every refresh.
 */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
export function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number> = {},
): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`#${id} is missing from the page`);
  return e as T;
}

export function setText(e: Element, text: string): void {
  if (e.textContent !== text) e.textContent = text;
}

export function setAttr(e: Element, name: string, value: string | null): void {
  if (value === null) {
    if (e.hasAttribute(name)) e.removeAttribute(name);
  } else if (e.getAttribute(name) !== value) e.setAttribute(name, value);
}

/**
 * Makes `parent`'s children the rows for `items`, in order: a row is created once per key,
 * updated in place on every call, moved only when out of place and removed when its item goes.
 */
export function syncKeyed<T, R extends Element>(
  parent: Element,
  rows: Map<string, R>,
  items: readonly T[],
  key: (item: T) => string,
  create: (item: T) => R,
  update: (row: R, item: T) => void,
): void {
  const seen = new Set<string>();
  let cursor: Element | null = parent.firstElementChild;
  for (const item of items) {
    const k = key(item);
    seen.add(k);
    let row = rows.get(k);
    if (!row) {
      row = create(item);
      row.setAttribute('data-key', k);
      rows.set(k, row);
    }
    update(row, item);
    if (row !== cursor) parent.insertBefore(row, cursor);
    else cursor = cursor.nextElementSibling;
  }
  for (const [k, row] of rows) {
    if (!seen.has(k)) {
      row.remove();
      rows.delete(k);
    }
  }
}

/** One-line summaries for the tables. */
export function duration(seconds: number): string {
  if (seconds < 60) return `${Math.floor(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.floor(seconds % 60)} s`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
  return `${Math.floor(seconds / 86400)} d ${Math.floor((seconds % 86400) / 3600)} h`;
}

export function rate(n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2).replace(/\.?0+$/, '') || '0';
}
