/** Output digests of a snippet run with a given thread count (determinism tests). */
import { execFileSync } from 'child_process';
import * as path from 'path';
import { bot } from './lib';

const ROOT = path.resolve(__dirname, '../../..');

/**
 * Runs `body` (JavaScript using `bot`, ending in `return { name: Float32Array, ... }`) in a
 * child process whose thread pool has `threads` threads (BAGOFTRICKS_THREADS), and
 * returns a SHA-256 of each array's bytes. `threads` 0 runs it in this process instead.
 */
export function digests(threads: number, body: string): Record<string, string> {
  const hash = `(out) => Object.fromEntries(Object.entries(out).map(([k, v]) =>
    [k, require('crypto').createHash('sha256').update(Buffer.from(v.buffer, v.byteOffset, v.byteLength)).digest('hex')]))`;
  if (threads === 0) return new Function('bot', 'require', `return (${hash})((() => { ${body} })());`)(bot, require);
  const script = `const bot = require(${JSON.stringify(ROOT)});
    process.stdout.write(JSON.stringify((${hash})((() => { ${body} })())));`;
  const env = { ...process.env, BAGOFTRICKS_THREADS: String(threads) };
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { env, encoding: 'utf8' }));
}
