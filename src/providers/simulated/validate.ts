// Small request checks shared by the endpoint modules; each returns the 400 to answer or undefined.
import type { ApiError } from './errors.js';
import { isRecord } from './turn.js';

export function invalid(message: string, param: string | null = null): ApiError {
  return { status: 400, message, param };
}

/** The body must be a JSON object with a non-empty string `model`. */
export function requireModel(body: unknown): { body: Record<string, unknown>; model: string } | ApiError {
  if (!isRecord(body)) return invalid('The request body must be a JSON object.');
  if (typeof body.model !== 'string' || body.model.length === 0) {
    return invalid('you must provide a model parameter', 'model');
  }
  return { body, model: body.model };
}

/** An optional positive integer field (`null` counts as absent, as in the OpenAI API). */
export function optionalCount(body: Record<string, unknown>, field: string): number | undefined | ApiError {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    return invalid(`Invalid '${field}': expected an integer greater than or equal to 1.`, field);
  }
  return value;
}

export function isError(value: unknown): value is ApiError {
  return isRecord(value) && typeof value.status === 'number';
}
