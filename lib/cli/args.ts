/**
 * A small flag parser for the CLI's sub-commands: `--name value`, `--name=value` and
 * boolean `--flag`; `-h` is `--help`. Unknown flags and missing or malformed values are
 * usage errors (exit code 2), said in one line that names the flag, the nearest valid
 * one, and where the full usage is.
 */
export class UsageError extends Error {}

/** Levenshtein distance between two short strings. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

/**
 * The candidate nearest to `word` when it is plausibly what was meant: a prefix of it or
 * within a third of its length in edits (at least 2); else undefined.
 */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = c.startsWith(word) || word.startsWith(c) ? Math.min(0.5, distance(word, c)) : distance(word, c);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** "unknown option --epoch; did you mean --epochs?" (the suggestion only when one is near). */
export function unknownOption(flag: string, known: readonly string[]): UsageError {
  const near = nearest(flag.replace(/^-+/, ''), known.map((k) => k.replace(/^-+/, '')));
  return new UsageError(`unknown option ${flag}${near ? `; did you mean --${near}?` : ''}`);
}

/** The one line a usage error prints: "bagoftricks train: <problem> (see bagoftricks train --help)". */
export function usageLine(command: string, message: string): string {
  return `bagoftricks ${command}: ${message} (see bagoftricks ${command} --help)`;
}

export interface FlagSpec {
  /** 'int' and 'number' are checked; 'string' is taken as is; 'bool' takes no value. */
  type: 'int' | 'number' | 'string' | 'bool';
  /** Not offered as a suggestion for a mistyped flag (options for tests). */
  hidden?: boolean;
  min?: number;
  max?: number;
  choices?: readonly string[];
}

/**
 * One flag's value checked against its spec: `raw` is the command line's text or a JSON value
 * (from a --config file: `json`, where a number must be a JSON number). Returns the value, or the problem, to follow the flag's name:
 * "expects an integer in [1, 1000000] but received \"x\"".
 */
export function checkValue(s: FlagSpec, raw: unknown, json = false): { value: string | number | boolean } | string {
  if (s.type === 'bool') return typeof raw === 'boolean' ? { value: raw } : `expects true or false but received ${JSON.stringify(raw)}`;
  if (s.type === 'string') {
    if (typeof raw !== 'string' || raw === '') return `expects a non-empty string but received ${JSON.stringify(raw)}`;
    if (s.choices && !s.choices.includes(raw)) return `must be one of ${s.choices.join(', ')}, not ${JSON.stringify(raw)}`;
    return { value: raw };
  }
  const n = typeof raw === 'string' && !json ? Number(raw) : typeof raw === 'number' ? raw : NaN;
  const lo = s.min ?? -Infinity;
  const hi = s.max ?? Infinity;
  if (!Number.isFinite(n) || (s.type === 'int' && !Number.isInteger(n)) || n < lo || n > hi) {
    const range = Number.isFinite(lo) && Number.isFinite(hi) ? ` in [${lo}, ${hi}]` : Number.isFinite(lo) ? ` ≥ ${lo}` : '';
    return `expects ${s.type === 'int' ? 'an integer' : 'a number'}${range} but received ${JSON.stringify(raw)}`;
  }
  return { value: n };
}

export function parseFlags(argv: string[], spec: Record<string, FlagSpec>): { flags: Record<string, string | number | boolean>; positional: string[] } {
  const flags: Record<string, string | number | boolean> = {};
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] === '-h' && spec.help ? '--help' : argv[i];
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    const s = spec[name];
    if (!s) throw unknownOption(`--${name}`, Object.keys(spec).filter((k) => !spec[k].hidden));
    if (s.type === 'bool') {
      if (eq > 0) throw new UsageError(`--${name} takes no value`);
      flags[name] = true;
      continue;
    }
    const raw = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (raw === undefined || raw === '') throw new UsageError(`--${name} needs a value`);
    const problem = checkValue(s, raw);
    if (typeof problem === 'string') throw new UsageError(`--${name} ${problem}`);
    flags[name] = problem.value;
  }
  return { flags, positional };
}

/**
 * The common front of a sub-command: parse the flags, run `check` (which throws UsageError
 * for what the flags alone cannot say), and handle --help. Returns the parsed flags, or
 * the exit code when the command should stop: 0 after printing the usage for --help, 2
 * after printing the problem in one line to stderr.
 */
export function parseCommand(
  name: string,
  argv: string[],
  spec: Record<string, FlagSpec>,
  usage: string,
  check: (parsed: { flags: Record<string, string | number | boolean>; positional: string[] }) => void,
): { flags: Record<string, string | number | boolean>; positional: string[] } | number {
  let parsed;
  try {
    parsed = parseFlags(argv, spec);
    if (!parsed.flags.help) check(parsed);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(usageLine(name, e.message));
    return 2;
  }
  if (parsed.flags.help) {
    console.log(usage);
    return 0;
  }
  return parsed;
}
