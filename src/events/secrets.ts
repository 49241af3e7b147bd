/**
 * What a webhook's configuration may hide: credentials in custom headers (`Authorization:
 * Basic …`, an API key) and in the service URI (a password before the host, a signature or key
 * in the query, as Azure Functions' `?code=`). These are never logged, and are masked wherever
 * they are shown (the webhook's JSON, the delivery history).
 */

export const MASK = '***';

/** Header names whose values are credentials, or may be. */
const SECRET_HEADER = /^(authorization|proxy-authorization|cookie|set-cookie)$|token|secret|passw|key|auth|signature|credential|session/i;
/** Query parameter names whose values may be credentials. */
const SECRET_PARAM = /^(code|sig|signature|key|apikey|api_key|token|access_token|secret|password|pwd|pass|auth|credential|credentials)$|token|secret|passw|key/i;

export function isSecretHeader(name: string): boolean {
  return SECRET_HEADER.test(name);
}

/** The headers with the values of secret-looking ones masked. */
export function maskHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, isSecretHeader(name) ? MASK : value]));
}

/** The URI with a user-info password and secret-looking query values masked (a URI that does not parse is hidden whole). */
export function maskUri(uri: string): string {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return MASK;
  }
  if (url.password !== '') url.password = MASK;
  for (const name of [...new Set(url.searchParams.keys())]) {
    if (SECRET_PARAM.test(name)) url.searchParams.set(name, MASK);
  }
  return url.toString();
}
