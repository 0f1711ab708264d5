import { describe, expect, it } from 'vitest';
import { anthropicMessages, openAiChat } from '../../src/providers/apis/index.js';
import { affordableOutputTokens, costNano, priceFromConfig, worstCaseNano } from '../../src/providers/pricing.js';
import { SseSplitter } from '../../src/providers/sse.js';

describe('SSE splitter', () => {
  it('reassembles events split anywhere, multi-byte characters included', () => {
    const text = 'event: a\ndata: {"t":"héllo 🌍"}\n\ndata: line1\ndata: line2\n\r\n\r\ndata: [DONE]\n\n';
    const bytes = Buffer.from(text);
    for (let cut = 1; cut < bytes.length; cut++) {
      const s = new SseSplitter();
      const events = [...s.push(bytes.subarray(0, cut)), ...s.push(bytes.subarray(cut))];
      expect(events.map((e) => [e.event, e.data])).toEqual([
        ['a', '{"t":"héllo 🌍"}'],
        [undefined, 'line1\nline2'],
        [undefined, '[DONE]'],
      ]);
    }
  });

  it('splits many events in one chunk, with each line ending (LF, CRLF, CR), and keeps the tail', () => {
    for (const nl of ['\n', '\r\n', '\r']) {
      const body = Array.from({ length: 50 }, (_, i) => `data: {"i":${i}}${nl}${nl}`).join('') + `event: last${nl}data: x`;
      const s = new SseSplitter();
      const events = s.push(Buffer.from(body));
      expect(events.map((e) => e.data)).toEqual(Array.from({ length: 50 }, (_, i) => `{"i":${i}}`));
      expect(events[7]!.raw).toBe('data: {"i":7}');
      expect(s.rest()).toBe(`event: last${nl}data: x`);
      // The blank line that ends the tail arrives alone, in the next chunk.
      expect(s.push(Buffer.from(`${nl}${nl}`)).map((e) => [e.event, e.data])).toEqual([['last', 'x']]);
    }
  });

  it('keeps an unterminated event as the rest', () => {
    const s = new SseSplitter();
    expect(s.push(Buffer.from('data: {"partial":'))).toEqual([]);
    expect(s.rest()).toBe('data: {"partial":');
  });
});

describe('stream meters', () => {
  const ev = (data: string, event?: string) => ({ raw: `${event ? `event: ${event}\n` : ''}data: ${data}`, event, data });

  it('OpenAI: finds usage, strips the usage-only chunk unless asked, ignores "usage" inside text', () => {
    const meter = openAiChat.createStreamMeter({});
    expect(meter.accept(ev('{"choices":[{"delta":{"content":"say \\"usage\\":{ here"}}],"usage":null}'))).toBe(true);
    expect(meter.reported()).toBeNull();
    expect(meter.accept(ev('{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":2},"completion_tokens_details":{"reasoning_tokens":1}}}'))).toBe(false);
    expect(meter.reported()).toEqual({ complete: true, usage: { inputTokens: 5, outputTokens: 3, cachedInputTokens: 2, cacheWriteTokens: 0, reasoningTokens: 1 } });
    expect(meter.isTerminal(ev('[DONE]'))).toBe(true);
    expect(meter.deliveredText()).toBe('say "usage":{ here');
    const asked = openAiChat.createStreamMeter({ stream_options: { include_usage: true } });
    expect(asked.accept(ev('{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3}}'))).toBe(true);
  });

  it('OpenAI: takes out the `"usage":null` asking added, wherever it sits among the top-level keys, unless the client asked', () => {
    const meter = openAiChat.createStreamMeter({});
    const relayed = (data: string) => {
      const e = ev(data);
      meter.accept(e);
      return e.raw;
    };
    expect(relayed('{"id":"c","choices":[{"delta":{"content":"a"}}],"usage":null}')).toBe('data: {"id":"c","choices":[{"delta":{"content":"a"}}]}');
    // OpenAI's default stream obfuscation comes after it.
    expect(relayed('{"id":"c","choices":[{"delta":{"content":"b"}}],"usage":null,"obfuscation":"x1"}')).toBe('data: {"id":"c","choices":[{"delta":{"content":"b"}}],"obfuscation":"x1"}');
    // Text that merely says so is left alone (its quotes are escaped); so is a longer value.
    expect(relayed('{"choices":[{"delta":{"content":",\\"usage\\":null}"}}]}')).toBe('data: {"choices":[{"delta":{"content":",\\"usage\\":null}"}}]}');
    expect(relayed('{"choices":[],"usage":nullish}')).toBe('data: {"choices":[],"usage":nullish}');
    const asked = openAiChat.createStreamMeter({ stream_options: { include_usage: true } });
    const e = ev('{"id":"c","choices":[],"usage":null}');
    asked.accept(e);
    expect(e.raw).toBe('data: {"id":"c","choices":[],"usage":null}');
  });

  it('Anthropic: input from message_start, cumulative output from the last message_delta', () => {
    const meter = anthropicMessages.createStreamMeter({});
    meter.accept(ev('{"type":"message_start","message":{"usage":{"input_tokens":10,"cache_read_input_tokens":30,"cache_creation_input_tokens":5,"output_tokens":1}}}', 'message_start'));
    expect(meter.reported()).toMatchObject({ complete: false, usage: { inputTokens: 45, cachedInputTokens: 30, cacheWriteTokens: 5 } });
    meter.accept(ev('{"type":"content_block_delta","delta":{"type":"text_delta","text":"hi"}}', 'content_block_delta'));
    meter.accept(ev('{"type":"message_delta","usage":{"output_tokens":7}}', 'message_delta'));
    meter.accept(ev('{"type":"message_delta","usage":{"output_tokens":9}}', 'message_delta'));
    expect(meter.reported()).toEqual({ complete: true, usage: { inputTokens: 45, outputTokens: 9, cachedInputTokens: 30, cacheWriteTokens: 5, reasoningTokens: 0 } });
    expect(meter.deliveredText()).toBe('hi');
  });
});

describe('pricing', () => {
  const price = priceFromConfig({ input: 0.15, output: 0.6, cached_input: 0.075 });

  it('prices each kind of token at its rate, in nano-USD, rounded up', () => {
    // 100 uncached × 0.15 + 50 cached × 0.075 + 10 out × 0.6 = 24.75 per-million → 24 750 nano
    expect(costNano({ inputTokens: 150, cachedInputTokens: 50, cacheWriteTokens: 0, outputTokens: 10, reasoningTokens: 0 }, price)).toBe(24_750);
    expect(costNano({ inputTokens: 1, cachedInputTokens: 0, cacheWriteTokens: 0, outputTokens: 0, reasoningTokens: 0 }, priceFromConfig({ input: 0.0001, output: 0 }))).toBe(1);
  });

  it('the worst case prices the prompt at the dearest input rate', () => {
    const anthropic = priceFromConfig({ input: 3, output: 15, cached_input: 0.3, cache_write: 3.75 });
    expect(worstCaseNano(100, 10, anthropic)).toBe((100 * 3.75 + 10 * 15) * 1000);
    expect(affordableOutputTokens(worstCaseNano(100, 10, anthropic), 100, anthropic)).toBe(10);
    expect(affordableOutputTokens(1000, 100, anthropic)).toBe(-1);
  });
});
