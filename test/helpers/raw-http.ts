import { request, type IncomingHttpHeaders } from 'node:http';

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * One HTTP request with the path sent exactly as given (fetch would resolve `..`, `.` and `//`
 * segments and re-encode characters first, which hides what a hostile client can send).
 */
export function rawRequest(
  base: string,
  method: string,
  path: string,
  init: { headers?: Record<string, string | number>; body?: Uint8Array | string; timeoutMs?: number } = {},
): Promise<RawResponse> {
  const url = new URL(base);
  return new Promise<RawResponse>((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, method, path, headers: { Connection: 'close', ...init.headers }, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.setTimeout(init.timeoutMs ?? 30_000, () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(init.body);
  });
}
