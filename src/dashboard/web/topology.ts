/**
 * The replication topology as a graph: each primary above the servers that replicate from
 * it, an arrow from primary to replica labelled with the replica's lag, and each node
 * showing the server's role and GTID position. Nodes and edges are keyed and updated in
 * place; the layout is recomputed only when the shape of the topology changes.
 */
import type { Server } from './api.ts';
import { nameOf } from './api.ts';
import { setAttr, setText, svg } from './dom.ts';
import { roleOf } from './badges.ts';

const NODE_W = 168,
  NODE_H = 58,
  GAP_X = 22,
  LEVEL_H = 112,
  PAD = 16;

interface NodeView {
  g: SVGGElement;
  box: SVGRectElement;
  name: SVGTextElement;
  role: SVGTextElement;
  gtid: SVGTextElement;
}

interface EdgeView {
  g: SVGGElement;
  line: SVGPathElement;
  label: SVGTextElement;
}

export class TopologyGraph {
  readonly root: SVGSVGElement;
  private readonly nodes = new Map<string, NodeView>();
  private readonly edges = new Map<string, EdgeView>();
  private readonly edgeLayer = svg('g');
  private readonly nodeLayer = svg('g');
  private shape = '';

  constructor() {
    this.root = svg('svg', {
      id: 'topology-graph',
      class: 'topology',
      role: 'img',
      'aria-label': 'Replication topology',
    });
    const defs = svg('defs');
    const marker = svg('marker', {
      id: 'arrow',
      viewBox: '0 0 10 10',
      refX: 10,
      refY: 5,
      markerWidth: 7,
      markerHeight: 7,
      orient: 'auto-start-reverse',
    });
    marker.append(svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }));
    defs.append(marker);
    this.root.append(defs, this.edgeLayer, this.nodeLayer);
  }

  update(servers: readonly Server[]): void {
    const byName = new Map(servers.map((s) => [s.name, s]));
    const parent = (s: Server) =>
      s.replicates_from && byName.has(nameOf(s.replicates_from)) ? nameOf(s.replicates_from) : null;
    const shape = servers.map((s) => `${s.name}<${parent(s) ?? ''}`).join(',');
    if (shape !== this.shape) {
      this.shape = shape;
      this.layout(servers, parent);
    }
    for (const s of servers) {
      const n = this.nodes.get(s.name)!;
      const role = roleOf(s.state);
      setAttr(n.g, 'class', `node role-${role.kind}`);
      setAttr(n.g, 'data-state', s.state.join(' '));
      setText(n.role, role.label);
      setText(n.gtid, s.gtid_current_pos ? `GTID ${s.gtid_current_pos}` : 'GTID –');
      const from = parent(s);
      if (from) {
        const e = this.edges.get(`${from}->${s.name}`)!;
        setText(e.label, s.replication_lag === null ? 'lag ?' : `lag ${s.replication_lag} s`);
        setAttr(
          e.g,
          'class',
          `edge${(s.replication_lag ?? 0) > 0 ? ' lagging' : ''}${s.state.includes('down') ? ' broken' : ''}`,
        );
      }
    }
  }

  /** Levels by replication depth; each level centred; the SVG grows with the widest level. */
  private layout(servers: readonly Server[], parent: (s: Server) => string | null): void {
    const depth = new Map<string, number>();
    const byName = new Map(servers.map((s) => [s.name, s]));
    const depthOf = (s: Server, seen = new Set<string>()): number => {
      const known = depth.get(s.name);
      if (known !== undefined) return known;
      const p = parent(s);
      // A replication loop (multi-primary ring) is drawn flat rather than recursing forever.
      const d = p && !seen.has(p) ? depthOf(byName.get(p)!, seen.add(s.name)) + 1 : 0;
      depth.set(s.name, d);
      return d;
    };
    const levels: Server[][] = [];
    for (const s of servers) (levels[depthOf(s)] ??= []).push(s);
    const widest = Math.max(1, ...levels.map((l) => l?.length ?? 0));
    const width = Math.max(560, PAD * 2 + widest * NODE_W + (widest - 1) * GAP_X);
    const height = PAD * 2 + levels.length * NODE_H + (levels.length - 1) * (LEVEL_H - NODE_H);
    this.root.setAttribute('viewBox', `0 0 ${width} ${Math.max(height, NODE_H + PAD * 2)}`);
    const position = new Map<string, { x: number; y: number }>();
    levels.forEach((level, d) => {
      if (!level) return;
      const span = level.length * NODE_W + (level.length - 1) * GAP_X;
      level.forEach((s, i) =>
        position.set(s.name, { x: (width - span) / 2 + i * (NODE_W + GAP_X), y: PAD + d * LEVEL_H }),
      );
    });

    for (const [name, n] of this.nodes) {
      if (byName.has(name)) continue;
      n.g.remove();
      this.nodes.delete(name);
    }
    for (const s of servers) {
      let n = this.nodes.get(s.name);
      if (!n) {
        const g = svg('g', { 'data-server': s.name });
        const box = svg('rect', { width: NODE_W, height: NODE_H, rx: 8, class: 'node-box' });
        const name = svg('text', { x: 12, y: 20, class: 'node-name' });
        name.textContent = s.name;
        const role = svg('text', { x: NODE_W - 12, y: 20, 'text-anchor': 'end', class: 'node-role' });
        const gtid = svg('text', { x: 12, y: 44, class: 'node-gtid' });
        g.append(box, name, role, gtid);
        this.nodeLayer.append(g);
        n = { g, box, name, role, gtid };
        this.nodes.set(s.name, n);
      }
      const p = position.get(s.name)!;
      n.g.setAttribute('transform', `translate(${p.x},${p.y})`);
    }

    const wanted = new Set<string>();
    for (const s of servers) {
      const from = parent(s);
      if (!from) continue;
      const key = `${from}->${s.name}`;
      wanted.add(key);
      let e = this.edges.get(key);
      if (!e) {
        const g = svg('g', { 'data-from': from, 'data-to': s.name, class: 'edge' });
        const line = svg('path', { 'marker-end': 'url(#arrow)', class: 'edge-line' });
        const label = svg('text', { class: 'edge-label', 'text-anchor': 'middle' });
        g.append(line, label);
        this.edgeLayer.append(g);
        e = { g, line, label };
        this.edges.set(key, e);
      }
      const a = position.get(from)!,
        b = position.get(s.name)!;
      const x1 = a.x + NODE_W / 2,
        y1 = a.y + NODE_H,
        x2 = b.x + NODE_W / 2,
        y2 = b.y;
      const midY = (y1 + y2) / 2;
      e.line.setAttribute(
        'd',
        y2 > y1 ? `M${x1},${y1} C${x1},${midY} ${x2},${midY} ${x2},${y2 - 2}` : `M${x1},${y1} L${x2},${y2}`,
      );
      e.label.setAttribute('x', String((x1 + x2) / 2 + (x2 === x1 ? 28 : 0)));
      e.label.setAttribute('y', String(midY + 4));
    }
    for (const [key, e] of this.edges) {
      if (wanted.has(key)) continue;
      e.g.remove();
      this.edges.delete(key);
    }
  }
}
