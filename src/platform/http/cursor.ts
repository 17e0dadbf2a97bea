import { AppError } from './errors.ts';

/** Opaque cursors: base64url JSON of the sort key of the last item returned. */
export function encodeCursor(value: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export function decodeCursor<T extends Record<string, string | number>>(cursor: string | undefined, keys: (keyof T & string)[]): T | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Record<string, unknown>;
    for (const key of keys) {
      const v = parsed[key];
      if (typeof v !== 'string' && typeof v !== 'number') throw new Error('missing key');
    }
    return parsed as T;
  } catch {
    throw new AppError('INVALID_CURSOR');
  }
}
