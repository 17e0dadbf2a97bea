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
  const problem = problemOf(code, detail);
  const body = JSON.stringify(problem);
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

function clientProblem(parserCode: string | undefined): [ErrorCode, string] {
  if (parserCode === 'ERR_HTTP_REQUEST_TIMEOUT') return ['REQUEST_TIMEOUT', 'the request was not received completely in time'];
  if (parserCode === 'HPE_HEADER_OVERFLOW') return ['HEADERS_TOO_LARGE', 'the request headers are larger than the server accepts'];
  return ['VALIDATION_FAILED', 'the request is not valid HTTP (a malformed request line, or a header holding a control character)'];
}
