// V8 tuning for a serving process (`serve`, `demo`), measured with bench/ (docs/performance.md).
// - WebAssembly stays on V8's baseline compiler (Liftoff). Cedar's 4 MB module parses the schema
//   and the policies at start, hot enough for V8 to recompile its parser functions with
//   TurboFan; those compiles run on V8's helper threads, whose malloc arenas keep the ~65 MB they
//   used (idle RSS 197 → 130 MB). An uncached policy decision then takes ~45 µs instead of ~30
//   (decisions are cached per exact input, so most calls never evaluate); undici's HTTP parser
//   (also WebAssembly) showed no measurable difference.
// - The old generation may grow 30 % past what survived the last full collection before the next
//   one (V8 picks 10–300 % by itself, and under load took the heap from 30 to 80 MB between
//   collections, mostly garbage): peak RSS at 128 connections 240 → ~200 MB, throughput unchanged
//   within the noise.
// - On two cores or fewer, young-generation collections run on the event loop's thread alone,
//   not split with helper threads: there the helpers' hand-offs cost more CPU than they save
//   (CPU per call −1 to −9 %, throughput +2 % in three compares; p99 unchanged). With more cores
//   the helpers run on idle ones and shorten the pause, so V8 keeps them. (`--single-threaded-gc`,
//   which would take the marking and sweeping helpers off too, cannot be set at run time: set
//   here, it aborts V8 in its first full collection.)
// TOLLGATE_V8_DEFAULTS=1 leaves V8 as it is. (What glibc keeps of the optimizing compiles' memory
// once they are done is set by the environment `npm start` gives: GLIBC_TUNABLES, docs/operations.md.)
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';

/** Must run before any WebAssembly module is compiled (before the server's modules load). */
export function tuneV8ForServing(env: NodeJS.ProcessEnv = process.env, cores = availableParallelism()): void {
  if (env.TOLLGATE_V8_DEFAULTS === '1') return;
  setFlagsFromString('--liftoff-only');
  setFlagsFromString('--heap-growing-percent=30');
  if (cores <= 2) setFlagsFromString('--no-parallel-scavenge');
}
