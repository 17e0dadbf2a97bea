import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** A public response body serialised once, with its validator: what the read caches hold. */
export interface CachedBody {
  body: string;
  etag: string;
}

/** A strong validator of the exact bytes: any change to the representation changes it. */
export function etagOf(body: string): string {
  return `"${createHash('sha1').update(body).digest('base64url')}"`;
}

export function cachedBody(value: unknown): CachedBody {
  const body = JSON.stringify(value);
  return { body, etag: etagOf(body) };
}

/** RFC 9110 If-None-Match: weak comparison, a list of tags, or "*". */
export function matchesIfNoneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  const opaque = etag.replace(/^W\//, '');
  for (const part of header.split(',')) {
    if (part.trim().replace(/^W\//, '') === opaque) return true;
  }
  return false;
}

/** Sends a JSON body (already serialised) with ETag and Cache-Control, or 304 when the client holds it. */
export function sendCacheable(request: FastifyRequest, reply: FastifyReply, cached: CachedBody, maxAgeSeconds: number): FastifyReply {
  reply.header('etag', cached.etag);
  reply.header('cache-control', `public, max-age=${Math.max(0, Math.floor(maxAgeSeconds))}`);
  if (matchesIfNoneMatch(request.headers['if-none-match'], cached.etag)) return reply.status(304).send();
  return reply.type('application/json; charset=utf-8').send(cached.body);
}
