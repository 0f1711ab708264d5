// V8 tuning for a serving process. Cedar's WebAssembly build (4 MB) parses the schema and the
// policies at start, hot enough for V8 to recompile its parser functions with TurboFan; those
// compiles run on V8's helper threads, whose malloc arenas keep the ~60 MB they used (RSS
// measured: 197 → 130 MB at idle, 245 → 180 MB under load at 32 connections). With WebAssembly
// kept on its baseline compiler (Liftoff), an uncached policy decision takes ~45 µs instead of
// ~30 (decisions are cached per exact input, so most calls never evaluate) and undici's HTTP
// parser (also WebAssembly) runs a little slower; measured in bench/RESULTS.md.
// TOLLGATE_WASM_TIER_UP=1 keeps V8's default.
import { setFlagsFromString } from 'node:v8';

/** Must run before any WebAssembly module is compiled (before the server's modules load). */
export function keepWasmOnBaselineCompiler(env: NodeJS.ProcessEnv = process.env): void {
  if (env.TOLLGATE_WASM_TIER_UP === '1') return;
  setFlagsFromString('--liftoff-only');
}
