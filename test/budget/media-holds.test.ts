// Images, files, PDFs and audio in a prompt: their tokens cannot be counted before the call, so
// the hold takes the most they can cost (docs/providers.md#images-files-pdfs-and-audio). A hard
// cap must hold with them too — alone and with concurrent calls — through the official clients.
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countPromptTokens, defaultMaxImageTokens, IMAGE_TOKENS, mediaIn, promptTokensUpperBound, UNSIZED_MEDIA_TOKENS } from '../../src/providers/prompt-tokens.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const HAIKU = 'claude-3-5-haiku-latest'; // $0.80 / $4 per 1M tokens
const MINI = 'gpt-4o-mini'; // $0.15 / $0.60 per 1M, a 128,000-token context window in the catalog
const PIXEL = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
const PDF = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF').toString('base64');

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway();
});
afterAll(async () => {
  await gw.close();
});

const imageMessage = (text: string) => [{
  role: 'user' as const,
  content: [{ type: 'image' as const, source: { type: 'base64' as const, media_type: 'image/png' as const, data: PIXEL } }, { type: 'text' as const, text }],
}];

async function anthropicSession(usd: number) {
  const { token, sessionId } = await gw.openSession({ budget: { usd } });
  return { anthropic: new Anthropic({ apiKey: token, baseURL: gw.url, maxRetries: 0 }), sessionId };
}

describe('media parts in a prompt', () => {
  it('are found wherever the three APIs put them, and bound the prompt', () => {
    const messages = [
      { role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }, { type: 'text', text: 'what is this?' }] },
      { type: 'message', role: 'user', content: [{ type: 'input_image', image_url: 'data:image/png;base64,xyz' }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: [{ type: 'image', source: { type: 'url', url: 'https://example.com/b.png' } }] }] },
      { type: 'function_call_output', call_id: 'c1', output: [{ type: 'input_image', image_url: 'https://example.com/c.png' }] },
      { role: 'user', content: [{ type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'a text document' } }] },
    ];
    expect(mediaIn(messages, { images: 0, unsized: 0 })).toEqual({ images: 4, unsized: 0 });
    const MAX_IMAGE_TOKENS = 4096;
    const limits = { contextWindow: 100_000, maxImageTokens: MAX_IMAGE_TOKENS };
    const textOnly = promptTokensUpperBound({ messages: messages.map((m) => ({ ...m, content: 'what is this? a text document' })) }, limits);
    expect(promptTokensUpperBound({ messages }, limits)).toBeGreaterThanOrEqual(4 * MAX_IMAGE_TOKENS);
    expect(promptTokensUpperBound({ messages }, limits)).toBeLessThan(4 * MAX_IMAGE_TOKENS + textOnly + 100);
    // The shared convention (the simulated provider's usage) counts each image as IMAGE_TOKENS.
    expect(countPromptTokens({ messages })).toBeGreaterThan(4 * IMAGE_TOKENS);
    // A text document's text is counted as text.
    expect(countPromptTokens({ messages: [messages[4]!] })).toBeGreaterThan(countPromptTokens({ messages: [{ role: 'user', content: [] }] }));

    const withPdf = [{ role: 'user', content: [{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: PDF } }] }];
    const withAudio = [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }] }];
    const withFile = [{ role: 'user', content: [{ type: 'file', file: { file_data: 'data:application/pdf;base64,AAAA', filename: 'a.pdf' } }] }];
    for (const m of [withPdf, withAudio, withFile]) {
      expect(mediaIn(m, { images: 0, unsized: 0 })).toEqual({ images: 0, unsized: 1 });
      expect(promptTokensUpperBound({ messages: m }, limits)).toBe(100_000);
      expect(countPromptTokens({ messages: m })).toBeGreaterThanOrEqual(UNSIZED_MEDIA_TOKENS);
    }
    // Text is not capped by the window: an embeddings batch's window is per input, and a request
    // can raise it (Anthropic's 1M-context beta).
    expect(promptTokensUpperBound({ messages: [{ role: 'user', content: 'x'.repeat(500_000) }] }, limits)).toBeGreaterThan(100_000);
    // Context the provider keeps (the Responses API's previous_response_id…) is held at the window.
    expect(promptTokensUpperBound({ messages: [{ role: 'user', content: 'and then?' }], storedContext: true }, limits)).toBe(100_000);
  });

  it('finds screenshots, images in document content, earlier audio answers, and text in a tool output list', () => {
    const count = (messages: unknown[]) => mediaIn(messages, { images: 0, unsized: 0 });
    expect(count([{ type: 'computer_call_output', call_id: 'c', output: { type: 'computer_screenshot', image_url: 'data:image/png;base64,xyz' } }])).toEqual({ images: 1, unsized: 0 });
    expect(count([{ role: 'user', content: [{ type: 'document', source: { type: 'content', content: [{ type: 'image', source: { type: 'url', url: 'https://e.x/a.png' } }, { type: 'text', text: 'caption' }] } }] }]))
      .toEqual({ images: 1, unsized: 0 });
    expect(count([{ role: 'assistant', audio: { id: 'audio_1' } }])).toEqual({ images: 0, unsized: 1 });
    const long = 'word '.repeat(2000);
    const asList = countPromptTokens({ messages: [{ type: 'function_call_output', call_id: 'c', output: [{ type: 'input_text', text: long }] }] });
    expect(asList).toBeGreaterThan(1900);
    // gpt-4o-mini counts an image at up to ~48k tokens; the default elsewhere is 8,192.
    expect(defaultMaxImageTokens('gpt-4o-mini')).toBeGreaterThanOrEqual(48_169);
    expect(defaultMaxImageTokens('openai/gpt-4o-mini-2024-07-18')).toBeGreaterThanOrEqual(48_169);
    expect(defaultMaxImageTokens('claude-sonnet-4-6')).toBe(8192);
  });

  it('an image is held at its most: a budget that covers the text but not the image is refused (402), not overspent', async () => {
    // Holding only the text (~$0.0001) would let the call in, and the image's 765 tokens ($0.0006) overspend $0.0003.
    const { anthropic, sessionId } = await anthropicSession(0.0003);
    const err = await anthropic.messages.create({ model: HAIKU, max_tokens: 10, messages: imageMessage('describe [[sim:tokens=5]]') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect((err as InstanceType<typeof Anthropic.APIError>).status).toBe(402);
    const s = await gw.session(sessionId);
    expect(s.spent.usd).toBe(0);
    expect(s.spent.requests).toBe(0);
  });

  it('with room for the image, the call runs and is charged what the provider reports, the rest of the hold given back', async () => {
    const { anthropic, sessionId } = await anthropicSession(0.01);
    const messages = imageMessage('describe [[sim:tokens=5]]');
    const msg = await anthropic.messages.create({ model: HAIKU, max_tokens: 10, messages });
    const input = msg.usage.input_tokens + (msg.usage.cache_read_input_tokens ?? 0);
    expect(input).toBe(countPromptTokens({ messages }));
    expect(input).toBeGreaterThan(IMAGE_TOKENS);
    const s = await gw.session(sessionId);
    expect(s.spent.input_tokens).toBe(input);
    expect(s.spent.usd).toBeCloseTo((input * 0.8 + 5 * 4) / 1e6, 9);
    expect(s.remaining.usd).toBeCloseTo(0.01 - s.spent.usd, 9);
  });

  it('concurrent image calls never take a session past its cap', async () => {
    // Each call holds ~$0.0082 (the image's 8,192 tokens at the dearest input rate, Anthropic's cache
    // write) and costs ~$0.0006: holding only their text, all 20 would get in ($0.0122).
    const budget = 0.0085;
    const { anthropic, sessionId } = await anthropicSession(budget);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) =>
      anthropic.messages.create({ model: HAIKU, max_tokens: 10, messages: imageMessage(`call ${i} [[sim:tokens=5]]`) })
        .then(() => 'ok' as const, (e: InstanceType<typeof Anthropic.APIError>) => e.status)));
    expect(results.filter((r) => r === 'ok').length, JSON.stringify(results)).toBeGreaterThanOrEqual(1);
    expect(results.filter((r) => r !== 'ok').every((r) => r === 402)).toBe(true);
    const s = await gw.session(sessionId);
    expect(s.spent.usd).toBeLessThanOrEqual(budget);
    expect(s.spent.requests).toBe(results.filter((r) => r === 'ok').length);
  });

  it('a stream cut before the provider said what the image cost is charged what its hold took for the prompt', async () => {
    const { anthropic, sessionId } = await anthropicSession(0.05);
    const stream = anthropic.messages.stream({ model: HAIKU, max_tokens: 50, messages: imageMessage('describe [[sim:tokens=20]] [[sim:cut_after=3]]') });
    stream.on('error', () => undefined);
    await expect(stream.finalMessage()).rejects.toThrow();
    const s = await gw.session(sessionId);
    // Anthropic reports input at message_start, so its count stands; OpenAI's streams report only at the end.
    expect(s.spent.input_tokens).toBeGreaterThan(IMAGE_TOKENS);

    const { token, sessionId: openaiSession } = await gw.openSession({ budget: { usd: 0.05 } });
    const openai = new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const cut = await openai.chat.completions.create({
      model: MINI, stream: true, max_tokens: 50,
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${PIXEL}` } }, { type: 'text', text: 'describe [[sim:tokens=20]] [[sim:cut_after=3]]' }] }],
    });
    await (async () => { for await (const _chunk of cut) void _chunk; })().catch(() => undefined);
    const line = (await gw.admin('GET', `/admin/v1/usage?session=${openaiSession}`)).body.data[0];
    expect(line).toMatchObject({ outcome: 'stream_cut', estimated: true });
    expect(line.input_tokens).toBeGreaterThanOrEqual(defaultMaxImageTokens(MINI));
  });

  it('a PDF is held at the model\'s whole context window: refused below it, charged what it cost above it', async () => {
    const messages = [{ role: 'user' as const, content: [{ type: 'file' as const, file: { file_data: `data:application/pdf;base64,${PDF}`, filename: 'a.pdf' } }, { type: 'text' as const, text: 'summarise [[sim:tokens=5]]' }] }];
    // 128,000 tokens at $0.15 per 1M: $0.0192.
    const small = await gw.openSession({ budget: { usd: 0.015 } });
    const refused = await new OpenAI({ apiKey: small.token, baseURL: `${gw.url}/v1`, maxRetries: 0 }).chat.completions
      .create({ model: MINI, max_tokens: 10, messages }).catch((e: InstanceType<typeof OpenAI.APIError>) => e);
    expect((refused as InstanceType<typeof OpenAI.APIError>).status).toBe(402);
    expect((refused as InstanceType<typeof OpenAI.APIError>).code).toBe('budget_exceeded');

    const roomy = await gw.openSession({ budget: { usd: 0.05 } });
    const res = await new OpenAI({ apiKey: roomy.token, baseURL: `${gw.url}/v1`, maxRetries: 0 }).chat.completions.create({ model: MINI, max_tokens: 10, messages });
    expect(res.usage!.prompt_tokens).toBe(countPromptTokens({ messages }));
    const s = await gw.session(roomy.sessionId);
    expect(s.spent.input_tokens).toBe(res.usage!.prompt_tokens);
    expect(s.spent.usd).toBeLessThan(0.001);
  });

  it('no output is held past the context window, whatever max_tokens asks', async () => {
    const { token } = await gw.openSession({ budget: { usd: 1 } });
    const res = await new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 }).chat.completions
      .create({ model: MINI, max_tokens: 100_000_000, messages: [{ role: 'user', content: 'hi [[sim:tokens=3]]' }] }).withResponse();
    expect(Number(res.response.headers.get('x-tollgate-max-output-tokens'))).toBeLessThanOrEqual(128_000);
  });
});

describe('the simulated provider\'s tool calls', () => {
  it('are cut by the output limit as a real model\'s are: no call, `length`, the limit charged', async () => {
    const { token, sessionId } = await gw.openSession({ budget: { usd: 1 } });
    const openai = new OpenAI({ apiKey: token, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const tools = [{ type: 'function' as const, function: { name: 'lookup_customer_record', parameters: { type: 'object', properties: {} } } }];
    const cut = await openai.chat.completions.create({
      model: MINI, max_tokens: 3, tools, messages: [{ role: 'user', content: 'go [[sim:tool_call=lookup_customer_record,lookup_customer_record,lookup_customer_record]]' }],
    });
    expect(cut.choices[0]!.finish_reason).toBe('length');
    expect(cut.choices[0]!.message.tool_calls ?? []).toHaveLength(0);
    expect(cut.usage!.completion_tokens).toBe(3);
    const whole = await openai.chat.completions.create({
      model: MINI, max_tokens: 100, tools, messages: [{ role: 'user', content: 'go [[sim:tool_call=lookup_customer_record]]' }],
    });
    expect(whole.choices[0]!.finish_reason).toBe('tool_calls');
    expect((await gw.session(sessionId)).spent.output_tokens).toBe(3 + whole.usage!.completion_tokens);
  });
});
