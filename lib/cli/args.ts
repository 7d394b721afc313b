/**
 * A small flag parser for the CLI's sub-commands: `--name value`, `--name=value` and
 * boolean `--flag`. Unknown flags and missing or malformed values are usage errors
 * (exit code 2), with a message naming the flag.
 */
export class UsageError extends Error {}

export interface FlagSpec {
  /** 'int' and 'number' are checked; 'string' is taken as is; 'bool' takes no value. */
  type: 'int' | 'number' | 'string' | 'bool';
  min?: number;
  max?: number;
  choices?: readonly string[];
}

export function parseFlags(argv: string[], spec: Record<string, FlagSpec>): { flags: Record<string, string | number | boolean>; positional: string[] } {
  const flags: Record<string, string | number | boolean> = {};
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    const s = spec[name];
    if (!s) throw new UsageError(`unknown option --${name}`);
    if (s.type === 'bool') {
      if (eq > 0) throw new UsageError(`--${name} takes no value`);
      flags[name] = true;
      continue;
    }
    const raw = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (raw === undefined || raw === '') throw new UsageError(`--${name} needs a value`);
    if (s.type === 'string') {
      if (s.choices && !s.choices.includes(raw)) throw new UsageError(`--${name} must be one of ${s.choices.join(', ')}, not ${JSON.stringify(raw)}`);
      flags[name] = raw;
      continue;
    }
    const n = Number(raw);
    const lo = s.min ?? -Infinity;
    const hi = s.max ?? Infinity;
    if (!Number.isFinite(n) || (s.type === 'int' && !Number.isInteger(n)) || n < lo || n > hi) {
      const range = Number.isFinite(lo) && Number.isFinite(hi) ? ` in [${lo}, ${hi}]` : Number.isFinite(lo) ? ` ≥ ${lo}` : '';
      throw new UsageError(`--${name} expects ${s.type === 'int' ? 'an integer' : 'a number'}${range} but received ${JSON.stringify(raw)}`);
    }
    flags[name] = n;
  }
  return { flags, positional };
}

/**
 * The common front of a sub-command: parse the flags, run `check` (which throws UsageError
 * for what the flags alone cannot say), and handle --help. Returns the parsed flags, or
 * the exit code when the command should stop: 0 after printing the usage for --help, 2
 * after printing the problem and the usage to stderr.
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
    console.error(`bagoftricks ${name}: ${e.message}\n\n${usage}`);
    return 2;
  }
  if (parsed.flags.help) {
    console.log(usage);
    return 0;
  }
  return parsed;
}
