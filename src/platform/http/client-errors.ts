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
  answerOnSocket(socket, problemOf(code, detail));
}

/** Writes a problem document as the whole answer of the connection, and closes it. */
function answerOnSocket(socket: Socket, problem: ReturnType<typeof problemOf>, headers = ''): void {
  const body = JSON.stringify(problem);
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\n${headers}Connection: close\r\n\r\n${body}`,
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
    if (allowed.length === 0) {
      answerOnSocket(socket, problemOf('ROUTE_NOT_FOUND', `CONNECT ${path.slice(0, 200)} does not exist: this server is no proxy`));
      return;
    }
    answerOnSocket(socket, problemOf('METHOD_NOT_ALLOWED', `${path} takes ${allowed.join(', ')}, not CONNECT`, { allowed }), `Allow: ${allowed.join(', ')}\r\n`);
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
    connection: 'close',
  });
  response.end(body);
}
