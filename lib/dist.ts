/**
 * Data-parallel training across processes over MPI: the process group.
 *
 *     // mpirun -np 4 node train.js
 *     const group = await initDistributed();            // rank and size from mpirun
 *     const trainer = new Trainer('resnet50d', { ..., distributed: group });
 *     ...
 *     group.finalize();
 *
 * Each rank runs the same program on its own shard of every global batch (DataLoader's
 * `shard` option); the Net averages the gradients inside its step (net.distribute()), so
 * every rank applies the same update. Every wait on the other ranks is bounded by the
 * group's timeout: a rank that died or hangs makes the others fail with ERR_DIST_TIMEOUT
 * (the CLI then ends the job) instead of waiting forever.
 */
import { BagOfTricksError, callNative, callNativeAsync } from './errors';
import { native } from './native';
import { expectInt, expectKeys, expectNumber, expectObject, fail } from './validate';

/** Where the launcher says this process is: its rank and the number of ranks, or null outside a launcher. */
export function launchedRank(env: NodeJS.ProcessEnv = process.env): { rank: number; size: number; localRank: number } | null {
  // Open MPI's mpirun; MPICH's and Intel MPI's Hydra and Slurm's PMI; MVAPICH2.
  const pairs: [string, string, string?][] = [
    ['OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE', 'OMPI_COMM_WORLD_LOCAL_RANK'],
    ['PMI_RANK', 'PMI_SIZE', 'MPI_LOCALRANKID'],
    ['MV2_COMM_WORLD_RANK', 'MV2_COMM_WORLD_SIZE', 'MV2_COMM_WORLD_LOCAL_RANK'],
  ];
  for (const [r, s, l] of pairs) {
    const rank = Number(env[r]);
    const size = Number(env[s]);
    if (env[r] !== undefined && env[s] !== undefined && Number.isInteger(rank) && Number.isInteger(size) && size >= 1 && rank >= 0 && rank < size) {
      const local = l && env[l] !== undefined ? Number(env[l]) : NaN;
      return { rank, size, localRank: Number.isInteger(local) ? local : rank };
    }
  }
  return null;
}

/** Whether this build can train data-parallel over MPI, and the MPI library it was built with. */
export function distributedSupport(): { mpi: boolean; library: string; nccl: false } {
  const d = native().dist;
  return { mpi: d.built(), library: d.library(), nccl: false };
}

/** Options of initDistributed(). */
export interface DistributedOptions {
  /**
   * Seconds any wait on the other ranks may last before ERR_DIST_TIMEOUT (a rank died or
   * hangs). It bounds each step's wait, so it must exceed the longest gap between two steps of
   * the slowest rank (a checkpoint, a validation pass). Default 600.
   */
  timeoutSeconds?: number;
}

/**
 * The process group of a data-parallel run (MPI's world). One per process; get it from
 * initDistributed().
 */
export class Distributed {
  /** This process's rank, 0 … size − 1 (rank 0 prints, writes checkpoints and reports). */
  readonly rank: number;
  /** Number of ranks. */
  readonly size: number;
  /** The MPI library's own version string. */
  readonly library: string;
  private finalized = false;

  /** Wraps the group the addon joined; get it from initDistributed() or launchedGroup(), not from here. */
  constructor(info: { rank: number; size: number; library: string }) {
    this.rank = info.rank;
    this.size = info.size;
    this.library = info.library;
  }

  /** An element-wise reduction over every rank ('sum', 'min' or 'max'): every rank gets the result. */
  allreduce(values: ArrayLike<number>, op: 'sum' | 'min' | 'max' = 'sum'): Promise<Float64Array> {
    this.live();
    if (op !== 'sum' && op !== 'min' && op !== 'max') fail('ERR_ARGUMENT', "'sum', 'min' or 'max'", 'op', op);
    const data = Float64Array.from(values as ArrayLike<number>);
    return callNativeAsync(() => native().dist.allreduce(data, op));
  }

  /** Resolves once every rank has called it. */
  barrier(): Promise<void> {
    this.live();
    return callNativeAsync(() => native().dist.barrier());
  }

  /**
   * Seconds the transport alone takes to sum buckets of these sizes (floats) over the ranks,
   * started together and then waited for, with nothing else running (benchmarks: the cost a
   * step hides behind its backward pass, or waits for).
   */
  timeAllreduce(bucketNumel: number[]): Promise<number> {
    this.live();
    return callNativeAsync(() => native().dist.timeAllreduce(bucketNumel));
  }

  /**
   * Refuses to go on unless every rank holds the same value for every key of `settings`
   * (compared through their JSON): ERR_DIST_CONFIG naming the keys and ranks that differ.
   */
  async expectSame(settings: Record<string, unknown>): Promise<void> {
    const keys = Object.keys(expectObject('settings', settings)).sort();
    const mine = keys.map((k) => hash32(JSON.stringify(settings[k]) ?? 'undefined'));
    // Every rank's hashes, gathered by a sum where each rank fills only its own row.
    const table = new Float64Array(this.size * keys.length);
    table.set(mine, this.rank * keys.length);
    const all = await this.allreduce(table, 'sum');
    const differ: string[] = [];
    for (let k = 0; k < keys.length; k++) {
      const ranks: number[] = [];
      for (let r = 1; r < this.size; r++) if (all[r * keys.length + k] !== all[k]) ranks.push(r);
      if (ranks.length) differ.push(`${keys[k]} (rank${ranks.length > 1 ? 's' : ''} ${ranks.join(', ')} differ${ranks.length > 1 ? '' : 's'} from rank 0)`);
    }
    if (differ.length) {
      throw new BagOfTricksError('ERR_DIST_CONFIG', `the ranks were started with different settings: ${differ.join('; ')}; start every rank with the same command and data`);
    }
  }

  /** Seconds any later wait may last before ERR_DIST_TIMEOUT. */
  setTimeout(seconds: number): void {
    this.live();
    const s = expectNumber('seconds', seconds, Number.MIN_VALUE);
    callNative(() => native().dist.setTimeout(s));
  }

  /** Ends every process of the job with `code` (after an unrecoverable error on one rank). */
  abort(code = 1): never {
    const c = expectInt('code', code, 1, 255);
    return callNative(() => native().dist.abort(c));
  }

  /** Leaves the group (MPI_Finalize); call once, when every rank is done. */
  finalize(): void {
    if (this.finalized) return;
    this.finalized = true;
    callNative(() => native().dist.finalize());
  }

  private live(): void {
    if (this.finalized) throw new BagOfTricksError('ERR_DISPOSED', 'this process group was finalized');
  }
}

let world: Distributed | null = null;

/**
 * Joins the job's process group (MPI_Init on the first call; later calls return the same
 * group). Start the processes with the MPI launcher (`mpirun -np N node app.js`); a process
 * started alone is a group of one.
 * @throws BagOfTricksError ERR_DIST_UNAVAILABLE where this build has no MPI (the message says what to install).
 */
export async function initDistributed(options: DistributedOptions = {}): Promise<Distributed> {
  return joinGroup(options);
}

/** initDistributed(), synchronously (MPI_Init returns at once under a launcher). */
export function joinGroup(options: DistributedOptions = {}): Distributed {
  const o = expectObject('options', options);
  expectKeys('options', o, ['timeoutSeconds']);
  const timeout = o.timeoutSeconds === undefined ? 600 : expectNumber('options.timeoutSeconds', o.timeoutSeconds, Number.MIN_VALUE);
  if (world) {
    world.setTimeout(timeout);
    return world;
  }
  const info = callNative(() => native().dist.init(timeout));
  world = new Distributed(info);
  return world;
}

/** The launcher's process group when this process was started by one with two ranks or more, else null. */
export function launchedGroup(options: DistributedOptions = {}): Distributed | null {
  const launched = launchedRank();
  return launched && launched.size > 1 ? joinGroup(options) : null;
}

/** FNV-1a over the UTF-16 code units of s. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
