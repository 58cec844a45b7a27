// Checkpoints an SQLite database in WAL mode from a worker thread (see SqliteStorage):
// copying WAL pages into the database file and fsyncing it takes milliseconds, which the
// server's event loop should not spend. Plain JavaScript, so it runs without a TS loader.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const db = new Database(workerData.file);
db.pragma('busy_timeout = 5000');
db.pragma('synchronous = NORMAL'); // a checkpoint fsyncs the WAL, then the database file
const timer = setInterval(() => {
  try {
    // PASSIVE never waits for the writer or for readers; what it cannot copy now, it copies next time.
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (error) {
    parentPort.postMessage({ error: error instanceof Error ? error.message : String(error) });
  }
}, workerData.intervalMs);

parentPort.once('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
