import { pino, type DestinationStream, type Logger } from 'pino';

/**
 * Structured logs. Code never passes secrets, tokens, envelopes or IP addresses to the
 * logger; the redaction list is a second line of defence should one slip into an object.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
    level,
    base: { service: 'omechat' },
    redact: {
      paths: [
        'secret', '*.secret', 'accessToken', '*.accessToken', 'access_token', '*.access_token',
        'token', '*.token', 'connectionParams', '*.connectionParams', 'envelope', '*.envelope',
        'ip', '*.ip', 'remoteAddress', '*.remoteAddress', 'headers', '*.headers',
      ],
      censor: '[redacted]',
    },
    },
    destination,
  );
}
export type { Logger };
