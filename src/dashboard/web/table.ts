/**
 * A table whose rows are keyed and updated in place. Each column knows how to fill its
 * cell; a column that builds controls (buttons, selects) builds them once, on the row's
 * first update, and only refreshes them afterwards.
 */
import { el, syncKeyed } from './dom.ts';

export interface Column<T> {
  header: string;
  /** A class for the header and cells (alignment, width). */
  className?: string;
  /** Fills (or refreshes) the cell; `first` is true when the row was just created. */
  fill: (td: HTMLTableCellElement, item: T, first: boolean) => void;
  /** Sort key; a column without one does not sort. */
  sortKey?: (item: T) => string | number;
}

export class KeyedTable<T> {
  readonly root: HTMLTableElement;
  readonly body: HTMLTableSectionElement;
  private readonly rows = new Map<string, HTMLTableRowElement>();
  private readonly fresh = new WeakSet<HTMLTableRowElement>();
  readonly headers: HTMLTableCellElement[];

  constructor(
    id: string,
    readonly columns: Column<T>[],
    private readonly key: (item: T) => string,
    private readonly empty = 'None',
  ) {
    this.headers = columns.map((c) =>
      el('th', c.className ? { class: c.className, scope: 'col' } : { scope: 'col' }, c.header),
    );
    this.body = el('tbody');
    this.root = el('table', { id, class: 'grid' }, el('thead', {}, el('tr', {}, ...this.headers)), this.body);
    this.root.dataset.empty = empty;
  }

  update(items: readonly T[]): void {
    syncKeyed(
      this.body,
      this.rows,
      items,
      this.key,
      () => {
        const tr = el('tr');
        for (const c of this.columns) tr.append(el('td', c.className ? { class: c.className } : {}));
        this.fresh.add(tr);
        return tr;
      },
      (tr, item) => {
        const first = this.fresh.has(tr);
        this.fresh.delete(tr);
        this.columns.forEach((c, i) => c.fill(tr.cells[i]!, item, first));
      },
    );
    this.root.classList.toggle('is-empty', items.length === 0);
  }
}
