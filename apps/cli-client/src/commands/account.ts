import { hostname } from 'node:os';
import type { ClientHash, OmeChatClient } from '@omechat/sdk';
import { CliError, toCliError } from '../errors.js';
import { describeDevices } from '../format.js';
import { connectAnonymous, connectReadOnly, type Connection } from '../session.js';
import { intOption, requiredOption, secretOption, stringOption, type Command, type Context } from '../context.js';

async function using<C extends Connection, T>(conn: C, fn: (conn: C) => Promise<T>): Promise<T> {
  try {
    return await fn(conn);
  } finally {
    await conn.close();
  }
}

const SECRET_WARNING = 'Store it in a password manager now: it is shown only once, it is the only way to log in, and nobody can recover it.';

/** The registration proof-of-work takes about a second: show it on a terminal's stderr. */
const showPowProgress = ({ fraction }: { fraction: number }) => {
  if (process.stderr.isTTY) process.stderr.write(`\rchecking this is not a bot… ${Math.round(fraction * 100)}%${fraction >= 1 ? '\n' : ''}`);
};

const register: Command = {
  args: '--username U --age N [--device-name D]',
  summary: 'create an account and sign this machine in (prints its secret once)',
  options: { username: { type: 'string' }, age: { type: 'string' }, 'device-name': { type: 'string' } },
  async run(ctx) {
    const username = requiredOption(ctx, 'username');
    const age = intOption(ctx, 'age');
    if (age === undefined) throw new CliError('USAGE', '--age is required');
    refuseIfSignedIn(ctx);
    const { secret } = await using(await connectAnonymous(ctx.server), (c) => c.run((client) => client.account.register({ username, age }, { onProgress: showPowProgress })));
    const me = await signIn(ctx, username, secret);
    ctx.out.result({ userHash: me.userHash, clientHash: me.clientHash, username, secret }, () =>
      [`Account ${username} created and signed in. Your secret:`, '', `  ${secret}`, '', SECRET_WARNING].join('\n'),
    );
  },
};

const login: Command = {
  args: '--username U [--secret S] [--device-name D]',
  summary: 'sign this machine in as a new device (asks for the secret, hidden; --secret - reads stdin)',
  options: { username: { type: 'string' }, secret: { type: 'string' }, 'device-name': { type: 'string' } },
  async run(ctx) {
    const username = requiredOption(ctx, 'username');
    refuseIfSignedIn(ctx);
    const secret = await secretOption(ctx);
    const me = await signIn(ctx, username, secret);
    ctx.out.result({ userHash: me.userHash, clientHash: me.clientHash, username: me.username }, () => `Logged in as ${me.username} (device ${me.clientHash}).`);
  },
};

function refuseIfSignedIn(ctx: Context): void {
  const saved = ctx.state.credentials();
  if (saved) throw new CliError('ALREADY_LOGGED_IN', `Already logged in as ${saved.username}; run \`omechat logout\` first`);
}

/** Signs this machine in as a new device, saves its credentials (0600) and publishes its keys. */
export async function signIn(ctx: Context, username: string, secret: string) {
  const deviceName = stringOption(ctx, 'device-name') ?? `omechat CLI on ${hostname()}`.slice(0, 64);
  const release = ctx.state.lock('login');
  try {
    ctx.state.clear(); // keys, cursor and messages of an earlier device
    return await using(await connectAnonymous(ctx.server, ctx.state.keyStore()), async (c) => {
      const result = await c.run((client) => client.account.login({ username, secret, deviceName }));
      const me = await c.run((client) => client.account.me());
      ctx.state.saveCredentials({ clientHash: result.clientHash, accessToken: result.accessToken, userHash: result.userHash, username: me.username });
      // Peers can only write to this device once its public keys are on the server.
      await c.run((client) => client.encryptionReady());
      return me;
    });
  } finally {
    release();
  }
}

/** Revokes this device on the server; the server closes the socket before it can reply. */
async function revokeSelf(client: OmeChatClient, clientHash: ClientHash): Promise<void> {
  try {
    await client.clients.revoke({ clientHash });
  } catch (error) {
    if (client.closedReason === 'revoked') return;
    throw toCliError(error, client.closedReason);
  }
}

/** Signs this device out on the server (best effort) and forgets it locally. */
async function forgetDevice(ctx: Context): Promise<boolean> {
  const release = ctx.state.lock('logout');
  try {
    let revoked = false;
    try {
      await using(await connectReadOnly(ctx.server, ctx.state), (c) => revokeSelf(c.client, c.credentials.clientHash));
      revoked = true;
    } catch (error) {
      const { code, message } = toCliError(error);
      // Credentials the server no longer accepts have nothing left to revoke.
      revoked = code === 'UNAUTHORIZED';
      if (!revoked) ctx.out.notice(`Could not sign this device out on the server (${code}: ${message}); revoke it from another device with \`omechat revoke\`.`);
    }
    ctx.state.clear();
    return revoked;
  } finally {
    release();
  }
}

const logout: Command = {
  args: '',
  summary: 'sign this device out and delete its local credentials, keys and messages',
  async run(ctx) {
    const saved = ctx.state.credentials();
    if (!saved) return ctx.out.result({ loggedOut: false, revoked: false }, () => 'Not logged in.');
    const revoked = await forgetDevice(ctx);
    ctx.out.result({ loggedOut: true, revoked }, () => `Logged out ${saved.username}.`);
  },
};

const me: Command = {
  args: '',
  summary: 'show the signed-in account',
  async run(ctx) {
    const me = await using(await connectReadOnly(ctx.server, ctx.state), (c) => c.run((client) => client.account.me()));
    ctx.out.result(me, () =>
      [`${me.username} (${me.age})`, `user:   ${me.userHash}`, `device: ${me.clientHash}`, `since:  ${new Date(me.createdAt).toLocaleString()}`].join('\n'),
    );
  },
};

const devices: Command = {
  args: '',
  summary: "list this account's devices (* marks this one)",
  async run(ctx) {
    const devices = await using(await connectReadOnly(ctx.server, ctx.state), (c) => c.run((client) => client.clients.list()));
    ctx.out.result({ devices }, () => describeDevices(devices));
  },
};

const revoke: Command = {
  args: '<clientHash> [--secret S]',
  summary: 'sign one of your devices out (another device than this one needs the secret)',
  positionals: [1, 1],
  options: { secret: { type: 'string' } },
  async run(ctx) {
    const clientHash = ctx.positionals[0] as ClientHash;
    if (clientHash === ctx.state.requireCredentials().clientHash) {
      const revoked = await forgetDevice(ctx);
      if (!revoked) throw new CliError('UNAVAILABLE', 'Could not revoke this device on the server; its local state was deleted');
    } else {
      const secret = await secretOption(ctx);
      await using(await connectReadOnly(ctx.server, ctx.state), (c) => c.run((client) => client.clients.revoke({ clientHash, secret })));
    }
    ctx.out.result({ revoked: clientHash }, () => `Device ${clientHash} signed out.`);
  },
};

const rotateSecret: Command = {
  args: '--secret S',
  summary: 'replace the account secret, given the current one (prints the new one once)',
  options: { secret: { type: 'string' } },
  async run(ctx) {
    const current = await secretOption(ctx);
    const { secret } = await using(await connectReadOnly(ctx.server, ctx.state), (c) => c.run((client) => client.account.rotateSecret({ secret: current })));
    ctx.out.result({ secret }, () => ['Your new secret (the old one no longer works):', '', `  ${secret}`, '', SECRET_WARNING].join('\n'));
  },
};

const deleteAccount: Command = {
  args: '--secret S',
  summary: 'delete the account and all its devices, for good',
  options: { secret: { type: 'string' } },
  async run(ctx) {
    const secret = await secretOption(ctx);
    const { username } = ctx.state.requireCredentials();
    const release = ctx.state.lock('delete-account');
    try {
      await using(await connectReadOnly(ctx.server, ctx.state), (c) => c.run((client) => client.account.delete({ secret })));
      ctx.state.clear();
    } finally {
      release();
    }
    ctx.out.result({ deleted: true }, () => `Account ${username} deleted.`);
  },
};

export const accountCommands: Record<string, Command> = {
  register,
  login,
  logout,
  me,
  devices,
  revoke,
  'rotate-secret': rotateSecret,
  'delete-account': deleteAccount,
};
