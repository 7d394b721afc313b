/**
 * `train --config FILE`: the options of a run from a JSON file, so that a run's own
 * config.json re-runs it. The file is either an object of options named as the flags
 * without their dashes (`{ "epochs": 2, "weight-decay": 5e-5 }`), or a run's config.json,
 * whose `options` member holds every option the run resolved. Flags on the command line
 * override the file.
 *
 * Problems say what and where in one line: an unknown key is a usage error with the nearest
 * valid name (as an unknown flag is); a value of the wrong kind or out of range is
 * ERR_ARGUMENT with the flag's own message; a file that cannot be read is ERR_IO.
 */
import * as fs from 'fs';
import { BagOfTricksError } from '../errors';
import { io } from '../io';
import { checkValue, FlagSpec, nearest, UsageError } from './args';

/** Options that only the command line can give. */
const COMMAND_LINE_ONLY = ['help', 'config'];

/** The options in `file`, checked against `spec` (the command's flags). */
export function readConfigFile(file: string, spec: Record<string, FlagSpec>): Record<string, string | number | boolean> {
  if (!fs.existsSync(file) || !fs.statSync(file).isFile()) throw new UsageError(`--config: no file at ${JSON.stringify(file)}`);
  const text = io('read', file, () => fs.readFileSync(file, 'utf8'));
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new BagOfTricksError('ERR_ARGUMENT', `--config ${file}: not valid JSON (${(e as Error).message})`);
  }
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(json)) throw new BagOfTricksError('ERR_ARGUMENT', `--config ${file}: Expected a JSON object of options but received ${Array.isArray(json) ? 'an array' : JSON.stringify(json)}`);
  // A run's config.json: its resolved options.
  const options = 'options' in json && 'command' in json ? json.options : json;
  if (!isObject(options)) throw new BagOfTricksError('ERR_ARGUMENT', `--config ${file}: Expected an object for "options" but received ${JSON.stringify(options)}`);
  const known = Object.keys(spec).filter((k) => !COMMAND_LINE_ONLY.includes(k));
  const flags: Record<string, string | number | boolean> = {};
  for (const [key, raw] of Object.entries(options)) {
    if (!known.includes(key)) {
      const near = nearest(key, known.filter((k) => !spec[k].hidden));
      throw new UsageError(`--config ${file}: unknown option ${JSON.stringify(key)}${near ? `; did you mean ${JSON.stringify(near)}?` : ''}`);
    }
    if (raw === null) continue; // an option the run did not use (config.json writes null)
    const checked = checkValue(spec[key], raw, true);
    if (typeof checked === 'string') throw new BagOfTricksError('ERR_ARGUMENT', `--config ${file}: "${key}" ${checked}`);
    flags[key] = checked.value;
  }
  return flags;
}
