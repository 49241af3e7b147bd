import net from 'node:net';

export interface SlowLink {
  /** `127.0.0.1:<port>`: give it to a child as its parent's address. */
  endpoint: string;
  close(): Promise<void>;
}

/**
 * A TCP link to `target` (`host:port`) whose downstream (target → client) carries at most
 * `bytesPerSecond` per connection, so a transfer through it lasts long enough for a test to act
 * in the middle of it (a kill -9 that must land mid-download). Upstream bytes pass at once.
 */
export async function startSlowLink(target: string, bytesPerSecond: number): Promise<SlowLink> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      upstream.pause();
      client.write(chunk);
      const timer = setTimeout(() => upstream.resume(), (chunk.length / bytesPerSecond) * 1000);
      upstream.once('close', () => clearTimeout(timer));
    });
    upstream.on('end', () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as net.AddressInfo;
  return {
    endpoint: `127.0.0.1:${address.port}`,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
