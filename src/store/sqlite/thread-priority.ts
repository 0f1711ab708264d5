// The SQLite store's own threads — the writer's commits, the checkpointer's page copies — run at a
// lower scheduling priority than the event loop. Every call waits on the event loop; the writer's
// batches only grow when it runs a little later, and the checkpointer has no deadline. When the
// CPUs are contended (on the benchmark's 2 cores: the gateway beside its clients and upstream),
// the event loop then runs instead of them: measured at 32 connections, throughput +4 to +10 %
// plain (three comparisons), streamed and at 128 connections within the noise; one call at a time
// the same. An idle CPU still runs them at once: priority only orders threads waiting for a CPU.
import { getPriority, setPriority } from 'node:os';

/** How much lower (in nice steps) the store's threads run than the process (`storage.sqlite.thread_nice`). */
export const STORE_THREAD_NICE_INCREMENT = 10;

/**
 * Lowers the calling thread's priority by `increment` nice steps. Linux only: there a priority
 * belongs to a thread; elsewhere setpriority would lower the whole process, event loop included.
 * Lowering one's own priority needs no privilege; if it fails anyway, the thread keeps its own.
 */
export function lowerThreadPriority(increment: number): void {
  if (process.platform !== 'linux' || increment <= 0) return;
  try {
    setPriority(0, Math.min(19, getPriority(0) + increment));
  } catch {
    // not permitted here: the thread keeps the priority it has
  }
}
