import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from './errors.ts';
import type { Principal, Role, TokenService } from './tokens.ts';

/**
 * Who may call a route: 'public', 'signed-in' (any role), 'signed' (a webhook whose handler checks
 * the signature), or the roles allowed. Every route must declare it: a route without one stops
 * the server from starting.
 */
export type Access = 'public' | 'signed-in' | 'signed' | readonly Role[];

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
    /** The body's fields are all optional and the body may be left out (validated as {}); see server.ts. */
    bodyOptional?: boolean;
    /** The route answers its 201 or 202 with a Location header (declared in OpenAPI). */
    location?: boolean;
  }
  interface FastifyRequest {
    principal: Principal | undefined;
  }
  interface FastifyInstance {
    /** Every route with its declared access, for the OpenAPI completeness check. */
    declaredRoutes: { method: string; url: string; access: Access }[];
  }
}

export function principalOf(request: FastifyRequest): Principal {
  const p = request.principal;
  if (!p) throw new AppError('UNAUTHENTICATED');
  return p;
}

export function hasRole(principal: Principal | undefined, role: Role): boolean {
  return principal?.roles.includes(role) ?? false;
}

export function registerAccessControl(app: FastifyInstance, tokens: TokenService): void {
  app.decorateRequest('principal', undefined);
  app.decorate('declaredRoutes', []);
  app.addHook('onRoute', (route) => {
    const access = route.config?.access;
    if (access === undefined) throw new Error(`route ${route.method} ${route.url} does not declare who may call it (config.access)`);
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD') app.declaredRoutes.push({ method, url: route.url, access });
    }
    if (access !== 'public' && access !== 'signed' && route.schema) {
      route.schema.security = [{ bearerAuth: [] }];
    }
  });
  // A callback hook, not an async one: it runs on every request, and the token check is synchronous.
  app.addHook('onRequest', (request, _reply, done) => {
    try {
      authorize(request, tokens);
    } catch (error) {
      done(error as Error);
      return;
    }
    done();
  });
}

function authorize(request: FastifyRequest, tokens: TokenService): void {
  const access = request.routeOptions.config.access;
  const token = bearerToken(request.headers.authorization);
  if (access === undefined || access === 'public' || access === 'signed') {
    // Public routes still learn who is calling when a valid token comes along.
    if (access === 'public' && token !== undefined) {
      try {
        request.principal = tokens.verifyNow(token);
      } catch {
        request.principal = undefined;
      }
    }
    return;
  }
  if (token === undefined) throw new AppError('UNAUTHENTICATED', 'send Authorization: Bearer <access token>');
  const principal = tokens.verifyNow(token);
  request.principal = principal;
  if (access === 'signed-in') return;
  if (!access.some((role) => principal.roles.includes(role))) {
    throw new AppError('FORBIDDEN', `this route is for ${access.join(' or ')} accounts`);
  }
}

/** The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive (RFC 9110, 11.1). */
function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined || header.length < 7 || header.charCodeAt(6) !== 32 || header.slice(0, 6).toLowerCase() !== 'bearer') return undefined;
  const token = header.slice(7).trim();
  return token === '' ? undefined : token;
}
