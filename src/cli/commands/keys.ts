import { AdminClient } from '../client.js';
import { output, printFields } from '../output.js';

export async function rotate(opts: Record<string, unknown>): Promise<void> {
  const result = await new AdminClient(opts).post<{ kid: string; keys: string[] }>('/admin/v1/keys/rotate', {});
  output(opts, result, () => printFields([['kid', result.kid], ['verifying', result.keys.join(', ')]]));
}
