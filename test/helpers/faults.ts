/**
 * Shared by the fault-injection suites (test/faults-*.test.ts): running the CLI as a user
 * would, a tiny ImageFolder that trains in about a second, and reading a run folder back.
 */
import { spawn, spawnSync, SpawnSyncReturns } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import type { Test } from 'uvu';
import { ROOT, rmDir, tmpDir } from './data-images';

export const CLI = path.join(ROOT, 'dist', 'cli.js');
export const ENV = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
/** A tiny model and input: trains a step in milliseconds. */
export const TINY = ['--stem', 'cifar', '--size', '8', '--width', '0.125', '--batch-size', '2'];

/** Runs `bagoftricks ...args` to the end (safety timeout 120 s). */
export function cli(args: string[], env: Record<string, string> = {}, nodeArgs: string[] = []): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [...nodeArgs, CLI, ...args], { encoding: 'utf8', env: { ...ENV, ...env }, timeout: 120_000 });
}

export interface Event {
  event: string;
  [k: string]: unknown;
}

/** The NDJSON events of a --json run. */
export function events(stdout: string): Event[] {
  return stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Event);
}

/** A JPEG of 16×16 flat colour (class a dark, class b light, shades by index). */
export async function jpeg(file: string, cls: string, i: number): Promise<string> {
  const px = Buffer.alloc(16 * 16 * 3, (cls === 'a' ? 40 : 200) + i * 3);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, await sharp(px, { raw: { width: 16, height: 16, channels: 3 } }).jpeg().toBuffer());
  return file;
}

/** An ImageFolder of two classes ('a', 'b') with `n` good JPEGs each. */
export async function folder(root: string, n = 8): Promise<string> {
  for (const c of ['a', 'b']) for (let i = 0; i < n; i++) await jpeg(path.join(root, c, `${i}.jpg`), c, i);
  return root;
}

/** Runs the CLI in the background, handing each stdout line to `onLine`; resolves with the exit code and signal. */
export function cliLive(
  args: string[],
  onLine: (line: string, child: ReturnType<typeof spawn>) => void,
  env: Record<string, string> = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...ENV, ...env } });
    let stdout = '';
    let stderr = '';
    let pending = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000); // safety only
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      pending += d;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        onLine(line, child);
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** `tmp(name)`: a new temporary folder named `<suite>-<name>-…`, removed after the suite's tests. */
export function tempDirs(test: Test, suite: string): (name: string) => string {
  const made: string[] = [];
  test.after(() => made.forEach(rmDir));
  return (name: string) => {
    const d = tmpDir(`${suite}-${name}`);
    made.push(d);
    return d;
  };
}
