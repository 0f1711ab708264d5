// A session's model calls in the retry window, with running counts per prompt fingerprint, so
// the retry-loop detector reads "how often was this prompt sent" in constant time instead of
// scanning the window on every call (a loop at full speed fills the window).

interface RecentCall {
  time: number;
  fp: string | null;
  /** The provider refused the call as sent, or its tool call was blocked (see `Signal`'s `rejected`). */
  rejected: boolean;
  outcome: string;
}

export interface PromptRepeats {
  calls: number;
  rejected: number;
  outcomes: Record<string, number>;
  /** When the first call of the window with this prompt was made (ms). */
  firstAt: number;
}

export class RecentCalls {
  private readonly calls: RecentCall[] = [];
  /** Per fingerprint; `fp` is the first call's string, which the window's later calls share. */
  private readonly byPrompt = new Map<string, PromptRepeats & { fp: string; times: number[] }>();

  constructor(private readonly maxCalls: number) {}

  /** Adds a call and forgets those older than `horizon` (ms) or beyond the cap. */
  push(call: RecentCall, horizon: number): void {
    this.calls.push(call);
    if (call.fp !== null) {
      let p = this.byPrompt.get(call.fp);
      if (!p) this.byPrompt.set(call.fp, (p = { fp: call.fp, calls: 0, rejected: 0, outcomes: {}, firstAt: call.time, times: [] }));
      // Each call brings its own copy of the string (a slice of its hash's hex): a window of a
      // looping session's calls keeps one instead of hundreds, which live long enough to be
      // promoted to the old generation and collected there.
      else call.fp = p.fp;
      p.calls++;
      if (call.rejected) p.rejected++;
      p.outcomes[call.outcome] = (p.outcomes[call.outcome] ?? 0) + 1;
      p.times.push(call.time);
      p.firstAt = p.times[0]!;
    }
    while (this.calls.length > 0 && (this.calls[0]!.time < horizon || this.calls.length > this.maxCalls)) this.forget(this.calls.shift()!);
  }

  /** The window's calls with this prompt (null: none). */
  repeats(fp: string): PromptRepeats | null {
    const p = this.byPrompt.get(fp);
    return p ? { calls: p.calls, rejected: p.rejected, outcomes: { ...p.outcomes }, firstAt: p.firstAt } : null;
  }

  get size(): number {
    return this.calls.length;
  }

  private forget(call: RecentCall): void {
    if (call.fp === null) return;
    const p = this.byPrompt.get(call.fp)!;
    if (--p.calls === 0) {
      this.byPrompt.delete(call.fp);
      return;
    }
    if (call.rejected) p.rejected--;
    if (--p.outcomes[call.outcome]! === 0) delete p.outcomes[call.outcome];
    p.times.shift();
    p.firstAt = p.times[0]!;
  }
}
