import type { TestClient } from './oci-client.js';

/** A management API answer: its status and its parsed JSON body (null when empty). */
export interface MgmtAnswer {
  status: number;
  json: unknown;
}

interface ErrorJson {
  errors: Array<{ code: string; message: string }>;
}

/** Calls `/mgmt/v1<path>` with an optional JSON body. */
export async function mgmt(client: TestClient, method: string, path: string, body?: unknown): Promise<MgmtAnswer> {
  const res = await client.request(method, `/mgmt/v1${path}`, body === undefined ? {} : { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
  const text = await res.text();
  return { status: res.status, json: text === '' ? null : JSON.parse(text) };
}

/** The first OCI error's message of an answer. */
export const errorMessage = (answer: MgmtAnswer): string => (answer.json as ErrorJson).errors[0]!.message;

/** The first OCI error's code of an answer. */
export const errorCodeOf = (answer: MgmtAnswer): string => (answer.json as ErrorJson).errors[0]!.code;
