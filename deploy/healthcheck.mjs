#!/usr/bin/env node
// The container's HEALTHCHECK: GET /healthz (or the path given as the first argument) on this node,
// without curl. Exit 0 when it answers 200, 1 otherwise. Plain Node, no dependencies.
//
// Address: OUTPOST_HOST unless it is a wildcard (then 127.0.0.1), port OUTPOST_PORT (8080). The
// node serves plain HTTP or, with a certificate, HTTPS: HTTP is tried first, then HTTPS (the
// certificate is not verified: this asks the process in the same container whether it is alive).
import http from 'node:http';
import https from 'node:https';
import process from 'node:process';

const path = process.argv[2] ?? '/healthz';
const port = Number(process.env.OUTPOST_PORT || 8080);
const configured = process.env.OUTPOST_HOST ?? '';
const host = configured === '' || configured === '0.0.0.0' || configured === '::' ? '127.0.0.1' : configured;

/** Resolves to the status code, or to an error message. */
function probe(client) {
  return new Promise((resolve) => {
    const request = client.get({ host, port, path, timeout: 2000, rejectUnauthorized: false }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('timeout', () => request.destroy(new Error('timed out')));
    request.on('error', (err) => resolve(err.message));
  });
}

const plain = await probe(http);
const answer = plain === 200 ? plain : await probe(https);
if (answer === 200) process.exit(0);
process.stderr.write(`healthcheck: ${host}:${port}${path}: http: ${plain}; https: ${answer}\n`);
process.exit(1);
