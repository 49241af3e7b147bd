import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';

/** One CLI run: its exit code and what it printed. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs command lines through the CLI's entry point (`main`, what `bin/outpost` runs) in ONE node
 * process, one after the other, each with its own stdout, stderr and exit code (a process start
 * costs ~300 ms). Its stdin is not a terminal.
 */
const RUNNER = `
import { main } from ${JSON.stringify(new URL('../../src/cli/main.js', import.meta.url).href)};
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const out = process.stdout.write.bind(process.stdout);
const err = process.stderr.write.bind(process.stderr);
const runs = [];
for (const args of JSON.parse(Buffer.concat(chunks).toString())) {
  const run = { code: 0, stdout: '', stderr: '' };
  process.stdout.write = (chunk) => ((run.stdout += String(chunk)), true);
  process.stderr.write = (chunk) => ((run.stderr += String(chunk)), true);
  process.exitCode = undefined;
  try {
    await main(['node', 'outpost', ...args]);
  } catch (e) {
    run.stderr += 'main threw: ' + String(e);
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
  run.code = Number(process.exitCode ?? 0);
  runs.push(run);
}
process.exitCode = 0;
out(JSON.stringify(runs));
`;

/** Runs a program with `env` and `stdin` to its end. */
export function execRun(file: string, args: string[], env: NodeJS.ProcessEnv, stdin = ''): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { env, encoding: 'utf8', timeout: 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
    child.stdin!.end(stdin);
  });
}

/** `outpost <args>` for each command line, in order, in one process with `env`. */
export async function cliBatch(commands: string[][], env: NodeJS.ProcessEnv): Promise<CliRun[]> {
  const run = await execRun(process.execPath, ['--input-type=module', '-e', RUNNER], env, JSON.stringify(commands));
  assert.equal(run.code, 0, `batch runner: ${run.stderr}`);
  const runs = JSON.parse(run.stdout) as CliRun[];
  assert.equal(runs.length, commands.length);
  for (const [i, r] of runs.entries()) assert.doesNotMatch(r.stderr, /main threw/, commands[i]!.join(' '));
  return runs;
}

/** A failure is one `outpost: …` line on stderr, nothing on stdout, and the exit code. */
export function assertOneLineError(run: CliRun, code: number, message: RegExp | string, what = ''): void {
  assert.equal(run.code, code, `${what}: exit code; stderr: ${run.stderr}`);
  assert.equal(run.stdout, '', what);
  assert.match(run.stderr, /^outpost: [^\n]+\n$/, `${what}: one line: ${JSON.stringify(run.stderr)}`);
  if (typeof message === 'string') assert.equal(run.stderr, `outpost: ${message}\n`, what);
  else assert.match(run.stderr, message, what);
}
