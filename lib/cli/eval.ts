/**
 * `bagoftricks eval`: top-1 and top-5 of a checkpoint on a data set, at the checkpoint's input
 * size, with its classes and its run's eval transform.
 *
 *   bagoftricks eval --checkpoint runs/x/best.safetensors                  the run's validation split
 *   bagoftricks eval --checkpoint best.safetensors --data ./test-folder     every image of a folder
 *   ... --json                                                             one JSON line
 *
 * Data: `--data` defaults to the run's data (from the checkpoint's `run` metadata). When it is
 * the run's own data, `--split val` (the default) evaluates the validation split the run held
 * out; `--split all` every image (training images included). A folder's classes are matched to
 * the checkpoint's by name (a folder may hold a subset of them).
 *
 * Exit codes: 0 evaluated, 1 a failure (`bagoftricks: CODE: message`), 2 bad usage.
 */
import * as path from 'path';
import { BagOfTricksError } from '../errors';
import { BaseDataset, DataError, DataLoader, ImageList } from '../data';
import { FlagSpec, parseCommand, UsageError, usageLine } from './args';
import { asRole, chooseBackend, defaultEvalTransform, formatPct, leftOut, LeftOut, loadForInference, openDataset, readCheckpointInfo, resolveDataArg, runSplits, skippedLine } from './train';

export const EVAL_USAGE = `Usage: bagoftricks eval --checkpoint F [--data DIR|mnist] [--split val|all] [--json]

  --checkpoint F     a checkpoint written by bagoftricks train (or Trainer.save)
  --data DIR|mnist   an ImageFolder or the embedded MNIST digits (default: the run's data)
  --split val|all    on the run's own data: its validation split (default) or every image
  --batch-size N     images per forward pass (default 64)
  --backend B        auto (default: CUDA when a usable GPU exists), cpu or cuda
  --json             one JSON line {"checkpoint","data","split","n","top1","top5","loss","skipped"}
                     (top5 only with more than 5 classes)
`;

const FLAGS: Record<string, FlagSpec> = {
  checkpoint: { type: 'string' },
  data: { type: 'string' },
  split: { type: 'string', choices: ['val', 'all'] },
  'batch-size': { type: 'int', min: 1, max: 4096 },
  backend: { type: 'string', choices: ['auto', 'cpu', 'cuda'] },
  json: { type: 'bool' },
  help: { type: 'bool' },
  limit: { type: 'int', min: 1, max: 1e9 }, // hidden: a stratified subset (tests)
};

/** The data set with labels re-indexed to the checkpoint's classes (matched by name). */
function withCheckpointClasses(ds: BaseDataset, classes: readonly string[]): BaseDataset {
  if (ds.classes.length === classes.length && ds.classes.every((c, i) => c === classes[i])) return ds;
  const missing = ds.classes.filter((c, i) => ds.counts[i] > 0 && !classes.includes(c));
  if (missing.length) {
    throw new DataError('ERR_DATASET', `the data has classes the checkpoint does not know: ${missing.map((c) => JSON.stringify(c)).join(', ')} (checkpoint classes: ${classes.join(', ')})`);
  }
  const files: string[] = [];
  const labels: number[] = [];
  for (let i = 0; i < ds.length; i++) {
    const s = ds.source(i);
    if (s.kind !== 'file') throw new DataError('ERR_DATASET', `the data's classes (${ds.classes.join(', ')}) are not the checkpoint's (${classes.join(', ')})`);
    files.push(s.path);
    labels.push(classes.indexOf(ds.classes[ds.label(i)]));
  }
  return new ImageList(files, labels, classes);
}

export async function evalCli(argv: string[]): Promise<number> {
  const parsed = parseCommand('eval', argv, FLAGS, EVAL_USAGE, ({ flags, positional }) => {
    if (positional.length) throw new UsageError(`unexpected argument ${JSON.stringify(positional[0])}`);
    if (flags.checkpoint === undefined) throw new UsageError('--checkpoint is required');
  });
  if (typeof parsed === 'number') return parsed;
  const { flags } = parsed;
  const json = flags.json === true;
  try {
    const backend = chooseBackend((flags.backend as 'auto' | 'cpu' | 'cuda') ?? 'auto');
    const ckpt = path.resolve(flags.checkpoint as string);
    const { run } = await readCheckpointInfo(ckpt, '--checkpoint');
    const data = flags.data !== undefined ? resolveDataArg(flags.data as string) : run?.data;
    if (data === undefined) throw new UsageError(`--data is required: ${ckpt} does not say what it was trained on`);
    const own = run !== undefined && run.data === data;
    const split = (flags.split as 'val' | 'all' | undefined) ?? (own ? 'val' : 'all');
    if (split === 'val' && !own) throw new UsageError(`--split val needs the run's own data (${run?.data ?? 'unknown'}); use --split all`);
    const limit = flags.limit as number | undefined;
    // The files are checked before the split, as train does, so the split is the run's own.
    const opened = split === 'val' ? await runSplits(run!) : await openDataset(data, limit, 0);
    const raw = 'val' in opened ? opened.val : opened.dataset;
    const listed: LeftOut[] = opened.skipped;
    const batchSize = (flags['batch-size'] as number | undefined) ?? 64;
    const trainer = await asRole('--checkpoint', ckpt, () => loadForInference(ckpt, batchSize, backend.backend));
    try {
      const stem = (trainer.model.config as { stem: 'cifar' | 'imagenet' }).stem;
      const dataset = withCheckpointClasses(raw, trainer.classes);
      const loader = new DataLoader(dataset, { batchSize, transform: run?.evalTransform ?? defaultEvalTransform(stem), size: trainer.inputSize, shuffle: false });
      if (!json) console.log(backend.line);
      const v = await trainer.evaluate(loader);
      const what = data === 'mnist' ? 'MNIST' : data;
      // Every file left out, once: at listing and checking, then while evaluating.
      const all = [...listed, ...loader.skipped.map(leftOut).filter((s) => !listed.some((l) => l.path === s.path))];
      const skipped = all.map((s) => ({ path: s.path, reason: s.reason }));
      // Top-5 of 5 classes or fewer is 100% by definition: left out.
      const top5 = trainer.classes.length > 5;
      if (json) {
        console.log(JSON.stringify({ checkpoint: ckpt, data, split, n: v.n, top1: v.top1, ...(top5 ? { top5: v.top5 } : {}), loss: v.loss, skipped }));
      } else {
        console.log(`eval ${ckpt} on ${what} (${split === 'val' ? 'the run\'s validation split' : 'every image'}, ${v.n} images, ${trainer.inputSize}×${trainer.inputSize}):`);
        console.log(`top-1 ${formatPct(v.top1)}${top5 ? `  top-5 ${formatPct(v.top5)}` : ''}  loss ${v.loss.toFixed(4)}`);
        if (all.length) console.log(`skipped: ${skippedLine(all)}`);
        for (const s of all) console.error(`skipped ${s.path}: ${s.reason}${s.message ? ` (${s.message})` : ''}`);
      }
      return 0;
    } finally {
      trainer.dispose();
    }
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(usageLine('eval', e.message));
      return 2;
    }
    if (e instanceof BagOfTricksError) {
      console.error(`bagoftricks: ${e.code}: ${e.message}`);
      return 1;
    }
    throw e;
  }
}
