// B10, BullMQ's side: the same tiny jobs (x -> x + 1), written as BullMQ's docs recommend
// (Queue.addBulk for producers, a Worker with a processor function and `concurrency`,
// QueueEvents for completions at the producer, removeOnComplete to bound memory).
//   node b10_bullmq.mjs worker  PORT QUEUE CONCURRENCY
//   node b10_bullmq.mjs produce PORT QUEUE N WORKER_PIDS REDIS_PID
// Prints the same lines as b10-gopp.
import { Queue, Worker, QueueEvents } from 'bullmq';
import { readFileSync } from 'node:fs';

const [mode, port, name, arg, pidsArg, redisPid] = process.argv.slice(2);
const connection = { host: '127.0.0.1', port: Number(port) };

function cpuOf(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;  // utime + stime, USER_HZ = 100
}

if (mode === 'worker') {
  const w = new Worker(name, async (job) => job.data.x + 1, {
    connection, concurrency: Number(arg),
    removeOnComplete: { count: 1000 }, removeOnFail: { count: 1000 },
  });
  await w.waitUntilReady();
  console.log('ready');
  process.on('SIGTERM', async () => { await w.close(); process.exit(0); });
} else {
  const n = Number(arg);
  const workers = pidsArg.split(',').filter(Boolean).map(Number);
  const all = [...workers, Number(redisPid), process.pid];
  const queue = new Queue(name, { connection });
  const events = new QueueEvents(name, { connection });
  await events.waitUntilReady();
  let results = 0, wrong = 0;
  events.on('completed', ({ returnvalue }) => { results++; if (returnvalue === undefined) wrong++; });
  const until = (k) => new Promise((res) => {
    const t = setInterval(() => { if (results >= k) { clearInterval(t); res(); } }, 1);
  });
  const addAll = async () => {
    for (let i = 0; i < n; i += 1000) {
      const batch = [];
      for (let j = i; j < Math.min(n, i + 1000); j++) batch.push({ name: 'j', data: { x: j } });
      await queue.addBulk(batch);
    }
  };
  // phased
  for (const p of workers) process.kill(p, 'SIGSTOP');
  let t0 = process.hrtime.bigint();
  await addAll();
  let t1 = process.hrtime.bigint();
  for (const p of workers) process.kill(p, 'SIGCONT');
  await until(n);
  let t2 = process.hrtime.bigint();
  const enq = Number(t1 - t0) / 1e9, drain = Number(t2 - t1) / 1e9;
  console.log(`phase=enqueue jobs=${n} seconds=${enq.toFixed(3)} jobs_per_s=${(n / enq).toFixed(0)}`);
  console.log(`phase=drain jobs=${n} seconds=${drain.toFixed(3)} jobs_per_s=${(n / drain).toFixed(0)}`);
  // e2e
  results = 0;
  const cpu0 = all.reduce((a, p) => a + cpuOf(p), 0);
  t0 = process.hrtime.bigint();
  await addAll();
  await until(n);
  t1 = process.hrtime.bigint();
  const secs = Number(t1 - t0) / 1e9;
  const cpu = all.reduce((a, p) => a + cpuOf(p), 0) - cpu0;
  console.log(`phase=e2e jobs=${n} seconds=${secs.toFixed(3)} jobs_per_s=${(n / secs).toFixed(0)} cpu_us_per_job=${(cpu * 1e6 / n).toFixed(1)} wrong=${wrong}`);
  await queue.close(); await events.close();
  process.exit(0);
}
