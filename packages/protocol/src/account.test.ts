import { describe, expect, it } from 'vitest';
import { isReservedUsername, usernameSkeleton } from './account.js';

describe('reserved usernames', () => {
  it('catch staff words and their look-alikes, at either end of the name', () => {
    for (const name of ['admin', 'ADMIN', 'Adm1n', 'adm_in', 'a.d.m.i.n', 'adrnin', 'sysadmin', 'admin_team', 'administrator', 'System', 'sy5tem', 'Support', 'supp0rt', 'the-support', 'moderator', 'M0d3rat0r', 'omechat', 'OmeChat_Help', '0m3chat', 'real_omechat_staff']) {
      expect(isReservedUsername(name), name).toBe(true);
    }
  });

  it('leave ordinary names alone, also ones with a staff word inside', () => {
    for (const name of ['alice_19', 'badminton_fan', 'mo_derek', 'chat_omelette', 'sam_12345_1', 'supplies', 'admiral']) {
      expect(isReservedUsername(name), name).toBe(false);
    }
  });

  it('compare a skeleton: case folded, separators dropped, look-alikes merged', () => {
    expect(usernameSkeleton('A.d-M_1n')).toBe('admln');
    expect(usernameSkeleton('0ME-CH4T')).toBe('omechat');
    expect(usernameSkeleton('rn0d')).toBe('mod');
  });
});
