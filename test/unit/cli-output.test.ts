// How the CLI prints money: to the micro-dollar, and an amount under one to the nano-dollar (the
// unit spend is kept in), so a cheap call never reads as $0.000000.
import { describe, expect, it } from 'vitest';
import { usd } from '../../src/cli/output.js';

describe('usd', () => {
  it('prints dollars to the micro-dollar, and amounts under one to the nano-dollar', () => {
    expect(usd(1.5)).toBe('$1.500000');
    expect(usd(0.000123)).toBe('$0.000123');
    expect(usd(0)).toBe('$0.000000');
    expect(usd(0.00000008)).toBe('$0.000000080');
    expect(usd(-0.0000005)).toBe('$-0.000000500');
    expect(usd(null)).toBe('-');
  });
});
