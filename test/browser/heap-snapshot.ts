// What a page's JavaScript retains: a V8 heap snapshot (CDP HeapProfiler.takeHeapSnapshot), walked
// from the page's global objects along strong edges. Runtime.getHeapUsage counts more than that,
// and all of it grows over reconnects without any leak of ours: compiled code (V8 tiering up
// functions as they get hot), V8's own caches, and the browser's records of each request and of
// each console message (a 404 on a link the server just dropped), which no script can reach.
import type { CDPSession } from 'playwright-core';

/** One snapshot's totals: bytes reachable from the page's globals, by node type. */
export interface Retained {
  /** Bytes of everything reachable from the page's globals, compiled code left out. */
  bytes: number;
  /** The same, by node type (object, closure, array, string, native, …). */
  byType: Record<string, number>;
  /** Nodes counted. */
  nodes: number;
}

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** Node types that are code, not data: they grow as V8 compiles hot functions. */
const CODE = new Set(['code']);

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

  // The snapshot's root (node 0) points at each global object ("Window / <url>") and at V8's
  // own roots; only the globals are the page's.
  const start: number[] = [];
  for (let e = firstEdge[0]!; e < firstEdge[1]!; e += ef) {
    const to = snap.edges[e + toF!]! / nf;
    if (snap.strings[snap.nodes[to * nf + nameF!]!]!.startsWith('Window')) start.push(to);
  }
  const seen = new Uint8Array(count);
  const byType: Record<string, number> = {};
  let bytes = 0;
  let nodes = 0;
  const stack = [...start];
  for (const s of start) seen[s] = 1;
  while (stack.length) {
    const i = stack.pop()!;
    const type = nodeTypes[snap.nodes[i * nf + typeF!]!]!;
    if (CODE.has(type)) continue;
    const size = snap.nodes[i * nf + sizeF!]!;
    byType[type] = (byType[type] ?? 0) + size;
    bytes += size;
    nodes++;
    for (let e = firstEdge[i]!; e < firstEdge[i + 1]!; e += ef) {
      if (snap.edges[e + edgeTypeF!] === weak) continue;
      const to = snap.edges[e + toF!]! / nf;
      if (!seen[to]) {
        seen[to] = 1;
        stack.push(to);
      }
    }
  }
  return { bytes, byType, nodes };
}
