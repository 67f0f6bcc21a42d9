/**
 * The requirements of docs/protocol.md: every MUST, MUST NOT, SHOULD and SHOULD NOT, with the
 * section and the paragraph (list item, table row) it stands in. Read by the coverage test of
 * the conformance kit, which maps each one to a case through the table in docs/conformance.md.
 */

export interface Block {
  /** `§4`, `§14.3`: the numbered heading the block is under. */
  section: string;
  /** The block's text, whitespace collapsed to single spaces. */
  text: string;
}

export interface Requirement {
  section: string;
  keyword: string;
  /** Where the keyword stands in its block's text. */
  at: number;
  block: string;
}

const KEYWORD = /\b(MUST NOT|MUST|SHOULD NOT|SHOULD)\b/g;

/** Splits markdown into blocks: paragraphs, list items and table rows, code fences left out. */
export function blocks(markdown: string): Block[] {
  const out: Block[] = [];
  let section = '';
  let current: string[] = [];
  let fenced = false;
  const flush = (): void => {
    if (current.length && section) out.push({ section, text: current.join(' ').replace(/\s+/g, ' ').trim() });
    current = [];
  };
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) {
      flush();
      fenced = !fenced;
      continue;
    }
    if (fenced) continue;
    const heading = /^(#{2,3}) (\d+(?:\.\d+)?)[. ]/.exec(line);
    if (/^#{1,6} /.test(line)) {
      flush();
      if (heading) section = `§${heading[2]}`;
      continue;
    }
    if (!line.trim()) {
      flush();
      continue;
    }
    if (/^\s*(?:[-*] |\d+\. |\|)/.test(line)) flush();
    current.push(line.trim());
    if (line.startsWith('|')) flush();
  }
  flush();
  return out;
}

/** Every keyword occurrence of docs/protocol.md's numbered sections. */
export function requirements(markdown: string): Requirement[] {
  const out: Requirement[] = [];
  for (const b of blocks(markdown)) {
    for (const m of b.text.matchAll(KEYWORD))
      out.push({ section: b.section, keyword: m[1]!, at: m.index, block: b.text });
  }
  return out;
}

/** Normalises a quote from the coverage table the way blocks are. */
export const normalise = (s: string): string => s.replace(/\\\|/g, '|').replace(/\s+/g, ' ').trim();
