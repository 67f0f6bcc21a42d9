// What a page's JavaScript retains: a V8 heap snapshot (CDP HeapProfiler.takeHeapSnapshot), walked
// from the page's global objects along strong edges, counting JavaScript values only (objects,
// closures, arrays, strings, numbers…). Runtime.getHeapUsage counts more than that, and all of it
// grows over reconnects without any leak of a script: compiled code (V8 tiering up functions as
// they get hot), V8's own metadata (hidden classes, weak lists), and the browser's own records,
// reachable from window but not held by a script: one PerformanceResourceTiming per request (a
// buffer of 250 by default), one console message per failed request (a 404 on a link the server
// has just dropped), and, while DevTools or Playwright watch the network, each request's data.
import type { CDPSession } from 'playwright-core';

/** One snapshot's totals: bytes reachable from the page's globals, by node type. */
export interface Retained {
  /** Bytes of the JavaScript values reachable from the page's globals. */
  bytes: number;
  /** The same, by node type (object, closure, array, string, native, …). */
  byType: Record<string, number>;
  /** The same, by type and constructor or class name ("native blink::Foo", "object Bar"). */
  byName: Record<string, number>;
  /** Nodes counted. */
  nodes: number;
}

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** Node types of JavaScript values; the others are code, V8 metadata ("system / …") and browser objects. */
const VALUES = new Set([
  'object',
  'closure',
  'array',
  'string',
  'concatenated string',
  'sliced string',
  'number',
  'heap number',
  'regexp',
  'symbol',
  'bigint',
]);

/** Takes a heap snapshot (after two forced GCs) and counts what the page's globals retain. */
export async function retainedByPage(cdp: CDPSession): Promise<Retained> {
  for (let i = 0; i < 2; i++) await cdp.send('HeapProfiler.collectGarbage');
  const chunks: string[] = [];
  const onChunk = (e: { chunk: string }) => chunks.push(e.chunk);
  cdp.on('HeapProfiler.addHeapSnapshotChunk', onChunk);
  try {
    await cdp.send('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
  } finally {
    cdp.off('HeapProfiler.addHeapSnapshotChunk', onChunk);
  }
  return retainedIn(chunks.join(''));
}

/** Counts what the page's globals retain in a heap snapshot's text (also used by `npm run bench`). */
export function retainedIn(snapshotText: string): Retained {
  const snap = JSON.parse(snapshotText) as Snapshot;
  const { meta } = snap.snapshot;
  const nf = meta.node_fields.length;
  const ef = meta.edge_fields.length;
  const at = (name: string, fields: string[]) => fields.indexOf(name);
  const [typeF, nameF, sizeF, edgesF] = ['type', 'name', 'self_size', 'edge_count'].map((f) => at(f, meta.node_fields));
  const [edgeTypeF, toF] = ['type', 'to_node'].map((f) => at(f, meta.edge_fields));
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const weak = edgeTypes.indexOf('weak');
  const count = snap.nodes.length / nf;
  const firstEdge = new Uint32Array(count + 1);
  for (let i = 0; i < count; i++) firstEdge[i + 1] = firstEdge[i]! + snap.nodes[i * nf + edgesF!]! * ef;

  // The page's global objects ("Window [JSGlobalObject] / <url>"; isolated worlds have their own).
  const start: number[] = [];
  const objectType = nodeTypes.indexOf('object');
  for (let i = 0; i < count; i++) {
    if (snap.nodes[i * nf + typeF!] !== objectType) continue;
    if (snap.strings[snap.nodes[i * nf + nameF!]!]!.startsWith('Window [JSGlobalObject]')) start.push(i);
  }
  const seen = new Uint8Array(count);
  const byType: Record<string, number> = {};
  const byName: Record<string, number> = {};
  let bytes = 0;
  let nodes = 0;
  const stack = [...start];
  for (const s of start) seen[s] = 1;
  while (stack.length) {
    const i = stack.pop()!;
    const type = nodeTypes[snap.nodes[i * nf + typeF!]!]!;
    const nodeName = snap.strings[snap.nodes[i * nf + nameF!]!]!;
    // Walked through, whatever they are (a value may hang off a browser object), counted if values.
    if (VALUES.has(type) && !nodeName.startsWith('system / ')) {
      const size = snap.nodes[i * nf + sizeF!]!;
      byType[type] = (byType[type] ?? 0) + size;
      const name = `${type} ${type.includes('string') ? '' : nodeName.slice(0, 100)}`;
      byName[name] = (byName[name] ?? 0) + size;
      bytes += size;
      nodes++;
    }
    for (let e = firstEdge[i]!; e < firstEdge[i + 1]!; e += ef) {
      if (snap.edges[e + edgeTypeF!] === weak) continue;
      const to = snap.edges[e + toF!]! / nf;
      if (!seen[to]) {
        seen[to] = 1;
        stack.push(to);
      }
    }
  }
  return { bytes, byType, byName, nodes };
}

/** The names whose bytes grew most from `a` to `b`, for failure messages. */
export function grewMost(a: Retained, b: Retained, n = 8): string {
  return Object.keys(b.byName)
    .map((k) => [k, (b.byName[k] ?? 0) - (a.byName[k] ?? 0)] as const)
    .filter(([, d]) => d !== 0)
    .sort((x, y) => y[1] - x[1])
    .slice(0, n)
    .map(([k, d]) => `${k}: ${d > 0 ? '+' : ''}${d}`)
    .join('; ');
}
