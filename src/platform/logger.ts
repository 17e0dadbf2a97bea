import pino, { type Logger } from 'pino';

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'bazaar' },
    redact: {
      paths: ['req.headers.authorization', '*.password', '*.password_hash', '*.cardNumber', '*.cvc', '*.credentials'],
      censor: '[redacted]',
    },
  });
}
