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
});
