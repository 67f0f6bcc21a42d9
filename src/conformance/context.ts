import type { Case, CaseContext } from './cases/types';
import { Peer, PROMPT_MS } from './peer';
import type { Target } from './target';
import type { TransportDriver } from './transports/types';

/** One case's context on one transport; `dispose()` closes what the case left open. */
export class RunContext implements CaseContext {
  private readonly opened: Array<{ cut(): void }> = [];
  private readonly peers: Peer[] = [];

  constructor(
    readonly target: Target,
    readonly driver: TransportDriver,
  ) {}

  ms(base: number): number {
    return Math.round(base * this.target.scale);
  }

  async open(headers?: Record<string, string>) {
    return this.track(await this.driver.open(this.target, headers));
  }

  async connect(hello: Record<string, unknown> = {}): Promise<Peer> {
    const peer = await Peer.handshake(await this.open(), hello, this.ms(PROMPT_MS));
    this.peers.push(peer);
    return peer;
  }

  track<T extends { cut(): void }>(thing: T): T {
    this.opened.push(thing);
    return thing;
  }

  /** Ends the sessions still open with 1000 (so the server frees them), then drops every connection. */
  async dispose(): Promise<void> {
    await Promise.race([Promise.all(this.peers.map((p) => p.bye())), new Promise((r) => setTimeout(r, this.ms(1000)))]);
    for (const c of this.opened) c.cut();
  }
}

export type { Case };
