import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import { type ErrorCode, problemOf } from './errors.ts';

/**
 * What Node's HTTP parser refuses before any route is found (a control character in a header, a
 * malformed request line, headers past the size limit, a request that took too long) is answered
 * as a problem document too, like every other error, then the connection is closed: Fastify's own
 * answer was `{"error":"Bad Request",…}` as plain JSON.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  // A connection reset has nothing left to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [code, detail] = clientProblem(error.code);
  answerOnSocket(socket, problemOf(code, detail), randomUUID());
}

/** A request id a client may choose: a plain token, as UUIDs and trace ids are. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * A client's X-Request-Id when it is a plain token (it goes into logs and is echoed), else one of
 * our own. Request ids need not be time-ordered: randomUUID draws from a cached entropy pool.
 */
export function requestIdOf(given: string | string[] | undefined): string {
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/**
 * Writes a problem document as the whole answer of the connection, and closes it. It carries the
 * headers every answer of the server carries (X-Request-Id: one of our own when the request could
 * not be read).
 */
function answerOnSocket(socket: Socket, problem: ReturnType<typeof problemOf>, requestId: string, headers = ''): void {
  const body = JSON.stringify(problem);
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nX-Request-Id: ${requestId}\r\n${headers}Connection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/**
 * A CONNECT request, which Node hands to the server's 'connect' listeners and, with none, answers
 * by closing the connection: this is no proxy, so the method is not allowed (405 naming what the
 * path takes, or 404 for a target no route has), as for any other method a route does not take.
 */
export function answerConnect(allowedMethods: (path: string) => string[]): (request: IncomingMessage, socket: Socket) => void {
  return (request, socket) => {
    const path = (request.url ?? '').split('?')[0] ?? '';
    const allowed = path.startsWith('/') ? allowedMethods(path) : [];
    const requestId = requestIdOf(request.headers['x-request-id']);
    if (allowed.length === 0) {
      answerOnSocket(socket, problemOf('ROUTE_NOT_FOUND', `CONNECT ${path.slice(0, 200)} does not exist: this server is no proxy`), requestId);
      return;
    }
    answerOnSocket(socket, problemOf('METHOD_NOT_ALLOWED', `${path} takes ${allowed.join(', ')}, not CONNECT`, { allowed }), requestId, `Allow: ${allowed.join(', ')}\r\n`);
  };
}

function clientProblem(parserCode: string | undefined): [ErrorCode, string] {
  if (parserCode === 'ERR_HTTP_REQUEST_TIMEOUT') return ['REQUEST_TIMEOUT', 'the request was not received completely in time'];
  if (parserCode === 'HPE_HEADER_OVERFLOW') return ['HEADERS_TOO_LARGE', 'the request headers are larger than the server accepts'];
  return ['VALIDATION_FAILED', 'the request is not valid HTTP (a malformed request line, or a header holding a control character)'];
}

/**
 * An Expect header other than 100-continue, which Node answers itself (a bare 417 with no body)
 * unless the server listens for it: answered as a problem document, and the connection closed
 * (the body the client may send after is not read).
 */
export function answerExpectationFailed(request: IncomingMessage, response: ServerResponse): void {
  const problem = problemOf('EXPECTATION_FAILED', `only "Expect: 100-continue" is supported, not "${String(request.headers.expect).slice(0, 100)}"`);
  const body = JSON.stringify(problem);
  response.writeHead(problem.status, {
    'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'x-request-id': requestIdOf(request.headers['x-request-id']),
    connection: 'close',
  });
  response.end(body);
}
