/**
 * `bagoftricks info <model>`: a model's layers, parameters and multiply-adds.
 *
 *   bagoftricks info                            every model: parameters and multiply-adds
 *   bagoftricks info resnet50d                  per-layer table and totals
 *   bagoftricks info resnet18 --stem cifar --classes 10 --width 0.5
 *   bagoftricks info resnet50 --json            one line: {"model","params","macs","inputSize","numClasses"}
 *
 * Exit codes: 0 printed; 2 bad usage, which includes an unknown model name or an option
 * value the model rejects (nothing ran, the fix is in the command line; the message
 * lists the valid names or the expected value).
 */
import { BagOfTricksError } from '../errors';
import { createModel, listModels } from '../models';
import type { ModelSummary } from '../models';

export const INFO_USAGE = `Usage: bagoftricks info <model> [--size N] [--classes N] [--width X] [--stem imagenet|cifar] [--json]
       bagoftricks info [--size N] [--classes N] [--width X] [--stem imagenet|cifar] [--json]

With a model: its layers, parameters and multiply-adds. Without one: every model's
parameters and multiply-adds.

  --size N      input height and width (default 224, or 32 with --stem cifar)
  --classes N   classifier outputs (default 1000)
  --width X     channel multiplier (default 1)
  --stem S      imagenet (default) or cifar: stride-1 stem (ResNets: no max pool), for 32×32
  --json        one JSON line {"model","params","macs","inputSize","numClasses"}
`;

/** 1234567 → "1,234,567" (no locale dependence). */
export function thousands(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

interface InfoArgs {
  /** undefined: list every model. */
  model?: string;
  size?: number;
  classes?: number;
  width?: number;
  stem?: string;
  json: boolean;
}

import { UsageError, unknownOption, usageLine } from './args';
import type { ModelName } from '../models';

function parse(argv: string[]): InfoArgs | 'help' {
  const args: Partial<InfoArgs> & { json: boolean } = { json: false };
  const number = (flag: string, v: string | undefined, integer: boolean): number => {
    if (v === undefined || v === '') throw new UsageError(`${flag} needs a value`);
    const n = Number(v);
    if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) {
      throw new UsageError(`${flag} expects ${integer ? 'an integer' : 'a number'} but received ${JSON.stringify(v)}`);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') return 'help';
    if (a === '--json') {
      args.json = true;
      continue;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const flag = eq > 0 ? a.slice(0, eq) : a;
      const take = () => (eq > 0 ? a.slice(eq + 1) : argv[++i]);
      switch (flag) {
        case '--size': args.size = number(flag, take(), true); break;
        case '--classes': args.classes = number(flag, take(), true); break;
        case '--width': args.width = number(flag, take(), false); break;
        case '--stem': {
          const v = take();
          if (v === undefined) throw new UsageError(`--stem needs a value`);
          args.stem = v;
          break;
        }
        default: throw unknownOption(flag, ['--size', '--classes', '--width', '--stem', '--json', '--help']);
      }
      continue;
    }
    if (args.model !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(a)} (one model at a time)`);
    args.model = a;
  }
  return args as InfoArgs;
}

function shape(s: number[]): string {
  return s.join('×');
}

function table(s: ModelSummary, header: string): string {
  const cols = [
    ['layer', 'type', 'output', 'params', 'MACs'],
    ...s.rows.map((r) => [r.name, r.type, shape(r.outputShape), r.params ? thousands(r.params) : '', r.macs ? thousands(r.macs) : '']),
  ];
  const widths = [0, 1, 2, 3, 4].map((c) => Math.max(...cols.map((row) => row[c].length)));
  const line = (row: string[]) =>
    row.map((v, c) => (c < 3 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join('  ').trimEnd();
  const rule = '─'.repeat(widths.reduce((a, b) => a + b, 0) + 8);
  const g = (n: number) => (n / 1e9).toFixed(2);
  return [
    header,
    '',
    line(cols[0]),
    rule,
    ...cols.slice(1).map(line),
    rule,
    `parameters     ${thousands(s.params)} (trainable ${thousands(s.trainableParams)}; BN running statistics ${thousands(s.buffers)} more)`,
    `multiply-adds  ${thousands(s.macs)} per image (${g(s.macs)} G in conv and linear layers; ${g(s.timmMacs)} G counting BN and ReLU as timm's table does)`,
  ].join('\n');
}

/** `info` without a model: one row per model (or one JSON line each) with its parameters and multiply-adds. */
function listAll(args: InfoArgs): void {
  const rows = listModels().map((name) => {
    const options: Record<string, unknown> = {};
    if (args.classes !== undefined) options.numClasses = args.classes;
    if (args.width !== undefined) options.width = args.width;
    if (args.stem !== undefined) options.stem = args.stem;
    const model = createModel(name, options);
    const size = args.size ?? (model.config.stem === 'cifar' ? 32 : 224);
    const s = model.summary(size);
    return { model: name, params: s.params, macs: s.macs, inputSize: size, numClasses: model.config.numClasses };
  });
  if (args.json) {
    for (const r of rows) console.log(JSON.stringify(r));
    return;
  }
  const cells = [['model', 'params', 'MACs', 'GMACs'], ...rows.map((r) => [r.model, thousands(r.params), thousands(r.macs), (r.macs / 1e9).toFixed(2)])];
  const widths = [0, 1, 2, 3].map((c) => Math.max(...cells.map((row) => row[c].length)));
  const line = (row: string[]) => row.map((v, c) => (c === 0 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join('  ');
  console.log([`input ${rows[0].inputSize}×${rows[0].inputSize}, ${rows[0].numClasses} classes (bagoftricks info <model> for the layers)`, '', line(cells[0]), ...cells.slice(1).map(line)].join('\n'));
}

/** Runs `info` with the arguments after the command name; returns the exit code. */
export function info(argv: string[]): number {
  let args: InfoArgs | 'help';
  try {
    args = parse(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(usageLine('info', e.message));
    return 2;
  }
  if (args === 'help') {
    console.log(INFO_USAGE);
    return 0;
  }
  try {
    if (args.model === undefined) {
      listAll(args);
      return 0;
    }
    const options: Record<string, unknown> = {};
    if (args.classes !== undefined) options.numClasses = args.classes;
    if (args.width !== undefined) options.width = args.width;
    if (args.stem !== undefined) options.stem = args.stem;
    const model = createModel(args.model as ModelName, options);
    const size = args.size ?? (model.config.stem === 'cifar' ? 32 : 224);
    const s = model.summary(size);
    if (args.json) {
      console.log(JSON.stringify({ model: model.name, params: s.params, macs: s.macs, inputSize: size, numClasses: model.config.numClasses }));
    } else {
      const c = model.config;
      const arch =
        'block' in c
          ? `${c.block} blocks ${JSON.stringify(c.layers)}, ${c.stemType} stem, ${c.downsample} shortcut, ` +
            `stride on the ${c.block === 'bottleneck' ? c.strideOn : '3x3'} conv`
          : `13 depthwise-separable blocks, multiplier ${c.multiplier}`;
      const header = `${model.name}: ${arch}\n` + `input ${size}×${size}×${c.inputChannels}, ${c.numClasses} classes, width ${c.width}, stem ${c.stem}`;
      console.log(table(s, header));
    }
    return 0;
  } catch (e) {
    if (e instanceof BagOfTricksError && e.code === 'ERR_ARGUMENT') {
      console.error(`bagoftricks info: ${e.message}`);
      return 2;
    }
    throw e;
  }
}
