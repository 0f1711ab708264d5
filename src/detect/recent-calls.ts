// A session's model calls in the retry window, with running counts per prompt fingerprint, so
// the retry-loop detector reads "how often was this prompt sent" in constant time instead of
// scanning the window on every call (a loop at full speed fills the window).
//
// Every session the detectors see keeps one, for as long as the window lasts (minutes): with many
// sessions at once that is most of a busy gateway's calls of the last minutes. So a call is not an
// object but a slot in a ring of typed arrays (its time, its outcome and whether it was rejected,
// the slot of the next call with the same prompt) and one pointer to its prompt's fingerprint:
// ~24 bytes a slot instead of ~100, nothing for the garbage collector to trace or promote per call, and
// the ring grows only as far as the session's window needs and is given back when it empties.

/** A call as the window takes it. */
export interface RecentCall {
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

interface Prompt {
  calls: number;
  rejected: number;
  outcomes: Record<string, number>;
  /** Positions (see `RecentCalls`) of the window's first and last call with this prompt. */
  first: number;
  last: number;
}

/** Outcomes are a handful of names: each call keeps a small code for its own. */
const outcomeNames: string[] = [];
const outcomeCodes = new Map<string, number>();
function outcomeCode(outcome: string): number {
  let code = outcomeCodes.get(outcome);
  if (code === undefined) {
    code = outcomeNames.push(outcome) - 1;
    outcomeCodes.set(outcome, code);
  }
  return code;
}

const FIRST_CAPACITY = 8;
const NONE = -1;

export class RecentCalls {
  // Calls have increasing positions; the window holds positions [start, end), call p in slot
  // p & (capacity - 1) of the arrays. `next` holds the distance to the next call with the same
  // prompt (NONE: none yet), so forgetting a call moves its prompt's first call in constant time.
  private start = 0;
  private end = 0;
  private times = new Float64Array(0);
  private codes = new Int32Array(0);
  private next = new Int32Array(0);
  private fps: (string | null)[] = [];
  private readonly byPrompt = new Map<string, Prompt>();
  private readonly capacityLimit: number;

  constructor(private readonly maxCalls: number) {
    this.capacityLimit = 2 ** Math.ceil(Math.log2(Math.max(1, maxCalls)));
  }

  /** Adds a call and forgets those older than `horizon` (ms) or beyond the cap. */
  push(call: RecentCall, horizon: number): void {
    this.forgetBefore(horizon);
    if (this.end - this.start >= this.maxCalls) this.forget();
    if (this.end - this.start === this.times.length) this.grow();
    const pos = this.end++;
    const slot = pos & (this.times.length - 1);
    this.times[slot] = call.time;
    this.codes[slot] = (outcomeCode(call.outcome) << 1) | (call.rejected ? 1 : 0);
    this.next[slot] = NONE;
    let fp = call.fp;
    if (fp !== null) {
      const p = this.byPrompt.get(fp);
      if (!p) this.byPrompt.set(fp, { calls: 1, rejected: call.rejected ? 1 : 0, outcomes: { [call.outcome]: 1 }, first: pos, last: pos });
      else {
        // The window keeps the first call's copy of the string (a slice of its hash's hex), not one per call.
        fp = this.fps[p.first & (this.times.length - 1)]!;
        this.next[p.last & (this.times.length - 1)] = pos - p.last;
        p.last = pos;
        p.calls++;
        if (call.rejected) p.rejected++;
        p.outcomes[call.outcome] = (p.outcomes[call.outcome] ?? 0) + 1;
      }
    }
    this.fps[slot] = fp;
  }

  /** Forgets the calls older than `horizon` (ms); an emptied window gives its arrays back. */
  prune(horizon: number): void {
    this.forgetBefore(horizon);
    if (this.start === this.end && this.times.length > 0) {
      this.times = new Float64Array(0);
      this.codes = new Int32Array(0);
      this.next = new Int32Array(0);
      this.fps = [];
    }
  }

  /** The window's calls with this prompt (null: none). */
  repeats(fp: string): PromptRepeats | null {
    const p = this.byPrompt.get(fp);
    return p ? { calls: p.calls, rejected: p.rejected, outcomes: { ...p.outcomes }, firstAt: this.times[p.first & (this.times.length - 1)]! } : null;
  }

  get size(): number {
    return this.end - this.start;
  }

  private forgetBefore(horizon: number): void {
    while (this.start < this.end && this.times[this.start & (this.times.length - 1)]! < horizon) this.forget();
  }

  /** Forgets the oldest call. */
  private forget(): void {
    const slot = this.start & (this.times.length - 1);
    const fp = this.fps[slot]!;
    this.fps[slot] = null;
    const pos = this.start++;
    if (fp === null) return;
    const p = this.byPrompt.get(fp)!;
    if (--p.calls === 0) {
      this.byPrompt.delete(fp);
      return;
    }
    const code = this.codes[slot]!;
    if (code & 1) p.rejected--;
    const outcome = outcomeNames[code >> 1]!;
    if (--p.outcomes[outcome]! === 0) delete p.outcomes[outcome];
    p.first = pos + this.next[slot]!;
  }

  /** Doubles the ring (up to the cap's power of two), each call keeping its position. */
  private grow(): void {
    const capacity = Math.min(this.capacityLimit, Math.max(FIRST_CAPACITY, this.times.length * 2));
    const times = new Float64Array(capacity);
    const codes = new Int32Array(capacity);
    const next = new Int32Array(capacity);
    const fps: (string | null)[] = new Array<string | null>(capacity).fill(null);
    for (let pos = this.start; pos < this.end; pos++) {
      const from = pos & (this.times.length - 1);
      const to = pos & (capacity - 1);
      times[to] = this.times[from]!;
      codes[to] = this.codes[from]!;
      next[to] = this.next[from]!;
      fps[to] = this.fps[from]!;
    }
    this.times = times;
    this.codes = codes;
    this.next = next;
    this.fps = fps;
  }
}
