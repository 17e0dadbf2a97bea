import type { ProviderChannel } from './types.ts';

/** One message for a provider to deliver. */
export interface OutgoingMessage {
  channel: ProviderChannel;
  /** The address on that channel: an email address, or the user id for push (the push service knows the user's devices). */
  to: string;
  subject: string;
  body: string;
  /**
   * The notification's id, the same on every attempt: a provider that accepted it before (its answer
   * lost to a timeout) accepts the retry without sending twice.
   */
  idempotencyKey: string;
}

/**
 * A sender for one or more channels (an email service, a push service). `send` resolves when the
 * provider accepted the message and rejects otherwise; a ProviderError with `permanent` says that
 * trying again cannot help (an address the provider refuses).
 */
export interface NotificationProvider {
  readonly name: string;
  readonly channels: readonly ProviderChannel[];
  send(message: OutgoingMessage): Promise<{ providerMessageId: string }>;
}

export class ProviderError extends Error {
  constructor(
    message: string,
    readonly permanent = false,
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}

/** `send` bounded by `timeoutMs`: a provider that does not answer in time counts as a failed attempt. */
export async function sendWithin(provider: NotificationProvider, message: OutgoingMessage, timeoutMs: number): Promise<{ providerMessageId: string }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ProviderError(`${provider.name} did not answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([provider.send(message), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
