'use strict';
/** What the benchmarks print about the machine: CPU model, clock and FMA peak. */
const fs = require('fs');
const os = require('os');

/**
 * Peak FP32 FLOP/s of one core with AVX2/FMA: 2 FMA units × 8 lanes × 2 FLOP = 32 FLOP
 * per cycle, times the clock: BENCH_CLOCK_GHZ when set, else the core's measured clock
 * (runtime.measureClockGHz: /proc/cpuinfo shows the nominal rate, not the boost clock the
 * core runs at), else the highest "cpu MHz" of /proc/cpuinfo.
 */
function machine() {
  let mhz = 0;
  try {
    for (const m of fs.readFileSync('/proc/cpuinfo', 'utf8').matchAll(/cpu MHz\s*:\s*([\d.]+)/g)) mhz = Math.max(mhz, Number(m[1]));
  } catch {}
  if (!mhz) mhz = os.cpus()[0]?.speed ?? 0;
  const measured = require('..').runtime.measureClockGHz();
  const ghz = Number(process.env.BENCH_CLOCK_GHZ) || measured || mhz / 1000;
  const flopsPerCycle = 32;
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    clockGHz: Number(ghz.toFixed(3)),
    peakGflopsPerCore: Number((ghz * flopsPerCycle).toFixed(1)),
  };
}

module.exports = { machine };
