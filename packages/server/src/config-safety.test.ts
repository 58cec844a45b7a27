import { describe, expect, it } from 'vitest';
import { rateLimitRules, moderationOptions } from './compose.js';
import { ConfigError, loadConfig } from './config.js';

describe('safety configuration', () => {
  it('has production defaults for every limit and escalation step', () => {
    const config = loadConfig({});
    expect(rateLimitRules(config)).toEqual({
      registerPerNetwork: { points: 10, windowMs: 3600_000, blockMs: 0 },
      loginFailuresPerUsername: { points: 10, windowMs: 900_000, blockMs: 900_000 },
      loginFailuresPerNetwork: { points: 50, windowMs: 900_000, blockMs: 900_000 },
      messagesBurst: { points: 20, windowMs: 5_000, blockMs: 0 },
      messagesSustained: { points: 300, windowMs: 300_000, blockMs: 0 },
      matchStarts: { points: 30, windowMs: 60_000, blockMs: 0 },
      connectionsPerNetwork: { points: 120, windowMs: 60_000, blockMs: 0 },
      adminFailuresPerNetwork: { points: 10, windowMs: 900_000, blockMs: 3600_000 },
      powChallengesPerNetwork: { points: 60, windowMs: 60_000, blockMs: 0 },
      reportsPerUser: { points: 10, windowMs: 3600_000, blockMs: 0 },
      typingPerDevice: { points: 120, windowMs: 60_000, blockMs: 0 },
      readReceiptsPerDevice: { points: 300, windowMs: 60_000, blockMs: 0 },
      blocksPerUser: { points: 60, windowMs: 3600_000, blockMs: 0 },
      bundlesPerDevice: { points: 20, windowMs: 3600_000, blockMs: 0 },
      secretChecksPerNetwork: { points: 100, windowMs: 900_000, blockMs: 0 },
      messageBytesPerUser: { points: 64 * 1024 * 1024, windowMs: 86_400_000, blockMs: 0 },
      messageBytesPerChat: { points: 32 * 1024 * 1024, windowMs: 86_400_000, blockMs: 0 },
    });
    // What one socket, frame or account may cost (docs/safety.md, "Threat model").
    expect(config).toMatchObject({
      OMECHAT_MAX_SOCKETS: 4096,
      OMECHAT_MAX_SOCKETS_PER_NETWORK: 256,
      OMECHAT_CREDENTIALS_TIMEOUT_MS: 5000,
      OMECHAT_MAX_BATCH: 50,
      OMECHAT_MAX_CALLS_IN_FLIGHT: 64,
      OMECHAT_HISTORY_PAGE_BYTES: 1024 * 1024,
      OMECHAT_ARGON2_CONCURRENCY: 2,
      OMECHAT_ARGON2_QUEUE: 64,
      OMECHAT_SECRET_CHECKS_IN_FLIGHT_PER_NETWORK: 4,
    });
    expect(moderationOptions(config)).toEqual({
      adminToken: null,
      escalation: {
        reporters: 3,
        windowMs: 86_400_000,
        suspensionMs: 86_400_000,
        factor: 4,
        suspensionsBeforePermanent: 3,
        minMessages: 3,
        minReporterAgeMs: 86_400_000,
        fullReporterAgeMs: 7 * 86_400_000,
      },
    });
    expect(config.OMECHAT_TRUSTED_PROXIES).toEqual([]);
    expect(rateLimitRules(loadConfig({ OMECHAT_RATE_LIMIT_STORE: 'off' }))).toBeNull();
  });

  it('reads limits as points/windowSeconds[/lockoutSeconds] and proxies as a list', () => {
    const config = loadConfig({
      OMECHAT_RATE_MESSAGES_BURST: '7/3',
      OMECHAT_RATE_LOGIN_FAILURES_PER_USERNAME: '5/60/600',
      OMECHAT_TRUSTED_PROXIES: ' 10.0.0.1, ::1 ',
    });
    expect(config.OMECHAT_RATE_MESSAGES_BURST).toEqual({ points: 7, windowMs: 3000, blockMs: 0 });
    expect(config.OMECHAT_RATE_LOGIN_FAILURES_PER_USERNAME).toEqual({ points: 5, windowMs: 60_000, blockMs: 600_000 });
    expect(config.OMECHAT_TRUSTED_PROXIES).toEqual(['10.0.0.1', '::1']);
  });

  it('refuses bad values, naming the variable and never echoing a secret', () => {
    const bad: Record<string, string>[] = [
      { OMECHAT_RATE_MESSAGES_BURST: '10 per second' },
      { OMECHAT_RATE_MESSAGES_BURST: '0/5' },
      { OMECHAT_RATE_REPORTS_PER_USER: '5/0' },
      { OMECHAT_TRUSTED_PROXIES: '10.0.0.0/8' },
      { OMECHAT_ADMIN_TOKEN: 'short-secret' },
      { OMECHAT_NETWORK_KEY: 'short-key' },
      { OMECHAT_RATE_LIMIT_STORE: 'postgres' },
    ];
    for (const env of bad) {
      const [name, value] = Object.entries(env)[0]!;
      expect(() => loadConfig(env)).toThrow(ConfigError);
      expect(() => loadConfig(env)).toThrow(name);
      if (name.endsWith('TOKEN') || name.endsWith('KEY')) {
        try {
          loadConfig(env);
        } catch (err) {
          expect((err as Error).message).not.toContain(value);
        }
      }
    }
  });
});
