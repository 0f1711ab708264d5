// Server-sent events framing (https://html.spec.whatwg.org/multipage/server-sent-events.html):
// splits a byte stream into whole events so the gateway can forward, inspect or hold each one
// without ever cutting an event in two.
import { StringDecoder } from 'node:string_decoder';

export interface SseEvent {
  /** The event exactly as received, without its terminating blank line. */
  raw: string;
  /** The `event:` field, if any. */
  event: string | undefined;
  /** The `data:` lines joined with newlines. */
  data: string;
}

export function parseSseEvent(raw: string): SseEvent {
  // The common case, one `data:` line (every OpenAI chunk): no split, no regex.
  if (raw.startsWith('data:') && !raw.includes('\n') && !raw.includes('\r')) {
    return { raw, event: undefined, data: raw.charCodeAt(5) === 32 ? raw.slice(6) : raw.slice(5) };
  }
  let event: string | undefined;
  let data: string | undefined;
  for (const line of raw.split(/\r\n|\r|\n/)) {
    if (line.startsWith('data:')) {
      const value = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5);
      data = data === undefined ? value : `${data}\n${value}`;
    } else if (line.startsWith('event:')) {
      event = line.charCodeAt(6) === 32 ? line.slice(7) : line.slice(6);
    }
  }
  return { raw, event, data: data ?? '' };
}

const BOUNDARY = /\r\n\r\n|\n\n|\r\r/g;

/** One event larger than this is not a model stream: the relay gives up on it. */
export const MAX_EVENT_BYTES = 4 * 1024 * 1024;

/** Incremental splitter: feed chunks, get back the events they complete. */
export class SseSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private buffer = '';

  constructor(private readonly maxEventBytes = MAX_EVENT_BYTES) {}

  /** Throws when an event grows past the limit without ending (a broken or hostile upstream). */
  push(chunk: Buffer): SseEvent[] {
    const text = this.buffer + this.decoder.write(chunk);
    const events: SseEvent[] = [];
    // Events are cut out by position and the rest is kept once, not re-sliced per event. Without
    // a carriage return anywhere, the boundary is a plain blank line: indexOf, not the regex.
    const lfOnly = !text.includes('\r');
    let start = 0;
    for (;;) {
      let end: number;
      let next: number;
      if (lfOnly) {
        end = text.indexOf('\n\n', start);
        next = end + 2;
      } else {
        BOUNDARY.lastIndex = start;
        const match = BOUNDARY.exec(text);
        end = match ? match.index : -1;
        next = match ? end + match[0].length : 0;
      }
      if (end === -1) break;
      if (end > start) events.push(parseSseEvent(text.slice(start, end)));
      start = next;
    }
    this.buffer = start === 0 ? text : text.slice(start);
    if (this.buffer.length > this.maxEventBytes) throw new Error(`an SSE event exceeded ${this.maxEventBytes} bytes`);
    return events;
  }

  /** Whatever is left when the stream ends (an event cut before its blank line). */
  rest(): string {
    return this.buffer + this.decoder.end();
  }
}
