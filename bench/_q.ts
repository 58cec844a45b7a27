import Database from '../packages/server/node_modules/better-sqlite3/lib/index.js';
const db = new Database(process.argv[2] + '/omechat.sqlite', { readonly: true });
console.log(db.prepare('select type, count(*) n from events group by type').all());
console.log(db.prepare('select count(*) n from messages').all());
console.log(db.prepare('select count(*) n, sum(delivered_seq) d from chat_cursors').all());
