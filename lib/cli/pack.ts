/**
 * `bagoftricks pack DIR OUT`: an ImageFolder as one packed file (lib/data/pack.ts): every
 * image upright, sRGB, its short side brought down to --max-side, stored as JPEG (or raw RGB),
 * with labels, class names and a CRC per record. `train --data OUT` and `bench data --data OUT`
 * read it with the same transforms as the folder.
 *
 *   bagoftricks pack photos/ photos.pack [--max-side 256] [--quality 90] [--format jpeg|raw]
 *   ... --json                                                one JSON line
 *
 * Files that are not images, and images that fail to decode, are left out and listed with
 * their reason (as train does); a class left without images is ERR_DATASET. OUT is replaced
 * atomically: on any failure nothing is left at OUT (nor a temporary file beside it).
 *
 * Exit codes: 0 written, 1 a failure (`bagoftricks: CODE: message`), 2 bad usage.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BagOfTricksError } from '../errors';
import { ImageFolder } from '../data/imagefolder';
import { writePack } from '../data/pack';
import { FlagSpec, parseCommand, UsageError, usageLine } from './args';

export const PACK_USAGE = `Usage: bagoftricks pack DIR OUT [--max-side 256] [--quality 90] [--format jpeg|raw] [--json]

  DIR              an ImageFolder: one subfolder per class
  OUT              the packed file to write (replaced atomically)
  --max-side N     largest short side of a stored image (default 256; smaller images are
                   kept at their size)
  --quality Q      JPEG quality of re-encoded images, 1-100 (default 90); plain JPEGs already
                   small enough are stored as they are
  --format F       jpeg (default) or raw (RGB pixels: larger, nothing to decode when read)
  --workers N      images decoded at once (default: twice the cores)
  --json           one JSON line {"file","images","classes","bytes","verbatim","leftOut"}
`;

const FLAGS: Record<string, FlagSpec> = {
  'max-side': { type: 'int', min: 1, max: 16384 },
  quality: { type: 'int', min: 1, max: 100 },
  format: { type: 'string', choices: ['jpeg', 'raw'] },
  workers: { type: 'int', min: 1, max: 256 },
  json: { type: 'bool' },
  help: { type: 'bool' },
};

export async function packCli(argv: string[]): Promise<number> {
  const parsed = parseCommand('pack', argv, FLAGS, PACK_USAGE, ({ positional }) => {
    if (positional.length !== 2) throw new UsageError(`expected DIR and OUT, received ${positional.length} argument${positional.length === 1 ? '' : 's'}`);
  });
  if (typeof parsed === 'number') return parsed;
  const { flags, positional } = parsed;
  try {
    const dir = path.resolve(positional[0]);
    const out = path.resolve(positional[1]);
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UsageError(`DIR: no folder at ${JSON.stringify(positional[0])}`);
    if (!fs.existsSync(path.dirname(out)) || !fs.statSync(path.dirname(out)).isDirectory()) throw new UsageError(`OUT: no folder ${JSON.stringify(path.dirname(out))} to write into`);
    if (fs.existsSync(out) && fs.statSync(out).isDirectory()) throw new UsageError(`OUT: ${JSON.stringify(positional[1])} is a folder`);
    const folder = new ImageFolder(dir);
    const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
    const report = await writePack(folder, out, {
      maxSide: flags['max-side'] as number | undefined,
      quality: flags.quality as number | undefined,
      format: flags.format as 'jpeg' | 'raw' | undefined,
      workers: (flags.workers as number | undefined) ?? 2 * cores,
    });
    const leftOut = [...folder.ignored.map((f) => ({ path: f.path, reason: f.reason as string })), ...report.leftOut.map((f) => ({ path: f.path, reason: f.reason as string }))];
    if (flags.json === true) {
      console.log(JSON.stringify({ ...report, leftOut }));
    } else {
      console.log(`wrote ${report.file} (${(report.bytes / 2 ** 20).toFixed(1)} MiB): ${report.images} images in ${report.classes.length} class${report.classes.length === 1 ? '' : 'es'}, ${report.verbatim} stored as they were`);
      if (leftOut.length) console.log(`left out ${leftOut.length} files; each below`);
      for (const f of leftOut) console.log(`skipped  ${f.path}: ${f.reason}`);
    }
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(usageLine('pack', e.message));
      return 2;
    }
    if (e instanceof BagOfTricksError) {
      console.error(`bagoftricks: ${e.code}: ${e.message}`);
      return 1;
    }
    throw e;
  }
}
