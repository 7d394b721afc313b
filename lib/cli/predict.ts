/**
 * `bagoftricks predict`: the top-k classes with softmax scores for each image, decoded with the
 * checkpoint's eval transform (its run's, or 'eval' at its input size) through lib/data.
 *
 *   bagoftricks predict --checkpoint runs/x/best.safetensors a.png b.jpg
 *   a.png: 7 0.9812, 1 0.0050, 9 0.0031, 2 0.0020, 4 0.0017
 *   ... --json      one line per image: {"path","top":[{"label","index","score"}]}
 *                   or {"path","error":{"code","reason","message"}}
 *
 * A file that cannot be decoded (missing, corrupt, not an image) gets its own ERR_IMAGE_DECODE
 * line; the other images are still predicted. Results come in the order the files were given.
 *
 * Exit codes: 0 every image predicted, 1 some image failed (or another failure), 2 bad usage.
 */
import * as fs from 'fs';
import * as path from 'path';
import { BagOfTricksError } from '../errors';
import { DataError, DataLoader, ImageList } from '../data';
import { listImages } from '../data/imagefolder';
import type { Prediction } from '../train/trainer';
import { FlagSpec, parseCommand, UsageError, usageLine } from './args';
import { asRole, chooseBackend, defaultEvalTransform, loadForInference, readCheckpointInfo } from './train';

export const PREDICT_USAGE = `Usage: bagoftricks predict --checkpoint F IMAGE|DIR... [--topk 5] [--json]

A folder stands for every image under it (recursively, in name order); files in it that
are not images are listed on stderr as left out.

  --checkpoint F   a checkpoint written by bagoftricks train (or Trainer.save)
  --topk K         classes per image (default 5, at most the checkpoint's classes)
  --backend B      auto (default: CUDA when a usable GPU exists), cpu or cuda
  --json           one JSON line per image
`;

const FLAGS: Record<string, FlagSpec> = {
  checkpoint: { type: 'string' },
  topk: { type: 'int', min: 1, max: 1 << 20 },
  backend: { type: 'string', choices: ['auto', 'cpu', 'cuda'] },
  json: { type: 'bool' },
  help: { type: 'bool' },
};

/** Images per forward pass. */
const BATCH = 32;

type Outcome = { top: Prediction[] } | { error: { code: string; reason: string; message: string } };

/** The arguments with each folder replaced by the images under it, in name order; what is left out is said on stderr. */
function expandFolders(args: string[]): string[] {
  const out: string[] = [];
  for (const a of args) {
    let dir = false;
    try {
      dir = fs.statSync(a).isDirectory();
    } catch {
      dir = false; // a missing file is reported per image, as any unreadable one
    }
    if (!dir) {
      out.push(a);
      continue;
    }
    const { files, ignored } = listImages(a);
    const abs = path.resolve(a);
    for (const f of files) out.push(path.join(a, path.relative(abs, f)));
    for (const f of ignored) console.error(`bagoftricks predict: left out ${path.join(a, path.relative(abs, f.path))} (${f.reason})`);
  }
  return out;
}

export async function predictCli(argv: string[]): Promise<number> {
  const parsed = parseCommand('predict', argv, FLAGS, PREDICT_USAGE, ({ flags, positional }) => {
    if (flags.checkpoint === undefined) throw new UsageError('--checkpoint is required');
    if (positional.length === 0) throw new UsageError('which images? (for example: bagoftricks predict --checkpoint best.safetensors digit.png)');
  });
  if (typeof parsed === 'number') return parsed;
  const { flags, positional } = parsed;
  const json = flags.json === true;
  const images = expandFolders(positional);
  if (images.length === 0) {
    console.error(usageLine('predict', `no images in ${positional.map((p) => JSON.stringify(p)).join(', ')}`));
    return 2;
  }
  try {
    const backend = chooseBackend((flags.backend as 'auto' | 'cpu' | 'cuda') ?? 'auto');
    const ckpt = path.resolve(flags.checkpoint as string);
    const { run } = await readCheckpointInfo(ckpt, '--checkpoint');
    const batchSize = Math.min(BATCH, images.length);
    const trainer = await asRole('--checkpoint', ckpt, () => loadForInference(ckpt, batchSize, backend.backend));
    try {
      if (!json) console.error(backend.line);
      const topk = Math.min((flags.topk as number | undefined) ?? 5, trainer.classes.length);
      const stem = (trainer.model.config as { stem: 'cifar' | 'imagenet' }).stem;
      const list = new ImageList(images);
      const loader = new DataLoader(list, {
        batchSize,
        transform: run?.evalTransform ?? defaultEvalTransform(stem),
        size: trainer.inputSize,
        shuffle: false,
        onError: 'skip',
      });
      const outcomes: (Outcome | undefined)[] = new Array(images.length);
      try {
        for await (const batch of loader.epoch(0)) {
          const preds = await trainer.predict({ data: batch.images.data as Float32Array, shape: batch.images.shape.slice() }, topk);
          preds.forEach((top, i) => (outcomes[batch.indices[i]] = { top }));
          batch.release();
        }
      } catch (e) {
        // Every image failed: the loader reports the lost "class"; each file is reported below.
        if (!(e instanceof DataError && e.code === ('ERR_DATASET' as string) && loader.skipped.length > 0)) throw e;
      }
      for (const s of loader.skipped) {
        // s.message is the decoder's error message: "<path>: <reason> (<detail>)".
        const error = { code: s.reason === 'too-large' ? 'ERR_IMAGE_TOO_LARGE' : 'ERR_IMAGE_DECODE', reason: s.reason, message: s.message };
        images.forEach((p, i) => {
          if (p === s.path && !outcomes[i]) outcomes[i] = { error };
        });
      }
      let failed = 0;
      outcomes.forEach((o, i) => {
        const p = images[i];
        if (!o || 'error' in o) {
          failed++;
          const err = o?.error ?? { code: 'ERR_IMAGE_DECODE', reason: 'unreadable', message: `${p}: not decoded` };
          if (json) console.log(JSON.stringify({ path: p, error: err }));
          console.error(`bagoftricks: ${err.code}: ${err.message}`);
          return;
        }
        if (json) console.log(JSON.stringify({ path: p, top: o.top }));
        else console.log(`${p}: ${o.top.map((t) => `${t.label} ${t.score.toFixed(4)}`).join(', ')}`);
      });
      return failed ? 1 : 0;
    } finally {
      trainer.dispose();
    }
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(usageLine('predict', e.message));
      return 2;
    }
    if (e instanceof BagOfTricksError) {
      console.error(`bagoftricks: ${e.code}: ${e.message}`);
      return 1;
    }
    throw e;
  }
}
