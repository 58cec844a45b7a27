import { pino, type DestinationStream, type Logger } from 'pino';


/**
 * Structured logs. Code never passes secrets, tokens, envelopes or IP addresses to the
 * logger; the redaction list is a second line of defence should one slip into an object.
 */
/**
 * pino's error serializer copies every enumerable property, and some libraries hang their
 * connection on the error (pg's pool sets `err.client`, whose fields include the password
 * and the backend's cancel key): those are dropped.
 */
function safeError(err: Error): Record<string, unknown> {
  const { client: _client, connection: _connection, connectionParameters: _params, ...rest } = pino.stdSerializers.err(err) as Record<string, unknown>;
  return rest;
}

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
    level,
    base: { service: 'omechat' },
    serializers: { err: safeError },
    redact: {
      paths: [
        'password', '*.password', 'secretKey', '*.secretKey',
        'secret', '*.secret', 'accessToken', '*.accessToken', 'access_token', '*.access_token',
        'token', '*.token', 'connectionParams', '*.connectionParams', 'envelope', '*.envelope',
        'ip', '*.ip', 'remoteAddress', '*.remoteAddress', 'headers', '*.headers',
      ],
      censor: '[redacted]',
    },
    },
    // Synchronous to stdout by default: pino's asynchronous default flushes at exit, and that
    // flush retries a broken pipe forever (sonic-boom 4), so `serve | cat` hung after Ctrl-C
    // killed `cat`. A synchronous write that meets EPIPE just stops logging.
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
export type { Logger };
