import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ OMECHAT_PORT: 8080, OMECHAT_STORAGE: 'sqlite', OMECHAT_DATA_DIR: './data', OMECHAT_RETENTION_DAYS: 30 });
  });

  it('names every bad variable in one clear error', () => {
    const attempt = () => loadConfig({ OMECHAT_PORT: 'eighty', OMECHAT_STORAGE: 'floppy', OMECHAT_ARGON2_MEMORY_KIB: '1024' });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/OMECHAT_PORT[\s\S]*OMECHAT_STORAGE[\s\S]*OMECHAT_ARGON2_MEMORY_KIB/);
  });

  it('checks the cluster settings', () => {
    expect(loadConfig({})).toMatchObject({ OMECHAT_REDIS_PREFIX: 'omechat', OMECHAT_MATCHER: 'memory', OMECHAT_RATE_LIMIT_REDIS_DOWN: 'local' });
    const attempt = () => loadConfig({ OMECHAT_REDIS_PREFIX: 'has space', OMECHAT_MATCHER: 'psychic', OMECHAT_RATE_LIMIT_REDIS_DOWN: 'maybe' });
    expect(attempt).toThrow(/OMECHAT_REDIS_PREFIX[\s\S]*OMECHAT_RATE_LIMIT_REDIS_DOWN[\s\S]*OMECHAT_MATCHER/);
  });

  it('says, for every bad variable, what is wrong with its value and what a valid one looks like', () => {
    const cases: [Record<string, string>, string][] = [
      [{ OMECHAT_PORT: 'abc' }, 'OMECHAT_PORT="abc": is not a number; for example OMECHAT_PORT=8080'],
      [{ OMECHAT_PORT: '1.5' }, 'OMECHAT_PORT="1.5": is not a whole number; for example OMECHAT_PORT=8080'],
      [{ OMECHAT_PORT: '99999' }, 'OMECHAT_PORT="99999": is too large: at most 65535; for example OMECHAT_PORT=8080'],
      [{ OMECHAT_STORAGE: 'floppy' }, 'OMECHAT_STORAGE="floppy": must be one of sqlite, memory, postgres; for example OMECHAT_STORAGE=sqlite'],
      [{ OMECHAT_RATE_MESSAGES_BURST: 'ten' }, 'OMECHAT_RATE_MESSAGES_BURST="ten": must be points/windowSeconds[/lockoutSeconds]; for example OMECHAT_RATE_MESSAGES_BURST=20/5'],
      [{ OMECHAT_TRUSTED_PROXIES: '10.0.0.0/8' }, 'OMECHAT_TRUSTED_PROXIES="10.0.0.0/8": must be IP addresses separated by commas (no ranges); for example OMECHAT_TRUSTED_PROXIES=10.0.0.5,10.0.0.6'],
      [{ OMECHAT_STORAGE: 'postgres' }, 'OMECHAT_DATABASE_URL is unset: required when OMECHAT_STORAGE=postgres; for example OMECHAT_DATABASE_URL=postgres://'],
      [{ OMECHAT_REDIS_URL: 'localhost' }, 'OMECHAT_REDIS_URL: is not a URL; for example OMECHAT_REDIS_URL=redis://127.0.0.1:6379'],
    ];
    for (const [env, line] of cases) expect(() => loadConfig(env)).toThrow(line);
    expect(() => loadConfig({})).not.toThrow();
  });
});
