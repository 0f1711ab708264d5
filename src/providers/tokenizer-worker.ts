// The tokenizer thread's entry (tokenizer-thread.ts): counts each request's texts in order.
import { parentPort } from 'node:worker_threads';
import { countIn } from './token-count.js';
import type { CountReply, CountRequest } from './tokenizer-thread.js';

const port = parentPort!;
port.on('message', (request: CountRequest) => {
  let reply: CountReply;
  try {
    reply = { id: request.id, counts: request.texts.map((text) => countIn(request.encoding, text)) };
  } catch (err) {
    reply = { id: request.id, error: (err as Error).message };
  }
  port.postMessage(reply);
});
