import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a receiver got: its headers, its JSON body, and the status it was answered with (null: held, or cut before an answer). */
export interface ReceivedHook {
  headers: http.IncomingHttpHeaders;
  method: string;
  path: string;
  body: Record<string, unknown>;
  answered: number | null;
}

/** How the receiver answers one request: a status, or `hold` (no answer until release). */
export type ReceiverAnswer = number | 'hold';

/**
 * A real HTTP server standing for a webhook's service URI (tests only). It answers the requests
 * it gets by its plan, in order (then 200), records each, and lets a test wait for the n-th
 * request by event, not by sleeping.
 */
export class WebhookReceiver {
  readonly received: ReceivedHook[] = [];
  private plan: ReceiverAnswer[] = [];
  private readonly waiters: Array<{ count: number; resolve: () => void }> = [];
  private readonly held: Array<{ res: http.ServerResponse; hook: ReceivedHook }> = [];

  private constructor(private readonly server: http.Server) {}

  static async start(plan: ReceiverAnswer[] = []): Promise<WebhookReceiver> {
    let receiver: WebhookReceiver | null = null;
    const server = http.createServer((req, res) => receiver!.handle(req, res));
    receiver = new WebhookReceiver(server);
    receiver.plan = [...plan];
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  /** The answers to the next requests (then 200). */
  answerWith(plan: ReceiverAnswer[]): void {
    this.plan = [...plan];
  }

  /** Resolves once `count` requests have arrived (the held ones included). */
  waitFor(count: number, timeoutMs = 20_000): Promise<void> {
    if (this.received.length >= count) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the receiver got ${this.received.length} requests, not ${count}, in ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ count, resolve: () => {
        clearTimeout(timer);
        resolve();
      } });
    });
  }

  /** The ids (payload `id`) of the requests answered 2xx, in order. */
  deliveredIds(): string[] {
    return this.received.filter((r) => r.answered !== null && r.answered < 300).map((r) => String(r.body.id));
  }

  /** Answers every held request with `status`. */
  release(status = 200): void {
    for (const { res, hook } of this.held.splice(0)) {
      hook.answered = status;
      res.writeHead(status).end();
    }
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        body = {};
      }
      const hook: ReceivedHook = { headers: req.headers, method: req.method ?? '', path: req.url ?? '', body, answered: null };
      this.received.push(hook);
      const answer = this.plan.shift() ?? 200;
      if (answer === 'hold') this.held.push({ res, hook });
      else {
        hook.answered = answer;
        res.writeHead(answer, { 'content-type': 'text/plain', 'set-cookie': 'session=receiver-secret' }).end(answer < 300 ? 'ok' : 'not now');
      }
      for (const w of this.waiters.filter((x) => this.received.length >= x.count)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve();
      }
    });
  }
}
