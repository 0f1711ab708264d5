// What the detectors read from a model call's event: `failed` (no answer: any upstream error, a
// cut stream) and `rejected` (the prompt as sent cannot work: the retry-loop detector contains
// only those). A provider's outage, its refusal of the gateway's own key, a model it does not
// serve, a timeout or a rate limit fail a call without rejecting its prompt.
import { describe, expect, it } from 'vitest';
import { signalOf } from '../../src/detect/signals.js';
import type { ChainedEvent } from '../../src/store/index.js';

const call = (outcome: string, httpStatus: number): ChainedEvent => ({
  id: 'evt_1', seq: 1, prevHash: null, hash: null, time: 1, type: 'model.call', actor: 'agent:agt_1', requestId: 'req_1',
  agentId: 'agt_1', sessionId: 'ses_1', teamId: 'team_1', chain: ['ses_1'],
  data: { outcome, http_status: httpStatus, model: 'gpt-4o-mini', cost_usd_nano: 0, prompt_fp: 'fp' },
});

describe('signalOf: a model call\'s failed and rejected', () => {
  it('rejects the prompt on a 4xx that says so, and on a blocked tool call', () => {
    for (const status of [400, 413, 422]) expect(signalOf(call('upstream_error', status))).toMatchObject({ failed: true, rejected: true });
    expect(signalOf(call('tool_blocked', 403))).toMatchObject({ failed: false, rejected: true });
  });

  it('fails without rejecting on an outage, the gateway\'s key refused, an unknown model, a timeout, a conflict, a rate limit, a cut stream', () => {
    for (const status of [500, 502, 503, 529, 401, 403, 404, 408, 409, 429]) {
      expect(signalOf(call('upstream_error', status)), String(status)).toMatchObject({ failed: true, rejected: false });
    }
    expect(signalOf(call('stream_cut', 200))).toMatchObject({ failed: true, rejected: false });
    expect(signalOf(call('ok', 200))).toMatchObject({ failed: false, rejected: false });
    expect(signalOf(call('client_aborted', 499))).toMatchObject({ failed: false, rejected: false });
  });
});
