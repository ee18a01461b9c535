/**
 * The sessions table: sorts by any column (click its header; again to reverse), filters by
 * any text in a row, and closes a session with Kill. Sorting and filtering cover every
 * session; the table shows the first PAGE of the result (more on request), so a refresh
 * with thousands of sessions stays cheap, and it is not updated at all while hidden.
 */
import { api, nameOf, outcome, type Session } from './api.ts';
import { actionButton, performFromClick } from './actions.ts';
import { byId, duration, setText } from './dom.ts';
import { KeyedTable, type Column } from './table.ts';

const PAGE = 200;
const timeOfDay = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const day = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });

function connectedText(iso: string): string {
  const d = new Date(iso);
  const today = new Date().toDateString() === d.toDateString();
  return today ? timeOfDay.format(d) : `${day.format(d)} ${timeOfDay.format(d)}`;
}

export class SessionsView {
  readonly table: KeyedTable<Session>;
  private sessions: Session[] = [];
  private sortColumn = 0;
  private ascending = true;
  private readonly filter = byId<HTMLInputElement>('session-filter');
  private readonly count = byId('session-count');
  private readonly more = byId<HTMLButtonElement>('session-more');
  private readonly shownText = byId('session-shown');
  private limit = PAGE;
  /** False while the sessions tab is hidden: the table then waits for the tab to show. */
  visible = false;

  constructor() {
    const columns: Column<Session>[] = [
      {
        header: 'ID',
        className: 'num',
        fill: (td, s, first) => first && setText(td, String(s.id)),
        sortKey: (s) => s.id,
      },
      { header: 'User', fill: (td, s) => setText(td, s.user), sortKey: (s) => s.user },
      {
        header: 'Client',
        className: 'mono',
        fill: (td, s) => setText(td, `${s.address}:${s.port}`),
        sortKey: (s) => `${s.address}:${String(s.port).padStart(5, '0')}`,
      },
      { header: 'Service', fill: (td, s) => setText(td, nameOf(s.service)), sortKey: (s) => nameOf(s.service) },
      {
        header: 'Servers',
        fill: (td, s) => setText(td, s.servers.map(nameOf).join(', ') || '–'),
        sortKey: (s) => s.servers.map(nameOf).join(','),
      },
      {
        header: 'Connected since',
        fill: (td, s, first) => first && ((td.title = s.connected), setText(td, connectedText(s.connected))),
        sortKey: (s) => s.connected,
      },
      { header: 'Idle', className: 'num', fill: (td, s) => setText(td, duration(s.idle)), sortKey: (s) => s.idle },
      {
        header: 'Statements',
        className: 'num',
        fill: (td, s) => setText(td, String(s.statements_routed)),
        sortKey: (s) => s.statements_routed,
      },
      {
        header: '',
        className: 'act',
        fill: (td, s, first) => {
          if (!first) return;
          const kill = actionButton('Kill', 'kill', 'danger');
          kill.addEventListener('click', () => {
            performFromClick(
              {
                question: `Kill session ${s.id} (${s.user} from ${s.address})? Its client is disconnected.`,
                done: `Session ${s.id} closed.`,
                run: () => outcome(api.DELETE('/sessions/{id}', { params: { path: { id: s.id } } })),
              },
              kill,
            );
          });
          td.append(kill);
        },
      },
    ];
    this.table = new KeyedTable<Session>('sessions', columns, (s) => String(s.id), 'No sessions');
    this.table.headers.forEach((th, i) => {
      if (!columns[i]!.sortKey) return;
      th.classList.add('sortable');
      th.tabIndex = 0;
      const sort = () => {
        this.ascending = this.sortColumn === i ? !this.ascending : true;
        this.sortColumn = i;
        this.render();
      };
      th.addEventListener('click', sort);
      th.addEventListener('keydown', (e) => (e.key === 'Enter' || e.key === ' ') && (e.preventDefault(), sort()));
    });
    this.filter.addEventListener('input', () => {
      this.limit = PAGE;
      this.render();
    });
    this.more.addEventListener('click', () => {
      this.limit += PAGE * 5;
      this.render();
    });
  }

  update(sessions: Session[]): void {
    this.sessions = sessions;
    if (this.visible) this.render();
    else setText(this.count, String(sessions.length));
  }

  render(): void {
    const words = this.filter.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    const shown = words.length
      ? this.sessions.filter((s) => {
          const text =
            `${s.id} ${s.user} ${s.address}:${s.port} ${nameOf(s.service)} ${s.servers.map(nameOf).join(' ')} ${s.default_db ?? ''}`.toLowerCase();
          return words.every((w) => text.includes(w));
        })
      : this.sessions.slice();
    const key = this.table.columns[this.sortColumn]!.sortKey!;
    const dir = this.ascending ? 1 : -1;
    shown.sort((a, b) => {
      const x = key(a),
        y = key(b);
      return (x < y ? -1 : x > y ? 1 : a.id - b.id) * dir;
    });
    this.table.headers.forEach((th, i) => {
      const sort = i === this.sortColumn ? (this.ascending ? 'ascending' : 'descending') : null;
      if (sort) th.setAttribute('aria-sort', sort);
      else th.removeAttribute('aria-sort');
    });
    this.table.update(shown.length > this.limit ? shown.slice(0, this.limit) : shown);
    setText(this.count, words.length ? `${shown.length} of ${this.sessions.length}` : String(this.sessions.length));
    this.more.hidden = shown.length <= this.limit;
    setText(this.shownText, shown.length > this.limit ? `Showing ${this.limit} of ${shown.length}.` : '');
  }
}
